"""A real Celery worker over Redis runs media jobs; one is killed with SIGKILL in the middle of ffmpeg."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import time

import psutil
import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from media_pipeline import pipeline
from media_pipeline.models import AssetStatus, MediaAsset, Rendition
from media_pipeline.processing import FRAMES
from tests.services import celery_worker, worker_env

pytestmark = [pytest.mark.real_worker, pytest.mark.django_db(transaction=True)]


def _long_video(tmp_path) -> MediaAsset:
    """A 40 s 1080p clip with sound: converting it keeps ffmpeg busy for several seconds."""
    source = tmp_path / "long.mp4"
    subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=1920x1080:rate=30",
         "-f", "lavfi", "-i", "sine=frequency=330", "-t", "40", "-c:v", "libx264", "-preset", "ultrafast",
         "-c:a", "aac", "-shortest", str(source)],
        check=True,
    )  # fmt: skip
    data = source.read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    key = default_storage.save(MediaAsset.storage_key(sha, "mp4"), ContentFile(data))
    return MediaAsset.objects.create(sha256=sha, kind="video", extension="mp4", file=key, size_bytes=len(data))


def _ffmpeg_of_a_job(worker: psutil.Process) -> psutil.Process | None:
    """The ffmpeg a job of this worker runs (not some other process's on the same machine)."""
    for proc in worker.children(recursive=True):
        try:
            if proc.name() == "ffmpeg" and "omni-media-" in " ".join(proc.cmdline()):
                return proc
        except psutil.Error:
            continue
    return None


def _wait(predicate, timeout: float, what: str, log) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}; worker log:\n{log.read_text()[-3000:]}"
        time.sleep(0.2)


def test_a_worker_killed_mid_transcode_leaves_nothing_visible_and_the_job_is_taken_again(tmp_path):
    asset = _long_video(tmp_path)
    log = tmp_path / "worker.log"
    with celery_worker(worker_env(tmp_path, MEDIA_LEASE_SECONDS="4"), log) as proc:
        worker = psutil.Process(proc.pid)
        pipeline.enqueue([asset.id])  # autocommit: the job is sent at once
        _wait(lambda: _ffmpeg_of_a_job(worker) is not None, 60, "ffmpeg to start", log)
        ffmpeg = _ffmpeg_of_a_job(worker)
        assert ffmpeg is not None
        pool_process = ffmpeg.parent()
        asset.refresh_from_db()
        assert asset.status == AssetStatus.RUNNING and asset.attempts == 1
        os.kill(pool_process.pid, signal.SIGKILL)

        # Nothing half-made is visible, and ffmpeg does not outlive the worker that started it.
        asset.refresh_from_db()
        assert asset.status == AssetStatus.RUNNING and not Rendition.objects.filter(asset=asset).exists()
        _wait(lambda: not ffmpeg.is_running() or ffmpeg.status() == psutil.STATUS_ZOMBIE, 10, "ffmpeg to go", log)

        # The message comes back (acks late, rejected on worker loss); once the lease runs out the
        # asset is taken again and finished.
        def done() -> bool:
            asset.refresh_from_db()
            return asset.status in (AssetStatus.READY, AssetStatus.FAILED)

        _wait(done, 180, "the job to be taken again and finish", log)
    assert asset.status == AssetStatus.READY, asset.error
    assert asset.attempts == 2
    roles = sorted(Rendition.objects.filter(asset=asset).values_list("role", flat=True))
    assert roles == ["frame"] * FRAMES + ["poster", "web"]
    web = Rendition.objects.get(asset=asset, role="web")
    with web.file.open("rb") as fh:
        head = fh.read(64)
    assert head[4:8] == b"ftyp"
    assert "WorkerLostError" in log.read_text() or "worker lost" in log.read_text().lower()
