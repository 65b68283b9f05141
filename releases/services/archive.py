"""Write a release's downloadable zip, laid out like the published Omni-RewardBench.

    <config>/test-00000-of-00001.parquet               every pair of the task
    without_tie/<config>/test-00000-of-00001.parquet   the same minus the ties (accuracy w/o tie)
    <config>_preferences.json                          the paper's evaluation layout (see below)
    media_data/<config>/<sha16>.<ext>                  original media bytes, content-named
    manifest.json                                      release metadata and every pair's media hashes
    README.md                                          Hugging Face dataset card

Both worlds read it as it is. `datasets.load_dataset` loads every config and decodes every `Image`
and `Audio` cell. The paper's evaluation code reads `<root>/<config>_preferences.json` (a JSON list
of records: the parquet's columns, `id` kept, every media field a path string relative to
`media_data/`) with `media_data/` as its visual path; its readers open those files directly.

T23D: the `response1`/`response2` `Image` columns always hold an image. A response imported with a
render keeps it; a response imported as a mesh alone ships the media pipeline's render of the mesh
(`archive_media.MeshRenders`). The mesh sits beside its render under the same stem
(`<render16>-<mesh16>.<ext>`) and is named in the added `response1_mesh_path` /
`response2_mesh_path` columns (null when the response has no mesh), so a re-import restores it.

Tie kinds: a release of a project with tie kinds (its summary counts `tie_kinds`) adds a `tie_kind`
column after the paper's columns, in the parquet files and the paper's records alike (and in each pair's
manifest entry): `both_good`, `both_bad`, `mixed` or empty on a tie, as `ReleasePair.tie_kind` froze
it; empty on response1/response2. The label columns stay the paper's.

Video: every video ships with a container duration (the paper's decoder, decord, needs it). An
original that declares none is remuxed losslessly (stream copy) at build time; `manifest.json`
lists it under `remuxed` with the original's hash, and its pair entry says so too.

The rows come from the frozen ReleasePair rows (id, task, label) joined to the live pairs (text,
model names, media): pairs are never edited after import, and every media file is checked against
the hash the release froze, so the archive shows exactly what was released or is not built.

Memory stays flat however large the release: pairs are streamed from the database in chunks,
ordered by task so one config is open at a time; parquet row groups hold at most
`ROW_GROUP_ROWS` rows or `ROW_GROUP_MEDIA_BYTES` of embedded media (`TEXT_ROW_GROUP_ROWS` rows in a
config that embeds none: the writer keeps each group's footer entry until it closes, and 64-row
groups made that grow by 50 MB over 262,000 text pairs); media are copied from
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
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC
from itertools import islice
from pathlib import Path
from typing import IO, Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from django.db.models import TextField
from django.db.models.functions import Cast

from annotations.models import TASK_SPECS, Label, Task, TaskSpec
from media_pipeline.models import MediaAsset, MediaKind
from releases.models import Release, ReleasePair

from .archive_columns import MEDIA_COLUMNS, ArchiveError, LivePair, Released, checked_assets, media_paths, parquet_field
from .archive_media import LocalFile, MeshRenders, ShippingError, ship_video
from .dataset_card import render_dataset_card

# Hugging Face's `datasets` writes image and audio sets in groups of 100 rows and others in groups of 1,000.
ROW_GROUP_ROWS = 64
TEXT_ROW_GROUP_ROWS = 1000
ROW_GROUP_MEDIA_BYTES = 32 * 1024 * 1024
_COPY_CHUNK = 1024 * 1024
_ITER_CHUNK = 2000
PARQUET_NAME = "test-00000-of-00001.parquet"
PAPER_SUFFIX = "_preferences.json"  # <config>_preferences.json, as the paper's loader names them
REMUX_NOTE = "the original declares no container duration; remuxed losslessly (stream copy, no re-encoding)"

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
    "text_to_3D": f"prompt response1:Image response2:Image {_TAIL} response1_path response2_path "
    "response1_mesh_path response2_mesh_path",
    "text_image_to_image": f"prompt image:Image response1:Image response2:Image {_TAIL} "
    "image_path response1_path response2_path",
}


# Added to the published layout: a T23D response without a mesh has none.
_NULLABLE = frozenset({"response1_mesh_path", "response2_mesh_path"})
TIE_KIND_COLUMN = "tie_kind"


def _layout(spec: str) -> tuple[tuple[str, str], ...]:
    return tuple((name, feature or _STRING) for name, _, feature in (c.partition(":") for c in spec.split()))


LAYOUTS = {config: _layout(spec) for config, spec in _LAYOUT_SPECS.items()}
_TASK_OF_CONFIG = {spec.config: code for code, spec in TASK_SPECS.items()}
_MEDIA_STRUCT = pa.struct([("bytes", pa.binary()), ("path", pa.string())])


@dataclass(frozen=True)
class ArchiveInfo:
    sha256: str
    size_bytes: int
    pairs: int
    files: int  # zip entries: parquet files, media files, manifest.json and README.md


def layout(config: str, *, tie_kinds: bool = False) -> tuple[tuple[str, str], ...]:
    """A config's columns and features: the paper's, and `tie_kind` last on a release with tie kinds."""
    return (*LAYOUTS[config], (TIE_KIND_COLUMN, _STRING)) if tie_kinds else LAYOUTS[config]


def has_tie_kinds(release: Release) -> bool:
    """The release was published with tie kinds: its summary counts its ties per kind."""
    return isinstance(release.summary, dict) and "tie_kinds" in release.summary


def parquet_schema(config: str, *, tie_kinds: bool = False) -> pa.Schema:
    """The arrow schema of a config, with the `huggingface` metadata that makes `datasets` decode media."""
    fields, features = [], {}
    for name, feature in layout(config, tie_kinds=tie_kinds):
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
            tempfile.TemporaryDirectory(prefix="omni-release-", dir=dest.parent) as tmp,
            zipfile.ZipFile(part, "w", allowZip64=True) as zf,
        ):
            pairs = _ArchiveBuilder(release, zf, Path(tmp)).build()
            files = len(zf.infolist())
        with open(part, "rb") as fh:
            digest = hashlib.file_digest(fh, "sha256")
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
    """The two parquet files of one config, fed one row group at a time, and its paper-layout records."""

    def __init__(self, config: str, tmp: Path, *, tie_kinds: bool) -> None:
        self.config = config
        self.layout = layout(config, tie_kinds=tie_kinds)
        self.schema = parquet_schema(config, tie_kinds=tie_kinds)
        self.paths = {
            f"{config}/{PARQUET_NAME}": tmp / f"{config}.parquet",
            f"without_tie/{config}/{PARQUET_NAME}": tmp / f"{config}-without-tie.parquet",
        }
        # One JSON record a line, spooled; the builder streams them into the zip as one JSON list.
        self.paper_name = f"{config}{PAPER_SUFFIX}"
        self.paper_path = tmp / f"{config}-paper.jsonl"
        self.paper = open(self.paper_path, "wb")  # noqa: SIM115 (closed in close())
        # Dictionaries and min/max statistics only for short columns: on prompts, responses and media
        # they are wasted work, and every row group's statistics stay in the writer's memory (the
        # footer) until it closes, so long-text statistics made memory grow with the release.
        names = {name for name, _ in self.layout}
        dictionary = sorted(names & {"model1", "model2", "source", "criteria_preference"})
        statistics = sorted(names & {"model1", "model2", "source", "criteria_preference", "id"})
        self.writers = [
            pq.ParquetWriter(path, self.schema, use_dictionary=dictionary, write_statistics=statistics)
            for path in self.paths.values()
        ]
        self.rows: list[dict[str, Any]] = []
        self.media_bytes = 0
        self.labels: Counter[str] = Counter()
        embeds = any(feature != _STRING for _, feature in self.layout)
        self.group_rows = ROW_GROUP_ROWS if embeds else TEXT_ROW_GROUP_ROWS

    def add(self, row: dict[str, Any], media_bytes: int) -> None:
        self.rows.append(row)
        # The paper's records name media by path only: an embedded {bytes, path} becomes its path.
        paper = {name: value["path"] if isinstance(value, dict) else value for name, value in row.items()}
        self.paper.write(orjson.dumps(paper) + b"\n")
        self.labels[row["criteria_preference"]] += 1
        self.media_bytes += media_bytes
        if len(self.rows) >= self.group_rows or self.media_bytes >= ROW_GROUP_MEDIA_BYTES:
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
        self.paper.close()
        return self.paths


class _ArchiveBuilder:
    def __init__(self, release: Release, zf: zipfile.ZipFile, tmp: Path) -> None:
        self.release = release
        self.zf = zf
        self.tmp = tmp
        # Entries carry the release's date, not the build's, so a rebuild gives the same bytes.
        self.date_time = release.created_at.astimezone(UTC).timetuple()[:6]
        self.media_written: dict[str, str] = {}  # zip entry -> sha256 of the frozen asset (or of a render)
        self.remuxed: dict[str, dict[str, Any]] = {}  # zip entry -> what was shipped instead of the original
        self.renders = MeshRenders(tmp)
        self.counts: dict[str, Counter[str]] = {}
        self.manifest_pairs = tmp / "manifest-pairs.jsonl"
        self.tie_kinds = has_tie_kinds(release)

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
                    current = _ConfigWriter(spec.config, self.tmp, tie_kinds=self.tie_kinds)
                row, media, media_bytes = self._pair(release_pair, spec)
                current.add(row, media_bytes)
                entry = _manifest_entry(release_pair, media, tie_kinds=self.tie_kinds)
                manifest.write(orjson.dumps(entry) + b"\n")
                pairs += 1
        if current is None:
            raise ArchiveError(f"{self.release} holds no pairs; there is nothing to export.")
        self._close_config(current)
        # The database streams tasks by code; the card and manifest list them in the paper's order.
        self.counts = {
            spec.config: self.counts[spec.config] for spec in TASK_SPECS.values() if spec.config in self.counts
        }
        self._write_manifest()
        card = render_dataset_card(release=self.release, counts=self.counts, remuxed=sorted(self.remuxed))
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
        with open(writer.paper_path, "rb") as records, self._entry(writer.paper_name, compress=True) as out:
            out.write(b"[")
            _write_items(out, records, indent=b"  ")
            out.write(b"\n]\n")
        writer.paper_path.unlink()
        self.counts[writer.config] = writer.labels

    def _pair(self, release_pair: Released, spec: TaskSpec) -> tuple[dict[str, Any], dict[str, dict[str, Any]], int]:
        """The parquet row, the manifest's media entries by column and the embedded byte count of one pair."""
        pair = release_pair.pair
        where = f"pair {release_pair.external_id!r}"
        if pair is None:
            raise ArchiveError(
                f"{where}, column pair: the live pair was deleted after the release was frozen; it cannot be exported."
            )
        if pair.task != release_pair.task:
            raise ArchiveError(f"{where}: the release froze task {release_pair.task}, the live pair is {pair.task}.")
        assets = checked_assets(release_pair, pair)
        renders = self._renders(spec, assets, where)
        paths = media_paths(spec.config, assets, renders, where)
        columns = dict(layout(spec.config, tie_kinds=self.tie_kinds))
        values: dict[str, Any] = {
            TIE_KIND_COLUMN: release_pair.tie_kind,
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
        media: dict[str, dict[str, Any]] = {}
        for column, asset in assets.items():
            field = parquet_field(spec, column, where)
            at = f"{where}, column {column}"
            render = renders.get(column)
            embed = field is not None and columns.get(field) in (_IMAGE, _AUDIO) and render is None
            data, media[column] = self._media(asset, paths[column], keep=embed, where=at)
            if field is None:  # a mesh beside its render: a file, named in its own column
                values[f"{column}_path"] = paths[column]
                continue
            path = paths[column]
            if render is not None:  # a mesh alone: the Image column holds its render
                path = paths[f"{column}:render"]
                data = self._local(render, path, where=at)
                media[column]["render"] = {"path": path, "sha256": render.sha256}
                values[f"{field}_mesh_path"] = paths[column]
            values[f"{field}_path"] = path
            if columns.get(field) == _STRING:
                values[field] = path
            else:
                values[field] = {"bytes": data, "path": path}
                embedded += len(data or b"")
        row = {name: values.get(name) for name in columns}
        for name, value in row.items():
            if value is None and name not in _NULLABLE:
                raise ArchiveError(f"{where}, column {name}: the live pair has no value for it ({spec.task}).")
        return row, media, embedded

    def _renders(self, spec: TaskSpec, assets: dict[str, MediaAsset], where: str) -> dict[str, LocalFile]:
        """The render of each T23D response that was imported as a mesh alone, by column."""
        renders: dict[str, LocalFile] = {}
        if spec.task != Task.T23D:
            return renders
        for column in ("response1_media", "response2_media"):
            asset = assets.get(column)
            if asset is not None and asset.kind == MediaKind.MESH:
                try:
                    renders[column] = self.renders.render(asset)
                except ShippingError as exc:
                    raise ArchiveError(f"{where}, column {column}: {exc}") from None
        return renders

    def _media(self, asset: MediaAsset, path: str, *, keep: bool, where: str) -> tuple[bytes | None, dict[str, Any]]:
        """Copy an original into media_data/ once per path: its bytes when the parquet embeds them, and its
        manifest entry (the shipped file's hash; a remuxed video also names the original's)."""
        name = f"media_data/{path}"
        known = self.media_written.get(name)
        if known is not None and known != asset.sha256:
            raise ArchiveError(f"{where}: {name} would hold two different files ({known[:16]}, {asset.sha256[:16]}).")
        entry: dict[str, Any] = {"path": path, "sha256": asset.sha256}
        if known is not None and not keep:
            return None, {**entry, **self.remuxed.get(name, {})}
        if asset.kind == MediaKind.VIDEO and not keep:
            return None, self._video(asset, name, entry, where)
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
        return data, entry

    def _video(self, asset: MediaAsset, name: str, entry: dict[str, Any], where: str) -> dict[str, Any]:
        try:
            shipped = ship_video(asset, self.tmp)
        except ShippingError as exc:
            raise ArchiveError(f"{where}: {exc}") from None
        with open(shipped.file.path, "rb") as src, self._entry(name, compress=False) as out:
            shutil.copyfileobj(src, out, _COPY_CHUNK)
        shipped.file.path.unlink()
        self.media_written[name] = asset.sha256
        if not shipped.remuxed:
            return entry
        self.remuxed[name] = {"sha256": shipped.file.sha256, "original_sha256": asset.sha256, "remuxed": REMUX_NOTE}
        return {**entry, **self.remuxed[name]}

    def _local(self, file: LocalFile, path: str, *, where: str) -> bytes:
        """Write a file made for the release (a render) into media_data/ once; its bytes, for the parquet."""
        name = f"media_data/{path}"
        data = file.path.read_bytes()  # a thumbnail: small
        known = self.media_written.get(name)
        if known is not None and known != file.sha256:
            raise ArchiveError(f"{where}: {name} would hold two different files ({known[:16]}, {file.sha256[:16]}).")
        if known is None:
            with self._entry(name, compress=False) as out:
                out.write(data)
            self.media_written[name] = file.sha256
        return data

    def _write_manifest(self) -> None:
        release = self.release
        header: dict[str, Any] = {
            "format": "omni-annotate release archive",
            "format_version": 2,
            "project": {"slug": release.project.slug, "name": release.project.name},
            "version": release.version,
            "created_at": release.created_at.isoformat(),
            "created_by": release.created_by.get_username() if release.created_by else None,
            "notes": release.notes,
            "configs": {config: _TASK_OF_CONFIG[config] for config in self.counts},
            "paper_layout": {config: f"{config}{PAPER_SUFFIX}" for config in self.counts},
            "remuxed": [
                {"path": name.removeprefix("media_data/"), **info} for name, info in sorted(self.remuxed.items())
            ],
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
                _write_items(out, pairs, indent=b"    ")
            out.write(b"\n  ]\n}\n")
        self.manifest_pairs.unlink()


_LIVE_FIELDS = ("task", "prompt", "response1_text", "response2_text", "model1", "model2", "criterion", "source")


def _release_pairs(release: Release) -> Iterator[Released]:
    """The release's pairs with their live pairs, streamed. Ordered by task so each config's writers are
    opened and closed once. One query for the rows, and per chunk of rows with media one for their
    media rows (text pairs have none)."""
    rows = (
        ReleasePair.objects.filter(release=release)
        .order_by("task", "external_id")
        # The JSON as text, parsed by orjson: JSONField's json.loads was a tenth of a build.
        .annotate(votes_json=Cast("votes", TextField()), media_json=Cast("media", TextField()))
        .values_list(
            "external_id",
            "task",
            "label",
            "source",
            "votes_json",
            "majority_share",
            "media_json",
            "pair_id",
            "tie_kind",
            *(f"pair__{name}" for name in _LIVE_FIELDS),
            *(f"pair__{column}" for column in MEDIA_COLUMNS),
        )
        .iterator(chunk_size=_ITER_CHUNK)
    )
    media = -len(MEDIA_COLUMNS)
    while chunk := list(islice(rows, _ITER_CHUNK)):
        asset_ids = {pk for row in chunk for pk in row[media:] if pk is not None}
        assets = MediaAsset.objects.in_bulk(asset_ids) if asset_ids else {}
        for row in chunk:
            external_id, task, label, source, votes, share, frozen, pair_id, tie_kind = row[:9]
            pair = None
            if pair_id is not None:  # None once the live pair was deleted
                columns = zip(MEDIA_COLUMNS, row[media:], strict=True)
                pair = LivePair({c: assets[pk] for c, pk in columns if pk is not None}, *row[9:media])
            yield Released(
                pair, external_id, task, label, source, orjson.loads(votes), share, orjson.loads(frozen), tie_kind
            )


def _write_items(out: IO[bytes], lines: Iterable[bytes], *, indent: bytes) -> None:
    """Spooled JSON lines as the items of a JSON list, about a megabyte per write: each write into a
    compressed entry is a deflate call, and a write per line made a million of them at 262,000 pairs."""
    buffer = bytearray()
    for number, line in enumerate(lines):
        buffer += (b"\n" if number == 0 else b",\n") + indent + line.rstrip(b"\n")
        if len(buffer) >= _COPY_CHUNK:
            out.write(bytes(buffer))
            buffer.clear()
    out.write(bytes(buffer))


def _spec(release_pair: Released) -> TaskSpec:
    spec = TASK_SPECS.get(release_pair.task)
    if spec is None:
        raise ArchiveError(f"pair {release_pair.external_id!r}: unknown task {release_pair.task!r}.")
    return spec


def _manifest_entry(release_pair: Released, media: dict[str, dict[str, Any]], *, tie_kinds: bool) -> dict[str, Any]:
    return {
        "id": release_pair.external_id,
        "task": release_pair.task,
        "label": release_pair.label,
        **({TIE_KIND_COLUMN: release_pair.tie_kind} if tie_kinds else {}),
        "source": release_pair.source,
        "votes": release_pair.votes,
        "majority_share": release_pair.majority_share,
        "media": media,
    }
