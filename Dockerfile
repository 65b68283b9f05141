# One image for every app service in docker-compose.yml: migrate, web (gunicorn), the Celery workers and beat.
FROM python:3.11-slim-bookworm
RUN apt-get update && apt-get install -y --no-install-recommends ffmpeg && rm -rf /var/lib/apt/lists/*
WORKDIR /app
# Dependencies first, so a code change does not reinstall them.
COPY pyproject.toml README.md ./
COPY omni_annotate omni_annotate
RUN pip install --no-cache-dir .
COPY . .
# The code runs from /app (not the copy pip installed), for gunicorn, manage.py and celery alike.
ENV DJANGO_DEBUG=false PYTHONUNBUFFERED=1 PYTHONPATH=/app
RUN DJANGO_SECRET_KEY=build python manage.py collectstatic --noinput
# Nothing runs as root; jobs write only to /tmp and to S3.
RUN useradd --create-home --uid 10001 omni
USER omni
EXPOSE 8000
CMD ["gunicorn", "omni_annotate.wsgi:application", "--config", "gunicorn.conf.py"]
