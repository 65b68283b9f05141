"""Reads for writers, reviewers and the curator dashboard: drafts, review warnings, and the signals.

Warnings a reviewer sees on a criterion:
- it names a side or a position ("the left one", "response A", "the second image"), which would
  leak the writer's view into the label, or a model of the project by name;
- it nearly repeats another criterion of the same comparison: cosine similarity of WordLlama
  embeddings (static, offline; the weights ship inside its PyPI wheel) at or above
  NEAR_DUPLICATE, or the same words after normalising case and punctuation.

Signals, from the live gate: per writer, how often the labellers' consensus on a pair made from
their criterion matched the response they expected; per task, criterion flips: comparisons with
two accepted criteria whose pairs' consensus labels differ (one favours response 1, another
response 2, or one is a tie and another is not).
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import timedelta

import numpy as np
from django.contrib.auth.models import User
from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet
from django.utils import timezone

from annotations.models import Pair, Project, Task
from releases.selectors import consensus_from, gate_outcome, project_votes

from .models import Criterion, CriterionStatus, Expectation

LIVE = (CriterionStatus.SUBMITTED, CriterionStatus.ACCEPTED)

NEAR_DUPLICATE = 0.9

_NOUN = r"(?:one|response|answer|reply|output|option|image|picture|video|clip|audio|sound|model|mesh|side|candidate)"
# Positions ("the left one", "on the right", "the second"), and sides by letter or number ("Response A",
# "option #2", "prefer B"). Letters count only as capitals, so "an image a child would like" is fine.
_SIDE_WORDS = re.compile(
    rf"\b(?:(?:the\s+)?(?:left|right)(?:-hand)?\s+{_NOUN}|on\s+the\s+(?:left|right)\b|left\s+side|right\s+side"
    rf"|the\s+(?:first|second|former|latter)(?:\s+{_NOUN}\b|(?=\s*(?:[.,;:!?)]|$))))",
    re.IGNORECASE,
)
_SIDE_LETTERS = re.compile(
    rf"\b(?i:{_NOUN[3:-1]}|assistant)\s*#?\s*(?:[AB]|[12])\b|\b(?i:prefer|choose|pick|favou?r)\s+(?:[AB]|#?[12])\b"
)
_WORDS = re.compile(r"[\w']+")


def side_words(text: str) -> list[str]:
    """Phrases that name a side or position, as written, in the order they appear."""
    found = [*_SIDE_WORDS.finditer(text), *_SIDE_LETTERS.finditer(text)]
    return [m.group(0) for m in sorted(found, key=lambda m: m.start())]


def named_models(text: str, models: set[str]) -> list[str]:
    lowered = text.lower()
    return sorted(m for m in models if len(m) >= 3 and re.search(rf"(?<!\w){re.escape(m.lower())}(?!\w)", lowered))


def _normalised(text: str) -> str:
    return " ".join(_WORDS.findall(text.lower()))


def near_duplicates(texts: list[str]) -> list[tuple[int, int, float]]:
    """(i, j, similarity) for pairs of texts that nearly repeat each other, i < j."""
    if len(texts) < 2:
        return []
    from core.embeddings import wordllama_model

    vectors = np.asarray(wordllama_model().embed(texts, norm=True), dtype=np.float64)
    similarity = vectors @ vectors.T
    found = []
    for i in range(len(texts)):
        for j in range(i + 1, len(texts)):
            same = _normalised(texts[i]) == _normalised(texts[j])
            if same or similarity[i, j] >= NEAR_DUPLICATE:
                found.append((i, j, 1.0 if same else float(similarity[i, j])))
    return found


@dataclass
class ReviewRow:
    criterion: Criterion
    warnings: list[str] = field(default_factory=list)


@dataclass
class ComparisonReview:
    comparison: Pair
    rows: list[ReviewRow]
    accepted: int


def project_models(project: Project) -> set[str]:
    names = Pair.objects.filter(project=project).values_list("model1", "model2").distinct()
    return {name for pair in names for name in pair if name}


def review_queue(project: Project, *, limit: int = 50) -> tuple[list[ComparisonReview], int]:
    """Comparisons with criteria waiting for review, oldest first, each criterion with its warnings."""
    waiting = (
        Pair.objects.comparisons()
        .filter(project=project)
        .annotate(
            submitted=Count("written_criteria", filter=Q(written_criteria__status=CriterionStatus.SUBMITTED)),
            accepted=Count("written_criteria", filter=Q(written_criteria__status=CriterionStatus.ACCEPTED)),
        )
        .filter(submitted__gt=0)
        .order_by("id")
    )
    total = waiting.count()
    models = project_models(project)
    shown = list(waiting.select_related(*Pair.MEDIA_FIELDS)[:limit])
    by_comparison: dict[int, list[Criterion]] = defaultdict(list)
    for criterion in (
        Criterion.objects.filter(comparison__in=shown, status__in=(CriterionStatus.SUBMITTED, CriterionStatus.ACCEPTED))
        .select_related("writer")
        .order_by("id")
    ):
        by_comparison[criterion.comparison_id].append(criterion)
    reviews = []
    for comparison in shown:
        criteria = by_comparison[comparison.pk]
        rows = [ReviewRow(c) for c in criteria]
        texts = [c.accepted_text or c.text for c in criteria]
        for row, text in zip(rows, texts, strict=True):
            sides = side_words(text)
            if sides:
                row.warnings.append(f"Names a side or position ({', '.join(sides)}); sides are shuffled per labeller.")
            names = named_models(text, models)
            if names:
                row.warnings.append(f"Names a model ({', '.join(names)}); labellers never see model names.")
        for i, j, score in near_duplicates(texts):
            for here, there in ((i, j), (j, i)):
                which = "accepted " if criteria[there].status == CriterionStatus.ACCEPTED else ""
                rows[here].warnings.append(
                    f"Nearly repeats {which}criterion #{criteria[there].pk} (similarity {score:.2f})."
                )
        submitted = [r for r in rows if r.criterion.status == CriterionStatus.SUBMITTED]
        reviews.append(ComparisonReview(comparison, submitted, comparison.accepted))  # type: ignore[attr-defined]
    return reviews, total


def comparison_counts(project: Project) -> QuerySet[Pair]:
    """Every comparison, annotated with its `submitted` and `accepted` criteria counts."""
    return (
        Pair.objects.comparisons()
        .filter(project=project)
        .only("id", "external_id", "task")
        .annotate(
            submitted=Count("written_criteria", filter=Q(written_criteria__status=CriterionStatus.SUBMITTED)),
            accepted=Count("written_criteria", filter=Q(written_criteria__status=CriterionStatus.ACCEPTED)),
        )
        .order_by("id")
    )


HOLD = timedelta(minutes=30)  # another writer's draft edited this recently holds a place


def comparison_next_for_writer(project: Project, writer: User) -> Pair | None:
    """The comparison to write for: one with the writer's drafts, else the one that needs criteria most.

    A comparison needs criteria while its live ones (submitted or accepted) plus the writers drafting
    for it right now stay under the project's `criteria_per_comparison`; one the writer already wrote
    for is not offered again.
    """
    mine = Criterion.objects.filter(comparison=OuterRef("pk"), writer=writer)
    comparisons = Pair.objects.comparisons().filter(project=project)
    held = comparisons.filter(Exists(mine.filter(status=CriterionStatus.DRAFT))).order_by("id").first()
    if held is not None:
        return held
    drafting = Q(
        written_criteria__status=CriterionStatus.DRAFT, written_criteria__updated_at__gte=timezone.now() - HOLD
    ) & ~Q(written_criteria__writer=writer)
    return (
        comparisons.filter(media_ready=True)
        .exclude(Exists(mine.filter(status__in=LIVE)))
        .annotate(
            live=Count("written_criteria", filter=Q(written_criteria__status__in=LIVE), distinct=True),
            drafting=Count("written_criteria__writer", filter=drafting, distinct=True),
        )
        .filter(live__lt=project.criteria_per_comparison - F("drafting"))
        .order_by("live", "drafting", "id")
        .first()
    )


def writer_drafts(comparison: Pair, writer: User) -> QuerySet[Criterion]:
    return Criterion.objects.filter(comparison=comparison, writer=writer).order_by("id")


# --- signals on the curator dashboard ------------------------------------------------------------


@dataclass(frozen=True)
class WriterSignal:
    writer: str
    accepted: int
    settled: int  # pairs from their criteria with a consensus label (accepted by the gate)
    matched: int  # ... whose label is the response they expected ("either": a tie matches)

    @property
    def share(self) -> float | None:
        return self.matched / self.settled if self.settled else None


@dataclass(frozen=True)
class FlipCount:
    task: str
    comparisons: int  # with two or more settled pairs
    flips: int


@dataclass(frozen=True)
class Signals:
    writers: list[WriterSignal]
    flips: list[FlipCount]
    flipped_comparisons: set[int]  # comparison ids

    @property
    def total_flips(self) -> int:
        return sum(f.flips for f in self.flips)


def consensus_by_pair(project: Project) -> dict[int, str]:
    """The gate's accepted label per pair made from a written criterion (votes, gold or adjudication):
    the only pairs the signals look at, so a large imported project costs nothing here."""
    return consensus_from(*gate_outcome(project, project_votes(project, pairs=Q(comparison__isnull=False))))


def flipped_pair_ids(project: Project, consensus: dict[int, str]) -> set[int]:
    """The pairs (made from written criteria) of the comparisons whose settled label flips."""
    flipped = signals(project, consensus).flipped_comparisons
    return set(Pair.objects.filter(comparison_id__in=flipped).values_list("id", flat=True))


def written_criteria_exist(project: Project) -> bool:
    return Criterion.objects.filter(comparison__project=project, status=CriterionStatus.ACCEPTED).exists()


def signals(project: Project, consensus: dict[int, str] | None = None) -> Signals:
    consensus = consensus_by_pair(project) if consensus is None else consensus
    rows = list(
        Criterion.objects.filter(comparison__project=project, status=CriterionStatus.ACCEPTED, pair__isnull=False)
        .values_list("writer__username", "expected", "pair_id", "comparison_id", "comparison__task")
        .order_by("writer__username", "id")
    )
    per_writer: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    labels_of: dict[int, set[str]] = defaultdict(set)
    task_of: dict[int, str] = {}
    for writer, expected, pair_id, comparison_id, task in rows:
        counts = per_writer[writer]
        counts[0] += 1
        label = consensus.get(pair_id)
        if label is None:
            continue
        counts[1] += 1
        counts[2] += label == expected or (expected == Expectation.EITHER and label == "tie")
        labels_of[comparison_id].add(label)
        task_of[comparison_id] = task
    settled: dict[str, int] = defaultdict(int)
    flips: dict[str, int] = defaultdict(int)
    flipped = set()
    pair_counts = _settled_per_comparison(rows, consensus)
    for comparison_id, labels in labels_of.items():
        if pair_counts[comparison_id] < 2:
            continue
        task = task_of[comparison_id]
        settled[task] += 1
        if len(labels) > 1:
            flips[task] += 1
            flipped.add(comparison_id)
    return Signals(
        writers=[WriterSignal(w, *c) for w, c in per_writer.items()],
        flips=[FlipCount(t.value, settled[t.value], flips[t.value]) for t in Task if settled[t.value]],
        flipped_comparisons=flipped,
    )


def _settled_per_comparison(rows: list[tuple[str, str, int, int, str]], consensus: dict[int, str]) -> dict[int, int]:
    """Per comparison, how many of its pairs have a consensus label."""
    counts: dict[int, int] = defaultdict(int)
    for _, _, pair_id, comparison_id, _ in rows:
        if pair_id in consensus:
            counts[comparison_id] += 1
    return counts
