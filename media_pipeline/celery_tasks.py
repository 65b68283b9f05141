"""Celery entry points of the media pipeline (the state machine is in pipeline.py)."""

from __future__ import annotations

from celery import Task, shared_task

from core.celery_tasks import LeasedTask

from . import pipeline

MAX_RETRIES = 3


@shared_task(base=LeasedTask, bind=True, name="media_pipeline.process_asset")
def process_asset_task(self: Task, asset_id: int) -> str | None:
    """Process one asset. Storage or disk trouble (not the file's fault) is retried with backoff."""
    try:
        return pipeline.run(asset_id)
    except pipeline.Transient as exc:
        if self.request.retries >= MAX_RETRIES or self.request.is_eager:
            pipeline.give_up(asset_id, str(exc))
            return None  # failed, with the message on the asset; raising would fail an eager caller
        raise self.retry(exc=exc, countdown=min(2**self.request.retries * 5, 300)) from None
