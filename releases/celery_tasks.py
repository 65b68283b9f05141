"""Celery entry points of releases (the build state machine is in services/publish.py)."""

from __future__ import annotations

from celery import Task, shared_task

from annotations.leases import Busy

from .services.publish import release_build


@shared_task(
    bind=True,
    name="releases.build",
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=None,
    ignore_result=True,
)
def release_build_task(self: Task, release_id: int) -> str | None:
    """Build one release's archive. A duplicate delivery waits out a live run's lease, then finds it built."""
    try:
        return release_build(release_id)
    except Busy as busy:
        if self.request.is_eager:
            return None  # in-process there is no other worker to wait for; "Build again" is on the page
        raise self.retry(countdown=busy.seconds + 1) from None
