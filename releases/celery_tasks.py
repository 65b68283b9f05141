"""Celery entry points of releases (the build state machine is in services/publish.py)."""

from __future__ import annotations

from celery import shared_task

from core.celery_tasks import LeasedTask

from .services.publish import release_build


@shared_task(base=LeasedTask, name="releases.build")
def release_build_task(release_id: int) -> str | None:
    """Build one release's archive; a duplicate delivery finds it built (or waits out a live run's lease)."""
    return release_build(release_id)
