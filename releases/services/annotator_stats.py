"""The per-annotator table and the prompt groups of the Agreement page, computed by a leased background
job (core.jobs).

Kappa against the leave-one-out majority of the others needs every vote of the project: ~11 s at
951,000 votes. Pages and the API never compute it: they show the stored table with its age and ask for
a new one (`annotator_stats_refresh`) when it is missing or stale (the policy: `AnnotatorTable.due`).
The job reads the votes, computes, and writes the table only if its run still holds the lease; one row
per project, so its lease means at most one computation per project at a time, and a second request
while one waits or runs changes nothing.
"""

from __future__ import annotations

import dataclasses
import logging

from django.db import transaction
from django.db.models import Count, Max, Q
from django.utils import timezone

from annotations.models import Judgment, Pair, Project
from core import jobs

from ..models import AnnotatorStatsReport, AnnotatorStatsStatus
from ..selectors import annotator_votes
from ..selectors_annotators import AnnotatorTable, annotator_table
from ..stats.annotators import annotator_stats

log = logging.getLogger(__name__)

# The Agreement page lists this many prompt groups; the job stores their pairs.
PROMPT_GROUPS_SHOWN = 30
_SAME_RESPONSES = ("response1_text", "response2_text", "response1_media", "response2_media")


def annotator_stats_rows(project: Project) -> tuple[list[dict[str, object]], int, int]:
    """The table as stored: one object per annotator with live votes (`annotator` is the user id), the
    number of votes read, and the highest judgment id before they were read (any later one is new)."""
    last = Judgment.objects.aggregate(last=Max("id"))["last"] or 0
    votes = annotator_votes(project)
    rows = [
        dataclasses.replace(stats, annotator=int(votes.annotator_ids[stats.annotator])).as_json()
        for stats in annotator_stats(votes.table, votes.gold)
    ]
    return rows, len(votes.table.pair), last


def prompt_group_members(project: Project, *, limit: int = PROMPT_GROUPS_SHOWN) -> tuple[list[dict[str, object]], int]:
    """Pairs with the same prompt and responses but different criteria, as stored: the first `limit`
    groups in (task, prompt) order, each its task, prompt and pair ids in id order, and how many groups
    there are. Two GROUP BYs over every pair's text columns: why this runs in the job, not the page."""
    key = ("task", "prompt", *_SAME_RESPONSES)
    shared = (
        Pair.objects.labelling()
        .filter(project=project)
        .values(*key)
        .annotate(n=Count("criterion", distinct=True))
        .filter(n__gte=2)
        .order_by(*key)
    )
    group_count = shared.count()
    members: dict[tuple[object, ...], list[int]] = {tuple(group[name] for name in key): [] for group in shared[:limit]}
    # One more scan for all their pairs (by prompt, then matched on the whole key here), not one per group.
    candidates = (
        Pair.objects.labelling()
        .filter(project=project, prompt__in={prompt for _, prompt, *_ in members})
        .order_by("id")
    )
    for pair_id, *values in candidates.values_list("id", *key):
        if (found := members.get(tuple(values))) is not None:
            found.append(pair_id)
    groups: list[dict[str, object]] = [
        {"task": task, "prompt": prompt, "pairs": ids} for (task, prompt, *_), ids in members.items()
    ]
    return groups, group_count


def annotator_stats_compute(report_id: int) -> str | None:
    """The job: its final status, None if nothing was left to do; Busy if another run has it."""
    held = jobs.claim(AnnotatorStatsReport, report_id)
    if held is None:
        return None
    project = Project.objects.get(annotator_stats=report_id)
    try:
        with jobs.Heartbeat(held):
            read_at = timezone.now()  # the table's age counts from when its votes were read
            rows, votes, last = annotator_stats_rows(project)
            # Read before the groups: a pair created while they are found counts as new.
            last_pair = Pair.objects.aggregate(last=Max("id"))["last"] or 0
            groups, group_count = prompt_group_members(project)
    except Exception as exc:  # visible on the page; "Recompute now" tries again
        log.exception("annotator statistics of project %s failed", project.pk)
        message = f"Computing the table failed ({type(exc).__name__}: {exc}); recompute once the cause is fixed."
        jobs.finish(held, AnnotatorStatsStatus.FAILED, error=message[:2000])
        return AnnotatorStatsStatus.FAILED
    finished = jobs.finish(
        held,
        AnnotatorStatsStatus.READY,
        rows=rows,
        votes=votes,
        last_judgment_id=last,
        computed_at=read_at,
        prompt_groups=groups,
        prompt_group_count=group_count,
        last_pair_id=last_pair,
        error="",
    )
    # Not finished: another run took over after this one's lease ran out, and its table stands.
    return AnnotatorStatsStatus.READY if finished else None


def annotator_stats_request(*, project: Project, force: bool = False) -> bool:
    """Queue a new computation of the project's table; False when nothing was queued (one already waits
    or runs, or, unless forced, the last one failed). `force` is a curator's "Recompute now": it also
    retries a failed one and sends again one still waiting (its message may have been lost)."""
    with transaction.atomic():
        report, created = AnnotatorStatsReport.objects.get_or_create(project=project)
        if created:
            jobs.send_on_commit(AnnotatorStatsReport, [report.pk])
            return True
        eligible = Q(status=AnnotatorStatsStatus.READY)
        if force:
            eligible |= Q(status=AnnotatorStatsStatus.FAILED)
            eligible |= Q(status=AnnotatorStatsStatus.QUEUED, lease_until__isnull=True)
        again = jobs.requeue(AnnotatorStatsReport, [report.pk], also=eligible, requested_at=timezone.now(), error="")
    return bool(again)


def annotator_stats_refresh(*, project: Project, table: AnnotatorTable) -> AnnotatorTable:
    """The table to show: `table`, or, when it is due for a new computation, read again after queueing one
    (it then shows as waiting for a worker)."""
    if not table.due or not annotator_stats_request(project=project):
        return table
    return annotator_table(project, live_votes=table.live_votes)
