"""An import uploaded through the page is done by a real Celery worker over Redis; when the whole worker
running an import is killed, the other worker does it."""

from __future__ import annotations

import re
import time

import orjson
import pytest
from django.urls import reverse

from annotations.models import ImportJob, ImportStatus, Pair
from tests.conftest import client_for
from tests.services import (
    celery_worker,
    job_worker_env,
    kill_holder_and_wait_takeover,
    scratch_folders,
    two_workers_and_beat,
    wait_finished,
    wait_for,
    wait_nothing_left,
    worker_env,
)

_DONE = re.compile(r"annotations\.import_job_run\[[0-9a-f-]+\] succeeded")

pytestmark = [pytest.mark.real_worker, pytest.mark.django_db(transaction=True)]

LEASE = 4
ROWS = 40_000  # the whole import runs >= 2 s on a worker (measured under load: 3.6-7.8 s; 20,000 rows: 2.9-5 s)


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


def test_an_import_whose_whole_worker_is_killed_is_taken_over_within_twice_the_lease_without_duplicates(
    project, curator, tmp_path
):
    temp_dir = tmp_path / "jobtmp"
    client = client_for(curator)
    with two_workers_and_beat(job_worker_env(tmp_path, lease=LEASE), tmp_path) as workers:
        data = tmp_path / "big.jsonl"
        _big_jsonl(data, ROWS)  # while the workers start
        with open(data, "rb") as fh:
            response = client.post(reverse("annotations:import_start", args=[project.slug]), {"data_file": fh})
        assert response.status_code == 302
        job = ImportJob.objects.get()

        def mid_import() -> bool:  # running, in its scratch folder
            job.refresh_from_db()
            return job.status == ImportStatus.RUNNING and bool(scratch_folders(job, temp_dir, 1))

        wait_for(mid_import, 60, "the import to start", workers, poll=0.02)

        def nothing_visible() -> None:
            assert not Pair.objects.filter(project=project).exists(), "pairs of the dead run are visible"

        takeover = kill_holder_and_wait_takeover(
            job, workers, temp_dir=temp_dir, lease=LEASE, while_dead=nothing_visible
        )
        assert takeover.dead_folders, "the killed run had no scratch folder under OMNI_JOB_TEMP_DIR"
        wait_finished(job, workers, 180)
        wait_for(lambda: _DONE.search(workers.log(takeover.survivor)), 30, "the task to return", workers)
        print("the whole import took", workers.run_seconds(takeover.survivor, "annotations.import_job_run"), "s")
        wait_nothing_left(job, temp_dir)
    assert job.status == ImportStatus.SUCCEEDED, job.message
    assert job.attempts == 2 and job.summary["new_pairs"] == ROWS
    assert not _DONE.search(workers.log(takeover.killed))
    assert Pair.objects.filter(project=project).count() == ROWS
    assert Pair.objects.filter(project=project).values("external_id").distinct().count() == ROWS
    assert not list((tmp_path / "systmp").glob("omni-*"))
