"""Write a release's downloadable zip, laid out like the published Omni-RewardBench.

    <config>/test-00000-of-00001.parquet               every pair of the task
    without_tie/<config>/test-00000-of-00001.parquet   the same minus the ties (accuracy w/o tie)
    media_data/<config>/<sha16>.<ext>                  original media bytes, content-named
    manifest.json                                      release metadata and every pair's media hashes
    README.md                                          Hugging Face dataset card

The rows come from the frozen ReleasePair rows (id, task, label) joined to the live pairs (text,
model names, media): pairs are never edited after import, and every media file is checked against
the hash the release froze, so the archive shows exactly what was released or is not built.

Memory stays flat however large the release: pairs are streamed from the database in chunks,
ordered by task so one config is open at a time; parquet row groups hold at most
`ROW_GROUP_ROWS` rows or `ROW_GROUP_MEDIA_BYTES` of embedded media; media are copied from
storage into the zip in chunks (only image/audio bytes that the parquet embeds are held, one row
group's worth); the manifest's pair list is spooled to a temp file and streamed into the zip.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
import zipfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path
from typing import IO, Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from annotations.models import TASK_SPECS, Label, Pair, Task, TaskSpec
from media_pipeline.models import MediaAsset, MediaKind
from releases.models import Release, ReleasePair

from .dataset_card import render_dataset_card

ROW_GROUP_ROWS = 64
ROW_GROUP_MEDIA_BYTES = 32 * 1024 * 1024
_COPY_CHUNK = 1024 * 1024
_ITER_CHUNK = 200
PARQUET_NAME = "test-00000-of-00001.parquet"

# The Pair fields a ReleasePair.media dict is keyed by.
MEDIA_COLUMNS = ("input_media", "response1_media", "response1_mesh", "response2_media", "response2_mesh")

_STRING, _IMAGE, _AUDIO = "string", "Image", "Audio"
_TAIL = "model1 model2 criteria criteria_preference id"
# Column order and Hugging Face feature (`:Image`, `:Audio`; plain string otherwise) per config,
# exactly as in the published parquet files. Video columns are path strings there.
_LAYOUT_SPECS = {
    "text_to_text": f"prompt response1 response2 {_TAIL}",
    "text_image_to_text": f"prompt image:Image response1 response2 {_TAIL} image_path",
    "text_video_to_text": f"prompt video response1 response2 {_TAIL}",
    "text_audio_to_text": f"prompt audio:Audio response1 response2 {_TAIL} audio_path",
    "text_to_image": f"prompt response1:Image response2:Image {_TAIL} source response1_path response2_path",
    "text_to_video": f"prompt response1 response2 {_TAIL} source",
    "text_to_audio": f"prompt response1:Audio response2:Audio {_TAIL} source response1_path response2_path",
    "text_to_3D": f"prompt response1:Image response2:Image {_TAIL} response1_path response2_path",
    "text_image_to_image": f"prompt image:Image response1:Image response2:Image {_TAIL} "
    "image_path response1_path response2_path",
}


def _layout(spec: str) -> tuple[tuple[str, str], ...]:
    return tuple((name, feature or _STRING) for name, _, feature in (c.partition(":") for c in spec.split()))


LAYOUTS = {config: _layout(spec) for config, spec in _LAYOUT_SPECS.items()}
_TASK_OF_CONFIG = {spec.config: code for code, spec in TASK_SPECS.items()}
_MEDIA_STRUCT = pa.struct([("bytes", pa.binary()), ("path", pa.string())])


class ArchiveError(Exception):
    """The release cannot be exported as frozen; the message names the pair and column."""


@dataclass(frozen=True)
class ArchiveInfo:
    sha256: str
    size_bytes: int
    pairs: int
    files: int  # zip entries: parquet files, media files, manifest.json and README.md


def parquet_schema(config: str) -> pa.Schema:
    """The arrow schema of a config, with the `huggingface` metadata that makes `datasets` decode media."""
    fields, features = [], {}
    for name, feature in LAYOUTS[config]:
        if feature == _STRING:
            fields.append(pa.field(name, pa.string()))
            features[name] = {"dtype": "string", "_type": "Value"}
        else:
            fields.append(pa.field(name, _MEDIA_STRUCT))
            features[name] = {"_type": feature}
    return pa.schema(fields, metadata={"huggingface": json.dumps({"info": {"features": features}})})


def write_release_archive(release: Release, dest: Path) -> ArchiveInfo:
    """Write the release's zip to `dest` (a local path); nothing is left at `dest` if it fails."""
    part = dest.with_suffix(".part")
    try:
        with (
            tempfile.TemporaryDirectory(prefix="omni-release-") as tmp,
            zipfile.ZipFile(part, "w", allowZip64=True) as zf,
        ):
            pairs = _ArchiveBuilder(release, zf, Path(tmp)).build()
            files = len(zf.infolist())
        digest = hashlib.sha256()
        with open(part, "rb") as fh:
            while chunk := fh.read(_COPY_CHUNK):
                digest.update(chunk)
        size = part.stat().st_size
        part.replace(dest)
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    return ArchiveInfo(sha256=digest.hexdigest(), size_bytes=size, pairs=pairs, files=files)


class _HashingReader:
    """Feeds what is read through a digest, so a copy checks the bytes it copies."""

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw = raw
        self.digest = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size)
        self.digest.update(data)
        return data


class _ConfigWriter:
    """The two parquet files of one config, fed one row group at a time."""

    def __init__(self, config: str, tmp: Path) -> None:
        self.config = config
        self.schema = parquet_schema(config)
        self.paths = {
            f"{config}/{PARQUET_NAME}": tmp / f"{config}.parquet",
            f"without_tie/{config}/{PARQUET_NAME}": tmp / f"{config}-without-tie.parquet",
        }
        # Dictionaries and min/max statistics only for short columns: on prompts, responses and media
        # they are wasted work, and every row group's statistics stay in the writer's memory (the
        # footer) until it closes, so long-text statistics made memory grow with the release.
        names = {name for name, _ in LAYOUTS[config]}
        dictionary = sorted(names & {"model1", "model2", "source", "criteria_preference"})
        statistics = sorted(names & {"model1", "model2", "source", "criteria_preference", "id"})
        self.writers = [
            pq.ParquetWriter(path, self.schema, use_dictionary=dictionary, write_statistics=statistics)
            for path in self.paths.values()
        ]
        self.rows: list[dict[str, Any]] = []
        self.media_bytes = 0
        self.labels: Counter[str] = Counter()

    def add(self, row: dict[str, Any], media_bytes: int) -> None:
        self.rows.append(row)
        self.labels[row["criteria_preference"]] += 1
        self.media_bytes += media_bytes
        if len(self.rows) >= ROW_GROUP_ROWS or self.media_bytes >= ROW_GROUP_MEDIA_BYTES:
            self.flush()

    def flush(self) -> None:
        if not self.rows:
            return
        table = pa.Table.from_pylist(self.rows, schema=self.schema)
        self.rows, self.media_bytes = [], 0
        everything, without_tie = self.writers
        everything.write_table(table)
        decided = table.filter(pc.not_equal(table["criteria_preference"], Label.TIE.value))
        if decided.num_rows:
            without_tie.write_table(decided)

    def close(self) -> dict[str, Path]:
        self.flush()
        for writer in self.writers:
            writer.close()
        return self.paths


class _ArchiveBuilder:
    def __init__(self, release: Release, zf: zipfile.ZipFile, tmp: Path) -> None:
        self.release = release
        self.zf = zf
        self.tmp = tmp
        # Entries carry the release's date, not the build's, so a rebuild gives the same bytes.
        self.date_time = release.created_at.astimezone(UTC).timetuple()[:6]
        self.media_written: dict[str, str] = {}  # zip entry -> sha256
        self.counts: dict[str, Counter[str]] = {}
        self.manifest_pairs = tmp / "manifest-pairs.jsonl"

    def build(self) -> int:
        pairs = 0
        current: _ConfigWriter | None = None
        with open(self.manifest_pairs, "wb") as manifest:
            for release_pair in _release_pairs(self.release):
                spec = _spec(release_pair)
                if current is None or current.config != spec.config:
                    if current is not None:
                        self._close_config(current)
                    if spec.config in self.counts:
                        raise ArchiveError(f"task {spec.task} came twice in the ordered pair stream.")
                    current = _ConfigWriter(spec.config, self.tmp)
                row, media, media_bytes = self._pair(release_pair, spec)
                current.add(row, media_bytes)
                manifest.write(orjson.dumps(_manifest_entry(release_pair, media)) + b"\n")
                pairs += 1
        if current is None:
            raise ArchiveError(f"{self.release} holds no pairs; there is nothing to export.")
        self._close_config(current)
        # The database streams tasks by code; the card and manifest list them in the paper's order.
        self.counts = {
            spec.config: self.counts[spec.config] for spec in TASK_SPECS.values() if spec.config in self.counts
        }
        self._write_manifest()
        card = render_dataset_card(release=self.release, counts=self.counts)
        with self._entry("README.md", compress=True) as out:
            out.write(card.encode())
        return pairs

    def _entry(self, name: str, *, compress: bool) -> IO[bytes]:
        info = zipfile.ZipInfo(name, date_time=self.date_time)
        info.compress_type = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
        info.external_attr = 0o644 << 16
        return self.zf.open(info, "w", force_zip64=True)

    def _close_config(self, writer: _ConfigWriter) -> None:
        for name, path in writer.close().items():
            with open(path, "rb") as src, self._entry(name, compress=False) as out:
                shutil.copyfileobj(src, out, _COPY_CHUNK)
            path.unlink()
        self.counts[writer.config] = writer.labels

    def _pair(
        self, release_pair: ReleasePair, spec: TaskSpec
    ) -> tuple[dict[str, Any], dict[str, tuple[str, str]], int]:
        """The parquet row, the media {column: (path, sha256)} and the embedded byte count of one pair."""
        pair = release_pair.pair
        where = f"pair {release_pair.external_id!r}"
        if pair is None:
            raise ArchiveError(
                f"{where}, column pair: the live pair was deleted after the release was frozen; it cannot be exported."
            )
        if pair.task != release_pair.task:
            raise ArchiveError(f"{where}: the release froze task {release_pair.task}, the live pair is {pair.task}.")
        assets = _checked_assets(release_pair, pair)
        paths = _media_paths(spec.config, assets, where)
        layout = dict(LAYOUTS[spec.config])
        values: dict[str, Any] = {
            "prompt": pair.prompt,
            "response1": pair.response1_text,
            "response2": pair.response2_text,
            "model1": pair.model1,
            "model2": pair.model2,
            "criteria": pair.criterion,
            "criteria_preference": release_pair.label,
            "id": release_pair.external_id,
            "source": pair.source,
        }
        embedded = 0
        for column, asset in assets.items():
            field = _parquet_field(spec, column, where)
            embed = field is not None and layout.get(field) in (_IMAGE, _AUDIO) and asset.kind != MediaKind.MESH
            data = self._media(asset, paths[column], keep=embed, where=f"{where}, column {column}")
            if field is None:
                continue  # a mesh: a file beside its render, not a column
            values[f"{field}_path"] = paths[column]
            if layout.get(field) == _STRING:
                values[field] = paths[column]
            else:
                # A mesh given as the response itself has no image to embed; its path still round-trips.
                values[field] = {"bytes": data, "path": paths[column]}
                embedded += len(data or b"")
        row = {name: values.get(name) for name in layout}
        for name, value in row.items():
            if value is None:
                raise ArchiveError(f"{where}, column {name}: the live pair has no value for it ({spec.task}).")
        return row, {column: (paths[column], asset.sha256) for column, asset in assets.items()}, embedded

    def _media(self, asset: MediaAsset, path: str, *, keep: bool, where: str) -> bytes | None:
        """Copy an original into media_data/ once per path; return its bytes when the parquet embeds them."""
        name = f"media_data/{path}"
        known = self.media_written.get(name)
        if known is not None and known != asset.sha256:
            raise ArchiveError(f"{where}: {name} would hold two different files ({known[:16]}, {asset.sha256[:16]}).")
        if known is not None and not keep:
            return None
        data: bytes | None = None
        try:
            with asset.file.open("rb") as src:
                if keep:
                    data = src.read()
                    actual = hashlib.sha256(data).hexdigest()
                    if known is None:
                        with self._entry(name, compress=False) as out:
                            out.write(data)
                else:
                    reader = _HashingReader(src)
                    with self._entry(name, compress=False) as out:
                        shutil.copyfileobj(reader, out, _COPY_CHUNK)
                    actual = reader.digest.hexdigest()
        except OSError as exc:
            raise ArchiveError(f"{where}: the stored file {asset.file.name} cannot be read ({exc}).") from exc
        if actual != asset.sha256:
            raise ArchiveError(
                f"{where}: the stored file {asset.file.name} has SHA-256 {actual}, not {asset.sha256} as recorded."
            )
        self.media_written[name] = asset.sha256
        return data

    def _write_manifest(self) -> None:
        release = self.release
        header: dict[str, Any] = {
            "format": "omni-annotate release archive",
            "format_version": 1,
            "project": {"slug": release.project.slug, "name": release.project.name},
            "version": release.version,
            "created_at": release.created_at.isoformat(),
            "created_by": release.created_by.get_username() if release.created_by else None,
            "notes": release.notes,
            "configs": {config: _TASK_OF_CONFIG[config] for config in self.counts},
            "gate": release.gate,
            "statistics": release.statistics,
            "summary": release.summary,
        }
        with self._entry("manifest.json", compress=True) as out:
            out.write(b"{\n")
            for key, value in header.items():
                out.write(
                    b"  " + orjson.dumps(key) + b": " + orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS) + b",\n"
                )
            out.write(b'  "pairs": [')
            with open(self.manifest_pairs, "rb") as pairs:
                for number, line in enumerate(pairs):
                    out.write(b"\n    " if number == 0 else b",\n    ")
                    out.write(line.rstrip(b"\n"))
            out.write(b"\n  ]\n}\n")
        self.manifest_pairs.unlink()


def _release_pairs(release: Release) -> Iterator[ReleasePair]:
    # Ordered by task so each config's writers are opened and closed once; the joins fetch the
    # pair and its five media rows with the release pair, one query per chunk.
    queryset = (
        ReleasePair.objects.filter(release=release)
        .select_related(
            "pair",
            "pair__input_media",
            "pair__response1_media",
            "pair__response1_mesh",
            "pair__response2_media",
            "pair__response2_mesh",
        )
        .order_by("task", "external_id")
    )
    return queryset.iterator(chunk_size=_ITER_CHUNK)


def _spec(release_pair: ReleasePair) -> TaskSpec:
    spec = TASK_SPECS.get(release_pair.task)
    if spec is None:
        raise ArchiveError(f"pair {release_pair.external_id!r}: unknown task {release_pair.task!r}.")
    return spec


def _checked_assets(release_pair: ReleasePair, pair: Pair) -> dict[str, MediaAsset]:
    """The pair's media by column, each checked against the hash the release froze."""
    where = f"pair {release_pair.external_id!r}"
    frozen = release_pair.media
    if not isinstance(frozen, dict):
        raise ArchiveError(f"{where}: the release's media record is not a {{column: sha256}} object.")
    assets: dict[str, MediaAsset] = {}
    for column in MEDIA_COLUMNS:
        asset = getattr(pair, column) if getattr(pair, f"{column}_id") is not None else None
        expected = frozen.get(column)
        if asset is None and expected is None:
            continue
        if asset is None:
            raise ArchiveError(f"{where}, column {column}: the release froze media {expected} but the pair has none.")
        if expected is None:
            raise ArchiveError(
                f"{where}, column {column}: the pair has media {asset.sha256} the release did not freeze."
            )
        if expected != asset.sha256:
            raise ArchiveError(
                f"{where}, column {column}: the release froze media SHA-256 {expected}, "
                f"the stored asset is {asset.sha256}."
            )
        assets[column] = asset
    unknown = sorted(set(frozen) - set(MEDIA_COLUMNS))
    if unknown:
        raise ArchiveError(f"{where}, column {unknown[0]}: not a media column of a pair.")
    return assets


def _media_paths(config: str, assets: dict[str, MediaAsset], where: str) -> dict[str, str]:
    """Content-derived names under media_data/: they reveal no model, and equal content shares a name.

    A T23D render with a mesh is named after both, and the mesh sits beside it with the same stem:
    the importer finds meshes that way, and a render shown with two different meshes stays two files.
    """
    for column, asset in assets.items():
        if not asset.extension.isalnum():
            raise ArchiveError(f"{where}, column {column}: unusable file extension {asset.extension!r}.")
    paths = {column: f"{config}/{asset.sha256[:16]}.{asset.extension}" for column, asset in assets.items()}
    for n in (1, 2):
        render, mesh = assets.get(f"response{n}_media"), assets.get(f"response{n}_mesh")
        if mesh is None:
            continue
        if render is None or render.kind != MediaKind.IMAGE:
            raise ArchiveError(f"{where}, column response{n}_mesh: a mesh needs a rendered image response beside it.")
        stem = f"{config}/{render.sha256[:16]}-{mesh.sha256[:16]}"
        paths[f"response{n}_media"] = f"{stem}.{render.extension}"
        paths[f"response{n}_mesh"] = f"{stem}.{mesh.extension}"
    return paths


def _parquet_field(spec: TaskSpec, column: str, where: str) -> str | None:
    """The parquet column a media column fills; None for a mesh (a file only)."""
    if column == "input_media":
        if spec.input_field is None:
            raise ArchiveError(f"{where}, column {column}: {spec.task} pairs have no input media.")
        return spec.input_field
    if column.endswith("_mesh"):
        if spec.task != Task.T23D:
            raise ArchiveError(f"{where}, column {column}: only {Task.T23D} pairs have meshes.")
        return None
    if not spec.media_responses:
        raise ArchiveError(f"{where}, column {column}: {spec.task} responses are text, not media.")
    return column.removesuffix("_media")


def _manifest_entry(release_pair: ReleasePair, media: dict[str, tuple[str, str]]) -> dict[str, Any]:
    return {
        "id": release_pair.external_id,
        "task": release_pair.task,
        "label": release_pair.label,
        "source": release_pair.source,
        "votes": release_pair.votes,
        "majority_share": release_pair.majority_share,
        "media": {column: {"path": path, "sha256": sha} for column, (path, sha) in media.items()},
    }
