"""Reads shared by the curator pages and the API: vote tallies as arrays, the gate outcome, the dashboard."""

from __future__ import annotations

import operator
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import reduce
from typing import Any, overload

import numpy as np
from django.core.exceptions import EmptyResultSet
from django.db import connections
from django.db.models import (
    BigIntegerField,
    Case,
    Count,
    Exists,
    ExpressionWrapper,
    F,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.lookups import In

from annotations.models import (
    TASK_SPECS,
    GoldStanding,
    Judgment,
    Label,
    Pair,
    PairTally,
    Project,
    Task,
    labelling_q,
)
from annotations.services.tallies import LEFT_PICK, TALLY_FIELDS

from .gate import (
    BOTH_BAD,
    DECISION_CODE,
    LABEL_CODE,
    LABELS,
    TIE,
    Outcome,
    PairState,
    Rule,
    Source,
    decide,
    explain,
    tie_kind_codes,
)
from .models import Adjudication, AdjudicationRequest, GateRule, Release, ReleasePair
from .selectors_annotators import AnnotatorTable, annotator_table
from .stats.agreement import Agreement, Estimate, agreement, fleiss_kappa
from .stats.annotators import VoteTable, fair_coin_test

TASKS: tuple[str, ...] = tuple(TASK_SPECS)


def gate_rule(project: Project) -> GateRule:
    """The project's rule, or the default one (not saved) if curators never edited it."""
    rule = GateRule.objects.filter(project=project).first()
    return rule or GateRule(project=project, min_votes=project.votes_per_pair)


def quality_bar(project_id: int) -> tuple[float | None, int]:
    """The rule's gold accuracy bar (None: no bar) and the gold pairs an annotator must judge before it applies."""
    bar = GateRule.objects.filter(project_id=project_id).values_list("min_gold_accuracy", "min_gold_judged").first()
    return bar or (None, 1)  # a project whose rule was never edited has no bar


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
    """The gate's inputs per row, from the vote tallies: every pair with a vote, a gold answer or an
    adjudication. Any other labelling pair of the project has no vote and needs votes; only `task_pairs`
    counts those.

    A row is one pair (`project_votes`), or, in a grouped read (`vote_patterns`), all the pairs of one
    task with the same tally and neither a gold answer nor a decision: the gate decides them alike, and
    every count and statistic weights a row by `units`. Grouped rows have no pair id (-1)."""

    pair_ids: np.ndarray  # sorted Pair ids (-1 for a grouped row, those come first); a row's index
    task: np.ndarray  # index into TASKS per row
    gold: np.ndarray  # label code per row, -1 for non-gold
    adjudication: np.ndarray  # latest decision per row, -1 when none
    live: np.ndarray  # (n, 3) live votes per label, of each pair the row stands for
    left: np.ndarray  # live votes that picked the response shown on the left, of all the row's pairs
    uncounted: np.ndarray  # (n, 3) the live votes of annotators below the quality bar, per pair
    below: frozenset[int]  # user ids of the annotators below the quality bar
    task_pairs: np.ndarray  # labelling pairs per task (index into TASKS), voted or not
    units: np.ndarray  # pairs per row: 1, or a grouped row's pairs
    tie_kinds: np.ndarray  # (n, 2) counted tie votes per kind (both good, both bad), per pair

    @property
    def grouped(self) -> bool:
        return bool(len(self.pair_ids)) and self.pair_ids[0] < 0

    def index_of(self, pair_id: int) -> int | None:
        at = int(np.searchsorted(self.pair_ids, pair_id))
        return at if at < len(self.pair_ids) and self.pair_ids[at] == pair_id else None

    def unlisted(self, rows: np.ndarray | None = None, task: int | None = None) -> int:
        """How many labelling pairs (of one task) are not among `rows` (default: the listed pairs)."""
        total = int(self.task_pairs.sum() if task is None else self.task_pairs[task])
        rows = np.arange(len(self.units)) if rows is None else rows
        mine = rows if task is None else rows[self.task[rows] == task]
        return total - int(self.units[mine].sum())


def task_code() -> Case:
    return Case(*(When(task=code, then=Value(i)) for i, code in enumerate(TASKS)), output_field=IntegerField())


_TALLY = TALLY_FIELDS
_WIDTH = 2 + len(_TALLY)  # a tally row: pair id, task index, _TALLY


def project_votes(project: Project, pairs: Q | None = None) -> ProjectVotes:
    """One row per pair with votes, a gold answer or a decision (of the `pairs` subset, a filter on
    Pair, when given), read from the tallies (one narrow row per voted pair): never every vote."""
    tallies = PairTally.objects.filter(project=project)
    if pairs is not None:
        tallies = tallies.filter(pair__in=Pair.objects.filter(pairs, project=project).values("id"))
    tally = tally_rows(tallies)
    gold = gold_answers(project, pairs)
    decisions = latest_decisions(project, pairs)
    pair_ids = np.union1d(np.union1d(tally[:, 0], gold[:, 0]), decisions[:, 0])
    return _assemble(project, pair_ids, tally, gold, decisions, np.ones(len(pair_ids), dtype=np.int64), pairs)


# Per-pair tallies are sent grouped: one row per task and tally with the ids of its pairs packed in one
# value (PostgreSQL: 8 big-endian bytes each; SQLite: comma-separated). 317,000 tallies come as a few
# dozen rows; fetching them as 317,000 Python tuples took about a second.
_PACKED_IDS = {"postgresql": "string_agg(int8send(\"pair_id\"), '')", "sqlite": 'group_concat("pair_id")'}


def tally_rows(tallies: QuerySet[PairTally]) -> np.ndarray:
    """(pair id, task index, *_TALLY) of each tally in `tallies`, sorted by pair id."""
    query = tallies.order_by().annotate(task_code=task_code()).values_list("pair_id", "task_code", *_TALLY)
    try:
        sql, params = query.query.sql_with_params()
    except EmptyResultSet:
        return np.zeros((0, _WIDTH), dtype=np.int64)
    connection = connections[query.db]
    columns = ", ".join(connection.ops.quote_name(name) for name in ("task_code", *_TALLY))
    packed = f"SELECT {columns}, {_PACKED_IDS[connection.vendor]} FROM ({sql}) AS t GROUP BY {columns}"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(packed, params)
        groups = cursor.fetchall()
    ids = [
        np.frombuffer(bytes(blob), dtype=">i8").astype(np.int64)
        if connection.vendor == "postgresql"
        else np.array(blob.split(","), dtype=np.int64)
        for *_, blob in groups
    ]
    sizes = np.array([len(group) for group in ids], dtype=np.int64)
    rows = np.zeros((int(sizes.sum()), _WIDTH), dtype=np.int64)
    if len(rows):
        rows[:, 0] = np.concatenate(ids)
        rows[:, 1:] = np.repeat(
            np.array([values for *values, _ in groups], dtype=np.int64).reshape(-1, _WIDTH - 1), sizes, axis=0
        )
    return rows[np.argsort(rows[:, 0], kind="stable")]


def _special_pairs(project: Project) -> Q:
    """Tallies (or other rows with a `pair_id`) of pairs with a gold answer or a decision: the gate
    decides those by their answer, never by their votes, so they are never grouped or disputed."""
    gold = Pair.objects.filter(project=project, gold_label__isnull=False).values("id")
    decided = Adjudication.objects.filter(pair__project=project).values("pair_id")
    return Q(pair_id__in=gold) | Q(pair_id__in=decided)


def vote_patterns(project: Project) -> ProjectVotes:
    """The gate's inputs grouped: one row per task and tally shared by pairs with neither a gold answer
    nor a decision (`units` of them; a few dozen rows for 317,000 pairs, counted by the database), then
    one row per gold or decided pair. For the pages that only count and compute statistics.
    (Tie kinds split the patterns only on projects whose annotators give them.)"""
    grouped_columns = [f for f in _TALLY if f != "left"]
    grouped = int_rows(
        PairTally.objects.filter(project=project)
        .annotate(task_code=task_code())
        .values("task_code", *grouped_columns)
        .annotate(n=Count("pair_id"), picked_left=Sum("left"))
        .order_by()
        .values_list("task_code", *grouped_columns, "n", "picked_left"),
        len(grouped_columns) + 3,
    )
    gold = gold_answers(project)
    decisions = latest_decisions(project)
    special = np.union1d(gold[:, 0], decisions[:, 0])
    tally = int_rows(
        PairTally.objects.filter(_special_pairs(project), project=project)
        .order_by("pair_id")
        .annotate(task_code=task_code())
        .values_list("pair_id", "task_code", *_TALLY),
        _WIDTH,
    )
    # Take the special pairs out of their patterns: the gate decides them by their answer or decision.
    # A grouped row: task, the tally less `left` (live 1-3, uncounted 4-6, kinds 7-10), n, picked left.
    units, picked_left = grouped[:, 11].copy(), grouped[:, 12].copy()
    where = {tuple(row): at for at, row in enumerate(grouped[:, :11].tolist())}
    for row in tally.tolist():
        at = where[(row[1], *row[2:5], *row[6:])]
        units[at] -= 1
        picked_left[at] -= row[5]
    kept = np.flatnonzero(units > 0)
    per_pair = _assemble(project, special, tally, gold, decisions, np.ones(len(special), dtype=np.int64))
    n = len(kept)
    return ProjectVotes(
        pair_ids=np.concatenate([np.full(n, -1, dtype=np.int64), per_pair.pair_ids]),
        task=np.concatenate([grouped[kept, 0], per_pair.task]),
        gold=np.concatenate([np.full(n, -1, dtype=np.int8), per_pair.gold]),
        adjudication=np.concatenate([np.full(n, -1, dtype=np.int8), per_pair.adjudication]),
        live=np.vstack([grouped[kept, 1:4], per_pair.live]),
        left=np.concatenate([picked_left[kept], per_pair.left]),
        uncounted=np.vstack([grouped[kept, 4:7], per_pair.uncounted]),
        below=per_pair.below,
        task_pairs=per_pair.task_pairs,
        units=np.concatenate([units[kept], per_pair.units]),
        tie_kinds=np.vstack([grouped[kept, 7:9] - grouped[kept, 9:11], per_pair.tie_kinds]),
    )


def _assemble(
    project: Project,
    pair_ids: np.ndarray,
    tally: np.ndarray,
    gold: np.ndarray,
    decisions: np.ndarray,
    units: np.ndarray,
    pairs: Q | None = None,
) -> ProjectVotes:
    """Per-pair arrays over `pair_ids` (sorted) from tally rows (pair id, task, _TALLY), gold answers
    (pair id, task, code) and decisions (pair id, task, code); pairs per task of the project (or of
    the `pairs` subset)."""
    n = len(pair_ids)
    task = np.zeros(n, dtype=np.int64)
    live = np.zeros((n, 3), dtype=np.int64)
    left = np.zeros(n, dtype=np.int64)
    uncounted = np.zeros((n, 3), dtype=np.int64)
    tie_kinds = np.zeros((n, 2), dtype=np.int64)
    at = np.searchsorted(pair_ids, tally[:, 0])
    task[at], live[at], left[at], uncounted[at] = tally[:, 1], tally[:, 2:5], tally[:, 5], tally[:, 6:9]
    tie_kinds[at] = tally[:, 9:11] - tally[:, 11:13]
    gold_code = np.full(n, -1, dtype=np.int8)
    at = np.searchsorted(pair_ids, gold[:, 0])
    task[at], gold_code[at] = gold[:, 1], gold[:, 2]
    adjudication = np.full(n, -1, dtype=np.int8)
    at = np.searchsorted(pair_ids, decisions[:, 0])
    task[at], adjudication[at] = decisions[:, 1], decisions[:, 2]

    below = below_bar_annotators(project)
    labelling = Pair.objects.labelling().filter(project=project)
    per_task = dict(
        (labelling if pairs is None else labelling.filter(pairs))
        .order_by()
        .values_list("task")
        .annotate(n=Count("*"))  # COUNT(id) would need the table; COUNT(*) reads the (project, kind, task) index
        .values_list("task", "n")
    )
    task_pairs = np.array([per_task.get(code, 0) for code in TASKS], dtype=np.int64)
    return ProjectVotes(
        pair_ids, task, gold_code, adjudication, live, left, uncounted, frozenset(below), task_pairs, units, tie_kinds
    )


def latest_decisions(project: Project, pairs: Q | None = None) -> np.ndarray:
    """(pair id, task index, decision code) of the latest decision on each decided pair."""
    latest: dict[int, tuple[int, int]] = {}
    decided = Adjudication.objects.filter(labelling_q("pair__"), pair__project=project)
    if pairs is not None:
        decided = decided.filter(pair__in=Pair.objects.filter(pairs, project=project).values("id"))
    rows = decided.order_by("pair_id", "-decided_at", "-id").values_list("pair_id", "decision", "pair__task")
    for pair_id, decision, pair_task in rows:
        latest.setdefault(pair_id, (TASKS.index(pair_task), DECISION_CODE[decision]))
    return np.array([(p, *latest[p]) for p in sorted(latest)], dtype=np.int64).reshape(-1, 3)


def gold_answers(project: Project, pairs: Q | None = None) -> np.ndarray:
    """(pair id, task index, gold label code) of the project's gold pairs (a partial index finds them)."""
    gold = Pair.objects.labelling().filter(project=project, gold_label__isnull=False)
    return int_rows(
        (gold if pairs is None else gold.filter(pairs))
        .order_by()
        .annotate(task_code=task_code(), gold_code=label_code("gold_label", default=-1))
        .values_list("id", "task_code", "gold_code"),
        3,
    )


def below_bar_annotators(project: Project, annotator_ids: list[int] | None = None) -> set[int]:
    """The annotators (all, or these) whose gold standing in the project puts them below the quality bar."""
    standings = GoldStanding.objects.filter(project=project, below_bar=True)
    if annotator_ids is not None:
        standings = standings.filter(annotator_id__in=annotator_ids)
    return set(standings.values_list("annotator_id", flat=True))


def int_rows(query: QuerySet[Any], width: int) -> np.ndarray:
    """An all-integer values_list as an (n, width) array, fetched with a plain cursor.

    The ORM builds a Python tuple per row through its iterator machinery; for a million votes the
    raw cursor and one numpy conversion are several times faster.
    """
    try:
        sql, params = query.query.sql_with_params()
    except EmptyResultSet:  # a filter that matches nothing (an IN over no ids): the ORM would return no rows
        return np.zeros((0, width), dtype=np.int64)
    with connections[query.db].cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    return np.array(rows, dtype=np.int64).reshape(-1, width)


def label_code(field_name: str, *, default: int) -> Case:
    whens = [When(**{field_name: label}, then=Value(code)) for label, code in LABEL_CODE.items()]
    return Case(*whens, default=Value(default), output_field=IntegerField())


def consensus_from(votes: ProjectVotes, outcome: Outcome) -> dict[int, str]:
    """The gate's accepted label per pair id (from votes, gold or adjudication)."""
    if votes.grouped:
        raise ValueError("a grouped read has no pair ids: read per pair (project_votes) for labels by pair")
    accepted = np.flatnonzero(outcome.state == PairState.ACCEPTED)
    return {int(votes.pair_ids[i]): LABELS[int(outcome.label[i])] for i in accepted if outcome.label[i] >= 0}


def gate_outcome(project: Project, votes: ProjectVotes | None = None) -> tuple[ProjectVotes, Outcome]:
    """The gate's decision on each row of `votes` (default: every pair, read per pair)."""
    rule = gate_rule(project)
    votes = votes or project_votes(project)
    return votes, decide(as_rule(rule), votes.live, votes.uncounted, votes.gold, votes.adjudication)


@dataclass(frozen=True)
class AnnotatorVotes:
    """Every live vote of a project, one row each: only what needs individual votes (per-annotator
    agreement) reads this."""

    pair_ids: np.ndarray  # sorted ids of the voted pairs; a vote's `pair` indexes this
    annotator_ids: np.ndarray  # User id per annotator index
    gold: np.ndarray  # label code per voted pair, -1 for non-gold
    table: VoteTable


def annotator_votes(project: Project) -> AnnotatorVotes:
    rows = int_rows(
        Judgment.objects.filter(pair__project=project, retracted_at__isnull=True)
        .order_by()  # the model's default order would sort a million rows for nothing
        .annotate(
            code=label_code("label", default=2),
            left=Case(When(LEFT_PICK, then=Value(1)), default=Value(0), output_field=IntegerField()),
        )
        .values_list("pair_id", "annotator_id", "code", "left", "time_spent_ms"),
        5,
    )
    pair_ids, pair = np.unique(rows[:, 0], return_inverse=True)
    annotator_ids, annotator = np.unique(rows[:, 1], return_inverse=True)
    table = VoteTable(
        pair=pair.astype(np.int64),
        annotator=annotator.astype(np.int64),
        label=rows[:, 2].astype(np.int8),
        left=rows[:, 3].astype(bool),
        time_ms=rows[:, 4],
        n_pairs=len(pair_ids),
        n_annotators=len(annotator_ids),
    )
    # Gold answers from the few gold pairs, not joined to every vote (a pair row is wide).
    gold_rows = gold_answers(project)[:, [0, 2]]
    gold = np.full(len(pair_ids), -1, dtype=np.int8)
    at = np.searchsorted(pair_ids, gold_rows[:, 0])
    voted = at < len(pair_ids)
    voted[voted] = pair_ids[at[voted]] == gold_rows[voted, 0]
    gold[at[voted]] = gold_rows[voted, 1]
    return AnnotatorVotes(pair_ids, annotator_ids, gold, table)


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
    both_bad: int = 0  # of the accepted ties (released_labels[2]), those whose kind is both bad

    @property
    def both_bad_share(self) -> float | None:
        return self.both_bad / self.released_labels[2] if self.released_labels[2] else None


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
    annotators: AnnotatorTable  # computed in the background: the stored table, its age and freshness
    pooled_left: tuple[int, int, float | None]
    states: dict[str, int]
    judgments: int
    prompt_groups: list[PromptGroup] = field(default_factory=list)
    prompt_group_count: int = 0
    both_bad_pairs: list[Pair] = field(default_factory=list)  # projects with tie kinds: the first of them

    @property
    def prompt_groups_computed_at(self) -> datetime | None:
        """When the groups' membership was found (the statistics job); None until it first ran."""
        job = self.annotators.job
        return job.computed_at if job is not None else None


def with_fleiss_at_k(result: Agreement, counts: np.ndarray, k: int, gold: np.ndarray, units: np.ndarray) -> Agreement:
    """Fleiss' kappa needs the same number of votes per pair: gold pairs (every annotator) and pairs
    still being labelled never have it, so compute it over the non-gold pairs with exactly k votes.
    (Each row of `counts` stands for `units` pairs.)"""
    at_k = (counts.sum(axis=1) == k) & (gold < 0) & (units > 0)
    used = int(units[at_k].sum())
    left_out = int(units[counts.sum(axis=1) > 0].sum()) - used
    if not used:
        note = f"no non-gold pair has exactly {k} votes yet; Fleiss' kappa needs the same number per pair"
        return replace(result, fleiss=Estimate(None, note=note))
    fleiss = fleiss_kappa(counts[at_k], units=units[at_k])
    if left_out and fleiss.value is not None:
        pairs = "pair" if used == 1 else "pairs"
        others = "other pair" if left_out == 1 else "other pairs"
        note = f"over the {used:,} non-gold {pairs} with exactly {k} votes ({left_out:,} {others} left out)"
        fleiss = replace(fleiss, note=note)
    return replace(result, fleiss=fleiss)


def states_of(votes: ProjectVotes, outcome: Outcome, task: int | None = None) -> dict[str, int]:
    """Pairs per gate state (of one task); a pair with no vote, gold answer or decision needs votes."""
    rows = np.arange(len(votes.pair_ids)) if task is None else np.flatnonzero(votes.task == task)
    counts = np.bincount(outcome.state[rows], weights=votes.units[rows], minlength=len(PairState)).astype(np.int64)
    counts[PairState.NEEDS_VOTES] += votes.unlisted(rows, task)
    return {state.key: int(counts[state]) for state in PairState}


def task_agreement(
    votes: ProjectVotes, counts: np.ndarray, k: int, *, bootstrap: int, seed: int, task: int | None = None
) -> Agreement:
    """Agreement over `counts` (per listed row) of one task or all, every pair of the project counted:
    the pairs with no vote are one more row of zeros."""
    rows = slice(None) if task is None else votes.task == task
    padded = np.vstack([counts[rows], np.zeros((1, counts.shape[1]), dtype=counts.dtype)])
    units = np.append(votes.units[rows], votes.unlisted(task=task))
    gold = np.append(votes.gold[rows], np.int8(-1))
    result = agreement(padded, units=units, bootstrap=bootstrap, seed=seed)
    return with_fleiss_at_k(result, padded, k, gold, units)


def dashboard(project: Project, *, bootstrap: int = 1000) -> Dashboard:
    votes, outcome = gate_outcome(project, vote_patterns(project))
    k = project.votes_per_pair
    total_votes = votes.live.sum(axis=1)
    both_bad = (tie_kind_codes(outcome.label, votes.tie_kinds) == BOTH_BAD) & (outcome.state == PairState.ACCEPTED)
    tasks = []
    for i, code in enumerate(TASKS):
        if not votes.task_pairs[i]:
            continue
        rows = np.flatnonzero(votes.task == i)
        accepted = rows[outcome.state[rows] == PairState.ACCEPTED]
        released = np.bincount(outcome.label[accepted], weights=votes.units[accepted], minlength=3).astype(np.int64)
        tasks.append(
            TaskReport(
                task=code,
                name=Task(code).label,
                pairs=int(votes.task_pairs[i]),
                complete=int(votes.units[rows][total_votes[rows] >= k].sum()),
                states=states_of(votes, outcome, i),
                released_labels=(int(released[0]), int(released[1]), int(released[2])),
                vote_labels=tuple(int(n) for n in votes.units[rows] @ votes.live[rows]),
                agreement=task_agreement(votes, votes.live, k, bootstrap=bootstrap, seed=i, task=i),
                both_bad=int(votes.units[rows[both_bad[rows]]].sum()),
            )
        )
    sided = int((votes.units @ votes.live[:, :2]).sum())
    judgments = int(votes.units @ total_votes)  # every live vote: a row of the grouped tallies stands for `units` pairs
    annotators = annotator_table(project, live_votes=judgments)
    job = annotators.job if annotators.computed else None
    return Dashboard(
        project=project,
        rule=gate_rule(project),
        overall=task_agreement(votes, votes.live, k, bootstrap=bootstrap, seed=99),
        tasks=tasks,
        annotators=annotators,
        pooled_left=fair_coin_test(int(votes.left.sum()), sided),
        states=states_of(votes, outcome),
        judgments=judgments,
        prompt_groups=prompt_groups(project, job.prompt_groups) if job else [],
        prompt_group_count=job.prompt_group_count if job else 0,
        both_bad_pairs=both_bad_ties(project) if project.tie_kinds else [],
    )


_BOTH_BAD_CANDIDATES = 500


def both_bad_ties(project: Project, *, limit: int = 50) -> list[Pair]:
    """Accepted ties whose kind is both bad, in task and id order: the pairs where both responses fail the
    criterion, for a curator's look. Only pairs most of whose counted tie votes say both bad can be one,
    and those are few: the first of them are read and decided, so the list costs the same in any project."""
    more_bad = Q(tie_bad__gt=F("tie_good") - F("uncounted_tie_good") + F("uncounted_tie_bad"))
    candidates = list(
        PairTally.objects.filter(more_bad, project=project)
        .order_by("task", "pair_id")
        .values_list("pair_id", flat=True)[:_BOTH_BAD_CANDIDATES]
    )
    if not candidates:
        return []
    votes, outcome = gate_outcome(project, project_votes(project, pairs=Q(id__in=candidates)))
    kinds = tie_kind_codes(outcome.label, votes.tie_kinds)
    chosen = votes.pair_ids[(kinds == BOTH_BAD) & (outcome.state == PairState.ACCEPTED) & (outcome.label == TIE)]
    pairs = Pair.objects.filter(project=project, id__in=chosen.tolist()).only("id", "external_id", "task", "criterion")
    return list(pairs.order_by("task", "id")[:limit])


def prompt_groups(project: Project, stored: list[dict[str, Any]]) -> list[PromptGroup]:
    """The prompt groups the statistics job found (pairs with the same prompt and responses but different
    criteria), each pair decided now: agreement per criterion, and flips. Membership changes only when
    pairs are created, so it comes from the job; labels and states change with every vote, so only the
    listed pairs are read, and decided, here."""
    listed = [pair_id for group in stored for pair_id in group["pairs"]]
    if not listed:
        return []
    votes, outcome = gate_outcome(project, project_votes(project, pairs=Q(id__in=listed)))
    pairs = Pair.objects.filter(project=project).only("id", "external_id", "criterion").in_bulk(listed)
    groups = []
    for group in stored:
        rows = []
        counts = []
        for pair in (pairs[pair_id] for pair_id in group["pairs"] if pair_id in pairs):
            at = votes.index_of(pair.id)
            # A pair with no vote, gold answer or decision is not listed: it needs votes.
            label = -1 if at is None else int(outcome.label[at])
            state = PairState.NEEDS_VOTES if at is None else PairState(int(outcome.state[at]))
            counts.append(np.zeros(3, dtype=np.int64) if at is None else votes.live[at])
            rows.append(
                CriterionRow(
                    pair.id,
                    pair.external_id,
                    pair.criterion,
                    tuple(int(n) for n in counts[-1]),
                    LABELS[label] if label >= 0 and state == PairState.ACCEPTED else None,
                    state.key,
                )
            )
        groups.append(
            PromptGroup(group["task"], group["prompt"], rows, agreement(np.array(counts).reshape(-1, 3), bootstrap=0))
        )
    return groups


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
    why: str  # the state in a sentence


def pair_verdict(project: Project, pair: Pair) -> PairVerdict:
    """The gate's decision on one pair, from its own votes: a page per pair stays fast in a large project."""
    rule = gate_rule(project)
    judgments = list(
        Judgment.objects.filter(pair=pair, retracted_at__isnull=True).select_related("annotator").order_by("created_at")
    )
    below = below_bar_annotators(project, sorted({j.annotator_id for j in judgments}))
    live = np.zeros((1, 3), dtype=np.int64)
    uncounted = np.zeros((1, 3), dtype=np.int64)
    for j in judgments:
        live[0, LABEL_CODE[j.label]] += 1
        uncounted[0, LABEL_CODE[j.label]] += j.annotator_id in below
    latest = Adjudication.objects.filter(pair=pair).order_by("-decided_at", "-id").values_list("decision", flat=True)
    decision = latest.first()
    gate = as_rule(rule)
    outcome = decide(
        gate,
        live,
        uncounted,
        np.array([LABEL_CODE[pair.gold_label] if pair.gold_label else -1], dtype=np.int8),
        np.array([DECISION_CODE[decision] if decision else -1], dtype=np.int8),
    )
    tie_abstains = rule.tie_policy == "abstain"
    left_out = {j.id for j in judgments if j.annotator_id in below or (tie_abstains and j.label == Label.TIE)}
    label = int(outcome.label[0])
    share = float(outcome.share[0])
    state, source = PairState(int(outcome.state[0])), Source(int(outcome.source[0]))
    counted = tuple(int(n) for n in outcome.counted[0])
    why = explain(gate, state, label, source, counted, len(judgments))
    if left_out:
        reasons = [
            reason
            for reason, applies in (
                ("their annotators are below the quality bar", any(j.annotator_id in below for j in judgments)),
                ("tie votes abstain under the rule", tie_abstains and any(j.label == Label.TIE for j in judgments)),
            )
            if applies
        ]
        why += f" {len(left_out)} of {len(judgments)} votes are not counted: {' and '.join(reasons)}."
    return PairVerdict(
        state=state,
        label=LABELS[label] if label >= 0 else None,
        source=source.key,
        counted=counted,  # type: ignore[arg-type]
        share=None if np.isnan(share) else share,
        judgments=judgments,
        adjudications=list(Adjudication.objects.filter(pair=pair).select_related("decided_by")),
        uncounted=left_out,
        why=why,
    )


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


class QueuePairs:
    """The adjudication queue in its order (task, then pair id): the database lists and counts it, and a
    page reads only its own pairs, so a paginator never holds the whole queue."""

    def __init__(self, tallies: QuerySet[PairTally], requested: QuerySet[AdjudicationRequest], count: int) -> None:
        self._tallies, self._requested = tallies, requested  # the disputed pairs, and those sent here
        self.keys = self._keys(tallies, requested)  # (task, pair id) rows, ordered
        self._count = count

    @staticmethod
    def _keys(tallies: QuerySet[PairTally], requested: QuerySet[AdjudicationRequest]) -> QuerySet[Any]:
        return (
            tallies.order_by()
            .values_list("task", "pair_id")
            .union(requested.order_by().values_list("pair__task", "pair_id").distinct(), all=True)
            .order_by("task", "pair_id")
        )

    def following(self, pair: Pair) -> Pair | None:
        """The pair after `pair` in the queue's order, else the queue's first (it wraps round); None when
        the queue is empty. Reads only keys: the gate was decided once, when the queue was built."""
        after_tally = Q(task__gt=pair.task) | Q(task=pair.task, pair_id__gt=pair.pk)
        after_request = Q(pair__task__gt=pair.task) | Q(pair__task=pair.task, pair_id__gt=pair.pk)
        later = self._keys(self._tallies.filter(after_tally), self._requested.filter(after_request))
        found = self._pairs(later[0:1]) or self[0:1]
        return found[0] if found else None

    def count(self) -> int:
        return self._count

    def __len__(self) -> int:
        return self.count()

    @overload
    def __getitem__(self, index: int) -> Pair: ...
    @overload
    def __getitem__(self, index: slice) -> list[Pair]: ...
    def __getitem__(self, index: int | slice) -> Pair | list[Pair]:
        if isinstance(index, int):
            found = self[index : index + 1]
            if not found:
                raise IndexError(index)
            return found[0]
        return self._pairs(self.keys[index])

    @staticmethod
    def _pairs(keys: QuerySet[Any]) -> list[Pair]:
        """The pairs of these (task, pair id) rows, in their order."""
        ids = [pair_id for _, pair_id in keys]
        pairs = Pair.objects.only("id", "external_id", "task", "prompt", "criterion").in_bulk(ids)
        return [pairs[pair_id] for pair_id in ids if pair_id in pairs]

    def __iter__(self) -> Iterator[Pair]:
        start = 0
        while chunk := self[start : start + 500]:
            yield from chunk
            start += 500


_GROUP_COLUMNS = ("response1", "response2", "tie", "uncounted_response1", "uncounted_response2", "uncounted_tie")


def _in_groups(votes: ProjectVotes, rows: np.ndarray) -> Q:
    """A filter on tallies: those equal to one of these grouped rows (task and counts).

    One key per tally (task and counts as digits of one integer) looked up in a list, rather than an OR
    of a filter per group: a project with many groups built thousands of lookups (0.4 s in the ORM
    alone). The digits' base is above every count the groups hold, and tallies with a larger count
    (another vote since the read) are left out, so no two different tallies share a key."""
    if not len(rows):
        return Q(pk__in=[])
    counts = np.hstack([votes.live[rows], votes.uncounted[rows]])
    base = int(counts.max()) + 1
    if len(TASKS) * base ** len(_GROUP_COLUMNS) >= 2**63:  # counts in the thousands: one filter per group
        return reduce(
            operator.or_,
            (
                Q(task=TASKS[int(task)], **dict(zip(_GROUP_COLUMNS, map(int, row), strict=True)))
                for task, row in zip(votes.task[rows], counts, strict=True)
            ),
        )
    key: Any = task_code()
    for column in _GROUP_COLUMNS:
        key = ExpressionWrapper(key * base + F(column), output_field=BigIntegerField())
    keys = votes.task[rows].astype(np.int64)
    for column in counts.T:
        keys = keys * base + column
    small = Q(**{f"{column}__lt": base for column in _GROUP_COLUMNS})
    return small & Q(In(key, sorted(set(keys.tolist()))))


def disputed_pairs(project: Project, *, task: str = "") -> QueuePairs:
    """The adjudication queue: pairs the gate finds disputed, and pairs a curator sent there explicitly
    (of one task if given).

    The gate decides the project from grouped tallies; the pairs of each disputed group are the
    tallies equal to it, less the gold and decided pairs (never disputed): the database finds them.
    """
    votes, outcome = gate_outcome(project, vote_patterns(project))
    disputed = np.flatnonzero((outcome.state == PairState.DISPUTED) & (votes.pair_ids < 0))
    if task:
        disputed = disputed[votes.task[disputed] == TASKS.index(task)]
    tallies = PairTally.objects.filter(_in_groups(votes, disputed), project=project).exclude(_special_pairs(project))
    requested = open_adjudication_requests(project).filter(labelling_q("pair__"))
    if task:
        requested = requested.filter(pair__task=task)
    # A pair sent here that the gate also disputes is listed once, as sent. The count is the disputed
    # groups' pairs (the grouped read counted them) and the sent pairs the gate does not dispute.
    sent = sorted(set(requested.values_list("pair_id", flat=True)))
    tallies = tallies.exclude(pair_id__in=sent)
    _, sent_outcome = gate_outcome(project, project_votes(project, pairs=Q(id__in=sent)))
    sent_disputed = int((sent_outcome.state == PairState.DISPUTED).sum())
    count = int(votes.units[disputed].sum()) - sent_disputed + len(sent)
    return QueuePairs(tallies, requested, count)


def counted_votes(project: Project, pairs: Sequence[Pair]) -> dict[int, tuple[int, int, int]]:
    """The votes that count under the rule, in label order, of each of these pairs (none for a pair
    nobody voted on: a curator may send such a pair to the adjudication queue)."""
    votes, outcome = gate_outcome(project, project_votes(project, pairs=Q(id__in=[pair.pk for pair in pairs])))
    found: dict[int, tuple[int, int, int]] = {}
    for pair in pairs:
        at = votes.index_of(pair.pk)
        first, second, tie = (0, 0, 0) if at is None else (int(n) for n in outcome.counted[at])
        found[pair.pk] = (first, second, tie)
    return found


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
