"""The media pipeline's state machine: queued -> running -> ready | failed, one Celery job per asset.

- A job is a leased job (core.jobs): taken with a conditional UPDATE, so duplicate deliveries do
  nothing, and an asset whose worker was killed is taken again once its lease runs out. The lease
  is renewed while ffmpeg works.
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
from collections.abc import Callable, Iterable
from pathlib import Path

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from core import jobs

from .models import AssetStatus, MediaAsset, Rendition
from .processing import MediaError, Result, process, scrub

log = logging.getLogger(__name__)

_EXTENSIONS = {"video/mp4": "mp4", "audio/mp4": "m4a", "image/webp": "webp", "image/jpeg": "jpg"}
_EXTENSIONS |= {"application/json": "json", "model/gltf-binary": "glb"}


def enqueue(asset_ids: Iterable[int]) -> None:
    """Start a job for each queued asset once the current transaction commits."""
    ids = sorted(set(asset_ids))
    if ids:
        jobs.send_on_commit(
            MediaAsset, MediaAsset.objects.filter(pk__in=ids, status=AssetStatus.QUEUED).values_list("pk", flat=True)
        )


class Transient(Exception):
    """A run failed for a reason that is not the file's (storage, disk); the asset is queued again."""


def run(asset_id: int) -> str | None:
    """Process one asset; returns its final status, or None when another run owns the outcome."""
    held = jobs.claim(MediaAsset, asset_id)
    if held is None:
        return None
    asset = MediaAsset.objects.get(pk=asset_id)
    with jobs.job_tempdir(held) as workdir, jobs.Heartbeat(held):
        source = workdir / f"original.{asset.extension}"
        try:
            try:
                _fetch(asset.file.name, source)
            except FileNotFoundError:
                return _fail(held, "The original file is missing from storage.")
            out = workdir / "out"
            out.mkdir()
            try:
                result = process(asset.kind, source, out)
            except MediaError as exc:
                return _fail(held, str(exc))
            stored = _store(asset, result)
        except Exception as exc:
            message = scrub(f"{type(exc).__name__}: {exc}")
            jobs.give_back(held, error=f"Retrying after: {message}"[:2000])
            raise Transient(message) from exc
    return _finish(held, result, stored)


def _fetch(name: str, source: Path) -> None:
    """Make the original readable at `source`: linked when the storage is a local disk, else copied."""
    try:
        local = Path(default_storage.path(name))
    except NotImplementedError:  # S3 and other remote storages
        with default_storage.open(name, "rb") as original, source.open("wb") as copy:
            for block in iter(lambda: original.read(1024 * 1024), b""):
                copy.write(block)
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


def _store(asset: MediaAsset, result: Result) -> list[Rendition]:
    """Write every rendition to storage; rows are made later, all at once."""
    renditions = []
    folder = _rendition_dir(asset)
    for output in result.outputs:
        with output.path.open("rb") as handle:
            digest = hashlib.file_digest(handle, "sha256")
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


def _finish(held: jobs.Claim, result: Result, renditions: list[Rendition]) -> str | None:
    with transaction.atomic():
        if not held.rows().select_for_update().exists():
            log.warning(
                "media asset %s: run %s lost its lease before finishing; its result is dropped", held.pk, held.run
            )
            return None
        Rendition.objects.filter(asset_id=held.pk).delete()
        Rendition.objects.bulk_create(renditions)
        jobs.finish(held, AssetStatus.READY, probe=result.probe, processed_at=timezone.now(), error="")
    # After the commit, so that two assets of one pair finishing at the same moment cannot each
    # see the other as unfinished.
    assets_settled([held.pk])
    return AssetStatus.READY


def _fail(held: jobs.Claim, message: str) -> str | None:
    if not jobs.finish(held, AssetStatus.FAILED, error=scrub(message)[:2000], processed_at=timezone.now()):
        return None
    assets_settled([held.pk])
    return AssetStatus.FAILED


def give_up(asset_id: int, message: str) -> None:
    """Transient errors outlasted the retries: fail the (queued) asset with what went wrong last."""
    if MediaAsset.objects.filter(pk=asset_id, status=AssetStatus.QUEUED).update(
        status=AssetStatus.FAILED, lease_until=None, error=f"Processing kept failing: {scrub(message)}"[:2000]
    ):
        assets_settled([asset_id])


def retry(asset_ids: Iterable[int]) -> int:
    """A curator's retry: failed assets, running ones whose worker died, and queued ones (their job may
    have been lost with a broker outage) get a job again. Duplicate jobs are harmless."""
    also = Q(status__in=[AssetStatus.FAILED, AssetStatus.QUEUED])
    return len(jobs.requeue(MediaAsset, asset_ids, also=also, error=""))


# Whoever shows assets and must know when they are done registers here (annotations recomputes its
# pairs' media_ready); the pipeline itself knows nothing of pairs and writes only its own tables.
_SETTLED: list[Callable[[list[int]], object]] = []


def on_assets_settled(hook: Callable[[list[int]], object]) -> None:
    """Call `hook(asset_ids)` whenever assets reach ready or failed (after their commit)."""
    if hook not in _SETTLED:
        _SETTLED.append(hook)


def assets_settled(asset_ids: list[int]) -> None:
    for hook in _SETTLED:
        hook(asset_ids)


def status_counts(asset_ids: Iterable[int] | None = None) -> dict[str, int]:
    assets = MediaAsset.objects.all() if asset_ids is None else MediaAsset.objects.filter(pk__in=asset_ids)
    counts = {status: 0 for status in AssetStatus.values}
    for row in assets.values("status").annotate(n=Count("pk")):
        counts[row["status"]] = row["n"]
    return counts
