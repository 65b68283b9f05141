"""Celery entry points of judges (the run state machine is in services/runs.py)."""

from __future__ import annotations

from celery import shared_task

from .services.runs import judge_run_execute


@shared_task(name="judges.run", acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def judge_run_task(run_id: int) -> str | None:
    """Run one judge run. A duplicate delivery finds it taken (or finished) and does nothing."""
    return judge_run_execute(run_id)
