"""Per-annotator quality: agreement with the others, gold accuracy, ties, and left-position bias.

All per-vote work is vectorised; per-annotator aggregates come from ``np.bincount`` keyed on the
annotator, so the cost is O(votes log votes) however many annotators there are. Python only loops
over annotators to build the result objects.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from statistics import NormalDist
from typing import Any

import numpy as np
import numpy.typing as npt

from releases.stats.agreement import Estimate, FloatArray, IntArray, category_name, value_counts

_Z_975 = NormalDist().inv_cdf(0.975)  # the 95% interval's z, 1.95996...
K = 3  # 0 = response1 (A), 1 = response2 (B), 2 = tie
TIE = 2


@dataclass(frozen=True)
class VoteTable:
    pair: npt.NDArray[np.int64]  # 0..n_pairs-1
    annotator: npt.NDArray[np.int64]  # 0..n_annotators-1
    label: npt.NDArray[np.int8]  # 0/1/2
    left: npt.NDArray[np.bool_]  # the vote picked the response shown on the LEFT (always False for a tie)
    time_ms: npt.NDArray[np.int64]
    n_pairs: int
    n_annotators: int

    def __post_init__(self) -> None:
        columns = (self.pair, self.annotator, self.label, self.left, self.time_ms)
        if any(np.ndim(c) != 1 or len(c) != len(self.pair) for c in columns):
            raise ValueError("every VoteTable column must be a 1-D array of the same length")
        if len(self.pair) == 0:
            return
        if self.pair.min() < 0 or self.pair.max() >= self.n_pairs:
            raise ValueError(f"pair indices must lie in 0..{self.n_pairs - 1}")
        if self.annotator.min() < 0 or self.annotator.max() >= self.n_annotators:
            raise ValueError(f"annotator indices must lie in 0..{self.n_annotators - 1}")
        if self.label.min() < 0 or self.label.max() >= K:
            raise ValueError("labels must be 0 (A), 1 (B) or 2 (tie)")
        # A tie picks no side; a True here would count as a left pick in the position-bias test.
        if np.any(self.left & (self.label == TIE)):
            raise ValueError("a tie cannot have picked the left response")


@dataclass(frozen=True)
class AnnotatorStats:
    annotator: int
    judgments: int
    median_time_ms: float | None
    # Cohen's kappa of the annotator's labels vs the leave-one-out majority of the other votes on the
    # same pairs. Point estimate only: `compared` is the sample size to judge it by.
    kappa: Estimate
    compared: int  # judgments that had a leave-one-out majority to compare against
    gold_judged: int
    gold_accuracy: Estimate  # correct / gold_judged with a Wilson 95% interval
    tie_rate: float | None
    sided_votes: int  # non-tie votes
    left_picks: int
    left_rate: float | None
    left_p_value: float | None  # two-sided binomial test of left_picks against 0.5 of sided_votes

    def as_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AnnotatorStats:
        estimates = {name: Estimate(**data[name]) for name in ("kappa", "gold_accuracy")}
        return cls(**{**data, **estimates})


def leave_one_out_majority(table: VoteTable) -> IntArray:
    """Per vote: the unique top label among the OTHER votes on its pair, or -1 when there is none."""
    counts = value_counts(table.pair, table.label, table.n_pairs, K)
    return majority_of_others(counts[table.pair], table.label)


def majority_of_others(counts: npt.ArrayLike, label: npt.ArrayLike) -> IntArray:
    """Per vote, from its pair's votes per label (one row per vote) and its own label: the unique top
    label among the OTHER votes, or -1 when there is none."""
    others = np.array(counts, dtype=np.int64)
    others[np.arange(len(others)), np.asarray(label, dtype=np.int64)] -= 1
    top = others.max(axis=1, initial=0)
    unique_top = (others == top[:, None]).sum(axis=1) == 1
    return np.where(unique_top & (top >= 1), others.argmax(axis=1), -1).astype(np.int64)


def cohens_kappa(tables: npt.ArrayLike) -> FloatArray:
    """Cohen's kappa of each (..., k, k) contingency table; NaN when chance agreement is 1 or the table is empty.

    kappa = (n * trace - sum_c row_c col_c) / (n^2 - sum_c row_c col_c), kept in counts so that the
    "chance agreement is 1" test (n^2 == sum_c row_c col_c) is exact rather than a float comparison.
    """
    t = np.asarray(tables, dtype=np.float64)
    n = t.sum(axis=(-2, -1))
    chance = (t.sum(axis=-1) * t.sum(axis=-2)).sum(axis=-1)
    spread = n * n - chance
    defined = spread > 0
    kappa = (n * np.trace(t, axis1=-2, axis2=-1) - chance) / np.where(defined, spread, 1.0)
    return np.where(defined, kappa, np.nan)


def _per_annotator(annotator: IntArray, n_annotators: int, mask: npt.NDArray[np.bool_] | None = None) -> IntArray:
    chosen = annotator if mask is None else annotator[mask]
    return np.bincount(chosen, minlength=n_annotators).astype(np.int64)


def _times_by_annotator(table: VoteTable) -> IntArray:
    """Times sorted by (annotator, time), so each annotator's times form one sorted run."""
    if len(table.time_ms) == 0:
        return np.zeros(0, dtype=np.int64)
    low = int(table.time_ms.min())
    span = int(table.time_ms.max()) - low + 1
    if table.n_annotators * span >= 2**62:
        return table.time_ms[np.lexsort((table.time_ms, table.annotator))]
    # One sort of a combined integer key is several times faster than lexsort on two columns.
    key = np.sort(table.annotator.astype(np.int64) * span + (table.time_ms.astype(np.int64) - low))
    return key % span + low


def _median_times(table: VoteTable) -> FloatArray:
    """Per annotator median time, NaN without judgments: one sort, then the middle of each run."""
    times = _times_by_annotator(table).astype(np.float64)
    sizes = _per_annotator(table.annotator, table.n_annotators)
    starts = np.cumsum(sizes) - sizes
    has = sizes > 0
    lower = times[(starts + (sizes - 1) // 2)[has]]
    upper = times[(starts + sizes // 2)[has]]
    medians = np.full(table.n_annotators, np.nan)
    medians[has] = (lower + upper) / 2.0
    return medians


def _contingency(table: VoteTable, loo: IntArray) -> IntArray:
    """(n_annotators, K, K) tables: rows the annotator's label, columns the others' majority."""
    compared = loo >= 0
    cell = (table.annotator[compared].astype(np.int64) * K + table.label[compared]) * K + loo[compared]
    return np.bincount(cell, minlength=table.n_annotators * K * K).reshape(table.n_annotators, K, K)


def _kappa_estimate(contingency: IntArray, kappa: float, judgments: int) -> Estimate:
    compared = int(contingency.sum())
    if judgments == 0:
        return Estimate(None, note="this annotator has no judgments")
    if compared == 0:
        return Estimate(
            None,
            note=f"no judgment ({judgments} in all) shares its pair with other votes that have a clear majority",
        )
    if np.isnan(kappa):
        used = np.flatnonzero(contingency.sum(axis=0) + contingency.sum(axis=1))
        name = category_name(int(used[0]), K)
        return Estimate(
            None,
            note=f"on every compared pair both this annotator and the others' majority chose {name}, "
            "so kappa cannot separate agreement from chance",
        )
    return Estimate(kappa)


def wilson_interval(successes: npt.ArrayLike, trials: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """95% Wilson score interval, vectorised; the same numbers as
    ``scipy.stats.binomtest(k, n).proportion_ci(method="wilson")``, which costs milliseconds per call."""
    k = np.asarray(successes, dtype=np.float64)
    n = np.asarray(trials, dtype=np.float64)
    z = _Z_975
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / n
        denom = 2 * (n + z**2)
        center = (2 * n * p + z**2) / denom
        delta = z / denom * np.sqrt(4 * n * p * (1 - p) + z**2)
    # As in scipy (Newcombe 1998): the bound at an observed 0% or 100% is exact.
    low = np.where(k == 0, 0.0, center - delta)
    high = np.where(k == n, 1.0, center + delta)
    return low, high


def fair_coin_p_value(successes: npt.ArrayLike, trials: npt.ArrayLike) -> FloatArray:
    """Two-sided binomial test against 0.5, vectorised (NaN for zero trials).

    The null is symmetric, so the outcomes at least as unlikely as k are the two tails beyond
    min(k, n - k): p = 2 * P(X <= min(k, n - k)), capped at 1. Equal to scipy's binomtest.
    """
    # Imported here: scipy.special costs every process 0.5 s and 30 MB at start, and this module is
    # loaded by every process (the releases app's ready()), most of which never test a coin.
    from scipy.special import bdtr  # the binomial CDF, which scipy.stats.binom.cdf calls

    k = np.asarray(successes, dtype=np.int64)
    n = np.asarray(trials, dtype=np.int64)
    p = np.minimum(1.0, 2.0 * bdtr(np.minimum(k, n - k), n, 0.5))
    return np.where(n > 0, p, np.nan)


def _gold_estimate(correct: int, judged: int, low: float, high: float) -> Estimate:
    if judged == 0:
        return Estimate(None, note="this annotator judged no gold pairs")
    return Estimate(correct / judged, low, high)


def gold_accuracy(correct: int, judged: int) -> Estimate:
    """One annotator's gold accuracy with its Wilson interval: the same figures as `annotator_stats`."""
    low, high = wilson_interval(correct, judged)
    return _gold_estimate(correct, judged, float(low), float(high))


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _optional(value: float) -> float | None:
    return None if np.isnan(value) else float(value)


def annotator_stats(table: VoteTable, gold: npt.ArrayLike) -> list[AnnotatorStats]:
    """One entry per annotator id 0..n_annotators-1, including ids without judgments.

    ``gold`` holds per pair the known-correct label, or -1 when the pair is not a gold pair.
    """
    gold_arr = np.asarray(gold, dtype=np.int64)
    if gold_arr.shape != (table.n_pairs,):
        raise ValueError("gold needs one entry per pair")
    n = table.n_annotators
    label = table.label.astype(np.int64)
    judgments = _per_annotator(table.annotator, n)
    vote_gold = gold_arr[table.pair]
    gold_judged = _per_annotator(table.annotator, n, vote_gold >= 0)
    gold_correct = _per_annotator(table.annotator, n, (vote_gold >= 0) & (label == vote_gold))
    ties = _per_annotator(table.annotator, n, label == TIE)
    left_picks = _per_annotator(table.annotator, n, table.left & (label != TIE))
    contingency = _contingency(table, leave_one_out_majority(table))
    kappas = cohens_kappa(contingency)
    medians = _median_times(table)
    gold_low, gold_high = wilson_interval(gold_correct, gold_judged)
    sided = judgments - ties
    left_p = fair_coin_p_value(left_picks, sided)

    stats = []
    for a in range(n):
        stats.append(
            AnnotatorStats(
                annotator=a,
                judgments=int(judgments[a]),
                median_time_ms=_optional(medians[a]),
                kappa=_kappa_estimate(contingency[a], float(kappas[a]), int(judgments[a])),
                compared=int(contingency[a].sum()),
                gold_judged=int(gold_judged[a]),
                gold_accuracy=_gold_estimate(
                    int(gold_correct[a]), int(gold_judged[a]), float(gold_low[a]), float(gold_high[a])
                ),
                tie_rate=_rate(int(ties[a]), int(judgments[a])),
                sided_votes=int(sided[a]),
                left_picks=int(left_picks[a]),
                left_rate=_rate(int(left_picks[a]), int(sided[a])),
                left_p_value=_optional(left_p[a]),
            )
        )
    return stats


def left_pick_test(table: VoteTable) -> tuple[int, int, float | None]:
    """Pooled over everybody: left picks, sided (non-tie) votes, two-sided binomial p-value against 0.5."""
    sided = table.label != TIE
    return fair_coin_test(int((table.left & sided).sum()), int(sided.sum()))


def fair_coin_test(picks: int, votes: int) -> tuple[int, int, float | None]:
    """Left picks, sided votes, and the two-sided binomial p-value against 0.5."""
    return picks, votes, _optional(float(fair_coin_p_value(picks, votes)))
