import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "omni_annotate.settings")

app = Celery("omni_annotate")
app.config_from_object("django.conf:settings", namespace="CELERY")
# Our domain already has "tasks" (the nine benchmark tasks), so Celery modules are celery_tasks.py.
app.autodiscover_tasks(related_name="celery_tasks")
