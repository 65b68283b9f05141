"""Curators' writes from the label audit: send pairs to adjudication, and turn a sample of imported labels into gold.

Neither changes a label people gave: a request only queues the pair for a curator's decision, and gold
is set through `pair_gold_set`, the same service as the pair page and the judges' hard pairs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction

from annotations.models import Pair, Project, Task

from ..models import AdjudicationRequest
from ..selectors import TASKS, open_adjudication_requests
from .quality import pair_gold_set

DISAGREES = "imported label disagrees with consensus"
MAX_REQUEST_PAIRS = 1000
MAX_REASON = 500
MAX_SEED = 2**32 - 1


@dataclass(frozen=True)
class Sent:
    sent: int  # pairs newly queued
    already_queued: int  # pairs with an open request already: left as they were


def adjudication_request_send(*, project: Project, user: User, pair_ids: list[int], reason: str = DISAGREES) -> Sent:
    """Put the chosen labelling pairs in the adjudication queue with a reason the queue shows.

    A pair already waiting on an open request is not queued twice. Two curators sending the same pair at
    the same moment may both record a request; that is harmless, as one decision answers both.
    """
    reason = reason.strip()
    errors: dict[str, str] = {}
    wanted = sorted(set(pair_ids))
    if not wanted:
        errors["pairs"] = "Choose at least one pair to send to adjudication."
    elif len(wanted) > MAX_REQUEST_PAIRS:
        errors["pairs"] = f"At most {MAX_REQUEST_PAIRS:,} pairs can be sent at a time; {len(wanted):,} were chosen."
    if not reason:
        errors["reason"] = "Say why the pairs need a decision; the queue shows it."
    elif len(reason) > MAX_REASON:
        errors["reason"] = f"The reason is limited to {MAX_REASON} characters."
    if errors:
        raise ValidationError(errors)
    found = dict(Pair.objects.labelling().filter(project=project, id__in=wanted).values_list("id", "gold_label"))
    missing = [pair_id for pair_id in wanted if pair_id not in found]
    if missing:
        shown = ", ".join(str(i) for i in missing[:20]) + (" …" if len(missing) > 20 else "")
        raise ValidationError({"pairs": f"Not labelling pairs of this project: {shown}."})
    gold = [pair_id for pair_id, label in found.items() if label is not None]
    if gold:
        shown = ", ".join(str(i) for i in gold[:20]) + (" …" if len(gold) > 20 else "")
        raise ValidationError(
            {
                "pairs": f"Gold pairs are decided by their gold answer, so an adjudication would not count: {shown}. "
                "Remove their gold answer first, or leave them out."
            }
        )
    with transaction.atomic():
        queued = set(open_adjudication_requests(project).filter(pair_id__in=wanted).values_list("pair_id", flat=True))
        new = [
            AdjudicationRequest(pair_id=pair_id, reason=reason, requested_by=user)
            for pair_id in wanted
            if pair_id not in queued
        ]
        AdjudicationRequest.objects.bulk_create(new)
    return Sent(sent=len(new), already_queued=len(queued))


@dataclass(frozen=True)
class SampleSize:
    """How many of a task's pairs to draw: a count, or a share of the pairs with an imported label."""

    count: int | None = None
    share: float | None = None


@dataclass(frozen=True)
class GoldSample:
    task: str
    candidates: int  # labelling pairs of the task with an imported label
    drawn: int
    made_gold: int
    already_gold: int  # drawn pairs that were gold before: left as they were


def _size_errors(task: str, size: SampleSize, candidates: int) -> tuple[int, str]:
    """The number to draw, or an error sentence naming the task and the field."""
    if (size.count is None) == (size.share is None):
        return 0, f"{task}: give a count or a share, not both and not neither."
    if candidates == 0:
        return 0, f"{task}: no labelling pair of this task has an imported label to make gold."
    if size.count is not None:
        if isinstance(size.count, bool) or not isinstance(size.count, int) or size.count < 1:
            return 0, f"{task}: the count must be a whole number of at least 1, not {size.count!r}."
        if size.count > candidates:
            return (
                0,
                f"{task}: the count is {size.count:,} but only {candidates:,} {task} pairs have an imported label.",
            )
        n = size.count
    else:
        share = size.share
        if not isinstance(share, float | int) or isinstance(share, bool) or not 0 < share < 1:
            return 0, f"{task}: the share must be above 0 and below 1 (e.g. 0.1 for 10%), not {share!r}."
        n = math.ceil(share * candidates)  # a positive share never rounds down to no pair
    return n, ""


def gold_sample_draw(*, project: Project, sizes: dict[str, SampleSize], seed: int) -> list[GoldSample]:
    """Make a seeded random sample of each chosen task's imported labels gold.

    Candidates are the task's labelling pairs (kind=PAIR) with an imported label, in external-id order, so
    the same seed picks the same pairs on any database; each task draws from its own stream (the seed and
    the task), so adding a task to the request leaves the others' samples unchanged. Drawing again with the
    same seed picks the same pairs, which are then gold already: the draw is idempotent.
    """
    errors: list[str] = []
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise ValidationError({"seed": f"The seed must be a whole number from 0 to {MAX_SEED:,}."})
    if not sizes:
        raise ValidationError({"sample": "Choose a count or a share for at least one task."})
    unknown = [task for task in sizes if task not in Task.values]
    if unknown:
        raise ValidationError(
            {"sample": f"Unknown task {', '.join(map(repr, unknown))}; the tasks are {', '.join(TASKS)}."}
        )
    plans: list[tuple[str, int, list[Pair], int]] = []
    for task in (code for code in TASKS if code in sizes):
        labelling = Pair.objects.labelling().filter(project=project, task=task)
        candidates = list(
            labelling.filter(reference_label__isnull=False)
            .order_by("external_id")
            .only("id", "external_id", "reference_label", "gold_label")
        )
        n, error = _size_errors(task, sizes[task], len(candidates))
        if error:
            errors.append(error)
            continue
        rng = np.random.default_rng([seed, TASKS.index(task)])
        chosen = [candidates[i] for i in sorted(rng.choice(len(candidates), size=n, replace=False).tolist())]
        fresh = [pair for pair in chosen if pair.gold_label is None]
        gold_now = labelling.filter(gold_label__isnull=False).count()
        if gold_now + len(fresh) >= labelling.count():
            errors.append(
                f"{task}: this sample would make every {task} labelling pair gold ({gold_now:,} already gold), and "
                "gold pairs go to every annotator; choose a smaller sample."
            )
            continue
        plans.append((task, len(candidates), fresh, n))
    if errors:
        raise ValidationError({"sample": errors})
    with transaction.atomic():
        for _, _, fresh, _ in plans:
            for pair in fresh:
                pair_gold_set(pair=pair, label=pair.reference_label)
    return [GoldSample(task, candidates, n, len(fresh), n - len(fresh)) for task, candidates, fresh, n in plans]
