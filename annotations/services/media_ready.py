"""Pair.media_ready: a pair joins annotation queues once every asset it shows is processed.

The media pipeline reports assets that reached ready or failed (media_pipeline.pipeline.on_assets_settled,
registered in AnnotationsConfig.ready); the pages and the API catch any refresh that was missed.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db.models import Exists, OuterRef, Q, QuerySet

from media_pipeline.models import AssetStatus, MediaAsset

from ..models import Pair


def _pending() -> QuerySet[MediaAsset]:
    """Assets of the outer pair that are not ready yet."""
    shown = Q()
    for name in Pair.MEDIA_FIELDS:
        shown |= Q(pk=OuterRef(f"{name}_id"))
    return MediaAsset.objects.filter(shown).exclude(status=AssetStatus.READY)


def pairs_media_refresh(asset_ids: Iterable[int]) -> int:
    """Recompute media_ready for the pairs that show these assets."""
    ids = list(asset_ids)
    uses = Q()
    for name in Pair.MEDIA_FIELDS:
        uses |= Q(**{f"{name}_id__in": ids})
    return Pair.objects.filter(uses).update(media_ready=~Exists(_pending()))


def pairs_media_refresh_waiting(pairs: QuerySet[Any]) -> int:
    """Recompute readiness of pairs still marked waiting (a safety net for missed refreshes)."""
    return pairs.filter(media_ready=False).exclude(Exists(_pending())).update(media_ready=True)
