"""A release published through the page is built by a real Celery worker over Redis, on PostgreSQL; a build
whose worker is killed is taken again."""

from __future__ import annotations

import hashlib
import io
import json
import os
import signal
import time
import zipfile

import psutil
import pytest
from django.core.files.storage import default_storage
from django.urls import reverse

from annotations.demo.synth import lavfi
from annotations.models import Label
from releases.models import Release, ReleaseStatus
from tests.conftest import client_for
from tests.factories import PairFactory
from tests.releases.test_releases import stored_asset, voters, votes  # noqa: F401 -- fixture
from tests.services import celery_worker, worker_env

pytestmark = [pytest.mark.real_worker, pytest.mark.django_db(transaction=True)]


def test_the_worker_builds_the_published_release(project, curator, voters, tmp_path):  # noqa: F811
    for i in range(30):
        pair = PairFactory(project=project, external_id=f"w{i:02d}")
        votes(pair, voters, [Label.RESPONSE1] * 3 if i % 3 else [Label.TIE] * 3)
    env = worker_env(tmp_path)
    client = client_for(curator)
    with celery_worker(env, tmp_path / "worker.log"):
        response = client.post(
            reverse("releases:release_publish", args=[project.slug]), {"notes": "by the worker", "version": 1}
        )
        assert response.status_code == 302
        release = Release.objects.get(project=project)
        deadline = time.monotonic() + 60
        while True:
            page = client.get(response["Location"], HTTP_HX_REQUEST="true").content.decode()
            release.refresh_from_db()
            if release.status != ReleaseStatus.BUILDING:
                break
            assert time.monotonic() < deadline, (tmp_path / "worker.log").read_text()[-3000:]
            time.sleep(0.3)
    assert release.status == ReleaseStatus.READY, release.error
    assert 'id="build"' in page  # the htmx poll answered with the status fragment
    log = (tmp_path / "worker.log").read_text()
    assert "releases.build" in log and "succeeded" in log

    download = client.get(reverse("releases:release_download", args=[project.slug, release.version]))
    body = b"".join(download.streaming_content)
    assert hashlib.sha256(body).hexdigest() == release.archive_sha256
    with zipfile.ZipFile(io.BytesIO(body)) as zf:
        manifest = json.loads(zf.read("manifest.json"))
        without_tie = [n for n in zf.namelist() if n.startswith("without_tie/")]
    assert len(manifest["pairs"]) == 30 and manifest["notes"] == "by the worker"
    assert without_tie == ["without_tie/text_to_text/test-00000-of-00001.parquet"]


def _large_video(tmp_path, title: str) -> bytes:
    """A real video of about 40 MB that any reader can probe (the build checks each video's duration):
    raw RGB frames in AVI, made in a moment; the title keeps the bytes, and so the assets, apart."""
    path = tmp_path / f"{title}.avi"
    lavfi(path, ["testsrc=size=640x480:rate=10:duration=4.5"],
          ["-c:v", "rawvideo", "-pix_fmt", "rgb24", "-metadata", f"title={title}"])  # fmt: skip
    return path.read_bytes()


def test_a_worker_killed_mid_build_leaves_no_archive_and_the_build_is_taken_again(
    project,
    curator,
    voters,  # noqa: F811
    tmp_path,
):
    for i in range(6):
        # 40 MB videos (raw frames): the archive copies them, which takes a while; each one distinct
        a, b = (stored_asset(_large_video(tmp_path, f"v{i}-{side}"), "video", "avi") for side in "ab")
        pair = PairFactory(project=project, external_id=f"v{i}", task="T2V", response1_text=None,
                           response1_media=a, response2_text=None, response2_media=b)  # fmt: skip
        votes(pair, voters, [Label.RESPONSE1] * 3)
    worker_tmp = tmp_path / "worker-tmp"
    worker_tmp.mkdir()
    env = worker_env(tmp_path, RELEASE_LEASE_SECONDS="3", TMPDIR=str(worker_tmp))
    client = client_for(curator)
    log = tmp_path / "worker.log"
    with celery_worker(env, log) as proc:
        worker = psutil.Process(proc.pid)
        response = client.post(reverse("releases:release_publish", args=[project.slug]), {"version": 1})
        assert response.status_code == 302
        release = Release.objects.get(project=project)
        deadline = time.monotonic() + 60
        while not list(worker_tmp.glob("omni-release-*/release.zip")):  # the build is writing its zip
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.02)
        for pool_process in worker.children():
            os.kill(pool_process.pid, signal.SIGKILL)
        release.refresh_from_db()
        assert release.status == ReleaseStatus.BUILDING and release.attempts == 1 and not release.archive

        # The message comes back (acks late, rejected on worker loss), waits out the dead run's
        # lease and builds again from the same frozen pairs.
        deadline = time.monotonic() + 180
        while release.status == ReleaseStatus.BUILDING:
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.3)
            release.refresh_from_db()
    assert release.status == ReleaseStatus.READY, release.error
    assert release.attempts == 2 and release.archive.name.endswith("-b2.zip")
    assert "WorkerLostError" in log.read_text()
    stored = [name for name in default_storage.listdir(f"releases/{project.slug}")[1]]
    assert stored == [release.archive.name.rsplit("/", 1)[1]]  # the dead run left no archive behind
    download = client.get(reverse("releases:release_download", args=[project.slug, 1]))
    body = b"".join(download.streaming_content)
    assert hashlib.sha256(body).hexdigest() == release.archive_sha256
    with zipfile.ZipFile(io.BytesIO(body)) as zf:
        manifest = json.loads(zf.read("manifest.json"))
        videos = [n for n in zf.namelist() if n.startswith("media_data/") and n.endswith(".avi")]
    assert len(manifest["pairs"]) == 6 and len(videos) == 12
