"""Find the data files and the media root of an import, unpacking archives safely."""

from __future__ import annotations

import stat
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Literal

from annotations.models import TaskSpec, task_spec

from .problems import ImportRejected, Problem

DataFormat = Literal["parquet", "jsonl"]
_COPY_CHUNK = 1024 * 1024
_IGNORED_DIRS = {"__MACOSX", ".git", ".cache", ".huggingface"}
_UNREADABLE_ZIP = "is not a readable zip archive (truncated, or not a zip at all); nothing was imported."


@dataclass(frozen=True)
class ArchiveLimits:
    max_unpacked_bytes: int
    max_members: int


@dataclass(frozen=True)
class DataFile:
    path: Path
    label: str  # what problems call the file: its path inside the import
    format: DataFormat
    task_hint: TaskSpec | None  # from the release's `<config>/` folder


@dataclass(frozen=True)
class ImportSource:
    data_files: list[DataFile]
    media_root: Path | None


def _reject(file: str, message: str) -> ImportRejected:
    return ImportRejected(Problem(file=file, message=message))


def safe_extract(archive: Path, dest: Path, *, label: str, limits: ArchiveLimits) -> Path:
    """Unpack a zip into `dest`, refusing members that would land outside it, links and bombs."""
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as exc:
        raise _reject(label, f"not a readable zip archive ({exc}).") from None
    dest.mkdir(parents=True, exist_ok=True)
    root = dest.resolve()
    with zf:
        members = zf.infolist()
        if len(members) > limits.max_members:
            raise _reject(label, f"holds {len(members):,} entries; the limit is {limits.max_members:,}.")
        declared = sum(m.file_size for m in members)
        if declared > limits.max_unpacked_bytes:
            raise _reject(
                label,
                f"would unpack to {declared / 1e6:,.0f} MB; the limit is {limits.max_unpacked_bytes / 1e6:,.0f} MB "
                "(OMNI_IMPORT_MAX_UNPACKED_MB).",
            )
        written_total = 0
        for member in members:
            name = member.filename
            parts = PurePosixPath(name.replace("\\", "/")).parts
            if name.startswith(("/", "\\")) or (parts and ":" in parts[0]) or ".." in parts:
                raise _reject(label, f"entry {name!r} points outside the archive folder; nothing was imported.")
            if stat.S_ISLNK(member.external_attr >> 16):
                raise _reject(label, f"entry {name!r} is a symbolic link; links are not accepted.")
            target = (root / PurePosixPath(*parts)).resolve() if parts else root
            if not target.is_relative_to(root):
                raise _reject(label, f"entry {name!r} points outside the archive folder; nothing was imported.")
            if member.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            written_total += _copy_member(
                zf, member, target, label=label, budget=limits.max_unpacked_bytes - written_total
            )
    return root


def _copy_member(zf: zipfile.ZipFile, member: zipfile.ZipInfo, target: Path, *, label: str, budget: int) -> int:
    """Write one entry out and return its size; a damaged, encrypted or lying entry refuses the archive."""
    name = member.filename
    written = 0
    try:
        with zf.open(member) as src, open(target, "wb") as out:
            while chunk := src.read(_COPY_CHUNK):
                # The sizes in the zip directory can lie; count what actually comes out.
                written += len(chunk)
                if written > member.file_size or written > budget:
                    raise _reject(label, f"entry {name!r} unpacks to more than the archive declares; refused.")
                out.write(chunk)
    except NotImplementedError:  # before RuntimeError, its base class
        raise _reject(
            label, f"entry {name!r} uses a compression method this server cannot read; use plain zip (deflate)."
        ) from None
    except RuntimeError:  # zipfile's word for "encrypted"
        raise _reject(label, f"entry {name!r} is encrypted; upload an archive without a password.") from None
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
        raise _reject(label, f"entry {name!r} is damaged ({exc}); nothing was imported.") from None
    return written


def _descend_single_folder(root: Path) -> Path:
    """A zip of a folder unpacks to that one folder; look inside it."""
    entries = [p for p in root.iterdir() if p.name not in _IGNORED_DIRS]
    if len(entries) == 1 and entries[0].is_dir() and not task_spec(entries[0].name) and entries[0].name != "media_data":
        return entries[0]
    return root


def _data_files_in(root: Path) -> list[DataFile]:
    files: list[DataFile] = []
    for child in sorted(root.iterdir()):
        if child.name in _IGNORED_DIRS:
            continue
        if child.is_dir() and (spec := task_spec(child.name)):
            for parquet in sorted(child.glob("test*.parquet")):
                files.append(DataFile(parquet, parquet.relative_to(root).as_posix(), "parquet", spec))
            for jsonl in sorted(child.glob("test*.jsonl")):
                files.append(DataFile(jsonl, jsonl.relative_to(root).as_posix(), "jsonl", spec))
        elif child.is_file() and child.suffix.lower() in (".jsonl", ".parquet"):
            fmt: DataFormat = "jsonl" if child.suffix.lower() == ".jsonl" else "parquet"
            files.append(DataFile(child, child.name, fmt, None))
    return files


def _media_root(folder: Path, workdir: Path, limits: ArchiveLimits, label: str) -> Path:
    if (folder / "media_data").is_dir():
        return folder / "media_data"
    if (folder / "media_data.zip").is_file():
        # The published repository ships its media as media_data.zip beside the configs.
        unpacked = safe_extract(
            folder / "media_data.zip", workdir / "media_data", label=f"{label}/media_data.zip", limits=limits
        )
        return _media_root(unpacked, workdir, limits, label) if (unpacked / "media_data").is_dir() else unpacked
    return folder


def locate(
    data_path: Path,
    *,
    workdir: Path,
    limits: ArchiveLimits,
    media_path: Path | None = None,
    data_label: str | None = None,
    media_label: str | None = None,
) -> ImportSource:
    """Work out which files hold rows and where their relative media paths point."""
    label = data_label or data_path.name
    if not data_path.exists():
        raise _reject(label, "does not exist.")
    if data_path.is_dir():
        root = _descend_single_folder(data_path)
    elif zipfile.is_zipfile(data_path):
        root = _descend_single_folder(safe_extract(data_path, workdir / "data", label=label, limits=limits))
    elif data_path.suffix.lower() in (".jsonl", ".parquet"):
        fmt: DataFormat = "jsonl" if data_path.suffix.lower() == ".jsonl" else "parquet"
        files = [DataFile(data_path, label, fmt, None)]
        media_root = None
        if media_path is not None:
            media_root = _resolve_media(media_path, workdir, limits, media_label or media_path.name)
        elif (data_path.parent / "media_data").is_dir():
            media_root = data_path.parent / "media_data"
        return ImportSource(files, media_root)
    elif data_path.suffix.lower() == ".zip":
        raise _reject(label, _UNREADABLE_ZIP)
    else:
        raise _reject(label, "is neither a folder, a zip archive, a .jsonl file nor a .parquet file.")

    files = _data_files_in(root)
    if not files:
        raise _reject(
            label,
            "holds no data files: expected <config>/test-*.parquet folders (e.g. text_to_image/) "
            "or *.jsonl / *.parquet files at the top.",
        )
    if media_path is not None:
        media_root = _resolve_media(media_path, workdir, limits, media_label or media_path.name)
    else:
        media_root = _media_root(root, workdir, limits, label)
    return ImportSource(files, media_root)


def _resolve_media(media_path: Path, workdir: Path, limits: ArchiveLimits, label: str) -> Path:
    if media_path.is_dir():
        folder = _descend_single_folder(media_path)
    elif zipfile.is_zipfile(media_path):
        folder = _descend_single_folder(safe_extract(media_path, workdir / "media", label=label, limits=limits))
    elif media_path.suffix.lower() == ".zip":
        raise _reject(label, _UNREADABLE_ZIP)
    else:
        raise _reject(label, "media must be a folder or a zip archive.")
    return _media_root(folder, workdir, limits, label)
