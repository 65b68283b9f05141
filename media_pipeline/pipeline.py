"""The media pipeline's state machine: queued -> running -> ready | failed, one Celery job per asset.

- A job takes the asset with a conditional UPDATE (queued, or running with a lease that ran out),
  so duplicate deliveries of the same job do nothing, and an asset whose worker was killed can be
  taken again once its lease runs out. The lease is renewed while ffmpeg works.
- No database transaction is open while the original is read or ffmpeg runs. Renditions are
  written to storage under opaque keys first; their rows and the `ready` status are then written
  in one short transaction, so a job killed at any point leaves no rendition visible.
- A problem with the file ends in `failed` with the curator's message (processing.MediaError);
  anything else (storage down, disk full) is retried by Celery and fails only after the retries.
- Pairs are held out of annotation queues until every asset they show is ready (Pair.media_ready).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import tempfile
import time
from collections.abc import Callable, Iterable
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet
from django.utils import timezone

from .models import AssetStatus, MediaAsset, Rendition
from .processing import MediaError, Result, process, scrub

log = logging.getLogger(__name__)

_EXTENSIONS = {"video/mp4": "mp4", "audio/mp4": "m4a", "image/webp": "webp", "image/jpeg": "jpg"}
_EXTENSIONS |= {"application/json": "json", "model/gltf-binary": "glb"}
MAX_ATTEMPTS = 5  # runs that died (their lease ran out) before the asset is failed for good


def lease() -> timedelta:
    return timedelta(seconds=settings.MEDIA_LEASE_SECONDS)


def _heartbeat_every() -> float:
    return min(10.0, settings.MEDIA_LEASE_SECONDS / 3)


def enqueue(asset_ids: Iterable[int]) -> None:
    """Start a job for each queued asset once the current transaction commits."""
    ids = sorted(set(asset_ids))
    if not ids:
        return
    from .celery_tasks import process_asset_task

    def send() -> None:
        for asset_id in MediaAsset.objects.filter(pk__in=ids, status=AssetStatus.QUEUED).values_list("pk", flat=True):
            try:
                process_asset_task.delay(asset_id)
            except Exception:  # the broker is down: the asset stays queued, and a retry sends it again
                log.exception("media asset %s: could not send its job", asset_id)

    transaction.on_commit(send)


class Transient(Exception):
    """A run failed for a reason that is not the file's (storage, disk); the asset is queued again."""


class Busy(Exception):
    """Another job holds the asset's lease; `seconds` until it runs out."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"asset is being processed; lease runs out in {seconds:.0f} s")
        self.seconds = seconds


def _take(asset_id: int) -> tuple[MediaAsset, int] | None:
    """Start a run: the asset and this run's number, None if there is nothing to do, or Busy."""
    now = timezone.now()
    start = {"status": AssetStatus.RUNNING, "lease_until": now + lease(), "attempts": F("attempts") + 1, "error": ""}
    taken = MediaAsset.objects.filter(pk=asset_id, status=AssetStatus.QUEUED).update(**start)
    if not taken:
        dead = Q(pk=asset_id, status=AssetStatus.RUNNING, lease_until__lt=now)
        # A file whose runs keep dying (it exhausts memory, it crashes the converter) fails for good.
        if MediaAsset.objects.filter(dead, attempts__gte=MAX_ATTEMPTS).update(
            status=AssetStatus.FAILED,
            lease_until=None,
            error=f"Processing stopped {MAX_ATTEMPTS} times without finishing (the file may be too large or "
            "crash the converter).",
        ):
            refresh_pairs([asset_id])
            return None
        taken = MediaAsset.objects.filter(dead).update(**start)
    asset = MediaAsset.objects.filter(pk=asset_id).first()
    if asset is None or (not taken and asset.status in (AssetStatus.READY, AssetStatus.FAILED)):
        return None
    if not taken:
        assert asset.lease_until is not None
        raise Busy(max((asset.lease_until - now).total_seconds(), 1.0))
    return asset, asset.attempts


def _mine(asset_id: int, run: int) -> Q:
    return Q(pk=asset_id, status=AssetStatus.RUNNING, attempts=run)


def run(asset_id: int) -> str | None:
    """Process one asset; returns its final status, or None when another run owns the outcome."""
    taken = _take(asset_id)
    if taken is None:
        return None
    asset, number = taken
    last_beat = time.monotonic()
    every = _heartbeat_every()

    def heartbeat() -> None:
        nonlocal last_beat
        if time.monotonic() - last_beat >= every:
            MediaAsset.objects.filter(_mine(asset_id, number)).update(lease_until=timezone.now() + lease())
            last_beat = time.monotonic()

    with tempfile.TemporaryDirectory(prefix="omni-media-") as tmp:
        workdir = Path(tmp)
        source = workdir / f"original.{asset.extension}"
        try:
            try:
                _fetch(asset.file.name, source, heartbeat)
            except FileNotFoundError:
                return _fail(asset_id, number, "The original file is missing from storage.")
            out = workdir / "out"
            out.mkdir()
            try:
                result = process(asset.kind, source, out, heartbeat)
            except MediaError as exc:
                return _fail(asset_id, number, str(exc))
            heartbeat()
            stored = _store(asset, result, heartbeat)
        except Exception as exc:
            message = scrub(f"{type(exc).__name__}: {exc}")
            give_back(asset_id, number, message)
            raise Transient(message) from exc
    return _finish(asset_id, number, result, stored)


def _fetch(name: str, source: Path, heartbeat: Callable[[], None]) -> None:
    """Make the original readable at `source`: linked when the storage is a local disk, else copied."""
    try:
        local = Path(default_storage.path(name))
    except NotImplementedError:  # S3 and other remote storages
        with default_storage.open(name, "rb") as original, source.open("wb") as copy:
            for block in iter(lambda: original.read(1024 * 1024), b""):
                copy.write(block)
                heartbeat()
        return
    if not local.is_file():
        raise FileNotFoundError(name)
    source.symlink_to(local)  # tools then name the job's own path, which is scrubbed from messages


class _Made(File):  # type: ignore[type-arg]
    """A rendition on local disk: FileSystemStorage moves it into place instead of copying it."""

    def temporary_file_path(self) -> str:
        return str(self.name)


def _rendition_dir(asset: MediaAsset) -> str:
    """Opaque per asset, and not the original's SHA-256 (which a public release's file lists show)."""
    tag = hmac.new(settings.SECRET_KEY.encode(), f"renditions:{asset.sha256}".encode(), hashlib.sha256)
    return f"renditions/{tag.hexdigest()[:32]}"


def _store(asset: MediaAsset, result: Result, heartbeat: Callable[[], None]) -> list[Rendition]:
    """Write every rendition to storage; rows are made later, all at once."""
    renditions = []
    folder = _rendition_dir(asset)
    for output in result.outputs:
        digest = hashlib.sha256()
        with output.path.open("rb") as handle:
            for block in iter(lambda: handle.read(1024 * 1024), b""):
                digest.update(block)
        extension = _EXTENSIONS[output.content_type]
        # Opaque and content-addressed: a re-run writes the same key with the same bytes.
        key = f"{folder}/{output.role}{output.index}-{digest.hexdigest()[:16]}.{extension}"
        size = output.path.stat().st_size
        # The same key holds the same bytes, unless an earlier run died while writing it.
        if default_storage.exists(key) and default_storage.size(key) != size:
            default_storage.delete(key)
        if not default_storage.exists(key):
            with output.path.open("rb") as handle:
                saved = default_storage.save(key, _Made(handle, name=str(output.path)))
            if saved != key:
                raise RuntimeError(f"storage saved {key} as {saved}")
        heartbeat()
        renditions.append(
            Rendition(
                asset=asset,
                role=output.role,
                index=output.index,
                file=key,
                content_type=output.content_type,
                size_bytes=size,
                width=output.width,
                height=output.height,
            )
        )
    return renditions


def _finish(asset_id: int, number: int, result: Result, renditions: list[Rendition]) -> str | None:
    with transaction.atomic():
        if not MediaAsset.objects.select_for_update().filter(_mine(asset_id, number)).exists():
            log.warning(
                "media asset %s: run %s lost its lease before finishing; its result is dropped", asset_id, number
            )
            return None
        Rendition.objects.filter(asset_id=asset_id).delete()
        Rendition.objects.bulk_create(renditions)
        MediaAsset.objects.filter(pk=asset_id).update(
            status=AssetStatus.READY, probe=result.probe, processed_at=timezone.now(), lease_until=None, error=""
        )
    # After the commit, so that two assets of one pair finishing at the same moment cannot each
    # see the other as unfinished.
    refresh_pairs([asset_id])
    return AssetStatus.READY


def _fail(asset_id: int, number: int, message: str) -> str | None:
    failed = MediaAsset.objects.filter(_mine(asset_id, number)).update(
        status=AssetStatus.FAILED, error=scrub(message)[:2000], lease_until=None, processed_at=timezone.now()
    )
    if failed:
        refresh_pairs([asset_id])
    return AssetStatus.FAILED if failed else None


def give_back(asset_id: int, number: int, message: str) -> None:
    """Run `number` hit a transient error and will be retried: queue the asset again, noting why."""
    MediaAsset.objects.filter(_mine(asset_id, number)).update(
        status=AssetStatus.QUEUED, lease_until=None, error=f"Retrying after: {message}"[:2000]
    )


def give_up(asset_id: int, message: str) -> None:
    """Transient errors outlasted the retries: fail the (queued) asset with what went wrong last."""
    if MediaAsset.objects.filter(pk=asset_id, status=AssetStatus.QUEUED).update(
        status=AssetStatus.FAILED, lease_until=None, error=f"Processing kept failing: {scrub(message)}"[:2000]
    ):
        refresh_pairs([asset_id])


def retry(asset_ids: Iterable[int]) -> int:
    """A curator's retry: failed assets, running ones whose worker died, and queued ones (their job may
    have been lost with a broker outage) get a job again. Duplicate jobs are harmless."""
    ids = list(asset_ids)
    stuck = (
        Q(status=AssetStatus.FAILED)
        | Q(status=AssetStatus.RUNNING, lease_until__lt=timezone.now())
        | Q(status=AssetStatus.QUEUED)
    )
    with transaction.atomic():
        retried = list(MediaAsset.objects.select_for_update().filter(stuck, pk__in=ids).values_list("pk", flat=True))
        MediaAsset.objects.filter(pk__in=retried).update(
            status=AssetStatus.QUEUED, lease_until=None, error="", attempts=0
        )
        enqueue(retried)
    return len(retried)


_MEDIA_FIELDS = ("input_media", "response1_media", "response2_media", "response1_mesh", "response2_mesh")


def refresh_pairs(asset_ids: Iterable[int]) -> int:
    """Recompute Pair.media_ready for the pairs that show these assets."""
    from annotations.models import Pair

    ids = list(asset_ids)
    uses = Q()
    for name in _MEDIA_FIELDS:
        uses |= Q(**{f"{name}_id__in": ids})
    shown = Q()
    for name in _MEDIA_FIELDS:
        shown |= Q(pk=OuterRef(f"{name}_id"))
    pending = MediaAsset.objects.filter(shown).exclude(status=AssetStatus.READY)
    return Pair.objects.filter(uses).update(media_ready=~Exists(pending))


def refresh_waiting(pairs: QuerySet[Any]) -> int:
    """Recompute readiness of pairs still marked waiting (a safety net for missed refreshes)."""
    shown = Q()
    for name in _MEDIA_FIELDS:
        shown |= Q(pk=OuterRef(f"{name}_id"))
    pending = MediaAsset.objects.filter(shown).exclude(status=AssetStatus.READY)
    return pairs.filter(media_ready=False).exclude(Exists(pending)).update(media_ready=True)


def status_counts(asset_ids: Iterable[int] | None = None) -> dict[str, int]:
    assets = MediaAsset.objects.all() if asset_ids is None else MediaAsset.objects.filter(pk__in=asset_ids)
    counts = {status: 0 for status in AssetStatus.values}
    for row in assets.values("status").annotate(n=Count("pk")):
        counts[row["status"]] = row["n"]
    return counts
