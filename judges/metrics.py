"""The paper's leaderboard metrics and the judge diagnostics around them (pure numpy, no Django).

Labels are integer codes: 0 = response1, 1 = response2, 2 = tie. A model prediction may also be
-1 = no answer (unparseable after retries, or the call failed); it is always counted as wrong.
Human labels are never -1: a pair without a human label has no place in a metric.

The three leaderboard numbers follow Omni-Reward (arXiv 2510.23451) exactly:

- accuracy w/o Tie: human ties dropped, the judge answered the no-tie question, a tie or no answer is wrong;
- accuracy w/ Tie: all pairs, three-way exact match;
- Overall: the plain mean of the per-task accuracies over the tasks the model was run on.

What the paper's tables lack is added around them, without changing the numbers: a 95% Wilson
interval on every cell, a bootstrap interval on Overall, and an exact McNemar test for two models
on the same pairs.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from releases.stats import fair_coin_p_value, wilson_interval

RESPONSE1, RESPONSE2, TIE, NO_ANSWER = 0, 1, 2, -1

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


BOOTSTRAP_REPLICATES = 10_000
BOOTSTRAP_SEED = 14  # fixed, so a page, its CSV and its JSON show the same interval


@dataclass(frozen=True)
class Cell:
    """An accuracy with its 95% Wilson score interval.

    The interval is derived from ``correct`` and ``n`` on construction rather than passed in, so it
    can never disagree with the counts, and two cells with the same counts stay equal.
    """

    accuracy: float | None  # None when n == 0
    correct: int
    n: int
    low: float | None = field(init=False)  # None when n == 0
    high: float | None = field(init=False)

    def __post_init__(self) -> None:
        low, high = wilson(self.correct, self.n)
        object.__setattr__(self, "low", low)
        object.__setattr__(self, "high", high)


@dataclass(frozen=True)
class Table:
    """One row of the leaderboard: a cell per task (in task_order) and the Overall.

    ``overall_low``/``overall_high`` is the 95% bootstrap interval of Overall (``overall_interval``);
    None when Overall has no value, or when the table was built without it.
    """

    cells: dict[str, Cell]
    overall: float | None
    overall_low: float | None = None
    overall_high: float | None = None


@dataclass(frozen=True)
class McNemar:
    """Two models on the same pairs: where exactly one of them is right, and whether that is noise."""

    n: int  # pairs compared
    a_only: int  # pairs model A got right and model B wrong
    b_only: int  # pairs model B got right and model A wrong
    p_value: float  # exact two-sided; 1.0 when no pair is discordant


@dataclass(frozen=True)
class PairedComparison:
    tasks: dict[str, McNemar]  # one per task in task_order; n == 0 where neither model has pairs
    overall: McNemar  # all pairs pooled (see ``paired_mcnemar``)


@dataclass(frozen=True)
class ScalarAnswers:
    """A scalar reward model's scores turned into answers, so it gets the diagnostics of other judges.

    Both arrays are aligned with the pairs passed in. Equal scores choose no side: they are -1 (no
    answer) in ``without_tie``, which is how ``scalar_without_tie`` counts them (wrong).
    """

    eps: dict[str, float]  # per task that has pairs (in task_order): the threshold tie calibration chose
    without_tie: IntArray  # the higher score's side
    with_tie: IntArray  # tie when |score1 - score2| <= the task's eps, else the higher score's side


@dataclass(frozen=True)
class LengthBucket:
    """Pairs whose relative length difference d = (len1 - len2) / max(len1, len2) lies between low and high.

    d > 0 means response1 (A) is the longer one. A-longer buckets are (low, high], B-longer buckets
    [low, high) and "similar" the closed [low, high], so the buckets are mirror images of each other.
    """

    label: str
    low: float
    high: float
    n: int  # pairs in the bucket, any human label
    accuracy: Cell  # w/o Tie rule over the bucket's non-tie human pairs
    model_longer: float | None  # share of the model's sided answers (A or B) that picked the longer response
    model_sided: int  # the model's sided answers on pairs of unequal length (the share's denominator)
    human_longer: float | None  # the same share for the human labels
    human_sided: int


# --------------------------------------------------------------------------- input checks


def _labels(values: npt.ArrayLike, name: str, *, allow_no_answer: bool) -> IntArray:
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}.")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"{name} must hold integer label codes, got dtype {arr.dtype}.")
    out = arr.astype(np.int64, copy=False)
    low = NO_ANSWER if allow_no_answer else RESPONSE1
    if out.size and (out.min() < low or out.max() > TIE):
        allowed = "-1, 0, 1, 2" if allow_no_answer else "0, 1, 2"
        raise ValueError(f"{name} holds codes outside {allowed}.")
    return out


def _floats(values: npt.ArrayLike, name: str) -> FloatArray:
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}.")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} holds NaN or infinite values.")
    return arr


def _same_length(**arrays: np.ndarray) -> None:
    lengths = {name: len(arr) for name, arr in arrays.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"arrays differ in length: {lengths}.")


def _cell(correct: int, n: int) -> Cell:
    return Cell(accuracy=correct / n if n else None, correct=correct, n=n)


def _known_tasks(t: np.ndarray, task_order: Sequence[str]) -> None:
    unknown = sorted(set(np.unique(t).tolist()) - set(task_order))
    if unknown:
        # Dropping them silently would change Overall without anyone noticing.
        raise ValueError(f"tasks not in task_order: {', '.join(unknown)}.")


# --------------------------------------------------------------------------- leaderboard metrics


def accuracy_without_tie(human: npt.ArrayLike, predicted: npt.ArrayLike) -> Cell:
    """Pairs with a human tie are dropped; a tie or no-answer prediction on the rest is wrong."""
    h = _labels(human, "human", allow_no_answer=False)
    p = _labels(predicted, "predicted", allow_no_answer=True)
    _same_length(human=h, predicted=p)
    keep = h != TIE
    return _cell(int((p[keep] == h[keep]).sum()), int(keep.sum()))


def accuracy_with_tie(human: npt.ArrayLike, predicted: npt.ArrayLike) -> Cell:
    """All pairs, three-way exact match: a human tie is matched only by a model tie."""
    h = _labels(human, "human", allow_no_answer=False)
    p = _labels(predicted, "predicted", allow_no_answer=True)
    _same_length(human=h, predicted=p)
    return _cell(int((p == h).sum()), len(h))


def overall(cells: Sequence[Cell]) -> float | None:
    """Plain mean of per-task accuracies over tasks with pairs; deliberately not weighted by n."""
    scores = [cell.accuracy for cell in cells if cell.n > 0 and cell.accuracy is not None]
    return sum(scores) / len(scores) if scores else None


def leaderboard_row(
    tasks: npt.ArrayLike,
    human: npt.ArrayLike,
    predicted: npt.ArrayLike,
    *,
    with_tie: bool,
    task_order: Sequence[str],
) -> Table:
    """Per-task cells for one model and one variant, plus Overall.

    Pass only the pairs the model was run on (a failed call is predicted -1, not left out): a task
    without pairs gets an empty cell and stays out of Overall, which is how the paper treats
    tasks a model does not support. Every cell carries its Wilson interval, Overall its bootstrap one.
    """
    t = np.asarray(tasks).astype(str)
    h = _labels(human, "human", allow_no_answer=False)
    p = _labels(predicted, "predicted", allow_no_answer=True)
    _same_length(tasks=t, human=h, predicted=p)
    _known_tasks(t, task_order)
    metric = accuracy_with_tie if with_tie else accuracy_without_tie
    cells: dict[str, Cell] = {}
    for task in task_order:
        mask = t == task
        cells[task] = metric(h[mask], p[mask])
    return table_of(cells)


def leaderboard_row_from_confusion(confusions: npt.ArrayLike, *, with_tie: bool, task_order: Sequence[str]) -> Table:
    """``leaderboard_row`` from counts instead of pairs: ``confusions[i]`` is task_order[i]'s 3 x 4
    ``confusion`` (human 0/1/2 by predicted 0/1/2/no answer) of the pairs the model was run on.

    The same cells and Overall as ``leaderboard_row`` over those pairs: the accuracies need nothing but
    these counts, which the database can make without sending a judge's 300,000 answers."""
    counts = np.asarray(confusions)
    if counts.shape != (len(task_order), 3, 4):
        raise ValueError(f"confusions must have shape ({len(task_order)}, 3, 4), got {counts.shape}.")
    if counts.size and (not np.issubdtype(counts.dtype, np.integer) or counts.min() < 0):
        raise ValueError("confusions must hold counts (non-negative integers).")
    cells: dict[str, Cell] = {}
    for task, table in zip(task_order, counts, strict=True):
        rows = table if with_tie else table[:2]  # w/o Tie: pairs with a human tie are dropped
        correct = sum(int(rows[h, h]) for h in range(len(rows)))
        cells[task] = _cell(correct, int(rows.sum()))
    return table_of(cells)


# --------------------------------------------------------------------------- uncertainty


def wilson(correct: int, n: int) -> tuple[float | None, float | None]:
    """95% Wilson score interval of correct / n; (None, None) when n == 0.

    Wilson rather than the normal approximation because cells can be small and near 0% or 100%,
    where the normal interval leaves [0, 1] or collapses to a point.
    """
    if n < 0 or not 0 <= correct <= n:
        raise ValueError(f"need 0 <= correct <= n, got correct={correct}, n={n}.")
    if n == 0:
        return None, None
    low, high = wilson_interval(correct, n)
    return float(low), float(high)


def overall_interval(
    cells: Sequence[Cell], *, replicates: int = BOOTSTRAP_REPLICATES, seed: int = BOOTSTRAP_SEED
) -> tuple[float | None, float | None]:
    """95% percentile-bootstrap interval of Overall, resampling pairs within each task.

    Each replicate resamples every task's n pairs with replacement, recomputes each task's accuracy
    and takes the plain mean over the tasks, as Overall does. The tasks are fixed, not resampled:
    they are the benchmark's design, not a sample. Resampling n outcomes of which ``correct`` are
    1 gives a correct count that is exactly Binomial(n, correct / n), so one binomial draw per task
    and replicate replaces the n-element resample. Same cells and seed, same interval.
    """
    if replicates < 1:
        raise ValueError(f"replicates must be at least 1, got {replicates}.")
    scored = [cell for cell in cells if cell.n > 0]
    if not scored:
        return None, None
    return _bootstrap(tuple(cell.n for cell in scored), tuple(cell.correct for cell in scored), replicates, seed)


# The interval is a function of the counts and the seed alone, and its 10,000 draws per task cost 5-10 ms
# a row (22 rows on a leaderboard): a row whose counts did not change since it was last shown is not
# drawn again. Keyed by every input, so it can never return another row's interval.
@functools.lru_cache(maxsize=4096)
def _bootstrap(
    counts: tuple[int, ...], right: tuple[int, ...], replicates: int, seed: int
) -> tuple[float | None, float | None]:
    n = np.array(counts, dtype=np.int64)
    correct = np.array(right, dtype=np.int64)
    rng = np.random.default_rng(seed)
    draws = rng.binomial(n, correct / n, size=(replicates, len(n)))
    means = (draws / n).mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return float(low), float(high)


def table_of(cells: dict[str, Cell]) -> Table:
    """A leaderboard row from its cells: Overall and its bootstrap interval."""
    values = list(cells.values())
    low, high = overall_interval(values)
    return Table(cells=cells, overall=overall(values), overall_low=low, overall_high=high)


# --------------------------------------------------------------------------- significance


def _flags(values: npt.ArrayLike, name: str) -> npt.NDArray[np.bool_]:
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}.")
    if arr.size and arr.dtype != np.bool_:
        raise ValueError(f"{name} must be a boolean array (right or wrong per pair), got dtype {arr.dtype}.")
    return arr.astype(np.bool_, copy=False)


def mcnemar(a_correct: npt.ArrayLike, b_correct: npt.ArrayLike) -> McNemar:
    """Exact McNemar test for two models scored on the same pairs.

    Only the discordant pairs carry information; under "equally good" each is equally likely to
    favour either model, so the test is a two-sided exact binomial test of a_only out of
    a_only + b_only against 1/2. No discordant pair: p = 1.
    """
    a = _flags(a_correct, "a_correct")
    b = _flags(b_correct, "b_correct")
    _same_length(a_correct=a, b_correct=b)
    a_only, b_only = int((a & ~b).sum()), int((~a & b).sum())
    p_value = float(fair_coin_p_value(a_only, a_only + b_only)) if a_only + b_only else 1.0
    return McNemar(n=len(a), a_only=a_only, b_only=b_only, p_value=p_value)


def paired_mcnemar(
    tasks: npt.ArrayLike,
    human: npt.ArrayLike,
    a_predicted: npt.ArrayLike,
    b_predicted: npt.ArrayLike,
    *,
    with_tie: bool,
    task_order: Sequence[str],
) -> PairedComparison:
    """McNemar per task and overall for two models, scored under the leaderboard's rule.

    Pass only pairs both models were run on, with a failed call as -1. w/o Tie drops human ties and
    counts a tie or no answer wrong; w/ Tie is a three-way exact match, as in the accuracies.

    The overall test pools every pair, so it weights tasks by their number of pairs; Overall on the
    leaderboard is an unweighted mean over tasks. The pooled test answers "is one model right on
    more of these pairs", the natural paired question; the per-task tests are the ones to read
    against the per-task cells.
    """
    t = np.asarray(tasks).astype(str)
    h = _labels(human, "human", allow_no_answer=False)
    a = _labels(a_predicted, "a_predicted", allow_no_answer=True)
    b = _labels(b_predicted, "b_predicted", allow_no_answer=True)
    _same_length(tasks=t, human=h, a_predicted=a, b_predicted=b)
    _known_tasks(t, task_order)
    keep = np.ones(len(h), dtype=np.bool_) if with_tie else h != TIE
    t, h, a, b = t[keep], h[keep], a[keep], b[keep]
    a_right, b_right = a == h, b == h
    per_task = {task: mcnemar(a_right[t == task], b_right[t == task]) for task in task_order}
    return PairedComparison(tasks=per_task, overall=mcnemar(a_right, b_right))


# --------------------------------------------------------------------------- diagnostics


def confusion(human: npt.ArrayLike, predicted: npt.ArrayLike) -> IntArray:
    """3 x 4 counts: rows human 0/1/2, columns predicted 0/1/2/no answer."""
    h = _labels(human, "human", allow_no_answer=False)
    p = _labels(predicted, "predicted", allow_no_answer=True)
    _same_length(human=h, predicted=p)
    column = np.where(p == NO_ANSWER, 3, p)
    return np.bincount(h * 4 + column, minlength=12).reshape(3, 4).astype(np.int64)


def kappa(human: npt.ArrayLike, predicted: npt.ArrayLike) -> float | None:
    """Cohen's kappa over the pairs the model answered, three categories.

    None when no pair was answered, or when chance agreement is 1 (both sides used one and the
    same category throughout), where kappa is 0/0.
    """
    table = confusion(human, predicted)[:, :3]
    n = int(table.sum())
    # Integers keep the "chance agreement is exactly 1" test exact.
    agree, chance_agree = int(np.trace(table)) * n, int(table.sum(axis=1) @ table.sum(axis=0))
    if n == 0 or chance_agree == n * n:
        return None
    return (agree - chance_agree) / (n * n - chance_agree)


def position_consistency(first: npt.ArrayLike, swapped: npt.ArrayLike) -> tuple[float | None, int]:
    """Share of pairs whose canonical verdict survives swapping the seats, and over how many pairs.

    Both arrays are canonical labels (swapped already mapped back); pairs where either run gave no
    answer are left out.
    """
    a = _labels(first, "first", allow_no_answer=True)
    b = _labels(swapped, "swapped", allow_no_answer=True)
    _same_length(first=a, swapped=b)
    both = (a != NO_ANSWER) & (b != NO_ANSWER)
    n = int(both.sum())
    return (float((a[both] == b[both]).mean()) if n else None), n


DEFAULT_LENGTH_EDGES = (0.1, 0.5)


def _bucket_labels(edges: Sequence[float]) -> list[tuple[str, float, float]]:
    """(label, low, high) from most B-longer to most A-longer."""
    bands = list(zip([*edges], [*edges[1:], 1.0], strict=True))

    def name(side: str, j: int, lo: float, hi: float) -> str:
        if j == 0:
            return f"{side} longer"
        if j == len(bands) - 1:
            return f"{side} much longer"
        return f"{side} longer ({lo:g} < |d| <= {hi:g})"

    b_side = [(name("B", j, lo, hi), -hi, -lo) for j, (lo, hi) in reversed(list(enumerate(bands)))]
    a_side = [(name("A", j, lo, hi), lo, hi) for j, (lo, hi) in enumerate(bands)]
    return [*b_side, ("similar", -edges[0], edges[0]), *a_side]


def length_bias(
    human: npt.ArrayLike,
    predicted: npt.ArrayLike,
    len1: npt.ArrayLike,
    len2: npt.ArrayLike,
    *,
    edges: Sequence[float] = DEFAULT_LENGTH_EDGES,
) -> list[LengthBucket]:
    """Accuracy and preference for the longer response, by how different the two lengths are.

    d = (len1 - len2) / max(len1, len2) lies in [-1, 1]. ``edges`` are increasing thresholds on |d|
    in (0, 1); the defaults give five buckets:

    - "B much longer": d < -0.5 (response2 more than twice as long as response1),
    - "B longer": -0.5 <= d < -0.1,
    - "similar": |d| <= 0.1 (within 10% of each other),
    - "A longer": 0.1 < d <= 0.5,
    - "A much longer": d > 0.5.

    Lengths are whatever unit suits the modality (characters, seconds); both zero counts as similar.
    The longer-response shares skip pairs of exactly equal length, where nothing is longer.
    """
    h = _labels(human, "human", allow_no_answer=False)
    p = _labels(predicted, "predicted", allow_no_answer=True)
    l1 = _floats(len1, "len1")
    l2 = _floats(len2, "len2")
    _same_length(human=h, predicted=p, len1=l1, len2=l2)
    if (l1 < 0).any() or (l2 < 0).any():
        raise ValueError("lengths must not be negative.")
    edge_list = [float(e) for e in edges]
    if not edge_list or any(not 0 < e < 1 for e in edge_list) or sorted(set(edge_list)) != edge_list:
        raise ValueError("edges must be strictly increasing thresholds in (0, 1).")

    longest = np.maximum(l1, l2)
    d = np.divide(l1 - l2, longest, out=np.zeros_like(l1), where=longest > 0)
    longer = np.where(l1 > l2, RESPONSE1, np.where(l2 > l1, RESPONSE2, NO_ANSWER))
    magnitude = np.abs(d)

    buckets = []
    for label, low, high in _bucket_labels(edge_list):
        if label == "similar":
            mask = magnitude <= high
        elif high > 0:
            mask = (d > low) & (d <= high)
        else:
            mask = (d >= low) & (d < high)
        buckets.append(_length_bucket(label, low, high, mask, h, p, longer))
    return buckets


def _length_bucket(
    label: str, low: float, high: float, mask: np.ndarray, h: IntArray, p: IntArray, longer: IntArray
) -> LengthBucket:
    unequal = mask & (longer != NO_ANSWER)
    model_sided = unequal & ((p == RESPONSE1) | (p == RESPONSE2))
    human_sided = unequal & (h != TIE)
    n_model, n_human = int(model_sided.sum()), int(human_sided.sum())
    return LengthBucket(
        label=label,
        low=low,
        high=high,
        n=int(mask.sum()),
        accuracy=accuracy_without_tie(h[mask], p[mask]),
        model_longer=float((p[model_sided] == longer[model_sided]).mean()) if n_model else None,
        model_sided=n_model,
        human_longer=float((h[human_sided] == longer[human_sided]).mean()) if n_human else None,
        human_sided=n_human,
    )


# --------------------------------------------------------------------------- scalar reward models


def _sided(score1: FloatArray, score2: FloatArray) -> IntArray:
    return np.where(score1 > score2, RESPONSE1, np.where(score2 > score1, RESPONSE2, NO_ANSWER)).astype(np.int64)


def scalar_without_tie(human: npt.ArrayLike, score1: npt.ArrayLike, score2: npt.ArrayLike) -> Cell:
    """w/o Tie for a scalar RM: the higher score wins; equal scores are wrong (no side was chosen)."""
    s1, s2 = _floats(score1, "score1"), _floats(score2, "score2")
    _same_length(score1=s1, score2=s2)
    return accuracy_without_tie(human, _sided(s1, s2))


def tie_calibrated(human: npt.ArrayLike, score1: npt.ArrayLike, score2: npt.ArrayLike) -> tuple[IntArray, float, Cell]:
    """w/ Tie for a scalar RM by tie calibration (Deutsch et al. 2023, arXiv 2305.14324).

    Predict tie when |score1 - score2| <= eps, else the higher score. eps is chosen among 0 and
    every distinct |difference| to maximise three-way accuracy on these same pairs (ties in
    accuracy go to the smallest eps). As in the paper the threshold is fitted in-sample, so the
    number is an upper bound on what a threshold fixed in advance would score.

    Sorting once makes this O(n log n): after sorting by |difference|, the pairs predicted tie for
    a candidate eps are a prefix, so correct ties come from a running count over the prefix and
    correct sided answers from the total minus a running count.
    """
    h = _labels(human, "human", allow_no_answer=False)
    s1, s2 = _floats(score1, "score1"), _floats(score2, "score2")
    _same_length(human=h, score1=s1, score2=s2)
    if len(h) == 0:
        return np.zeros(0, dtype=np.int64), 0.0, Cell(accuracy=None, correct=0, n=0)

    gap = np.abs(s1 - s2)
    sided = _sided(s1, s2)
    order = np.argsort(gap, kind="stable")
    sorted_gap = gap[order]
    tie_right = np.concatenate([[0], np.cumsum(h[order] == TIE)])
    sided_right = np.concatenate([[0], np.cumsum(sided[order] == h[order])])

    candidates = np.unique(np.concatenate([[0.0], sorted_gap]))
    # prefix[i] = how many pairs have |difference| <= candidates[i], i.e. are predicted tie.
    prefix = np.searchsorted(sorted_gap, candidates, side="right")
    correct = tie_right[prefix] + (sided_right[-1] - sided_right[prefix])
    best = int(np.argmax(correct))  # first maximum = smallest eps
    eps = float(candidates[best])

    predicted = np.where(gap <= eps, TIE, sided).astype(np.int64)
    return predicted, eps, accuracy_with_tie(h, predicted)


def scalar_answers(
    tasks: npt.ArrayLike,
    human: npt.ArrayLike,
    score1: npt.ArrayLike,
    score2: npt.ArrayLike,
    *,
    task_order: Sequence[str],
) -> ScalarAnswers:
    """Per task, the tie threshold ``tie_calibrated`` chooses and the w/o Tie and w/ Tie answers.

    eps is fitted per task, as on the leaderboard (each task is its own dataset), so
    ``leaderboard_row(tasks, human, answers.with_tie, with_tie=True, ...)`` gives the scalar row's
    w/ Tie cells, and ``confusion``/``kappa`` on the answers give the judge diagnostics.
    """
    t = np.asarray(tasks).astype(str)
    h = _labels(human, "human", allow_no_answer=False)
    s1, s2 = _floats(score1, "score1"), _floats(score2, "score2")
    _same_length(tasks=t, human=h, score1=s1, score2=s2)
    _known_tasks(t, task_order)
    with_tie = np.full(len(h), NO_ANSWER, dtype=np.int64)
    eps: dict[str, float] = {}
    for task in task_order:
        here = t == task
        if here.any():
            with_tie[here], eps[task], _ = tie_calibrated(h[here], s1[here], s2[here])
    return ScalarAnswers(eps=eps, without_tie=_sided(s1, s2), with_tie=with_tie)
