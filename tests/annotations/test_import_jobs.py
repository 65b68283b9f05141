"""Import jobs own their row under a lease: a dead worker's job is visibly stalled, taken over or resumed."""

from __future__ import annotations

from datetime import timedelta

import orjson
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from annotations.models import ImportJob, ImportStatus, Pair
from annotations.services.import_jobs import import_job_create, import_job_run
from core.jobs import Busy
from tests.conftest import client_for

ROWS = 40


def _jsonl(rows: int = ROWS) -> SimpleUploadedFile:
    lines = [
        orjson.dumps(
            {"id": f"t2t-{n}", "task": "T2T", "prompt": f"Question {n}", "criteria": "Prefer the correct answer.",
             "criteria_preference": "response1", "response1": f"Answer {n}", "response2": f"Reply {n}",
             "model1": "m1", "model2": "m2"}
        )
        for n in range(rows)
    ]  # fmt: skip
    return SimpleUploadedFile("pairs.jsonl", b"\n".join(lines) + b"\n")


@pytest.fixture
def queued_job(project, curator, django_capture_on_commit_callbacks) -> ImportJob:
    with django_capture_on_commit_callbacks(execute=False):  # the job's message is "lost": tests run it
        return import_job_create(project=project, user=curator, data_upload=_jsonl())


def _died(job: ImportJob, *, attempts: int = 1, seconds_ago: int = 1) -> None:
    """What a worker killed mid-import leaves behind: running, under a lease that ran out."""
    ImportJob.objects.filter(id=job.id).update(
        status=ImportStatus.RUNNING,
        attempts=attempts,
        started_at=timezone.now() - timedelta(minutes=2),
        lease_until=timezone.now() - timedelta(seconds=seconds_ago),
    )


def test_a_second_delivery_waits_while_the_running_import_holds_its_lease(queued_job):
    ImportJob.objects.filter(id=queued_job.id).update(
        status=ImportStatus.RUNNING, attempts=1, lease_until=timezone.now() + timedelta(seconds=50)
    )
    with pytest.raises(Busy) as busy:
        import_job_run(job_id=str(queued_job.id))
    assert 45 < busy.value.seconds <= 50
    assert not Pair.objects.exists()


def test_an_import_whose_worker_died_is_taken_over_and_imports_each_pair_once(project, queued_job):
    _died(queued_job)
    queued_job.refresh_from_db()
    assert queued_job.stalled
    import_job_run(job_id=str(queued_job.id))
    queued_job.refresh_from_db()
    assert queued_job.status == ImportStatus.SUCCEEDED, queued_job.message
    assert queued_job.attempts == 2 and queued_job.lease_until is None and not queued_job.stalled
    assert Pair.objects.filter(project=project).count() == ROWS
    # A late duplicate of the message finds it done.
    import_job_run(job_id=str(queued_job.id))
    assert Pair.objects.filter(project=project).count() == ROWS


def test_an_import_that_keeps_killing_its_worker_is_failed_with_a_reason(queued_job):
    _died(queued_job, attempts=ImportJob.job_max_attempts)
    import_job_run(job_id=str(queued_job.id))
    queued_job.refresh_from_db()
    assert queued_job.status == ImportStatus.FAILED
    assert f"went away {ImportJob.job_max_attempts} times" in queued_job.message
    assert not Pair.objects.exists()


def test_the_page_shows_a_stalled_import_and_resumes_it(
    project, curator, queued_job, django_capture_on_commit_callbacks
):
    _died(queued_job)
    client = client_for(curator)
    url = reverse("annotations:import_detail", args=[project.slug, queued_job.id])
    page = client.get(url).content.decode()
    assert 'data-job-state="stalled"' in page and "Resume the import" in page
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("annotations:import_resume", args=[project.slug, queued_job.id]), follow=True)
    assert response.status_code == 200
    queued_job.refresh_from_db()
    assert queued_job.status == ImportStatus.SUCCEEDED, queued_job.message  # eager Celery ran it at once
    assert Pair.objects.filter(project=project).count() == ROWS
    page = client.get(url).content.decode()
    assert 'data-job-state="stalled"' not in page and f"Imported {ROWS} new pairs." in page


def test_a_running_import_cannot_be_resumed(project, curator, queued_job):
    ImportJob.objects.filter(id=queued_job.id).update(
        status=ImportStatus.RUNNING, attempts=1, lease_until=timezone.now() + timedelta(seconds=50)
    )
    client = client_for(curator)
    client.post(reverse("annotations:import_resume", args=[project.slug, queued_job.id]))
    queued_job.refresh_from_db()
    assert queued_job.status == ImportStatus.RUNNING and queued_job.attempts == 1


def test_the_api_reports_and_resumes_a_stalled_import(
    project, curator, queued_job, annotator, django_capture_on_commit_callbacks
):
    api = APIClient()
    api.force_authenticate(curator)
    detail = f"/api/projects/{project.slug}/imports/{queued_job.id}/"
    assert api.post(f"{detail}resume/").status_code == 409  # queued, not stalled
    _died(queued_job)
    assert api.get(detail).json()["stalled"] is True
    member = APIClient()
    member.force_authenticate(annotator)
    assert member.post(f"{detail}resume/").status_code == 403
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(f"{detail}resume/")
    assert response.status_code == 202
    body = api.get(detail).json()
    assert body["status"] == ImportStatus.SUCCEEDED and body["stalled"] is False
    assert Pair.objects.filter(project=project).count() == ROWS
