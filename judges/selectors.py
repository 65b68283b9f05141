"""The model-vs-human leaderboard, per-model diagnostics and hard pairs (curators and researchers only)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from django.db.models import QuerySet

from annotations.models import TASK_SPECS, Pair, Project, ShownOrder
from releases.gate import LABEL_CODE, LABELS, PairState, Source
from releases.models import Release, ReleasePair
from releases.selectors import ProjectVotes, gate_outcome, project_votes
from releases.stats.annotators import leave_one_out_majority

from . import metrics
from .models import Judge, JudgeKind, ModelVote, ScalarScore, VoteStatus

TASKS: tuple[str, ...] = tuple(TASK_SPECS)
STRONG_SHARE = 0.8  # "humans agree strongly": this majority share with at least STRONG_VOTES votes, or gold
STRONG_VOTES = 3


@dataclass(frozen=True)
class Truth:
    """The human labels a leaderboard is scored against."""

    source: str
    pair_ids: np.ndarray  # sorted
    labels: np.ndarray  # 0/1/2
    tasks: np.ndarray  # task code per pair
    strong: np.ndarray  # humans agree strongly (for hard pairs)

    def align(self, answers: dict[int, int]) -> tuple[np.ndarray, np.ndarray]:
        """(asked mask, predictions) over the truth's pairs; -1 where the judge gave no answer."""
        predicted = np.array([answers.get(int(p), -2) for p in self.pair_ids], dtype=np.int8)
        asked = predicted != -2
        predicted[predicted == -2] = -1
        return asked, predicted


def project_truth(project: Project, votes: ProjectVotes | None = None) -> Truth:
    votes, outcome = gate_outcome(project, votes)
    rows = np.flatnonzero(outcome.state == PairState.ACCEPTED)
    counted = outcome.counted[rows].sum(axis=1)
    strong = (outcome.source[rows] == Source.GOLD) | (
        (outcome.source[rows] == Source.VOTES) & (outcome.share[rows] >= STRONG_SHARE) & (counted >= STRONG_VOTES)
    )
    return Truth(
        source="the gate's accepted labels (live)",
        pair_ids=votes.pair_ids[rows],
        labels=outcome.label[rows].astype(np.int8),
        tasks=np.array([TASKS[i] for i in votes.task[rows]], dtype=object),
        strong=strong,
    )


def release_truth(release: Release) -> Truth:
    rows = list(
        ReleasePair.objects.filter(release=release, pair__isnull=False)
        .order_by("pair_id")
        .values_list("pair_id", "label", "task", "votes", "majority_share", "source")
    )
    strong = [
        source == "gold" or ((share or 0) >= STRONG_SHARE and sum(votes.values()) >= STRONG_VOTES)
        for _, _, _, votes, share, source in rows
    ]
    return Truth(
        source=f"release v{release.version}",
        pair_ids=np.array([r[0] for r in rows], dtype=np.int64),
        labels=np.array([LABEL_CODE[r[1]] for r in rows], dtype=np.int8),
        tasks=np.array([r[2] for r in rows], dtype=object),
        strong=np.array(strong, dtype=bool),
    )


def _answers(judge: Judge, *, with_tie: bool, order: str = ShownOrder.RESPONSE1_LEFT) -> dict[int, int]:
    """The judge's answers by pair; -1 for a failed or unparseable answer (wrong, as in the paper). Pairs
    skipped because their media could not be sent are left out: they were never really asked."""
    rows = (
        ModelVote.objects.filter(judge=judge, with_tie=with_tie, order=order)
        .exclude(status=VoteStatus.SKIPPED)
        .values_list("pair_id", "label")
    )
    return {pair_id: LABEL_CODE[label] if label else -1 for pair_id, label in rows}


@dataclass(frozen=True)
class BoardRow:
    name: str
    kind: str
    judge_id: int | None  # None: the human reference row
    table: metrics.Table


@dataclass(frozen=True)
class Board:
    source: str
    pairs: int
    tasks: list[str]  # the columns: tasks present in the truth
    with_tie: list[BoardRow]
    without_tie: list[BoardRow]


def _scalar_row(truth: Truth, judge: Judge, *, with_tie: bool) -> metrics.Table:
    scores = {
        p: (s1, s2) for p, s1, s2 in ScalarScore.objects.filter(judge=judge).values_list("pair_id", "score1", "score2")
    }
    mask = np.array([int(p) in scores for p in truth.pair_ids], dtype=bool)
    s1 = np.array([scores[int(p)][0] for p in truth.pair_ids[mask]])
    s2 = np.array([scores[int(p)][1] for p in truth.pair_ids[mask]])
    human, tasks = truth.labels[mask], truth.tasks[mask]
    cells: dict[str, metrics.Cell] = {}
    for task in TASKS:
        here = tasks == task
        if not here.any():
            continue
        if with_tie:  # tie calibration chooses eps per task: each task is its own dataset
            cells[task] = metrics.tie_calibrated(human[here], s1[here], s2[here])[2]
        else:
            cells[task] = metrics.scalar_without_tie(human[here], s1[here], s2[here])
    return metrics.Table(cells=cells, overall=metrics.overall(list(cells.values())))


def human_row(truth: Truth, votes: ProjectVotes, *, with_tie: bool) -> metrics.Table:
    """Each annotator vote scored against the majority of the OTHER votes on its pair (leave one out),
    on the truth's pairs: a vote may not agree with a consensus it is part of."""
    table = votes.table
    others = leave_one_out_majority(table)
    vote_pair_ids = votes.pair_ids[table.pair]
    keep = np.isin(vote_pair_ids, truth.pair_ids) & (others >= 0)
    task_of = dict(zip(truth.pair_ids.tolist(), truth.tasks.tolist(), strict=True))
    tasks = np.array([task_of[int(p)] for p in vote_pair_ids[keep]], dtype=object)
    return metrics.leaderboard_row(tasks, others[keep], table.label[keep], with_tie=with_tie, task_order=TASKS)


def leaderboard(project: Project, release: Release | None = None) -> Board:
    votes = project_votes(project)
    truth = release_truth(release) if release else project_truth(project, votes)
    judges = list(Judge.objects.filter(project=project))
    boards: dict[bool, list[BoardRow]] = {True: [], False: []}
    for with_tie in (True, False):
        human = human_row(truth, votes, with_tie=with_tie)
        boards[with_tie].append(BoardRow("Human annotators", "human", None, human))
        rows = []
        for judge in judges:
            if judge.kind == JudgeKind.SCALAR:
                table = _scalar_row(truth, judge, with_tie=with_tie)
            else:
                asked, predicted = truth.align(_answers(judge, with_tie=with_tie))
                if not asked.any():
                    continue
                table = metrics.leaderboard_row(
                    truth.tasks[asked], truth.labels[asked], predicted[asked], with_tie=with_tie, task_order=TASKS
                )
            rows.append(BoardRow(judge.name, judge.kind, judge.pk, table))
        rows.sort(key=lambda r: (r.table.overall is None, -(r.table.overall or 0.0), r.name))  # no score: last
        boards[with_tie].extend(rows)
    present = [t for t in TASKS if (truth.tasks == t).any()]
    return Board(truth.source, len(truth.pair_ids), present, boards[True], boards[False])


@dataclass(frozen=True)
class ModelReport:
    judge: Judge
    confusion: np.ndarray | None  # 3 x 4 (human rows; predicted response1/response2/tie/none)
    kappa: float | None
    consistency: tuple[float | None, int]
    length: list[metrics.LengthBucket]
    with_tie: bool
    answered: int
    failed: int


def model_report(project: Project, judge: Judge, release: Release | None = None) -> ModelReport:
    truth = release_truth(release) if release else project_truth(project)
    with_tie = ModelVote.objects.filter(judge=judge, with_tie=True).exists()
    asked, predicted = truth.align(_answers(judge, with_tie=with_tie))
    human = truth.labels[asked]
    pred = predicted[asked]
    swapped_answers = _answers(judge, with_tie=with_tie, order=ShownOrder.RESPONSE2_LEFT)
    _, swapped = truth.align(swapped_answers)
    both = asked & np.isin(truth.pair_ids, list(swapped_answers))
    text_pairs = Pair.objects.filter(
        id__in=truth.pair_ids[asked].tolist(), response1_text__isnull=False, response2_text__isnull=False
    ).values_list("id", "response1_text", "response2_text")
    texts = {pair_id: (a or "", b or "") for pair_id, a, b in text_pairs}
    # The length table's accuracy is the w/o Tie one: score the no-tie question's answers when there are any.
    if with_tie and ModelVote.objects.filter(judge=judge, with_tie=False).exists():
        _, no_tie = truth.align(_answers(judge, with_tie=False))
        pred_for_length = no_tie[asked]
    else:
        pred_for_length = pred
    text_mask = np.array([int(p) in texts for p in truth.pair_ids[asked]], dtype=bool)
    len1 = np.array([len(texts[int(p)][0]) for p in truth.pair_ids[asked][text_mask]], dtype=np.int64)
    len2 = np.array([len(texts[int(p)][1]) for p in truth.pair_ids[asked][text_mask]], dtype=np.int64)
    return ModelReport(
        judge=judge,
        confusion=metrics.confusion(human, pred) if len(human) else None,
        kappa=metrics.kappa(human, pred) if len(human) else None,
        consistency=metrics.position_consistency(predicted[both], swapped[both]),
        length=metrics.length_bias(human[text_mask], pred_for_length[text_mask], len1, len2) if text_mask.any() else [],
        with_tie=with_tie,
        answered=int((pred >= 0).sum()),
        failed=int((pred < 0).sum()),
    )


@dataclass(frozen=True)
class HardPair:
    pair: Pair
    human: str
    wrong: int
    answered: int
    answers: dict[str, str]  # judge name -> canonical answer


def hard_pairs(project: Project, *, limit: int = 200) -> tuple[list[HardPair], int]:
    """Pairs where humans agree strongly but most judges that answered disagree with them."""
    truth = project_truth(project)
    strong_ids = truth.pair_ids[truth.strong]
    label_of = dict(zip(truth.pair_ids.tolist(), truth.labels.tolist(), strict=True))
    answers: dict[int, dict[str, str]] = {}
    votes = (
        ModelVote.objects.filter(
            judge__project=project, pair_id__in=strong_ids.tolist(), order=ShownOrder.RESPONSE1_LEFT
        )
        .order_by("judge__name", "-with_tie")
        .values_list("pair_id", "judge__name", "with_tie", "label")
    )
    for pair_id, name, with_tie, label in votes:
        human = LABELS[label_of[pair_id]]
        if not with_tie and human == "tie":
            continue  # the no-tie question cannot match a human tie; only the with-tie answer counts here
        answers.setdefault(pair_id, {}).setdefault(name, label or "no answer")
    found = []
    for pair_id, given in answers.items():
        human = LABELS[label_of[pair_id]]
        wrong = sum(answer != human for answer in given.values())
        if wrong * 2 > len(given):
            found.append((pair_id, human, wrong, given))
    found.sort(key=lambda item: (-item[2], item[0]))
    pairs = Pair.objects.in_bulk([f[0] for f in found[:limit]])
    return (
        [HardPair(pairs[pid], human, wrong, len(given), given) for pid, human, wrong, given in found[:limit]],
        len(found),
    )


def judges(project: Project) -> QuerySet[Judge]:
    return Judge.objects.filter(project=project).order_by("name")
