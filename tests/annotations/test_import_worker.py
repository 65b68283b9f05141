"""An import uploaded through the page is done by a real Celery worker over Redis."""

from __future__ import annotations

import re
import time

import pytest
from django.urls import reverse

from annotations.models import ImportJob, ImportStatus, Pair
from tests.conftest import client_for
from tests.services import celery_worker, worker_env

_DONE = re.compile(r"annotations\.import_job_run\[[0-9a-f-]+\] succeeded")

pytestmark = [pytest.mark.real_worker, pytest.mark.django_db(transaction=True)]


def test_uploaded_release_is_imported_by_the_worker(project, curator, release_zip, tmp_path):
    env = worker_env(tmp_path)
    with celery_worker(env, tmp_path / "worker.log"):
        client = client_for(curator)
        with open(release_zip, "rb") as fh:
            response = client.post(reverse("annotations:import_start", args=[project.slug]), {"data_file": fh})
        assert response.status_code == 302
        job = ImportJob.objects.get()
        seen_running = False
        deadline = time.monotonic() + 120
        while job.status in (ImportStatus.QUEUED, ImportStatus.RUNNING):
            assert time.monotonic() < deadline, (tmp_path / "worker.log").read_text()[-3000:]
            page = client.get(response["Location"], HTTP_HX_REQUEST="true").content.decode()
            seen_running |= "<progress" in page
            time.sleep(0.3)
            job.refresh_from_db()
        # The job row is marked done inside the task; let the task itself return (and log it) before
        # the worker is stopped, or stopping it can cut the task's last steps short.
        log_path = tmp_path / "worker.log"
        while not _DONE.search(log_path.read_text()):
            assert time.monotonic() < deadline + 30, log_path.read_text()[-3000:]
            time.sleep(0.3)
    assert job.status == ImportStatus.SUCCEEDED, job.message
    assert seen_running  # the page showed a progress bar while the worker ran
    assert Pair.objects.filter(project=project).count() == 51
    assert job.summary["media"]["files"] > 40
    log = (tmp_path / "worker.log").read_text()
    assert _DONE.search(log)
