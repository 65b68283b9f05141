"""Media jobs on real Celery workers over Redis: a whole worker is killed in the middle of ffmpeg and
the other worker finishes its asset."""

from __future__ import annotations

import hashlib
import subprocess

import psutil
import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from media_pipeline import pipeline
from media_pipeline.models import AssetStatus, MediaAsset, Rendition
from media_pipeline.processing import FRAMES
from tests.services import (
    Workers,
    job_worker_env,
    kill_holder_and_wait_takeover,
    two_workers_and_beat,
    wait_finished,
    wait_for,
    wait_nothing_left,
)

pytestmark = [pytest.mark.real_worker, pytest.mark.django_db(transaction=True)]

LEASE = 4


def _long_video(tmp_path, seconds: int = 6) -> MediaAsset:
    """A 1080p clip with sound: converting it keeps ffmpeg busy for a few seconds."""
    source = tmp_path / "long.mp4"
    subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=1920x1080:rate=30",
         "-f", "lavfi", "-i", "sine=frequency=330", "-t", str(seconds), "-c:v", "libx264", "-preset", "ultrafast",
         "-c:a", "aac", "-shortest", str(source)],
        check=True,
    )  # fmt: skip
    data = source.read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    key = default_storage.save(MediaAsset.storage_key(sha, "mp4"), ContentFile(data))
    return MediaAsset.objects.create(sha256=sha, kind="video", extension="mp4", file=key, size_bytes=len(data))


def _ffmpeg_running(workers: Workers) -> bool:
    """An ffmpeg of a media job runs under one of the workers (not some other process's on the machine)."""
    for proc in workers.procs.values():
        for child in psutil.Process(proc.pid).children(recursive=True):
            try:
                if child.name() == "ffmpeg" and "omni-media-" in " ".join(child.cmdline()):
                    return True
            except psutil.Error:
                continue
    return False


def test_a_whole_worker_killed_mid_transcode_costs_at_most_twice_the_lease_and_leaves_nothing(tmp_path):
    temp_dir = tmp_path / "jobtmp"
    with two_workers_and_beat(job_worker_env(tmp_path, lease=LEASE), tmp_path) as workers:
        asset = _long_video(tmp_path)  # while the workers start
        pipeline.enqueue([asset.id])  # autocommit: the job is sent at once
        wait_for(lambda: _ffmpeg_running(workers), 60, "ffmpeg to start", workers)

        def nothing_visible() -> None:
            assert not Rendition.objects.filter(asset=asset).exists(), "renditions of the dead run are visible"

        takeover = kill_holder_and_wait_takeover(
            asset, workers, temp_dir=temp_dir, lease=LEASE, while_dead=nothing_visible
        )
        assert takeover.dead_folders, "the killed run had no scratch folder under OMNI_JOB_TEMP_DIR"
        wait_finished(asset, workers, 180)
        wait_for(lambda: workers.ran(takeover.survivor, "media_pipeline.process_asset"), 30, "the task", workers)
        wait_nothing_left(asset, temp_dir)
    assert asset.status == AssetStatus.READY, asset.error
    assert asset.attempts == 2
    assert workers.ran(takeover.killed, "media_pipeline.process_asset") == 0
    roles = sorted(Rendition.objects.filter(asset=asset).values_list("role", "index"))
    assert [role for role, _ in roles] == ["frame"] * FRAMES + ["poster", "web"]
    assert len(set(roles)) == len(roles)  # one rendition per role and index
    web = Rendition.objects.get(asset=asset, role="web")
    with web.file.open("rb") as fh:
        assert fh.read(64)[4:8] == b"ftyp"
    assert not list((tmp_path / "systmp").glob("omni-*"))
