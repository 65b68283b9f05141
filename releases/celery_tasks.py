"""Celery entry points of releases (the build state machine is in services/publish.py, the per-annotator
table's in services/annotator_stats.py)."""

from __future__ import annotations

from celery import shared_task

from core.celery_tasks import LeasedTask

from .services.annotator_stats import annotator_stats_compute
from .services.publish import release_build


@shared_task(base=LeasedTask, name="releases.build")
def release_build_task(release_id: int) -> str | None:
    """Build one release's archive; a duplicate delivery finds it built (or waits out a live run's lease)."""
    return release_build(release_id)


@shared_task(base=LeasedTask, name="releases.annotator_stats")
def annotator_stats_task(report_id: int) -> str | None:
    """Compute one project's per-annotator table; a duplicate delivery finds it done (or waits out a live run)."""
    return annotator_stats_compute(report_id)
