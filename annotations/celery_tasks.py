from celery import shared_task

from annotations.services.import_jobs import import_job_run


@shared_task(name="annotations.import_job_run")
def import_job_run_task(job_id: str) -> None:
    import_job_run(job_id=job_id)
