"""Celery entry points of releases (the build state machine is in services/publish.py)."""

from __future__ import annotations

from celery import shared_task

from .services.publish import release_build


@shared_task(name="releases.build", acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def release_build_task(release_id: int) -> str | None:
    """Build one release's archive. A duplicate delivery finds it taken or built and does nothing."""
    return release_build(release_id)
