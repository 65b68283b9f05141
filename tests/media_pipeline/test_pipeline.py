"""The pipeline's state machine, its effect on annotation queues, and the curator's pipeline page."""

from __future__ import annotations

import hashlib
import itertools
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.urls import reverse
from django.utils import timezone

from annotations.services.media_ready import pairs_media_refresh
from annotations.services.queue import next_assignment
from core.jobs import Busy
from media_pipeline import pipeline
from media_pipeline.models import AssetStatus, MediaAsset, Rendition
from tests.conftest import client_for
from tests.factories import PairFactory

pytestmark = pytest.mark.django_db
_PITCH = itertools.count(300, 37)


def _asset(tmp_path: Path, kind: str = "audio", *, broken: bool = False) -> MediaAsset:
    """A stored original: a generated 2 s tone of its own pitch (or a file that is not audio), queued."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    source = tmp_path / "tone.wav"
    if broken:
        source.write_bytes(b"RIFF\x00\x00\x00\x00WAVEnot really")
    else:
        tone = f"sine=frequency={next(_PITCH)}:duration=2"
        cmd = ["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i", tone, str(source)]
        subprocess.run(cmd, check=True)
    data = source.read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    key = default_storage.save(MediaAsset.storage_key(sha, "wav"), ContentFile(data))
    return MediaAsset.objects.create(sha256=sha, kind=kind, extension="wav", file=key, size_bytes=len(data))


def _media_pair(project, asset_one, asset_two):
    return PairFactory(
        project=project,
        task="T2A",
        response1_text=None,
        response2_text=None,
        response1_media=asset_one,
        response2_media=asset_two,
    )


def test_a_run_stores_renditions_and_marks_the_asset_ready_once(tmp_path):
    asset = _asset(tmp_path)
    assert pipeline.run(asset.id) == AssetStatus.READY
    asset.refresh_from_db()
    assert asset.status == AssetStatus.READY and asset.attempts == 1 and asset.error == ""
    assert asset.probe["streams"][0]["codec_type"] == "audio" and asset.probe["duration"] == pytest.approx(2, abs=0.1)
    roles = set(Rendition.objects.filter(asset=asset).values_list("role", flat=True))
    assert roles == {"web", "peaks"}
    for rendition in Rendition.objects.filter(asset=asset):
        assert default_storage.exists(rendition.file.name)
        assert "tone" not in rendition.file.name and rendition.file.name.startswith("renditions/")  # opaque
    # A duplicate delivery of the same job does nothing.
    assert pipeline.run(asset.id) is None
    asset.refresh_from_db()
    assert asset.attempts == 1 and Rendition.objects.filter(asset=asset).count() == 2


def test_a_broken_file_fails_with_a_message_and_can_be_retried(tmp_path):
    asset = _asset(tmp_path, broken=True)
    assert pipeline.run(asset.id) == AssetStatus.FAILED
    asset.refresh_from_db()
    assert asset.status == AssetStatus.FAILED and "ffprobe cannot read the file" in asset.error
    assert not Rendition.objects.filter(asset=asset).exists()
    assert pipeline.retry([asset.id]) == 1
    asset.refresh_from_db()
    assert asset.status == AssetStatus.QUEUED and asset.error == ""


def test_a_run_whose_worker_died_is_taken_over_only_after_its_lease(tmp_path):
    asset = _asset(tmp_path)
    MediaAsset.objects.filter(pk=asset.pk).update(
        status=AssetStatus.RUNNING, attempts=1, lease_until=timezone.now() + timedelta(seconds=30)
    )
    with pytest.raises(Busy):
        pipeline.run(asset.id)
    assert pipeline.retry([asset.id]) == 0  # a live lease: someone is working on it
    MediaAsset.objects.filter(pk=asset.pk).update(lease_until=timezone.now() - timedelta(seconds=1))
    assert pipeline.run(asset.id) == AssetStatus.READY
    asset.refresh_from_db()
    assert asset.attempts == 2


def test_a_run_that_stops_before_finishing_leaves_no_rendition_visible(tmp_path, monkeypatch):
    asset = _asset(tmp_path)

    def storage_down(*args, **kwargs):
        raise OSError("storage unreachable")

    monkeypatch.setattr(pipeline, "_finish", storage_down)
    with pytest.raises(OSError, match="storage unreachable"):
        pipeline.run(asset.id)
    assert not Rendition.objects.filter(asset=asset).exists()
    asset.refresh_from_db()
    assert asset.status == AssetStatus.RUNNING  # until the task gives it back or the lease runs out


def test_transient_errors_are_retried_then_fail_with_the_last_error(tmp_path, monkeypatch):
    from media_pipeline import celery_tasks

    asset = _asset(tmp_path)
    monkeypatch.setattr(pipeline, "_store", lambda *a: (_ for _ in ()).throw(OSError("bucket is read-only")))
    celery_tasks.process_asset_task.delay(asset.id)  # eager: no retries in-process, so it gives up at once
    asset.refresh_from_db()
    assert asset.status == AssetStatus.FAILED
    assert asset.error == "Processing kept failing: OSError: bucket is read-only"


def test_pairs_wait_in_the_queue_until_both_sides_are_ready(project, annotator, tmp_path):
    one, two = _asset(tmp_path / "1"), _asset(tmp_path / "2", broken=True)
    pair = _media_pair(project, one, two)
    pairs_media_refresh([one.id, two.id])
    pair.refresh_from_db()
    assert not pair.media_ready and next_assignment(project, annotator) is None
    pipeline.run(one.id)
    pair.refresh_from_db()
    assert not pair.media_ready
    pipeline.run(two.id)  # fails: the pair stays out of the queue
    pair.refresh_from_db()
    assert not pair.media_ready and next_assignment(project, annotator) is None
    # The curator replaces nothing but retries; here the file was fixed in storage meanwhile.
    good = _asset(tmp_path / "3")
    with good.file.open("rb") as fh:
        fixed = fh.read()
    default_storage.delete(two.file.name)
    default_storage.save(two.file.name, ContentFile(fixed))
    pipeline.retry([two.id])
    pipeline.run(two.id)
    pair.refresh_from_db()
    assert pair.media_ready and next_assignment(project, annotator).pair == pair


def test_curator_page_shows_states_failures_and_retries(project, curator, annotator, tmp_path):
    ok, bad = _asset(tmp_path / "a"), _asset(tmp_path / "b", broken=True)
    _media_pair(project, ok, bad)
    pipeline.run(ok.id)
    pipeline.run(bad.id)
    url = reverse("annotations:media_status", args=[project.slug])
    assert client_for(annotator).get(url).status_code == 403
    html = client_for(curator).get(url).content.decode()
    assert 'data-status="ready"><span class="code">ready</span><span class="count">1<' in html
    assert 'data-status="failed"><span class="code">failed</span><span class="count">1<' in html
    assert "ffprobe cannot read the file" in html and 'hx-trigger="every 2s"' not in html
    assert "1 pair waiting for media" in html
    retry = reverse("annotations:media_retry", args=[project.slug])
    assert client_for(annotator).post(retry, {"asset": bad.id}).status_code == 403
    assert client_for(curator).post(retry, {"asset": "x"}).status_code == 400
    response = client_for(curator).post(retry, {"asset": bad.id})
    assert response.status_code == 302
    bad.refresh_from_db()
    assert bad.status == AssetStatus.QUEUED and bad.error == ""  # its job starts when the request commits
    page = client_for(curator).get(url, HTTP_HX_REQUEST="true").content.decode()
    assert page.lstrip().startswith('<div id="pipeline"')


def test_process_media_command_runs_queued_assets_and_retries_failed(project, tmp_path, capsys):
    from django.core.management import CommandError, call_command

    queued, bad = _asset(tmp_path / "q"), _asset(tmp_path / "f", broken=True)
    _media_pair(project, queued, bad)
    pipeline.run(bad.id)
    with pytest.raises(CommandError, match="no project with slug 'nope'"):
        call_command("process_media", "--project", "nope")
    call_command("process_media", "--project", project.slug, "--retry-failed")
    out = capsys.readouterr().out
    assert "queued again: 2" in out and "sent 2 job(s)" in out  # the failed one and the never-sent one


@pytest.mark.django_db(transaction=True)
def test_no_database_transaction_is_open_while_media_is_converted(tmp_path, monkeypatch):
    from django.db import connection

    from media_pipeline import processing

    seen = []
    real = processing.process

    def watched(*args, **kwargs):
        seen.append(connection.in_atomic_block)
        return real(*args, **kwargs)

    monkeypatch.setattr(pipeline, "process", watched)
    asset = _asset(tmp_path)
    assert pipeline.run(asset.id) == AssetStatus.READY
    assert seen == [False]


def test_retry_also_resends_queued_assets_and_resets_the_attempt_count(tmp_path):
    asset = _asset(tmp_path)
    MediaAsset.objects.filter(pk=asset.pk).update(attempts=3)
    assert pipeline.retry([asset.id]) == 1  # queued, its job perhaps lost with the broker
    asset.refresh_from_db()
    assert asset.status == AssetStatus.QUEUED and asset.attempts == 0


def test_a_file_whose_runs_keep_dying_fails_for_good(tmp_path):
    asset = _asset(tmp_path)
    expired = timezone.now() - timedelta(seconds=1)
    MediaAsset.objects.filter(pk=asset.pk).update(
        status=AssetStatus.RUNNING, attempts=MediaAsset.job_max_attempts, lease_until=expired
    )
    assert pipeline.run(asset.id) is None
    asset.refresh_from_db()
    assert asset.status == AssetStatus.FAILED and "stopped 5 times without finishing" in asset.error


def test_a_rendition_cut_short_by_a_dead_run_is_written_again(tmp_path):
    asset = _asset(tmp_path)
    assert pipeline.run(asset.id) == AssetStatus.READY
    web = Rendition.objects.get(asset=asset, role="web")
    with web.file.open("rb") as fh:
        whole = fh.read()
    # An earlier run died halfway through writing the same key; this run must not trust it.
    default_storage.delete(web.file.name)
    default_storage.save(web.file.name, ContentFile(whole[: len(whole) // 2]))
    pipeline.retry([asset.id])
    MediaAsset.objects.filter(pk=asset.pk).update(status=AssetStatus.QUEUED)
    assert pipeline.run(asset.id) == AssetStatus.READY
    with Rendition.objects.get(asset=asset, role="web").file.open("rb") as fh:
        assert fh.read() == whole


def test_rendition_keys_do_not_carry_the_originals_hash(tmp_path):
    asset = _asset(tmp_path)
    pipeline.run(asset.id)
    for key in Rendition.objects.filter(asset=asset).values_list("file", flat=True):
        assert asset.sha256 not in key and asset.sha256[:16] not in key
