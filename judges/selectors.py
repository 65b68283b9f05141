"""The model-vs-human leaderboard, per-model diagnostics and hard pairs (curators and researchers only)."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from django.core.exceptions import ValidationError
from django.db import connections
from django.db.models import QuerySet

from annotations.models import TASK_SPECS, Pair, Project, ShownOrder
from releases.gate import LABEL_CODE, LABELS, PairState, Source
from releases.models import Release, ReleasePair
from releases.selectors import ProjectVotes, gate_outcome, project_votes
from releases.stats.annotators import majority_of_others

from . import metrics, sheets
from .models import Judge, JudgeKind, ModelVote, ScalarScore

TASKS: tuple[str, ...] = tuple(TASK_SPECS)
_TASK_NAMES = np.array(TASKS, dtype=object)  # task code by task index
_TASK_INDEX = {task: i for i, task in enumerate(TASKS)}
STRONG_SHARE = 0.8  # "humans agree strongly": this majority share with at least STRONG_VOTES votes, or gold
STRONG_VOTES = 3


TRUTH_IMPORTED, TRUTH_GATE, TRUTH_RELEASE = "imported", "gate", "release"


def _task_index(tasks: list[str]) -> np.ndarray:
    return np.array([_TASK_INDEX[task] for task in tasks], dtype=np.int64)


@dataclass(frozen=True)
class Truth:
    """The labels a leaderboard is scored against."""

    kind: str  # imported, gate or release
    param: str  # what `?truth=` says to choose it again: imported, gate or release:<v>
    source: str  # how the page names it
    pair_ids: np.ndarray  # sorted
    labels: np.ndarray  # 0/1/2
    task_index: np.ndarray  # index into TASKS per pair
    strong: np.ndarray  # the label is firm (for hard pairs)

    @functools.cached_property
    def tasks(self) -> np.ndarray:
        """The task code per pair (an object array)."""
        return _TASK_NAMES[self.task_index]

    def align(self, answers: Answers) -> tuple[np.ndarray, np.ndarray]:
        """(asked mask, predictions) over the truth's pairs; -1 where the judge gave no answer."""
        at = np.searchsorted(answers.pair_ids, self.pair_ids)
        inside = at < len(answers.pair_ids)
        asked = np.zeros(len(self.pair_ids), dtype=bool)
        asked[inside] = answers.pair_ids[at[inside]] == self.pair_ids[inside]
        predicted = np.full(len(self.pair_ids), -1, dtype=np.int8)
        predicted[asked] = answers.codes[at[asked]]
        return asked, predicted

    def task_pairs(self) -> dict[str, int]:
        counted = np.bincount(self.task_index, minlength=len(TASKS)).tolist()
        return {task: n for task, n in zip(TASKS, counted, strict=True) if n}


def project_truth(project: Project, votes: ProjectVotes | None = None) -> Truth:
    votes, outcome = gate_outcome(project, votes)
    rows = np.flatnonzero(outcome.state == PairState.ACCEPTED)
    counted = outcome.counted[rows].sum(axis=1)
    strong = (outcome.source[rows] == Source.GOLD) | (
        (outcome.source[rows] == Source.VOTES) & (outcome.share[rows] >= STRONG_SHARE) & (counted >= STRONG_VOTES)
    )
    return Truth(
        kind=TRUTH_GATE,
        param=TRUTH_GATE,
        source="the gate's accepted labels (live)",
        pair_ids=votes.pair_ids[rows],
        labels=outcome.label[rows].astype(np.int8),
        task_index=votes.task[rows],
        strong=strong,
    )


def imported_truth(project: Project) -> Truth:
    """The labels that came with the pairs (an Omni-RewardBench release's `criteria_preference`). They are
    the benchmark's own labels, so every one counts as firm for hard pairs."""
    rows = list(
        Pair.objects.labelling()
        .filter(project=project, reference_label__isnull=False)
        .order_by("id")
        .values_list("id", "reference_label", "task")
    )
    return Truth(
        kind=TRUTH_IMPORTED,
        param=TRUTH_IMPORTED,
        source="the labels imported with the pairs",
        pair_ids=np.array([r[0] for r in rows], dtype=np.int64),
        labels=np.array([LABEL_CODE[str(r[1])] for r in rows], dtype=np.int8),
        task_index=_task_index([r[2] for r in rows]),
        strong=np.ones(len(rows), dtype=bool),
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
        kind=TRUTH_RELEASE,
        param=f"{TRUTH_RELEASE}:{release.version}",
        source=f"release v{release.version}",
        pair_ids=np.array([r[0] for r in rows], dtype=np.int64),
        labels=np.array([LABEL_CODE[r[1]] for r in rows], dtype=np.int8),
        task_index=_task_index([r[2] for r in rows]),
        strong=np.array(strong, dtype=bool),
    )


@dataclass(frozen=True)
class TruthChoice:
    """A parsed `?truth=`: imported, gate, or a release; None in its place means the project's default."""

    kind: str
    release: Release | None = None


def parse_truth(project: Project, value: str | None, release: str | None = None) -> TruthChoice | None:
    """`imported`, `gate` or `release:<v>` (a bare version number is read as a release too); `release`
    is the older `?release=<v>`, used when no truth is given. Raises ValidationError naming the field
    for anything else, or for a release this project does not have."""
    text = (value or "").strip() or (f"{TRUTH_RELEASE}:{release.strip()}" if release and release.strip() else "")
    if not text:
        return None
    if text in (TRUTH_IMPORTED, TRUTH_GATE):
        return TruthChoice(text)
    version = text.removeprefix(f"{TRUTH_RELEASE}:")
    if not (version.isascii() and version.isdigit()) or len(version) > 9:
        raise ValidationError(f"truth: {text[:30]!r} is not one of imported, gate or release:<version>.")
    release = Release.objects.filter(project=project, version=int(version)).first()
    if release is None:
        raise ValidationError(f"truth: this project has no release v{int(version)}.")
    return TruthChoice(TRUTH_RELEASE, release)


def resolve_truth(project: Project, choice: TruthChoice | None, votes: ProjectVotes | None = None) -> Truth:
    """The chosen truth, or the default: the gate's accepted labels, except in a project whose pairs came
    with labels and that has no accepted human label yet, where the imported labels are all there is."""
    if choice is not None and choice.release is not None:
        return release_truth(choice.release)
    if choice is not None and choice.kind == TRUTH_IMPORTED:
        return imported_truth(project)
    gate = project_truth(project, votes)
    if choice is None and not len(gate.pair_ids):
        imported = imported_truth(project)
        if len(imported.pair_ids):
            return imported
    return gate


def truth_options(project: Project) -> list[tuple[str, str]]:
    """(param, label) of every truth the page can offer."""
    options = [(TRUTH_IMPORTED, "Imported labels"), (TRUTH_GATE, "Gate (live)")]
    versions = Release.objects.filter(project=project).order_by("-version").values_list("version", flat=True)
    return options + [(f"{TRUTH_RELEASE}:{v}", f"Release v{v}") for v in versions]


@dataclass(frozen=True)
class Answers:
    """A judge's answers to one question: pair ids (sorted) and label codes, as arrays (a dict per pair
    cost seconds at 317,000 pairs)."""

    pair_ids: np.ndarray
    codes: np.ndarray  # 0/1/2; -1 for a failed or unparseable answer

    def __len__(self) -> int:
        return len(self.pair_ids)


def _answers(judge: Judge, *, with_tie: bool, order: str = ShownOrder.RESPONSE1_LEFT) -> Answers:
    """The judge's answers, from its answer sheet; a failed or unparseable answer counts as wrong, as in the
    paper. Pairs skipped because their media could not be sent are left out: they were never really asked."""
    sheet = sheets.answer_sheets([judge.pk], order).get((judge.pk, with_tie), sheets.EMPTY)
    pair_ids = sheet.pair_ids()
    return Answers(pair_ids, sheet.on(pair_ids))


@dataclass(frozen=True)
class BoardRow:
    name: str
    kind: str
    judge_id: int | None  # None: the human reference row
    table: metrics.Table
    note: str = ""  # why the row has no score, when it has none
    thresholds: dict[str, float] | None = None  # scalar judges, w/ Tie: the tie threshold chosen per task


@dataclass(frozen=True)
class Board:
    truth: Truth
    tasks: list[str]  # the columns: tasks present in the truth
    task_pairs: dict[str, int]  # pairs per task in the truth
    with_tie: list[BoardRow]
    without_tie: list[BoardRow]
    human_note: str  # what the human row measures against this truth

    @property
    def source(self) -> str:
        return self.truth.source

    @property
    def pairs(self) -> int:
        return len(self.truth.pair_ids)


def _question(with_tie: bool) -> str:
    return "with-tie" if with_tie else "no-tie"


ScalarPredictions = tuple[np.ndarray, dict[bool, np.ndarray], dict[str, float], int]


def _scalar_row(judge: Judge, scalar: ScalarPredictions, truth: Truth, *, with_tie: bool) -> BoardRow:
    mask, by_question, thresholds, total = scalar
    table = metrics.leaderboard_row(
        truth.tasks[mask], truth.labels[mask], by_question[with_tie], with_tie=with_tie, task_order=TASKS
    )
    note = "" if mask.any() else _nothing_scored(total, "scores", truth)
    return BoardRow(judge.name, judge.kind, judge.pk, table, note, thresholds if with_tie else None)


def _nothing_scored(total: int, what: str, truth: Truth) -> str:
    return f"0 of {total:,} {what} fall on pairs scored against {truth.source}."


def _judge_row(judge: Judge, counts: sheets.Counts | None, truth: Truth, *, with_tie: bool) -> BoardRow:
    """A judge's row from its answers as counted on its answer sheet (None: no answer to this question)."""
    if counts is None:
        counts = sheets.Counts(np.zeros((len(TASKS), 3, 4), dtype=np.int64), 0)
    table = metrics.leaderboard_row_from_confusion(counts.confusion, with_tie=with_tie, task_order=TASKS)
    if counts.scored:
        note = ""
    elif counts.answers:
        note = _nothing_scored(counts.answers, "answers", truth)
    else:
        note = f"No answers to the {_question(with_tie)} question."
    return BoardRow(judge.name, judge.kind, judge.pk, table, note)


def truth_keys(truth: Truth) -> np.ndarray:
    """Each truth pair's task index * 3 + label: what `sheets.answer_counts` groups by."""
    return truth.task_index.astype(np.int64) * 3 + truth.labels.astype(np.int64)


def human_confusion(truth: Truth, votes: ProjectVotes, keys: np.ndarray) -> np.ndarray:
    """Our annotators' votes scored on the truth's pairs, as `metrics.leaderboard_row_from_confusion` reads
    them (`keys`: `truth_keys(truth)`). Against our own labels (gate, release) each vote is scored against the
    majority of the OTHER votes on its pair (leave one out): a vote may not agree with a consensus it is part
    of. Against imported labels, which no vote made, each vote is scored against them."""
    # Votes with the same pair and label score alike: one entry per (pair, label), weighted by its count.
    pair, label = np.divmod(np.flatnonzero(votes.live.ravel()), 3)
    count = votes.live[pair, label]
    # Where each voted pair is in the truth (searched once per pair, not once per pair and label).
    where = np.searchsorted(truth.pair_ids, votes.pair_ids)
    found = where < len(truth.pair_ids)
    found[found] = truth.pair_ids[where[found]] == votes.pair_ids[found]
    at, inside = where[pair], found[pair]
    if truth.kind == TRUTH_IMPORTED:
        reference = np.where(inside, truth.labels[np.minimum(at, len(truth.pair_ids) - 1)], -1)
    else:
        reference = majority_of_others(votes.live[pair], label)
    keep = inside & (reference >= 0)
    # (task, reference, vote) as one index into (tasks, 3, 4); a vote is never "no answer" (column 3).
    cell = keys[at[keep]] // 3 * 12 + reference[keep] * 4 + label[keep]
    counted = np.bincount(cell, weights=count[keep], minlength=len(TASKS) * 12)
    return np.rint(counted).astype(np.int64).reshape(len(TASKS), 3, 4)


def leaderboard(project: Project, choice: TruthChoice | None = None) -> Board:
    votes = project_votes(project)
    truth = resolve_truth(project, choice, votes)
    judges = list(Judge.objects.filter(project=project))
    # Both questions come from one set of scores: derive the answers once per scalar judge.
    scalar_ids = [j.pk for j in judges if j.kind == JudgeKind.SCALAR]
    scores = _scalar_scores(scalar_ids) if scalar_ids else {}
    scalar = {pk: _scalar_predictions(truth, *scores.get(pk, _NO_SCORES)) for pk in scalar_ids}
    # Every other judge's answers, both questions, from their answer sheets: one statement for all judges.
    answered = sheets.answer_sheets([j.pk for j in judges if j.kind != JudgeKind.SCALAR]) if judges else {}
    keys = truth_keys(truth)
    counted = sheets.answer_counts(answered, truth.pair_ids, keys, len(TASKS))
    humans = human_confusion(truth, votes, keys)
    boards: dict[bool, list[BoardRow]] = {True: [], False: []}
    for with_tie in (True, False):
        human = metrics.leaderboard_row_from_confusion(humans, with_tie=with_tie, task_order=TASKS)
        no_votes = "" if any(cell.n for cell in human.cells.values()) else "No annotator votes to score on these pairs."
        boards[with_tie].append(BoardRow("Human annotators", "human", None, human, no_votes))
        rows = [
            _scalar_row(judge, scalar[judge.pk], truth, with_tie=with_tie)
            if judge.kind == JudgeKind.SCALAR
            else _judge_row(judge, counted.get((judge.pk, with_tie)), truth, with_tie=with_tie)
            for judge in judges
        ]
        rows.sort(key=lambda r: (r.table.overall is None, -(r.table.overall or 0.0), r.name))  # no score: last
        boards[with_tie].extend(rows)
    if truth.kind == TRUTH_IMPORTED:
        human_note = "each annotator vote against the imported label of its pair"
    else:
        human_note = "each annotator vote against the majority of the other votes on its pair"
    task_pairs = truth.task_pairs()
    return Board(truth, list(task_pairs), task_pairs, boards[True], boards[False], human_note)


@dataclass(frozen=True)
class QuestionView:
    """A judge's answers to one question, against the truth: the confusion matrix and Cohen's kappa."""

    with_tie: bool
    confusion: np.ndarray | None  # 3 x 4 (human rows; predicted response1/response2/tie/none)
    kappa: float | None
    answered: int
    failed: int

    @property
    def title(self) -> str:
        return "w/ Tie" if self.with_tie else "w/o Tie"


@dataclass(frozen=True)
class ModelReport:
    judge: Judge
    truth: Truth
    questions: list[QuestionView]  # w/ Tie first; only the questions the judge answered
    consistency: tuple[float | None, int]
    length: list[metrics.LengthBucket]
    thresholds: dict[str, float] | None  # scalar judges: the tie threshold chosen per task (w/ Tie)

    # The first question's figures, as the report showed them before it had several.
    @property
    def with_tie(self) -> bool:
        return self.questions[0].with_tie if self.questions else False

    @property
    def confusion(self) -> np.ndarray | None:
        return self.questions[0].confusion if self.questions else None

    @property
    def kappa(self) -> float | None:
        return self.questions[0].kappa if self.questions else None

    @property
    def answered(self) -> int:
        return self.questions[0].answered if self.questions else 0

    @property
    def failed(self) -> int:
        return self.questions[0].failed if self.questions else 0


def _question_view(human: np.ndarray, predicted: np.ndarray, *, with_tie: bool) -> QuestionView:
    if not with_tie:  # the no-tie question is scored on the non-tie human pairs only, as its accuracy is
        keep = human != metrics.TIE
        human, predicted = human[keep], predicted[keep]
    present = len(human) > 0
    return QuestionView(
        with_tie=with_tie,
        confusion=metrics.confusion(human, predicted) if present else None,
        kappa=metrics.kappa(human, predicted) if present else None,
        answered=int((predicted >= 0).sum()),
        failed=int((predicted < 0).sum()),
    )


def scalar_predictions(truth: Truth, judge: Judge) -> ScalarPredictions:
    """A scalar judge as label predictions over the truth's pairs it scored: (mask over the truth, predictions
    per question, eps per task, scores in all). w/ Tie uses each task's own tie-calibrated threshold."""
    return _scalar_predictions(truth, *_scalar_scores([judge.pk]).get(judge.pk, _NO_SCORES))


_NO_SCORES = (np.zeros(0, dtype=np.int64), np.zeros(0), np.zeros(0))


def _scalar_scores(judge_ids: list[int]) -> dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """judge id -> (pair ids, sorted; score1; score2), every judge's in one statement."""
    query = (
        ScalarScore.objects.filter(judge_id__in=judge_ids)
        .order_by("judge_id", "pair_id")
        .values_list("judge_id", "pair_id", "score1", "score2")
    )
    sql, params = query.query.sql_with_params()
    with connections[query.db].cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    ids = np.array([r[:2] for r in rows], dtype=np.int64).reshape(-1, 2)
    scores = np.array([r[2:] for r in rows], dtype=np.float64).reshape(-1, 2)
    found = {}
    for judge_id in np.unique(ids[:, 0]).tolist():
        mine = ids[:, 0] == judge_id
        found[judge_id] = (ids[mine, 1], scores[mine, 0], scores[mine, 1])
    return found


def _scalar_predictions(truth: Truth, pair_ids: np.ndarray, s1: np.ndarray, s2: np.ndarray) -> ScalarPredictions:
    at = np.searchsorted(pair_ids, truth.pair_ids)
    inside = at < len(pair_ids)
    mask = np.zeros(len(truth.pair_ids), dtype=bool)
    mask[inside] = pair_ids[at[inside]] == truth.pair_ids[inside]
    answers = metrics.scalar_answers(
        truth.tasks[mask], truth.labels[mask], s1[at[mask]], s2[at[mask]], task_order=TASKS
    )
    return mask, {True: answers.with_tie, False: answers.without_tie}, answers.eps, len(pair_ids)


def predictions(truth: Truth, judge: Judge, *, with_tie: bool) -> tuple[np.ndarray, np.ndarray]:
    """(mask over the truth's pairs the judge answered, its predictions there) for any kind of judge."""
    if judge.kind == JudgeKind.SCALAR:
        mask, by_question, _, _ = scalar_predictions(truth, judge)
        return mask, by_question[with_tie]
    asked, predicted = truth.align(_answers(judge, with_tie=with_tie))
    return asked, predicted[asked]


def model_report(judge: Judge, truth: Truth) -> ModelReport:
    if judge.kind == JudgeKind.SCALAR:
        mask, by_question, thresholds, _ = scalar_predictions(truth, judge)
        human = truth.labels[mask]
        questions = [_question_view(human, by_question[wt], with_tie=wt) for wt in (True, False)]
        return ModelReport(judge, truth, questions, (None, 0), [], thresholds)

    answered_questions = set(
        ModelVote.objects.filter(judge=judge, order=ShownOrder.RESPONSE1_LEFT)
        .values_list("with_tie", flat=True)
        .distinct()  # two values, not one per vote
    )
    questions = []
    aligned: dict[bool, tuple[np.ndarray, np.ndarray]] = {}
    for with_tie in (True, False):
        if with_tie in answered_questions:
            asked, predicted = aligned[with_tie] = truth.align(_answers(judge, with_tie=with_tie))
            questions.append(_question_view(truth.labels[asked], predicted[asked], with_tie=with_tie))
    return ModelReport(judge, truth, questions, _consistency(truth, judge, aligned), _length(truth, aligned), None)


def _consistency(
    truth: Truth, judge: Judge, aligned: dict[bool, tuple[np.ndarray, np.ndarray]]
) -> tuple[float | None, int]:
    """Position consistency on the question asked in both orders (the with-tie one when both were): the
    paper's _inversed runs exist for either question."""
    best: tuple[float | None, int] = (None, 0)
    for with_tie in (True, False):
        if with_tie not in aligned:
            continue
        asked, predicted = aligned[with_tie]
        swapped_answers = _answers(judge, with_tie=with_tie, order=ShownOrder.RESPONSE2_LEFT)
        if not swapped_answers:
            continue
        _, swapped = truth.align(swapped_answers)
        both = asked & np.isin(truth.pair_ids, swapped_answers.pair_ids)
        found = metrics.position_consistency(predicted[both], swapped[both]) if both.any() else (None, 0)
        if found[1] > best[1]:
            best = found
    return best


def _length(truth: Truth, aligned: dict[bool, tuple[np.ndarray, np.ndarray]]) -> list[metrics.LengthBucket]:
    """Accuracy and longer-response preference by length difference, on text pairs. The accuracy is the w/o Tie
    one, so the no-tie question's answers are used when there are any, over the pairs that question asked."""
    if not aligned:
        return []
    asked, predicted = aligned[False] if False in aligned else aligned[True]
    ids = truth.pair_ids[asked]
    text_pairs = Pair.objects.filter(
        id__in=ids.tolist(), response1_text__isnull=False, response2_text__isnull=False
    ).values_list("id", "response1_text", "response2_text")
    texts = {pair_id: (a or "", b or "") for pair_id, a, b in text_pairs}
    text_mask = np.array([int(p) in texts for p in ids], dtype=bool)
    if not text_mask.any():
        return []
    len1 = np.array([len(texts[int(p)][0]) for p in ids[text_mask]], dtype=np.int64)
    len2 = np.array([len(texts[int(p)][1]) for p in ids[text_mask]], dtype=np.int64)
    return metrics.length_bias(truth.labels[asked][text_mask], predicted[asked][text_mask], len1, len2)


@dataclass(frozen=True)
class Comparison:
    """Two judges on the pairs both answered, per question: McNemar's exact test per task and pooled."""

    other: Judge
    questions: dict[str, metrics.PairedComparison]  # "w/ Tie" / "w/o Tie" -> tests
    pairs: dict[str, int]  # pairs both answered, per question


def compare_judges(judge: Judge, other: Judge, truth: Truth) -> Comparison:
    questions, pairs = {}, {}
    for with_tie in (True, False):
        mask_a, pred_a = predictions(truth, judge, with_tie=with_tie)
        mask_b, pred_b = predictions(truth, other, with_tie=with_tie)
        both = mask_a & mask_b
        if not both.any():
            continue
        # Predictions come over each judge's own mask; put them back on the truth's pairs to line them up.
        full_a = np.full(len(truth.pair_ids), -1, dtype=np.int64)
        full_b = np.full(len(truth.pair_ids), -1, dtype=np.int64)
        full_a[mask_a], full_b[mask_b] = pred_a, pred_b
        title = "w/ Tie" if with_tie else "w/o Tie"
        questions[title] = metrics.paired_mcnemar(
            truth.tasks[both], truth.labels[both], full_a[both], full_b[both], with_tie=with_tie, task_order=TASKS
        )
        pairs[title] = int(both.sum())
    return Comparison(other, questions, pairs)


@dataclass(frozen=True)
class HardPair:
    pair: Pair
    human: str
    wrong: int
    answered: int
    answers: dict[str, str]  # judge name -> canonical answer

    @property
    def answers_text(self) -> str:
        """The answers as the page lists them, in one value: a template loop over 10 judges in each of 200 rows
        was most of the page's rendering (160 -> 57 ms under cProfile at 317,000 pairs)."""
        return " · ".join(f"{name}: {answer}" for name, answer in self.answers.items())


def hard_pairs(project: Project, truth: Truth, *, limit: int = 200) -> tuple[list[HardPair], int]:
    """Pairs where the truth's label is firm (humans agree strongly, gold, or an imported label) but most
    judges that answered disagree with it. Answers skipped because their media could not be sent are left
    out, as everywhere else: the judge was never really asked."""
    strong = truth.strong
    pair_ids, labels = truth.pair_ids[strong], truth.labels[strong]
    if not len(pair_ids):
        return [], 0
    judges = Judge.objects.filter(project=project).exclude(kind=JudgeKind.SCALAR).order_by("name")
    names = dict(judges.values_list("id", "name"))
    answered = sheets.answer_sheets(names)
    given = {
        name: sheets.pair_answers(answered.get((pk, True)), answered.get((pk, False)), pair_ids, labels)
        for pk, name in names.items()
    }
    at, total = sheets.hardest(given.values(), pair_ids, labels, limit)
    if not len(at):
        return [], total
    pairs = Pair.objects.in_bulk(pair_ids[at].tolist())
    found = []
    for i in at.tolist():
        human = LABELS[int(labels[i])]
        answers = {
            name: LABELS[code] if code >= 0 else "no answer"
            for name, code in ((name, int(codes[i])) for name, codes in given.items())
            if code != sheets.NOT_ASKED
        }
        wrong = sum(answer != human for answer in answers.values())
        found.append(HardPair(pairs[int(pair_ids[i])], human, wrong, len(answers), answers))
    return found, total


def judges(project: Project) -> QuerySet[Judge]:
    return Judge.objects.filter(project=project).order_by("name")
