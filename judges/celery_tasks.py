"""Celery entry points of judges (the run state machine is in services/runs.py)."""

from __future__ import annotations

from celery import shared_task

from core.celery_tasks import LeasedTask

from .services.runs import judge_run_execute


@shared_task(base=LeasedTask, name="judges.run")
def judge_run_task(run_id: int) -> str | None:
    """Run (or resume) one judge run; a duplicate delivery finds it taken (or finished) and waits or does nothing."""
    return judge_run_execute(run_id)
