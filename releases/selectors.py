"""Reads shared by the curator pages and the API: votes as arrays, the gate outcome, the dashboard."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.db import connections
from django.db.models import Case, Count, Exists, F, IntegerField, OuterRef, Q, QuerySet, Subquery, Value, When

from annotations.models import TASK_SPECS, Judgment, Label, Pair, PairKind, Project, ShownOrder, Task

from .gate import DECISION_CODE, LABEL_CODE, LABELS, Outcome, PairState, Rule, Source, decide
from .models import Adjudication, AdjudicationRequest, GateRule, Release, ReleasePair
from .stats.agreement import Agreement, Estimate, agreement, fleiss_kappa, value_counts
from .stats.annotators import AnnotatorStats, VoteTable, annotator_stats, left_pick_test

TASKS: tuple[str, ...] = tuple(TASK_SPECS)


def gate_rule(project: Project) -> GateRule:
    """The project's rule, or the default one (not saved) if curators never edited it."""
    rule = GateRule.objects.filter(project=project).first()
    return rule or GateRule(project=project, min_votes=project.votes_per_pair)


def as_rule(rule: GateRule) -> Rule:
    return Rule(
        min_votes=rule.min_votes,
        min_majority_share=rule.min_majority_share,
        tie_policy=rule.tie_policy,
        min_gold_accuracy=rule.min_gold_accuracy,
        min_gold_judged=rule.min_gold_judged,
        queue_votes=rule.project.votes_per_pair,
    )


@dataclass(frozen=True)
class ProjectVotes:
    """Every live vote of a project as arrays; pairs and annotators by index."""

    pair_ids: np.ndarray  # sorted Pair ids; a pair's index is its position here
    task: np.ndarray  # index into TASKS per pair
    gold: np.ndarray  # label code per pair, -1 for non-gold
    adjudication: np.ndarray  # latest decision per pair, -1 when none
    annotator_ids: np.ndarray  # User id per annotator index
    table: VoteTable

    def index_of(self, pair_id: int) -> int | None:
        at = int(np.searchsorted(self.pair_ids, pair_id))
        return at if at < len(self.pair_ids) and self.pair_ids[at] == pair_id else None


def project_votes(project: Project) -> ProjectVotes:
    pairs = int_rows(
        Pair.objects.filter(project=project, kind=PairKind.PAIR)  # comparisons have no criterion to vote on
        .order_by("id")
        .annotate(
            task_code=Case(
                *(When(task=code, then=Value(i)) for i, code in enumerate(TASKS)), output_field=IntegerField()
            ),
            gold_code=label_code("gold_label", default=-1),
        )
        .values_list("id", "task_code", "gold_code"),
        3,
    )
    pair_ids = pairs[:, 0]
    left = Q(label=Label.RESPONSE1, shown_order=ShownOrder.RESPONSE1_LEFT) | Q(
        label=Label.RESPONSE2, shown_order=ShownOrder.RESPONSE2_LEFT
    )
    judgments = (
        Judgment.objects.filter(pair__project=project, retracted_at__isnull=True)
        .order_by()  # the model's default order would sort a million rows for nothing
        .annotate(
            code=label_code("label", default=2),
            left=Case(When(left, then=Value(1)), default=Value(0), output_field=IntegerField()),
        )
        .values_list("pair_id", "annotator_id", "code", "left", "time_spent_ms")
    )
    rows = int_rows(judgments, 5)
    # A pair created (and judged) between the two reads is not in the pair list: leave its votes out.
    at = np.searchsorted(pair_ids, rows[:, 0])
    known = at < len(pair_ids)
    known[known] = pair_ids[at[known]] == rows[known, 0]
    rows = rows[known]
    annotator_ids, annotator = np.unique(rows[:, 1], return_inverse=True)
    table = VoteTable(
        pair=np.searchsorted(pair_ids, rows[:, 0]),
        annotator=annotator.astype(np.int64),
        label=rows[:, 2].astype(np.int8),
        left=rows[:, 3].astype(bool),
        time_ms=rows[:, 4],
        n_pairs=len(pair_ids),
        n_annotators=len(annotator_ids),
    )
    adjudication = np.full(len(pair_ids), -1, dtype=np.int8)
    latest = (
        Adjudication.objects.filter(pair__project=project)
        .order_by("pair_id", "-decided_at", "-id")
        .values_list("pair_id", "decision")
    )
    seen: set[int] = set()
    for pair_id, decision in latest:
        where = int(np.searchsorted(pair_ids, pair_id))
        if pair_id not in seen and where < len(pair_ids) and pair_ids[where] == pair_id:
            seen.add(pair_id)
            adjudication[where] = DECISION_CODE[decision]
    return ProjectVotes(pair_ids, pairs[:, 1], pairs[:, 2].astype(np.int8), adjudication, annotator_ids, table)


def int_rows(query: QuerySet[Any], width: int) -> np.ndarray:
    """An all-integer values_list as an (n, width) array, fetched with a plain cursor.

    The ORM builds a Python tuple per row through its iterator machinery; for a million votes the
    raw cursor and one numpy conversion are several times faster.
    """
    sql, params = query.query.sql_with_params()
    with connections[query.db].cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    return np.array(rows, dtype=np.int64).reshape(-1, width)


def label_code(field_name: str, *, default: int) -> Case:
    whens = [When(**{field_name: label}, then=Value(code)) for label, code in LABEL_CODE.items()]
    return Case(*whens, default=Value(default), output_field=IntegerField())


def consensus_from(votes: ProjectVotes, outcome: Outcome) -> dict[int, str]:
    """The gate's accepted label per pair id (from votes, gold or adjudication)."""
    accepted = np.flatnonzero(outcome.state == PairState.ACCEPTED)
    return {int(votes.pair_ids[i]): LABELS[int(outcome.label[i])] for i in accepted if outcome.label[i] >= 0}


def gate_outcome(project: Project, votes: ProjectVotes | None = None) -> tuple[ProjectVotes, Outcome]:
    votes = votes or project_votes(project)
    return votes, decide(as_rule(gate_rule(project)), votes.table, votes.gold, votes.adjudication)


# --- the dashboard -------------------------------------------------------------------------------


@dataclass(frozen=True)
class TaskReport:
    task: str
    name: str
    pairs: int
    complete: int  # pairs with at least the project's k votes
    states: dict[str, int]
    released_labels: tuple[int, int, int]  # accepted pairs per label
    vote_labels: tuple[int, ...]
    agreement: Agreement


@dataclass(frozen=True)
class AnnotatorRow:
    user: User
    stats: AnnotatorStats
    below_bar: bool


@dataclass(frozen=True)
class CriterionRow:
    pair_id: int
    external_id: str
    criterion: str
    votes: tuple[int, ...]
    label: str | None  # accepted label
    state: str


@dataclass(frozen=True)
class PromptGroup:
    task: str
    prompt: str
    criteria: list[CriterionRow]
    agreement: Agreement

    @property
    def flips(self) -> bool:
        """Two different criteria settle on opposite responses."""
        by_criterion: dict[str, set[str]] = {}
        for row in self.criteria:
            if row.label in ("response1", "response2"):
                by_criterion.setdefault(row.criterion, set()).add(row.label)
        firm = {next(iter(labels)) for labels in by_criterion.values() if len(labels) == 1}
        return len(firm) > 1


@dataclass
class Dashboard:
    project: Project
    rule: GateRule
    overall: Agreement
    tasks: list[TaskReport]
    annotators: list[AnnotatorRow]
    pooled_left: tuple[int, int, float | None]
    states: dict[str, int]
    judgments: int
    prompt_groups: list[PromptGroup] = field(default_factory=list)
    prompt_group_count: int = 0
    consensus: dict[int, str] = field(default_factory=dict)  # accepted label per pair id


def with_fleiss_at_k(result: Agreement, counts: np.ndarray, k: int, gold: np.ndarray) -> Agreement:
    """Fleiss' kappa needs the same number of votes per pair: gold pairs (every annotator) and pairs
    still being labelled never have it, so compute it over the non-gold pairs with exactly k votes."""
    at_k = (counts.sum(axis=1) == k) & (gold < 0)
    left_out = int((counts.sum(axis=1) > 0).sum() - at_k.sum())
    if not at_k.any():
        note = f"no non-gold pair has exactly {k} votes yet; Fleiss' kappa needs the same number per pair"
        return replace(result, fleiss=Estimate(None, note=note))
    fleiss = fleiss_kappa(counts[at_k])
    if left_out and fleiss.value is not None:
        note = f"over the {int(at_k.sum()):,} non-gold pairs with exactly {k} votes ({left_out:,} other pairs left out)"
        fleiss = replace(fleiss, note=note)
    return replace(result, fleiss=fleiss)


def _states(outcome: Outcome, rows: np.ndarray) -> dict[str, int]:
    counts = np.bincount(outcome.state[rows], minlength=len(PairState))
    return {state.key: int(counts[state]) for state in PairState}


def dashboard(project: Project, *, bootstrap: int = 1000, group_limit: int = 30) -> Dashboard:
    votes, outcome = gate_outcome(project)
    table = votes.table
    all_counts = value_counts(table.pair, table.label, table.n_pairs)
    total_votes = all_counts.sum(axis=1)
    tasks = []
    for i, code in enumerate(TASKS):
        rows = np.flatnonzero(votes.task == i)
        if not len(rows):
            continue
        accepted = rows[outcome.state[rows] == PairState.ACCEPTED]
        released = np.bincount(outcome.label[accepted], minlength=3)
        tasks.append(
            TaskReport(
                task=code,
                name=Task(code).label,
                pairs=len(rows),
                complete=int((total_votes[rows] >= project.votes_per_pair).sum()),
                states=_states(outcome, rows),
                released_labels=(int(released[0]), int(released[1]), int(released[2])),
                vote_labels=tuple(int(n) for n in all_counts[rows].sum(axis=0)),
                agreement=with_fleiss_at_k(
                    agreement(all_counts[rows], bootstrap=bootstrap, seed=i),
                    all_counts[rows],
                    project.votes_per_pair,
                    votes.gold[rows],
                ),
            )
        )
    users = get_user_model().objects.in_bulk([int(u) for u in votes.annotator_ids])
    below = set(outcome.excluded_annotators.tolist())
    annotators = [
        AnnotatorRow(users[int(votes.annotator_ids[s.annotator])], s, s.annotator in below)
        for s in annotator_stats(table, votes.gold)
    ]
    annotators.sort(key=lambda row: row.user.get_username())
    groups, group_count = prompt_groups(project, votes, outcome, all_counts, limit=group_limit)
    return Dashboard(
        project=project,
        rule=gate_rule(project),
        overall=with_fleiss_at_k(
            agreement(all_counts, bootstrap=bootstrap, seed=99), all_counts, project.votes_per_pair, votes.gold
        ),
        tasks=tasks,
        annotators=annotators,
        pooled_left=left_pick_test(table),
        states=_states(outcome, np.arange(table.n_pairs)),
        judgments=len(table.pair),
        prompt_groups=groups,
        prompt_group_count=group_count,
        consensus=consensus_from(votes, outcome),
    )


_SAME_RESPONSES = ("response1_text", "response2_text", "response1_media", "response2_media")


def prompt_groups(
    project: Project, votes: ProjectVotes, outcome: Outcome, counts: np.ndarray, *, limit: int
) -> tuple[list[PromptGroup], int]:
    """Pairs with the same prompt and responses but different criteria: agreement per criterion, and flips.

    Grouped in the database, so only the shown groups' pairs are read.
    """
    shared = (
        Pair.objects.filter(project=project, kind=PairKind.PAIR)
        .values("task", "prompt", *_SAME_RESPONSES)
        .annotate(n=Count("criterion", distinct=True))
        .filter(n__gte=2)
        .order_by("task", "prompt", *_SAME_RESPONSES)
    )
    group_count = shared.count()
    groups = []
    for group in shared[:limit]:
        same = {name: group[name] for name in ("task", "prompt", *_SAME_RESPONSES)}
        pairs = Pair.objects.filter(project=project, **same).order_by("id")
        rows = []
        indexes = []
        for pair in pairs.only("id", "external_id", "criterion"):
            at = votes.index_of(pair.id)
            if at is None:
                continue
            indexes.append(at)
            label = int(outcome.label[at])
            state = PairState(int(outcome.state[at]))
            rows.append(
                CriterionRow(
                    pair.id,
                    pair.external_id,
                    pair.criterion,
                    tuple(int(n) for n in counts[at]),
                    LABELS[label] if label >= 0 and state == PairState.ACCEPTED else None,
                    state.key,
                )
            )
        groups.append(PromptGroup(group["task"], group["prompt"], rows, agreement(counts[indexes], bootstrap=0)))
    return groups, group_count


# --- one pair, adjudication ----------------------------------------------------------------------


@dataclass(frozen=True)
class PairVerdict:
    state: PairState
    label: str | None
    source: str
    counted: tuple[int, int, int]
    share: float | None
    judgments: list[Judgment]
    adjudications: list[Adjudication]
    uncounted: set[int]  # judgment ids the rule does not count


def pair_verdict(project: Project, pair: Pair) -> PairVerdict:
    """The gate's decision on one pair, from its own votes: a page per pair stays fast in a large project."""
    rule = gate_rule(project)
    judgments = list(
        Judgment.objects.filter(pair=pair, retracted_at__isnull=True).select_related("annotator").order_by("created_at")
    )
    voters = sorted({j.annotator_id for j in judgments})
    below = _below_bar(project, rule, voters)
    n = len(judgments)
    table = VoteTable(
        pair=np.zeros(n, dtype=np.int64),
        annotator=np.array([voters.index(j.annotator_id) for j in judgments], dtype=np.int64),
        label=np.array([LABEL_CODE[j.label] for j in judgments], dtype=np.int8),
        left=np.zeros(n, dtype=bool),
        time_ms=np.array([j.time_spent_ms for j in judgments], dtype=np.int64),
        n_pairs=1,
        n_annotators=len(voters),
    )
    latest = Adjudication.objects.filter(pair=pair).order_by("-decided_at", "-id").values_list("decision", flat=True)
    decision = latest.first()
    outcome = decide(
        as_rule(rule),
        table,
        np.array([LABEL_CODE[pair.gold_label] if pair.gold_label else -1], dtype=np.int8),
        np.array([DECISION_CODE[decision] if decision else -1], dtype=np.int8),
        excluded=np.array([voters.index(a) for a in below], dtype=np.int64),
    )
    tie_abstains = rule.tie_policy == "abstain"
    uncounted = {j.id for j in judgments if j.annotator_id in below or (tie_abstains and j.label == Label.TIE)}
    label = int(outcome.label[0])
    share = float(outcome.share[0])
    return PairVerdict(
        state=PairState(int(outcome.state[0])),
        label=LABELS[label] if label >= 0 else None,
        source=Source(int(outcome.source[0])).key,
        counted=tuple(int(n) for n in outcome.counted[0]),  # type: ignore[arg-type]
        share=None if np.isnan(share) else share,
        judgments=judgments,
        adjudications=list(Adjudication.objects.filter(pair=pair).select_related("decided_by")),
        uncounted=uncounted,
    )


def _below_bar(project: Project, rule: GateRule, annotator_ids: list[int]) -> set[int]:
    """Which of these annotators the quality bar leaves uncounted, from their gold judgments in the project."""
    if rule.min_gold_accuracy is None or not annotator_ids:
        return set()
    records = (
        Judgment.objects.filter(
            annotator_id__in=annotator_ids,
            pair__project=project,
            pair__gold_label__isnull=False,
            retracted_at__isnull=True,
        )
        .order_by()
        .values("annotator_id")
        .annotate(judged=Count("id"), correct=Count("id", filter=Q(label=F("pair__gold_label"))))
    )
    return {
        r["annotator_id"]
        for r in records
        if r["judged"] >= max(rule.min_gold_judged, 1) and r["correct"] / r["judged"] < rule.min_gold_accuracy
    }


def open_adjudication_requests(project: Project) -> QuerySet[AdjudicationRequest]:
    """Requests no decision has answered yet: no adjudication recorded on the pair at or after the request."""
    answered = Adjudication.objects.filter(pair=OuterRef("pair"), decided_at__gte=OuterRef("requested_at"))
    return AdjudicationRequest.objects.filter(pair__project=project).exclude(Exists(answered))


def queue_requests(project: Project, pair_ids: list[int]) -> dict[int, AdjudicationRequest]:
    """The latest open request per pair, for the queue to show why a pair is there."""
    found: dict[int, AdjudicationRequest] = {}
    for request in open_adjudication_requests(project).filter(pair_id__in=pair_ids).select_related("requested_by"):
        found.setdefault(request.pair_id, request)  # newest first (the model's ordering)
    return found


def disputed_pairs(project: Project, *, task: str = "") -> tuple[QuerySet[Pair], Outcome, ProjectVotes]:
    """The adjudication queue: pairs the gate finds disputed, and pairs a curator sent there explicitly."""
    votes, outcome = gate_outcome(project)
    ids = votes.pair_ids[outcome.state == PairState.DISPUTED]
    requested = open_adjudication_requests(project).filter(pair=OuterRef("pk"))
    pairs = Pair.objects.filter(Q(id__in=ids.tolist()) | Q(Exists(requested)), project=project, kind=PairKind.PAIR)
    pairs = pairs.order_by("task", "external_id")
    if task:
        pairs = pairs.filter(task=task)
    return pairs, outcome, votes


# --- releases ------------------------------------------------------------------------------------


def releases(project: Project) -> QuerySet[Release]:
    return Release.objects.filter(project=project).select_related("created_by")


@dataclass(frozen=True)
class ReleaseDiff:
    old: Release
    new: Release
    added: int
    removed: int
    flipped: int
    unchanged: int
    added_rows: list[ReleasePair]
    removed_rows: list[ReleasePair]
    flipped_rows: list[ReleasePair]  # new rows, annotated with old_label
    per_task: dict[str, dict[str, int]]


def release_diff(old: Release, new: Release, *, limit: int = 200) -> ReleaseDiff:
    """Pairs added, removed and relabelled from `old` to `new`, compared by pair id, in the database."""
    in_old = ReleasePair.objects.filter(release=old, external_id=OuterRef("external_id"))
    in_new = ReleasePair.objects.filter(release=new, external_id=OuterRef("external_id"))
    added = ReleasePair.objects.filter(release=new).exclude(Exists(in_old))
    removed = ReleasePair.objects.filter(release=old).exclude(Exists(in_new))
    flipped = (
        ReleasePair.objects.filter(release=new)
        .filter(Exists(in_old.exclude(label=OuterRef("label"))))
        .annotate(old_label=Subquery(in_old.values("label")[:1]))
    )
    per_task: dict[str, dict[str, int]] = {}
    for name, rows in (("added", added), ("removed", removed), ("flipped", flipped)):
        for task, n in rows.order_by().values_list("task").annotate(n=Count("id")).values_list("task", "n"):
            per_task.setdefault(task, {"added": 0, "removed": 0, "flipped": 0})[name] = n
    n_added, n_removed, n_flipped = added.count(), removed.count(), flipped.count()
    return ReleaseDiff(
        old=old,
        new=new,
        added=n_added,
        removed=n_removed,
        flipped=n_flipped,
        unchanged=new.pairs.count() - n_added - n_flipped,
        added_rows=list(added[:limit]),
        removed_rows=list(removed[:limit]),
        flipped_rows=list(flipped[:limit]),
        per_task=dict(sorted(per_task.items(), key=lambda kv: TASKS.index(kv[0]))),
    )
