from celery import shared_task

from annotations.services.import_jobs import import_job_run
from core.celery_tasks import LeasedTask


@shared_task(base=LeasedTask, name="annotations.import_job_run")
def import_job_run_task(job_id: str) -> None:
    """Run one import; a delivery after its worker died takes over once the dead run's lease ran out."""
    import_job_run(job_id=job_id)
