"""Offline judges for sanity checks on the benchmark itself: no network, no downloads.

- random: a coin (or a three-sided die with ties), seeded by judge, pair and order, so reruns agree;
- first: always A, the response shown first (what pure position bias would do);
- longer: the longer response (characters of text; for media, duration, else bytes): length bias;
- embedding: WordLlama, a static embedding model whose weights ship inside its PyPI wheel, prefers
  the response more similar to the criterion and prompt. Text responses only.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass

from annotations.models import Pair, ShownOrder
from core.embeddings import wordllama_model
from media_pipeline.models import MediaAsset

TIE_MARGIN = 0.01  # embedding similarity difference under which the with-tie question gets [[C]]


@dataclass(frozen=True)
class BaselineAnswer:
    verdict: str | None  # "A", "B", "C" or None (the judge cannot answer this pair)
    raw: str


def _seeded(*parts: object) -> random.Random:
    digest = hashlib.sha256(":".join(str(p) for p in parts).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def _size(text: str | None, media: MediaAsset | None) -> float:
    if text is not None:
        return float(len(text))
    if media is None:
        return 0.0
    duration = (media.probe or {}).get("duration")
    return float(duration) if duration else float(media.size_bytes)


def _sides(pair: Pair, order: str) -> tuple[tuple[str | None, MediaAsset | None], tuple[str | None, MediaAsset | None]]:
    one = (pair.response1_text, pair.response1_media)
    two = (pair.response2_text, pair.response2_media)
    return (one, two) if order == ShownOrder.RESPONSE1_LEFT else (two, one)


def answer(kind: str, *, judge_id: int, pair: Pair, order: str, with_tie: bool) -> BaselineAnswer:
    a, b = _sides(pair, order)
    if kind == "random":
        verdict = _seeded(judge_id, pair.pk, order, with_tie).choice("ABC" if with_tie else "AB")
        return BaselineAnswer(verdict, f"[[{verdict}]] (random)")
    if kind == "first":
        return BaselineAnswer("A", "[[A]] (always the first response)")
    if kind == "longer":
        size_a, size_b = _size(*a), _size(*b)
        verdict = "A" if size_a > size_b else "B" if size_b > size_a else ("C" if with_tie else "A")
        return BaselineAnswer(verdict, f"[[{verdict}]] (length A {size_a:g}, B {size_b:g})")
    if kind == "embedding":
        if a[0] is None or b[0] is None:
            return BaselineAnswer(None, "The embedding judge reads text responses only.")
        model = wordllama_model()
        query = f"{pair.criterion}\n{pair.prompt}"
        sim_a, sim_b = float(model.similarity(query, a[0])), float(model.similarity(query, b[0]))
        verdict = "C" if with_tie and abs(sim_a - sim_b) < TIE_MARGIN else "A" if sim_a >= sim_b else "B"
        return BaselineAnswer(verdict, f"[[{verdict}]] (similarity to the criterion: A {sim_a:.4f}, B {sim_b:.4f})")
    raise ValueError(f"not an offline judge: {kind}")
