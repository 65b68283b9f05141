"""Celery entry points of the media pipeline (the state machine is in pipeline.py)."""

from __future__ import annotations

from celery import Task, shared_task

from . import pipeline

MAX_RETRIES = 5


@shared_task(
    bind=True,
    name="media_pipeline.process_asset",
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=None,
    ignore_result=True,  # the outcome is on the asset; nothing reads Celery's copy
)
def process_asset_task(self: Task, asset_id: int) -> str | None:
    """Process one asset. A duplicate delivery finds it taken and waits for the other run's lease."""
    try:
        return pipeline.run(asset_id)
    except pipeline.Busy as busy:
        if self.request.is_eager:
            return None  # in-process there is no other worker to wait for; a curator can retry
        raise self.retry(countdown=busy.seconds + 1) from None
    except pipeline.Transient as exc:  # storage, disk, a missing tool: not the file's fault, so try again
        if self.request.retries >= MAX_RETRIES or self.request.is_eager:
            pipeline.give_up(asset_id, str(exc))
            return None  # failed, with the message on the asset; raising would fail an eager caller
        raise self.retry(exc=exc, countdown=min(2**self.request.retries * 5, 300)) from None
