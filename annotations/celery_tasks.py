from celery import Task, shared_task

from annotations.leases import Busy
from annotations.services.import_jobs import import_job_run


@shared_task(
    bind=True,
    name="annotations.import_job_run",
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=None,
    ignore_result=True,
)
def import_job_run_task(self: Task, job_id: str) -> None:
    """Run one import. A second delivery (its worker died) waits out the dead run's lease, then takes over."""
    try:
        import_job_run(job_id=job_id)
    except Busy as busy:
        if self.request.is_eager:
            return  # in-process there is no other worker to wait for; the page offers "Resume"
        raise self.retry(countdown=busy.seconds + 1) from None
