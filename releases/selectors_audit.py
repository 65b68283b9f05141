"""The label audit: imported labels (Pair.reference_label) against our annotators' consensus, per task.

The consensus is what the gate would decide from people alone: the counted votes under the project's
gate rule (a clear majority), or a curator's adjudication. Gold answers are set aside, because a gold
pair made from its imported label would otherwise be compared with itself; a gold pair's own votes still
count. Pairs whose votes do not meet the rule yet have no consensus and are not compared.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from django.db.models import Count, Q

from annotations.models import Pair, Project, Task

from .gate import LABELS, Source, decide
from .models import AdjudicationRequest
from .selectors import TASKS, as_rule, gate_rule, int_rows, label_code, project_votes, queue_requests, task_code
from .stats.audit import Comparison, compare

KAPPA_INTERVAL = "95% percentile bootstrap over pairs"  # what the page and the API say about the interval
CONSENSUS = (
    "the gate's decision from people alone: a clear majority of counted votes under the gate rule, or a "
    "curator's adjudication; gold answers set aside; pairs without a consensus are not compared"
)


@dataclass(frozen=True)
class TaskAudit:
    task: str  # a task code, or "" for every task together
    name: str
    pairs: int  # labelling pairs (kind=PAIR) in the task
    imported: int  # ... with an imported label
    gold: int  # ... that are gold pairs
    comparison: Comparison  # over the pairs with both an imported label and a consensus

    @property
    def disagreements(self) -> int:
        return self.comparison.compared - self.comparison.agreed

    @property
    def note(self) -> str:
        """A sentence when the task has nothing to compare, and why."""
        if self.imported == 0:
            return "no pair of this task has an imported label"
        if self.comparison.compared == 0:
            one = self.imported == 1
            return (
                f"{'the one pair' if one else f'the {self.imported:,} pairs'} with an imported label "
                f"{'has' if one else 'have'} no consensus yet (too few counted votes, or disputed), "
                "so there is nothing to compare"
            )
        return ""

    @property
    def rows(self) -> list[tuple[str, list[int]]]:
        """The confusion matrix as (imported label, counts per consensus label), for templates."""
        return [(label, [int(n) for n in self.comparison.confusion[i]]) for i, label in enumerate(LABELS)]


@dataclass(frozen=True)
class LabelAudit:
    project: Project
    tasks: list[TaskAudit]  # tasks that have labelling pairs, in task order
    overall: TaskAudit
    bootstrap: int
    seed: int
    # The disagreeing pairs, sorted by task then pair id, as parallel arrays.
    pair_ids: np.ndarray
    task: np.ndarray  # index into TASKS
    imported: np.ndarray  # label code
    consensus: np.ndarray  # label code
    source: np.ndarray  # Source: votes or adjudication
    counted: np.ndarray  # (n, 3) counted votes

    def disagreement_indexes(self, task: str = "") -> np.ndarray:
        if not task:
            return np.arange(len(self.pair_ids))
        return np.flatnonzero(self.task == TASKS.index(task))


def label_audit(project: Project, *, bootstrap: int = 1000, seed: int = 0) -> LabelAudit:
    rule = gate_rule(project)
    votes = project_votes(project)
    n = len(votes.pair_ids)
    # The gate without gold answers, with the same annotators left uncounted as the real gate leaves.
    people = decide(as_rule(rule), votes.live, votes.uncounted, np.full(n, -1, dtype=np.int8), votes.adjudication)
    imported = np.full(n, -1, dtype=np.int8)
    rows = int_rows(
        Pair.objects.labelling()
        .filter(project=project, reference_label__isnull=False)
        .order_by("id")
        .annotate(code=label_code("reference_label", default=-1), task_code=task_code())
        .values_list("id", "code", "task_code"),
        3,
    )
    imported_per_task = np.bincount(rows[:, 2], minlength=len(TASKS))
    at = np.searchsorted(votes.pair_ids, rows[:, 0])
    known = at < n
    known[known] = votes.pair_ids[at[known]] == rows[known, 0]  # a pair created between the two reads is left out
    imported[at[known]] = rows[known, 1]

    has_import = imported >= 0
    compared = has_import & (people.label >= 0)
    is_gold = votes.gold >= 0
    tasks = []
    for i, code in enumerate(TASKS):
        if not votes.task_pairs[i]:
            continue
        in_task = votes.task == i
        both = compared & in_task
        tasks.append(
            TaskAudit(
                task=code,
                name=Task(code).label,
                pairs=int(votes.task_pairs[i]),
                imported=int(imported_per_task[i]),
                gold=int((is_gold & in_task).sum()),
                comparison=compare(imported[both], people.label[both], bootstrap=bootstrap, seed=seed + i),
            )
        )
    overall = TaskAudit(
        task="",
        name="All tasks",
        pairs=int(votes.task_pairs.sum()),
        imported=len(rows),
        gold=int(is_gold.sum()),
        comparison=compare(imported[compared], people.label[compared], bootstrap=bootstrap, seed=seed + len(TASKS)),
    )
    differ = np.flatnonzero(compared & (imported != people.label))
    differ = differ[np.lexsort((votes.pair_ids[differ], votes.task[differ]))]
    return LabelAudit(
        project=project,
        tasks=tasks,
        overall=overall,
        bootstrap=bootstrap,
        seed=seed,
        pair_ids=votes.pair_ids[differ],
        task=votes.task[differ],
        imported=imported[differ],
        consensus=people.label[differ],
        source=people.source[differ],
        counted=people.counted[differ],
    )


@dataclass(frozen=True)
class Disagreement:
    pair: Pair
    imported: str
    consensus: str
    source: str  # "votes" or "adjudication"
    counted: dict[str, int]
    request: AdjudicationRequest | None  # the open request that put it in the adjudication queue, if any

    @property
    def is_gold(self) -> bool:
        return self.pair.gold_label is not None


def disagreements(audit: LabelAudit, indexes: Iterable[int]) -> list[Disagreement]:
    """Rows for a page of disagreements (indexes into the audit's arrays): the pairs are read here."""
    chosen = [int(i) for i in indexes]
    ids = [int(audit.pair_ids[i]) for i in chosen]
    pairs = Pair.objects.filter(project=audit.project, id__in=ids).only(
        "id", "external_id", "task", "prompt", "criterion", "gold_label"
    )
    by_id = {pair.id: pair for pair in pairs}
    requests = queue_requests(audit.project, ids)
    rows = []
    for i, pair_id in zip(chosen, ids, strict=True):
        if pair_id not in by_id:
            continue  # deleted since the audit was computed
        rows.append(
            Disagreement(
                pair=by_id[pair_id],
                imported=LABELS[int(audit.imported[i])],
                consensus=LABELS[int(audit.consensus[i])],
                source=Source(int(audit.source[i])).key,
                counted=dict(zip(LABELS, (int(n) for n in audit.counted[i]), strict=True)),
                request=requests.get(pair_id),
            )
        )
    return rows


def gold_candidates(project: Project) -> dict[str, tuple[int, int]]:
    """Per task: labelling pairs with an imported label, and how many of them are gold already."""
    counts = (
        Pair.objects.labelling()
        .filter(project=project, reference_label__isnull=False)
        .order_by()
        .values("task")
        .annotate(n=Count("id"), gold=Count("id", filter=Q(gold_label__isnull=False)))
    )
    found = {row["task"]: (row["n"], row["gold"]) for row in counts}
    return {code: found[code] for code in TASKS if code in found}
