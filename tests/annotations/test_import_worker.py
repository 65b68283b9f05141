"""An import uploaded through the page is done by a real Celery worker over Redis; a killed worker's import resumes."""

from __future__ import annotations

import os
import re
import signal
import time

import orjson
import pytest
from django.urls import reverse

from annotations.models import ImportJob, ImportStatus, Pair
from tests.conftest import client_for
from tests.services import celery_worker, worker_env

_DONE = re.compile(r"annotations\.import_job_run\[[0-9a-f-]+\] succeeded")

pytestmark = [pytest.mark.real_worker, pytest.mark.django_db(transaction=True)]


def test_uploaded_release_is_imported_by_the_worker(project, curator, fixture_release, release_zip, tmp_path):
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
    assert Pair.objects.filter(project=project).count() == fixture_release.total
    assert job.summary["media"]["files"] == fixture_release.media_files
    log = (tmp_path / "worker.log").read_text()
    assert _DONE.search(log)


def _big_jsonl(path, rows: int) -> None:
    with open(path, "wb") as fh:
        for n in range(rows):
            fh.write(
                orjson.dumps(
                    {"id": f"big-{n}", "task": "T2T", "prompt": f"Question {n}: " + "context " * 40,
                     "criteria": "Prefer the correct answer.", "criteria_preference": "response1",
                     "response1": f"Answer {n} " + "detail " * 60, "response2": f"Reply {n} " + "detail " * 60,
                     "model1": "m1", "model2": "m2"}
                )
                + b"\n"
            )  # fmt: skip


def test_an_import_whose_whole_worker_is_killed_is_shown_stalled_and_resumes_without_duplicates(
    project, curator, tmp_path
):
    rows = 20_000
    data = tmp_path / "big.jsonl"
    _big_jsonl(data, rows)
    env = worker_env(tmp_path, IMPORT_LEASE_SECONDS="3")
    client = client_for(curator)
    with celery_worker(env, tmp_path / "worker-1.log") as proc:
        with open(data, "rb") as fh:
            response = client.post(reverse("annotations:import_start", args=[project.slug]), {"data_file": fh})
        assert response.status_code == 302
        job = ImportJob.objects.get()
        deadline = time.monotonic() + 60
        while job.status != ImportStatus.RUNNING:
            assert time.monotonic() < deadline, (tmp_path / "worker-1.log").read_text()[-3000:]
            time.sleep(0.05)
            job.refresh_from_db()
        os.killpg(proc.pid, signal.SIGKILL)  # the worker and its pool, mid-import: no goodbye, no ack
        proc.wait()

    # Nothing half-imported is visible; once the lease runs out the page says what happened.
    assert Pair.objects.filter(project=project).count() == 0
    time.sleep(4)
    job.refresh_from_db()
    assert job.stalled and job.attempts == 1
    page = client.get(response["Location"]).content.decode()
    assert "This import stopped" in page and "Resume the import" in page

    with celery_worker(env, tmp_path / "worker-2.log"):
        resumed = client.post(reverse("annotations:import_resume", args=[project.slug, job.id]))
        assert resumed.status_code == 302
        deadline = time.monotonic() + 180
        while job.status in (ImportStatus.QUEUED, ImportStatus.RUNNING):
            assert time.monotonic() < deadline, (tmp_path / "worker-2.log").read_text()[-3000:]
            time.sleep(0.3)
            job.refresh_from_db()
        log_path = tmp_path / "worker-2.log"
        while not _DONE.search(log_path.read_text()):
            assert time.monotonic() < deadline + 30, log_path.read_text()[-3000:]
            time.sleep(0.3)
    assert job.status == ImportStatus.SUCCEEDED, job.message
    assert job.summary["new_pairs"] == rows
    assert Pair.objects.filter(project=project).count() == rows
    assert Pair.objects.filter(project=project).values("external_id").distinct().count() == rows
