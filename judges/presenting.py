"""A pair as a judge sees it: responses in the presented order, media as the pipeline prepared them.

Video goes as the pipeline's evenly sampled frames (10 per video: all 10 for a TV2T input, every
other one, 5, for a T2V response, as the paper sends them); images as their web rendition (metadata
already stripped); a mesh as the pipeline's four rendered views (front, side, back, top: the same
renders annotators see where WebGL is off), or the release's render where no mesh came with it;
audio as the loudness-normalised rendition.
"""

from __future__ import annotations

from annotations.models import Pair, ShownOrder
from annotations.services.queue import response_viewer
from media_pipeline.models import AssetStatus, MediaAsset, MediaKind, Rendition, RenditionRole

from .protocol import PairView

T2V_FRAMES = 5


class NotPresentable(Exception):
    """The pair's media is not ready for a judge (the pipeline has not processed it)."""


def _read(name: str, asset: MediaAsset) -> bytes:
    from django.core.files.storage import default_storage

    with default_storage.open(name, "rb") as handle:
        return handle.read()


def _rendition(asset: MediaAsset, role: str) -> Rendition | None:
    return next((r for r in asset.renditions.all() if r.role == role and r.index == 0), None)


def _ready(asset: MediaAsset) -> None:
    if asset.status != AssetStatus.READY:
        raise NotPresentable(f"media asset {asset.pk} is {asset.status}, not ready; judges see processed media only.")


def image_bytes(asset: MediaAsset) -> bytes:
    _ready(asset)
    rendition = _rendition(asset, RenditionRole.WEB)
    if rendition is None:
        raise NotPresentable(f"media asset {asset.pk} has no {RenditionRole.WEB} rendition.")
    return _read(rendition.file.name, asset)


def mesh_views(asset: MediaAsset) -> tuple[bytes, ...]:
    """A mesh's rendered views in MESH_VIEW_NAMES order; its one thumbnail if it was processed before views."""
    _ready(asset)
    views = sorted((r for r in asset.renditions.all() if r.role == RenditionRole.VIEW), key=lambda r: r.index)
    if not views:
        views = [r for r in asset.renditions.all() if r.role == RenditionRole.THUMB]
    if not views:
        raise NotPresentable(f"mesh asset {asset.pk} has no rendered views.")
    return tuple(_read(r.file.name, asset) for r in views)


def frames(asset: MediaAsset, count: int | None = None) -> tuple[bytes, ...]:
    _ready(asset)
    all_frames = sorted((r for r in asset.renditions.all() if r.role == RenditionRole.FRAME), key=lambda r: r.index)
    if not all_frames:
        raise NotPresentable(f"video asset {asset.pk} has no frames.")
    chosen = all_frames if count is None else [all_frames[i * len(all_frames) // count] for i in range(count)]
    return tuple(_read(r.file.name, asset) for r in chosen)


def audio_bytes(asset: MediaAsset) -> bytes:
    _ready(asset)
    rendition = _rendition(asset, RenditionRole.WEB)
    if rendition is None:
        raise NotPresentable(f"audio asset {asset.pk} has no web rendition.")
    return _read(rendition.file.name, asset)


def _visuals(asset: MediaAsset | None, mesh: MediaAsset | None) -> tuple[bytes, ...]:
    if asset is None:
        return ()
    if asset.kind == MediaKind.VIDEO:
        return frames(asset, T2V_FRAMES)
    if mesh is not None or asset.kind == MediaKind.MESH:
        return mesh_views(mesh or asset)  # what annotators judge: the mesh, so its views
    if asset.kind == MediaKind.IMAGE:
        return (image_bytes(asset),)
    return ()


def pair_view(pair: Pair, order: str) -> PairView:
    """`order`: ShownOrder; "12" shows response 1 as A."""
    first, second = (1, 2) if order == ShownOrder.RESPONSE1_LEFT else (2, 1)

    def side(n: int) -> tuple[str | None, MediaAsset | None, MediaAsset | None]:
        return (
            getattr(pair, f"response{n}_text"),
            getattr(pair, f"response{n}_media"),
            getattr(pair, f"response{n}_mesh"),
        )

    text_a, media_a, mesh_a = side(first)
    text_b, media_b, mesh_b = side(second)
    if response_viewer(pair) != "mesh":  # annotators see the renders beside the meshes: so do judges
        mesh_a = mesh_b = None
    source = pair.input_media
    input_images: tuple[bytes, ...] = ()
    input_audio = None
    if source is not None:
        if source.kind == MediaKind.VIDEO:
            input_images = frames(source)
        elif source.kind == MediaKind.IMAGE:
            input_images = (image_bytes(source),)
        elif source.kind == MediaKind.AUDIO:
            input_audio = audio_bytes(source)
    audio = media_a is not None and media_a.kind == MediaKind.AUDIO
    return PairView(
        task=pair.task,
        prompt=pair.prompt,
        criterion=pair.criterion,
        text_a=text_a,
        text_b=text_b,
        images_a=() if audio else _visuals(media_a, mesh_a),
        images_b=() if audio else _visuals(media_b, mesh_b),
        input_images=input_images,
        audio_a=audio_bytes(media_a) if audio and media_a else None,
        audio_b=audio_bytes(media_b) if audio and media_b else None,
        input_audio=input_audio,
    )


def presentable_pairs(ids: list[int]) -> list[Pair]:
    """Pairs with their media and renditions loaded in a fixed number of queries."""
    return list(
        Pair.objects.filter(id__in=ids)
        .select_related(*Pair.MEDIA_FIELDS)
        .prefetch_related(*(f"{name}__renditions" for name in Pair.MEDIA_FIELDS))
        .order_by("id")
    )
