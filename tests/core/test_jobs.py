"""The leased-job mechanism (core.jobs), tested once on one kind; the four kinds share it.

Runs on whichever database the suite uses; the claim race needs PostgreSQL's row locking to mean
anything and is run there in CI.
"""

from __future__ import annotations

import os
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone

from annotations.models import ImportJob
from core import jobs
from core.celery_tasks import LeasedTask
from judges.models import JudgeRun
from media_pipeline.models import AssetStatus, MediaAsset
from releases.models import AnnotatorStatsReport, Release
from tests.factories import PairFactory

pytestmark = pytest.mark.django_db(transaction=True)


class Recorder:
    """Stands in for a job kind's Celery task: records what would have been sent."""

    def __init__(self) -> None:
        self.sent: list[object] = []

    def delay(self, pk: object) -> None:
        self.sent.append(pk)


RECORDER = Recorder()


@pytest.fixture
def sent(monkeypatch) -> list[object]:
    RECORDER.sent = []
    monkeypatch.setattr(MediaAsset, "job_task", "tests.core.test_jobs.RECORDER")
    return RECORDER.sent


def _asset(n: int = 0, **fields: object) -> MediaAsset:
    sha = f"{n:064x}"
    return MediaAsset.objects.create(
        sha256=sha, kind="image", extension="png", file=f"assets/{sha}.png", size_bytes=1, **fields
    )


def _expire(asset: MediaAsset) -> None:
    MediaAsset.objects.filter(pk=asset.pk).update(lease_until=timezone.now() - timedelta(seconds=1))


def test_every_job_kind_uses_the_one_mechanism():
    kinds = {model.job_kind: model for model in jobs.job_models()}
    assert kinds == {
        "import": ImportJob, "media": MediaAsset, "release": Release, "judge": JudgeRun, "stats": AnnotatorStatsReport,
    }  # fmt: skip
    for model in kinds.values():
        assert model.job_lease().total_seconds() > 0


def test_a_claim_takes_a_waiting_job_once_and_a_second_delivery_is_told_to_wait():
    asset = _asset()
    held = jobs.claim(MediaAsset, asset.pk)
    assert held is not None and held.run == 1
    asset.refresh_from_db()
    assert asset.status == AssetStatus.RUNNING and asset.attempts == 1
    assert asset.lease_owner.endswith(f":{os.getpid()}") and asset.heartbeat_at is not None
    assert asset.running and not asset.stalled and asset.job_state == "running"
    with pytest.raises(jobs.Busy) as busy:
        jobs.claim(MediaAsset, asset.pk)
    assert 0 < busy.value.seconds <= MediaAsset.job_lease().total_seconds()


def test_claims_racing_on_one_job_let_exactly_one_run_in():
    asset = _asset()
    outcomes: list[object] = []
    start = threading.Barrier(8)

    def race() -> None:
        start.wait()
        try:
            outcomes.append(jobs.claim(MediaAsset, asset.pk))
        except jobs.Busy as busy:
            outcomes.append(busy)
        finally:
            connection.close()

    threads = [threading.Thread(target=race) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    claims = [o for o in outcomes if isinstance(o, jobs.Claim)]
    assert len(claims) == 1 and claims[0].run == 1
    assert sum(isinstance(o, jobs.Busy) for o in outcomes) == 7
    asset.refresh_from_db()
    assert asset.attempts == 1


def test_a_finished_or_failed_job_is_not_taken_again():
    ready, failed = _asset(1, status=AssetStatus.READY), _asset(2, status=AssetStatus.FAILED)
    assert jobs.claim(MediaAsset, ready.pk) is None and jobs.claim(MediaAsset, failed.pk) is None
    assert jobs.claim(MediaAsset, 10**9) is None  # gone


def test_renewal_extends_the_lease_and_a_run_that_lost_its_job_can_write_nothing():
    asset = _asset()
    first = jobs.claim(MediaAsset, asset.pk)
    assert first is not None
    MediaAsset.objects.filter(pk=asset.pk).update(heartbeat_at=timezone.now() - timedelta(seconds=30))
    assert jobs.renew(first)
    asset.refresh_from_db()
    assert asset.heartbeat_age is not None and asset.heartbeat_age < 5
    assert asset.lease_until > timezone.now() + MediaAsset.job_lease() - timedelta(seconds=5)

    _expire(asset)  # the worker went away
    asset.refresh_from_db()
    assert asset.stalled and asset.job_state == "stalled"
    second = jobs.claim(MediaAsset, asset.pk)
    assert second is not None and second.run == 2

    assert not jobs.renew(first)
    assert not jobs.finish(first, AssetStatus.FAILED, error="late")
    assert not jobs.give_back(first)
    asset.refresh_from_db()
    assert asset.status == AssetStatus.RUNNING and asset.error == "" and asset.attempts == 2
    assert jobs.finish(second, AssetStatus.READY)
    asset.refresh_from_db()
    assert asset.status == AssetStatus.READY and asset.lease_until is None and asset.lease_owner == ""
    assert asset.job_state == "ready" and asset.heartbeat_age is None


def test_a_job_whose_runs_keep_dying_fails_for_good_with_its_reason():
    pair = PairFactory(media_ready=True)
    asset = _asset(status=AssetStatus.RUNNING, attempts=MediaAsset.job_max_attempts)
    type(pair).objects.filter(pk=pair.pk).update(input_media=asset)
    _expire(asset)
    assert jobs.claim(MediaAsset, asset.pk) is None
    asset.refresh_from_db()
    assert asset.status == AssetStatus.FAILED and asset.lease_until is None
    assert f"stopped {MediaAsset.job_max_attempts} times" in asset.error
    # The kind's hook ran: the pair showing it is no longer "waiting for media" but blocked by a failure.
    pair.refresh_from_db()
    assert not pair.media_ready


def test_giving_back_queues_the_job_and_a_retry_resets_its_attempts_and_sends_it(sent):
    asset = _asset()
    held = jobs.claim(MediaAsset, asset.pk)
    assert held is not None
    assert jobs.give_back(held, error="Retrying after: disk full")
    asset.refresh_from_db()
    assert asset.status == AssetStatus.QUEUED and asset.lease_until is None and asset.attempts == 1

    done = _asset(3, status=AssetStatus.READY)
    stalled = _asset(4, status=AssetStatus.RUNNING, attempts=2)
    _expire(stalled)
    live = _asset(5)
    assert jobs.claim(MediaAsset, live.pk) is not None
    again = jobs.requeue(
        MediaAsset,
        [asset.pk, done.pk, stalled.pk, live.pk],
        also=__import__("django.db.models", fromlist=["Q"]).Q(status=AssetStatus.QUEUED),
    )
    assert sorted(again) == sorted([asset.pk, stalled.pk])
    assert sorted(sent) == sorted([asset.pk, stalled.pk])  # sent after the commit
    stalled.refresh_from_db()
    assert stalled.status == AssetStatus.QUEUED and stalled.attempts == 0
    live.refresh_from_db()
    assert live.status == AssetStatus.RUNNING  # a live run is left alone


def test_the_sweep_queues_and_sends_every_job_whose_lease_ran_out_and_leaves_live_ones(sent, settings, tmp_path):
    settings.JOB_TEMP_DIR = str(tmp_path)
    dead, live, waiting = _asset(1), _asset(2), _asset(3)
    assert jobs.claim(MediaAsset, dead.pk) is not None and jobs.claim(MediaAsset, live.pk) is not None
    _expire(dead)
    result = jobs.sweep()
    assert result["media"] == 1 and sent == [dead.pk]
    dead.refresh_from_db()
    assert dead.status == AssetStatus.QUEUED and dead.lease_until is None and dead.attempts == 1
    # The message the sweep sent takes it as the second run.
    again = jobs.claim(MediaAsset, dead.pk)
    assert again is not None and again.run == 2
    live.refresh_from_db()
    waiting.refresh_from_db()
    assert live.status == AssetStatus.RUNNING and waiting.status == AssetStatus.QUEUED
    assert jobs.sweep()["media"] == 0  # nothing ran out since


def test_scratch_folders_of_dead_runs_are_removed_and_live_ones_kept(settings, tmp_path):
    settings.JOB_TEMP_DIR = str(tmp_path)
    dead, live = _asset(1), _asset(2)
    held_dead, held_live = jobs.claim(MediaAsset, dead.pk), jobs.claim(MediaAsset, live.pk)
    assert held_dead is not None and held_live is not None
    with jobs.job_tempdir(held_dead) as dead_dir, jobs.job_tempdir(held_live) as live_dir:
        (dead_dir / "part.mp4").write_bytes(b"x" * 100)
        assert dead_dir.parent == tmp_path and dead_dir.name.startswith("omni-media-")
        other_site = tmp_path / f"omni-media-00000000-{dead.pk}-1.abcdefgh"
        other_site.mkdir()
        unrelated = tmp_path / "omni-media-not-a-job"
        unrelated.mkdir()
        assert jobs.remove_dead_tempdirs() == 0  # both runs hold their jobs
        _expire(dead)  # the worker running `dead` went away
        assert jobs.remove_dead_tempdirs() == 1
        assert not dead_dir.exists() and live_dir.exists()
        assert other_site.exists() and unrelated.exists()  # another deployment's, and not a job's: not ours


def test_the_heartbeat_renews_while_the_run_works_and_notices_a_take_over(settings):
    settings.JOB_LEASE_SECONDS = {**settings.JOB_LEASE_SECONDS, "media": 2}
    asset = _asset()
    held = jobs.claim(MediaAsset, asset.pk)
    assert held is not None
    first_until = MediaAsset.objects.get(pk=asset.pk).lease_until
    with jobs.Heartbeat(held) as heartbeat:
        deadline = time.monotonic() + 10
        while MediaAsset.objects.get(pk=asset.pk).lease_until == first_until:
            assert time.monotonic() < deadline, "the heartbeat never renewed the lease"
            time.sleep(0.1)
        MediaAsset.objects.filter(pk=asset.pk).update(attempts=2)  # another run took over
        assert heartbeat.lost.wait(10)


def test_the_base_task_retries_a_delivery_that_finds_its_job_held_once_the_lease_would_run_out(monkeypatch):
    from omni_annotate.celery import app

    @app.task(base=LeasedTask, name="tests.held", shared=False)
    def held(pk: int) -> None:
        raise jobs.Busy(7.2)

    retried: list[float] = []

    class Retry(Exception):
        pass

    def retry(*, countdown: float) -> Exception:
        retried.append(countdown)
        return Retry()

    monkeypatch.setattr(held, "retry", retry)
    held.push_request(is_eager=False)
    try:
        with pytest.raises(Retry):
            held(1)
    finally:
        held.pop_request()
    assert retried == [pytest.approx(8.2)]
    assert held.acks_late and held.reject_on_worker_lost  # a killed worker's message comes back
    held.push_request(is_eager=True)  # in-process there is nobody to wait for: the page offers the action
    try:
        assert held(1) is None
    finally:
        held.pop_request()


def test_scratch_folder_names_say_which_run_they_belong_to(tmp_path, settings):
    settings.JOB_TEMP_DIR = str(tmp_path / "nested")
    asset = _asset()
    held = jobs.claim(MediaAsset, asset.pk)
    assert held is not None
    with jobs.job_tempdir(held) as folder:
        assert folder.parent == Path(settings.JOB_TEMP_DIR)
        assert folder.name.startswith("omni-media-") and f"-{asset.pk}-1." in folder.name
    assert not folder.exists()
