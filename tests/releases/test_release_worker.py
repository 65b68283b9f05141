"""A release published through the page is built by a real Celery worker over Redis, on PostgreSQL; when
the whole worker building it is killed, the other worker builds it."""

from __future__ import annotations

import hashlib
import io
import json
import time
import zipfile

import pytest
from django.core.files.storage import default_storage
from django.urls import reverse

from annotations.demo.synth import lavfi
from annotations.models import Label
from releases.models import Release, ReleaseStatus
from tests.conftest import client_for
from tests.factories import PairFactory
from tests.releases.test_releases import stored_asset, voters, votes  # noqa: F401 -- fixture
from tests.services import (
    celery_worker,
    job_worker_env,
    kill_holder_and_wait_takeover,
    two_workers_and_beat,
    wait_finished,
    wait_for,
    wait_nothing_left,
    worker_env,
)

pytestmark = [pytest.mark.real_worker, pytest.mark.django_db(transaction=True)]

LEASE = 4
PAIRS = 2


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


def _variant(video: bytes, title: str) -> bytes:
    """The same video under another title (same length, in the header), so a distinct asset."""
    assert video.count(b"v-XXXXXXXX") == 1
    return video.replace(b"v-XXXXXXXX", title.ljust(10).encode())


def test_a_whole_worker_killed_mid_build_costs_at_most_twice_the_lease_and_leaves_one_archive(
    project,
    curator,
    voters,  # noqa: F811
    tmp_path,
):
    temp_dir = tmp_path / "jobtmp"
    client = client_for(curator)
    with two_workers_and_beat(job_worker_env(tmp_path, lease=LEASE), tmp_path) as workers:
        video = _large_video(tmp_path, "v-XXXXXXXX")  # while the workers start
        for i in range(PAIRS):
            # 40 MB videos (raw frames): the archive copies them, which takes a while; each one distinct
            a, b = (stored_asset(_variant(video, f"v{i}-{side}"), "video", "avi") for side in "ab")
            pair = PairFactory(project=project, external_id=f"v{i}", task="T2V", response1_text=None,
                               response1_media=a, response2_text=None, response2_media=b)  # fmt: skip
            votes(pair, voters, [Label.RESPONSE1] * 3)
        response = client.post(reverse("releases:release_publish", args=[project.slug]), {"version": 1})
        assert response.status_code == 302
        release = Release.objects.get(project=project)
        # The build is writing its zip.
        wait_for(lambda: list(temp_dir.glob("omni-release-*/release.zip")), 60, "the build to start", workers, 0.02)

        def nothing_visible() -> None:
            release.refresh_from_db()
            # (A zip the dead run was saving may sit in storage, unlisted; the finished build deletes it.)
            assert not release.archive and release.status == ReleaseStatus.BUILDING

        takeover = kill_holder_and_wait_takeover(
            release, workers, temp_dir=temp_dir, lease=LEASE, while_dead=nothing_visible
        )
        assert takeover.dead_folders, "the killed run had no scratch folder under OMNI_JOB_TEMP_DIR"
        # The other worker builds again from the same frozen pairs.
        wait_finished(release, workers, 180)
        wait_for(lambda: workers.ran(takeover.survivor, "releases.build"), 30, "the task to return", workers)
        wait_nothing_left(release, temp_dir)
    assert release.status == ReleaseStatus.READY, release.error
    assert release.attempts == 2 and release.archive.name.endswith("-b2.zip")
    assert workers.ran(takeover.killed, "releases.build") == 0
    assert _stored(project) == [release.archive.name.rsplit("/", 1)[1]]  # one archive, the finished run's
    assert not list((tmp_path / "systmp").glob("omni-*"))
    download = client.get(reverse("releases:release_download", args=[project.slug, 1]))
    body = b"".join(download.streaming_content)
    assert hashlib.sha256(body).hexdigest() == release.archive_sha256
    with zipfile.ZipFile(io.BytesIO(body)) as zf:
        manifest = json.loads(zf.read("manifest.json"))
        videos = [n for n in zf.namelist() if n.startswith("media_data/") and n.endswith(".avi")]
    assert len(manifest["pairs"]) == PAIRS and len(videos) == 2 * PAIRS


def _stored(project) -> list[str]:
    try:
        return sorted(default_storage.listdir(f"releases/{project.slug}")[1])
    except FileNotFoundError:
        return []
