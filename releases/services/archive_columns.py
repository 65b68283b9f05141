"""Which media columns a released pair has, and the names its files take under media_data/.

Split from `archive` (the zip writer): these checks decide nothing about the zip itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from annotations.models import Pair, Task, TaskSpec
from media_pipeline.models import MediaAsset, MediaKind

from .archive_media import LocalFile

# The Pair fields a ReleasePair.media dict is keyed by, in the order the archive writes them.
MEDIA_COLUMNS = Pair.MEDIA_FIELDS


class ArchiveError(Exception):
    """The release cannot be exported as frozen; the message names the pair and column."""


@dataclass(frozen=True, slots=True)
class LivePair:
    """The fields of a live pair the archive ships, and its media by column (only those it has)."""

    assets: dict[str, MediaAsset]
    task: str
    prompt: str
    response1_text: str | None
    response2_text: str | None
    model1: str
    model2: str
    criterion: str
    source: str


@dataclass(frozen=True, slots=True)
class Released:
    """A ReleasePair as the archive reads it, with its live pair (None once that was deleted). Plain
    rows, not model instances: building those (a pair and five media rows each) cost more than half
    of a 317,000-pair build."""

    pair: LivePair | None
    external_id: str
    task: str
    label: str
    source: str
    votes: dict[str, int]
    majority_share: float | None
    media: Any  # the frozen {column: sha256}, checked before use
    tie_kind: str = ""  # frozen with the release (projects with tie kinds)


def checked_assets(release_pair: Released, pair: LivePair) -> dict[str, MediaAsset]:
    """The pair's media by column, each checked against the hash the release froze."""
    where = f"pair {release_pair.external_id!r}"
    frozen = release_pair.media
    if not isinstance(frozen, dict):
        raise ArchiveError(f"{where}: the release's media record is not a {{column: sha256}} object.")
    assets: dict[str, MediaAsset] = {}
    for column in MEDIA_COLUMNS:
        asset = pair.assets.get(column)
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


def media_paths(
    config: str, assets: dict[str, MediaAsset], renders: dict[str, LocalFile], where: str
) -> dict[str, str]:
    """Content-derived names under media_data/: they reveal no model, and equal content shares a name.

    A T23D render with a mesh is named after both, and the mesh sits beside it with the same stem:
    the importer finds meshes that way, and a render shown with two different meshes stays two files.
    A mesh imported alone ships with the pipeline's render, named the same way (`<column>:render`).
    """
    for column, asset in assets.items():
        if not asset.extension.isalnum():
            raise ArchiveError(f"{where}, column {column}: unusable file extension {asset.extension!r}.")
    paths = {column: f"{config}/{asset.sha256[:16]}.{asset.extension}" for column, asset in assets.items()}
    for column, made in renders.items():
        stem = f"{config}/{made.sha256[:16]}-{assets[column].sha256[:16]}"
        paths[column] = f"{stem}.{assets[column].extension}"
        paths[f"{column}:render"] = f"{stem}.{made.extension}"
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


def parquet_field(spec: TaskSpec, column: str, where: str) -> str | None:
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
