"""The abstract leased job: the fields and the few facts every background job kind shares.

Import jobs, media assets, release builds and judge runs are all jobs a Celery worker takes with a
conditional UPDATE, owns through a lease it renews, and gives back, finishes or gives up on
(`core.jobs` holds the mechanism). Each kind keeps its own status vocabulary and names, on its
model, the statuses that mean "waiting for a worker", "running" and "failed".
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, ClassVar

from django.conf import settings
from django.db import models
from django.utils import timezone


class LeasedJob(models.Model):
    attempts = models.PositiveIntegerField(default=0, help_text="Runs that took the job (a dead worker's too).")
    lease_owner = models.CharField(
        max_length=200, blank=True, help_text="host:pid of the process that holds the lease (operators only)."
    )
    lease_until = models.DateTimeField(null=True, blank=True, help_text="A running job owns its row until then.")
    heartbeat_at = models.DateTimeField(null=True, blank=True, help_text="When the running job last renewed its lease.")

    # Set by each kind.
    job_kind: ClassVar[str]  # media | import | release | judge: its Celery queue and lease setting
    job_task: ClassVar[str]  # dotted path of the Celery task that runs one job; it takes the primary key
    job_queued: ClassVar[str]  # the status of a job waiting for a worker (lease empty)
    job_running: ClassVar[str]  # the status of a job a worker holds (lease set)
    job_failed: ClassVar[str]
    job_message_field: ClassVar[str] = "error"  # where the reason for a failure goes
    job_max_attempts: ClassVar[int] = 3  # runs that died (leases that ran out) before the job fails for good

    # The model's own status field and manager; declared here for the type checker, defined by each kind.
    status: Any
    objects: ClassVar[models.Manager[Any]]

    class Meta:
        abstract = True

    @classmethod
    def job_lease(cls) -> timedelta:
        return timedelta(seconds=settings.JOB_LEASE_SECONDS[cls.job_kind])

    @classmethod
    def job_claim_fields(cls, now: Any) -> dict[str, Any]:
        """Extra fields a run writes when it takes the job (a start time, a cleared error)."""
        return {}

    @classmethod
    def job_exhausted_message(cls, attempts: int) -> str:
        return (
            f"The worker running this job went away {attempts} times before it finished (out of memory? "
            "killed?); nothing of the unfinished runs is visible. Check the worker's log."
        )

    @classmethod
    def job_failed_hook(cls, pk: Any) -> None:
        """Called after the mechanism failed a job on its own (attempts exhausted)."""

    @property
    def running(self) -> bool:
        return bool(self.status == self.job_running and self.lease_until is not None)

    @property
    def stalled(self) -> bool:
        """Held by a run that stopped renewing its lease: its worker went away mid-job."""
        return self.running and self.lease_until is not None and self.lease_until < timezone.now()

    @property
    def heartbeat_age(self) -> float | None:
        """Seconds since the running job last renewed its lease; None when no run holds it."""
        if not self.running or self.heartbeat_at is None:
            return None
        return max((timezone.now() - self.heartbeat_at).total_seconds(), 0.0)

    @property
    def job_state(self) -> str:
        """The status, or `stalled` for a job whose worker went away: what pages and APIs show."""
        return "stalled" if self.stalled else str(self.status)
