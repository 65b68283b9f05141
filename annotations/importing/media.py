"""Check, hash and catalogue the media files that rows point at (or embed)."""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from PIL import Image, UnidentifiedImageError

from media_pipeline.models import EXTENSIONS, MediaKind
from media_pipeline.processing import file_sha256

MESH_EXTENSIONS = ("glb", "gltf", "obj", "ply", "stl")


class MediaError(Exception):
    """A media reference that cannot be used; the message says why, for a curator."""


@dataclass(frozen=True)
class MediaInfo:
    sha256: str
    kind: MediaKind
    extension: str
    size: int
    name: str  # the name it arrived under; curators only
    path: Path  # where its bytes are now: the original file, or a spooled copy of embedded bytes


def _looks_like(kind: MediaKind, head: bytes) -> bool:
    """Cheap container sniffing so a renamed or truncated-to-nothing file is caught at import.

    Deep checks (decoding every frame) belong to the media pipeline's probe.
    """
    if kind == MediaKind.VIDEO:
        return (
            head[4:8] == b"ftyp"
            or head[:4] in (b"\x1a\x45\xdf\xa3", b"OggS")
            or (head[:4] == b"RIFF" and head[8:12] == b"AVI ")
            or head[4:8] in (b"moov", b"mdat", b"free", b"wide")
        )
    if kind == MediaKind.AUDIO:
        return (
            head[:4] in (b"fLaC", b"OggS", b"\x1a\x45\xdf\xa3")
            or (head[:4] == b"RIFF" and head[8:12] == b"WAVE")
            or head[:3] == b"ID3"
            or head[4:8] == b"ftyp"
            or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0)  # MPEG / ADTS frame sync
        )
    return True  # images are decoded by Pillow; GLB/PLY headers are checked by the caller


def _check_content(path: Path, kind: MediaKind, extension: str) -> None:
    with open(path, "rb") as fh:
        head = fh.read(64)
    if kind == MediaKind.IMAGE:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # e.g. "malformed MPO": Pillow still decodes the base JPEG
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                with Image.open(path) as img:
                    img.verify()
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise MediaError(f"image refused as a decompression bomb ({exc}).") from None
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
            raise MediaError(f"unreadable image ({exc}).") from None
        return
    if kind == MediaKind.MESH and extension == "glb" and head[:4] != b"glTF":
        raise MediaError("not a GLB file (no glTF header).")
    if kind == MediaKind.MESH and extension == "ply" and not head.startswith(b"ply"):
        raise MediaError("not a PLY file (no 'ply' header).")
    if not _looks_like(kind, head):
        raise MediaError(f"unreadable file: the content is not a known {kind.label.lower()} format.")


def _kind_for(extension: str, kinds: Iterable[MediaKind]) -> MediaKind | None:
    for kind in kinds:
        if extension in EXTENSIONS[kind]:
            return kind
    return None


class MediaCatalog:
    """Every distinct media file of one import, keyed by content hash.

    Files are hashed once (cached by path); embedded bytes are spooled to disk so that memory
    does not grow with the release.
    """

    def __init__(self, media_root: Path | None, spool_dir: Path, max_file_bytes: int) -> None:
        self.media_root = media_root.resolve() if media_root else None
        self.spool_dir = spool_dir
        self.max_file_bytes = max_file_bytes
        self.by_sha: dict[str, MediaInfo] = {}
        self._by_path: dict[tuple[Path, tuple[MediaKind, ...]], MediaInfo | MediaError] = {}

    def resolve_path(self, relative: str) -> Path:
        if self.media_root is None:
            raise MediaError(f"refers to media {relative!r} but the import has no media folder or archive.")
        rel = PurePosixPath(relative.strip().replace("\\", "/"))
        if rel.is_absolute() or ".." in rel.parts or not rel.parts:
            raise MediaError(f"media path {relative!r} must be relative to media_data/ and stay inside it.")
        candidate = (self.media_root / rel).resolve()
        if not candidate.exists() and rel.parts[0] == "media_data":
            candidate = (self.media_root / PurePosixPath(*rel.parts[1:])).resolve()
        if not candidate.is_relative_to(self.media_root):
            raise MediaError(f"media path {relative!r} leads outside the media folder.")
        if not candidate.is_file():
            raise MediaError(f"media file not found: media_data/{rel.as_posix()}")
        return candidate

    def from_path(self, relative: str, kinds: tuple[MediaKind, ...]) -> MediaInfo:
        path = self.resolve_path(relative)
        key = (path, kinds)
        cached = self._by_path.get(key)
        if cached is None:
            try:
                cached = self._describe(path, PurePosixPath(relative).name, kinds)
            except MediaError as exc:
                cached = exc
            self._by_path[key] = cached
        if isinstance(cached, MediaError):
            raise cached
        return cached

    def from_bytes(self, data: bytes, name: str, kinds: tuple[MediaKind, ...]) -> MediaInfo:
        sha = hashlib.sha256(data).hexdigest()
        known = self.by_sha.get(sha)
        if known is not None:
            return known
        extension = _extension(name)
        spooled = self.spool_dir / f"{sha}.{extension or 'bin'}"
        if not spooled.exists():
            spooled.write_bytes(data)
        return self._describe(spooled, name, kinds, sha=sha)

    def mesh_beside(self, relative: str) -> MediaInfo | None:
        """T23D releases ship a render per response; the mesh, when present, sits beside it."""
        if self.media_root is None:
            return None
        stem = PurePosixPath(relative.strip().replace("\\", "/")).with_suffix("")
        for extension in MESH_EXTENSIONS:
            try:
                return self.from_path(f"{stem}.{extension}", (MediaKind.MESH,))
            except MediaError:
                continue
        return None

    def _describe(self, path: Path, name: str, kinds: tuple[MediaKind, ...], sha: str | None = None) -> MediaInfo:
        extension = _extension(name) or _extension(path.name)
        kind = _kind_for(extension, kinds)
        if kind is None:
            allowed = ", ".join(sorted(set().union(*(EXTENSIONS[k] for k in kinds))))
            raise MediaError(f"{name!r}: extension .{extension or '?'} is not accepted here (expected {allowed}).")
        size = path.stat().st_size
        if size == 0:
            raise MediaError(f"{name!r} is empty.")
        if size > self.max_file_bytes:
            raise MediaError(
                f"{name!r} is {size / 1e6:,.0f} MB; one media file may be at most "
                f"{self.max_file_bytes / 1e6:,.0f} MB (OMNI_MEDIA_MAX_FILE_MB)."
            )
        try:
            _check_content(path, kind, extension)
        except MediaError as exc:
            raise MediaError(f"{name!r}: {exc}") from None
        if sha is None:
            sha = file_sha256(path)
        known = self.by_sha.get(sha)
        if known is not None:
            return known
        info = MediaInfo(sha256=sha, kind=kind, extension=extension, size=size, name=name, path=path)
        self.by_sha[sha] = info
        return info


def _extension(name: str) -> str:
    suffix = PurePosixPath(name).suffix.lower().lstrip(".")
    return "jpg" if suffix == "jpeg" else suffix
