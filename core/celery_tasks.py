"""The Celery side of leased jobs: the base task every job kind's task uses, and the sweep."""

from __future__ import annotations

import logging
from typing import Any

from celery import Task, shared_task
from celery.signals import worker_ready

from .jobs import Busy, remove_dead_tempdirs, sweep

log = logging.getLogger(__name__)


class LeasedTask(Task):  # type: ignore[type-arg]
    """One job per message, acknowledged once it ran (a killed worker's message comes back), and a
    delivery that finds a live run holding its job retries once that run's lease would have run out
    (by then the run finished, and the retry finds nothing to do, or it died, and the retry takes over)."""

    acks_late = True
    reject_on_worker_lost = True
    max_retries = None
    ignore_result = True

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().__call__(*args, **kwargs)
        except Busy as busy:
            if self.request.is_eager:
                return None  # in-process there is no other worker to wait for; the page offers the action
            raise self.retry(countdown=busy.seconds + 1) from None


@shared_task(name="core.sweep_jobs", ignore_result=True)
def sweep_jobs_task() -> dict[str, int]:
    """Celery beat runs this every JOB_SWEEP_SECONDS (see CELERY_BEAT_SCHEDULE)."""
    return sweep()


@worker_ready.connect
def _clean_at_start(**_: Any) -> None:
    """A worker that starts after a crash removes what its dead runs left in the temp folder."""
    try:
        removed = remove_dead_tempdirs()
    except Exception:  # the database may not be up yet; the sweep will do it
        log.exception("could not look for dead jobs' temp folders at worker start")
        return
    if removed:
        log.warning("removed %s temp folder(s) of jobs whose worker went away", removed)
