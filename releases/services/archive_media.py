"""What a release ships for media that cannot go out exactly as imported.

- A T23D response imported as a mesh alone has no image for the parquet's `Image` column (and
  `datasets` cannot decode a mesh), so the release ships the media pipeline's rendered thumbnail
  of the mesh as its render, and the mesh beside it. A mesh the pipeline has not rendered yet is
  rendered here with the same code, so the bytes are the same either way.
- A video whose container declares no duration (WebM written live, to a pipe) plays in browsers and
  went through our pipeline (its probe reads packet times), but readers that seek by the declared
  duration fail on it: decord, which the paper's evaluation uses, is one. Such an original is
  remuxed with a stream copy (no re-encoding: every frame and sample is the original's) and the
  manifest names the file and both hashes.

Both work on local temp files under the build's temp dir; storage is read only through
Django's storage API.
"""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from media_pipeline.models import MediaAsset, Rendition, RenditionRole
from media_pipeline.processing import MediaError, container_duration, file_sha256, process, remux_copy

_COPY_CHUNK = 1024 * 1024


class ShippingError(Exception):
    """The file cannot be made shippable; the message says why (the caller adds pair and column)."""


@dataclass(frozen=True)
class LocalFile:
    path: Path
    sha256: str
    extension: str


@dataclass(frozen=True)
class ShippedVideo:
    file: LocalFile
    remuxed: bool
    duration: float


def spool(src: IO[bytes], dest: Path) -> str:
    """Copy a stored file to local disk; its SHA-256."""
    digest = hashlib.sha256()
    with open(dest, "wb") as out:
        while chunk := src.read(_COPY_CHUNK):
            digest.update(chunk)
            out.write(chunk)
    return digest.hexdigest()


class MeshRenders:
    """The render a mesh-only T23D response ships with, one local file per mesh, made once."""

    def __init__(self, tmp: Path) -> None:
        self.folder = tmp / "renders"
        self.folder.mkdir(exist_ok=True)
        self.made: dict[str, LocalFile] = {}  # mesh sha256 -> its render

    def render(self, mesh: MediaAsset) -> LocalFile:
        known = self.made.get(mesh.sha256)
        if known is None:
            known = self._from_pipeline(mesh) or self._rendered_now(mesh)
            self.made[mesh.sha256] = known
        return known

    def _from_pipeline(self, mesh: MediaAsset) -> LocalFile | None:
        # One query per distinct mesh-only asset; T23D meshes without a render are few in a release.
        thumb = Rendition.objects.filter(asset=mesh, role=RenditionRole.THUMB).order_by("index").first()
        if thumb is None:
            return None
        extension = Path(thumb.file.name).suffix.lstrip(".").lower()
        dest = self.folder / f"{mesh.sha256}.{extension}"
        try:
            with thumb.file.open("rb") as src:
                sha = spool(src, dest)
        except OSError:  # the rendition's file is gone: render again below
            dest.unlink(missing_ok=True)
            return None
        return LocalFile(dest, sha, extension)

    def _rendered_now(self, mesh: MediaAsset) -> LocalFile:
        work = self.folder / f"work-{mesh.sha256}"
        work.mkdir()
        try:
            source = work / f"original.{mesh.extension}"
            with mesh.file.open("rb") as src:
                sha = spool(src, source)
            if sha != mesh.sha256:
                raise ShippingError(f"the stored mesh {mesh.file.name} has SHA-256 {sha}, not {mesh.sha256}.")
            out = work / "out"
            out.mkdir()
            try:
                result = process("mesh", source, out)
            except MediaError as exc:
                raise ShippingError(f"the mesh has no render and cannot be rendered ({exc})") from None
            thumb = next(o for o in result.outputs if o.role == RenditionRole.THUMB)
            extension = thumb.path.suffix.lstrip(".").lower()
            dest = self.folder / f"{mesh.sha256}.{extension}"
            shutil.move(thumb.path, dest)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        return LocalFile(dest, file_sha256(dest), extension)


def ship_video(asset: MediaAsset, tmp: Path) -> ShippedVideo:
    """The video file to ship: the original, or its lossless remux when the container has no duration.

    The original's hash is checked against the asset's before anything is decided.
    """
    folder = tmp / "videos"
    folder.mkdir(exist_ok=True)
    original = folder / f"{asset.sha256}.{asset.extension}"
    try:
        with asset.file.open("rb") as src:
            sha = spool(src, original)
    except OSError as exc:
        raise ShippingError(f"the stored file {asset.file.name} cannot be read ({exc}).") from exc
    if sha != asset.sha256:
        original.unlink()
        raise ShippingError(f"the stored file {asset.file.name} has SHA-256 {sha}, not {asset.sha256} as recorded.")
    try:
        duration = container_duration(original)
        if duration is not None:
            return ShippedVideo(LocalFile(original, sha, asset.extension), remuxed=False, duration=duration)
        remuxed = folder / f"{asset.sha256}-remux.{asset.extension}"
        remux_copy(original, remuxed, asset.extension)
        duration = container_duration(remuxed)
    except MediaError as exc:
        raise ShippingError(f"the video declares no duration and could not be remuxed ({exc})") from None
    original.unlink()
    if duration is None:
        raise ShippingError("the video declares no duration, and neither does its remux (stream copy).")
    return ShippedVideo(LocalFile(remuxed, file_sha256(remuxed), asset.extension), remuxed=True, duration=duration)
