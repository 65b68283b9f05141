FROM python:3.11-slim-bookworm
RUN apt-get update && apt-get install -y --no-install-recommends ffmpeg && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml README.md ./
COPY omni_annotate omni_annotate
COPY annotations annotations
COPY media_pipeline media_pipeline
RUN pip install --no-cache-dir .
COPY . .
ENV DJANGO_DEBUG=false PYTHONUNBUFFERED=1
RUN DJANGO_SECRET_KEY=build python manage.py collectstatic --noinput
EXPOSE 8000
CMD ["gunicorn", "omni_annotate.wsgi:application", "--config", "gunicorn.conf.py"]
