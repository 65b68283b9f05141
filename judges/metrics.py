"""The paper's leaderboard metrics and the judge diagnostics around them (pure numpy, no Django).

Labels are integer codes: 0 = response1, 1 = response2, 2 = tie. A model prediction may also be
-1 = no answer (unparseable after retries, or the call failed); it is always counted as wrong.
Human labels are never -1: a pair without a human label has no place in a metric.

The three leaderboard numbers follow Omni-Reward (arXiv 2510.23451) exactly:

- accuracy w/o Tie: human ties dropped, the judge answered the no-tie question, a tie or no answer is wrong;
- accuracy w/ Tie: all pairs, three-way exact match;
- Overall: the plain mean of the per-task accuracies over the tasks the model was run on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

RESPONSE1, RESPONSE2, TIE, NO_ANSWER = 0, 1, 2, -1

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Cell:
    accuracy: float | None  # None when n == 0
    correct: int
    n: int


@dataclass(frozen=True)
class Table:
    """One row of the leaderboard: a cell per task (in task_order) and the Overall."""

    cells: dict[str, Cell]
    overall: float | None


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
    tasks a model does not support.
    """
    t = np.asarray(tasks).astype(str)
    h = _labels(human, "human", allow_no_answer=False)
    p = _labels(predicted, "predicted", allow_no_answer=True)
    _same_length(tasks=t, human=h, predicted=p)
    unknown = sorted(set(np.unique(t).tolist()) - set(task_order))
    if unknown:
        # Dropping them silently would change Overall without anyone noticing.
        raise ValueError(f"tasks not in task_order: {', '.join(unknown)}.")
    metric = accuracy_with_tie if with_tie else accuracy_without_tie
    cells: dict[str, Cell] = {}
    for task in task_order:
        mask = t == task
        cells[task] = metric(h[mask], p[mask])
    return Table(cells=cells, overall=overall(list(cells.values())))


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
