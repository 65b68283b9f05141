"""Inter-annotator agreement over pairs, computed from per-pair value counts.

Every function takes a ``counts`` matrix of shape ``(n_pairs, k)``: how many votes each pair got in
each category (0 = response1 (A), 1 = response2 (B), 2 = tie when ``k == 3``). Working from counts
rather than from all pairs of ratings keeps everything linear in the number of pairs.

Pairs with the same count vector contribute identically to every statistic here, so a caller may pass
each distinct vector once with ``units``: how many pairs share it. A project of 317,000 pairs with three
votes each has a few dozen such patterns (the curator pages read them grouped from the tallies), and
every statistic then costs microseconds. The values are computed from the patterns by the formulas
below; the tests check them against the `krippendorff` and `statsmodels` implementations.

Degenerate inputs never come back as a silent 0 or 1: the statistic is ``None`` (or, for percent
agreement, the value) together with a ``note`` that says why.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

LABEL_NAMES = ("response1 (A)", "response2 (B)", "tie")

# Bootstrap replicates are drawn in chunks so that the (replicates x patterns) matrix stays small
# even when nearly every pair has its own count vector.
_CHUNK_CELLS = 4_000_000
# More undefined replicates than this and the interval is conditional enough to be worth a note.
_UNDEFINED_SHARE_TO_MENTION = 0.05

NO_OVERLAP = "no pair has two or more votes, so there is nothing to agree on"


@dataclass(frozen=True)
class Estimate:
    value: float | None  # None when the statistic is undefined
    low: float | None = None  # 95% bootstrap interval, when computed
    high: float | None = None
    note: str = ""  # a sentence explaining a degenerate, undefined or special result; "" when ordinary


@dataclass(frozen=True)
class Agreement:
    pairs: int  # rows in counts
    pairs_with_overlap: int  # pairs with >= 2 votes (the only ones alpha can use)
    votes: int
    alpha: Estimate
    fleiss: Estimate
    percent: Estimate
    label_counts: tuple[int, ...]  # votes per category


def category_name(category: int, k: int) -> str:
    return LABEL_NAMES[category] if k == len(LABEL_NAMES) else f"category {category}"


def value_counts(pair: npt.ArrayLike, label: npt.ArrayLike, n_pairs: int, k: int = 3) -> IntArray:
    """(n_pairs, k) matrix of votes per pair per category."""
    pair_arr = np.asarray(pair, dtype=np.int64)
    label_arr = np.asarray(label, dtype=np.int64)
    if pair_arr.shape != label_arr.shape or pair_arr.ndim != 1:
        raise ValueError("pair and label must be 1-D arrays of the same length")
    # Out-of-range codes would silently land in a neighbouring pair's row, so refuse them.
    if pair_arr.size and (pair_arr.min() < 0 or pair_arr.max() >= n_pairs):
        raise ValueError(f"pair indices must lie in 0..{n_pairs - 1}")
    if label_arr.size and (label_arr.min() < 0 or label_arr.max() >= k):
        raise ValueError(f"labels must lie in 0..{k - 1}")
    flat = np.bincount(pair_arr * k + label_arr, minlength=n_pairs * k)
    return flat.reshape(n_pairs, k).astype(np.int64, copy=False)


def _as_counts(counts: npt.ArrayLike) -> IntArray:
    arr = np.asarray(counts)
    if arr.ndim != 2 or arr.shape[1] == 0:
        raise ValueError("counts must be a 2-D (pairs x categories) matrix with at least one category")
    whole = np.issubdtype(arr.dtype, np.integer) or np.array_equal(arr, np.round(arr))
    if arr.size and (arr.min() < 0 or not whole):
        raise ValueError("counts must be non-negative whole numbers")
    return arr.astype(np.int64, copy=False)


def _as_units(units: npt.ArrayLike | None, table: IntArray) -> IntArray:
    """How many pairs each row stands for (one each when not given)."""
    if units is None:
        return np.ones(len(table), dtype=np.int64)
    arr = np.asarray(units, dtype=np.int64)
    if arr.shape != (len(table),) or (arr.size and arr.min() < 0):
        raise ValueError("units must give a non-negative number of pairs per row of counts")
    return arr


def _pairable(counts: IntArray) -> IntArray:
    """Rows with two or more votes: a single vote has nothing to be paired with."""
    return counts[counts.sum(axis=1) >= 2]


# --- coincidences ---------------------------------------------------------------------------------


def coincidence_matrix(counts: npt.ArrayLike) -> FloatArray:
    """Krippendorff's observed coincidences o_cc' = sum_u (n_uc n_uc' - [c = c'] n_uc) / (m_u - 1).

    Linear in the number of pairs: a weighted Gram matrix of the counts. Rows with fewer than two
    votes contribute nothing.
    """
    pairable = _pairable(_as_counts(counts)).astype(np.float64)
    weight = 1.0 / (pairable.sum(axis=1) - 1.0)
    gram = (pairable * weight[:, None]).T @ pairable
    return gram - np.diag((pairable * weight[:, None]).sum(axis=0))


def _nominal_alpha(diagonal: FloatArray, marginals: IntArray) -> FloatArray:
    """Nominal alpha from the coincidence diagonal sum and the per-category marginals n_c.

    D_o = 1 - sum_c o_cc / n and D_e = (n^2 - sum_c n_c^2) / (n (n - 1)), so
    alpha = 1 - D_o / D_e = 1 - (n - 1)(n - sum_c o_cc) / (n^2 - sum_c n_c^2).
    Works on a batch (leading axes) of replicates; NaN where D_e = 0.
    """
    n = marginals.sum(axis=-1)
    # Integer arithmetic makes the "only one category" test exact.
    spread = n * n - (marginals * marginals).sum(axis=-1)
    safe = np.where(spread > 0, spread, 1)
    alpha = 1.0 - (n - 1.0) * (n - diagonal) / safe
    return np.where(spread > 0, alpha, np.nan)


def alpha_from_counts(counts: npt.ArrayLike) -> float | None:
    """Nominal alpha through our own coincidence formula (the bootstrap's path); None when undefined."""
    coincidences = coincidence_matrix(counts)
    marginals = np.rint(coincidences.sum(axis=0)).astype(np.int64)
    if marginals.sum() < 2:
        return None
    value = float(_nominal_alpha(np.asarray(np.trace(coincidences)), marginals))
    return None if np.isnan(value) else value


# --- bootstrap over pairs -------------------------------------------------------------------------


@dataclass(frozen=True)
class _Patterns:
    """Distinct count vectors of the pairable units, with how many units share each.

    Units with the same count vector contribute identically to every statistic here, so a bootstrap
    only needs to know how many of each pattern a replicate drew.
    """

    rows: IntArray  # (P, k)
    units: IntArray  # (P,)


def _patterns(counts: IntArray, units: IntArray | None = None) -> _Patterns:
    """The distinct pairable rows of `counts` (each standing for `units` pairs, default one) and how
    many pairs share each; rows without two votes and rows standing for no pair are left out."""
    units = _as_units(units, counts)
    keep = (counts.sum(axis=1) >= 2) & (units > 0)
    pairable, units = counts[keep], units[keep]
    if len(pairable) == 0:
        return _Patterns(pairable, np.zeros(0, dtype=np.int64))
    radix = int(pairable.max()) + 1
    k = pairable.shape[1]
    if k * np.log2(radix) < 62:
        # np.unique(axis=0) sorts rows lexicographically and is ~100x slower than one integer key.
        key = pairable @ (radix ** np.arange(k - 1, -1, -1, dtype=np.int64))
        _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    else:
        _, first, inverse = np.unique(pairable, axis=0, return_index=True, return_inverse=True)
    summed = np.bincount(inverse.ravel(), weights=units, minlength=len(first)).astype(np.int64)
    return _Patterns(pairable[first], summed)


def _alpha(patterns: _Patterns) -> float:
    """Nominal alpha from the patterns' coincidences (nan when every vote is one category)."""
    rows = patterns.rows
    diagonal = (rows * (rows - 1)).sum(axis=1) / (rows.sum(axis=1) - 1.0)
    return float(_nominal_alpha(np.asarray(patterns.units @ diagonal), patterns.units @ rows))


def _resampled_units(patterns: _Patterns, replicates: int, seed: int) -> list[IntArray]:
    """Per replicate, how many units of each pattern were drawn (chunks of (B, P) matrices)."""
    rng = np.random.default_rng(seed)
    n_units = int(patterns.units.sum())
    freqs = patterns.units / n_units
    per_chunk = max(1, _CHUNK_CELLS // max(1, len(freqs)))
    chunks = []
    for start in range(0, replicates, per_chunk):
        size = min(per_chunk, replicates - start)
        chunks.append(rng.multinomial(n_units, freqs, size=size).astype(np.int64))
    return chunks


def _percentile_interval(values: FloatArray) -> tuple[float | None, float | None]:
    if len(values) == 0:
        return None, None
    low, high = np.percentile(values, [2.5, 97.5])
    return float(low), float(high)


def _alpha_replicates(patterns: _Patterns, replicates: int, seed: int) -> FloatArray:
    rows = patterns.rows
    # Each pattern's share of the coincidence diagonal: sum_c n_c (n_c - 1) / (m - 1).
    diagonal = (rows * (rows - 1)).sum(axis=1) / (rows.sum(axis=1) - 1.0)
    out = [_nominal_alpha(drawn @ diagonal, drawn @ rows) for drawn in _resampled_units(patterns, replicates, seed)]
    return np.concatenate(out) if out else np.zeros(0)


def _percent_replicates(patterns: _Patterns, replicates: int, seed: int) -> FloatArray:
    per_pattern = _pair_agreement(patterns.rows)
    n_units = patterns.units.sum()
    out = [(drawn @ per_pattern) / n_units for drawn in _resampled_units(patterns, replicates, seed)]
    return np.concatenate(out) if out else np.zeros(0)


# --- the statistics -------------------------------------------------------------------------------


def _only_category(rows: IntArray) -> str | None:
    """The name of the one category every vote in ``rows`` falls in, or None when several are used."""
    used = np.flatnonzero(rows.sum(axis=0))
    return category_name(int(used[0]), rows.shape[1]) if len(used) == 1 else None


def krippendorff_alpha(
    counts: npt.ArrayLike, *, units: npt.ArrayLike | None = None, bootstrap: int = 1000, seed: int = 0
) -> Estimate:
    """Nominal Krippendorff's alpha with a 95% percentile bootstrap interval over pairs."""
    table = _as_counts(counts)
    patterns = _patterns(table, _as_units(units, table))
    if table.shape[1] < 2:
        return Estimate(None, note="alpha needs at least two categories to tell agreement from chance")
    if not patterns.units.sum():
        return Estimate(None, note=NO_OVERLAP)
    if patterns.units.sum() == 1:
        # With one unit the expected disagreement is estimated from that same unit, which makes
        # alpha exactly 0 whatever the votes were.
        return Estimate(None, note="only one pair has two or more votes; alpha of a single pair is 0 by construction")
    only = _only_category(patterns.rows)
    if only is not None:
        return Estimate(
            None,
            note=f"every counted vote is {only}: agreement is total, but alpha cannot separate it from chance "
            "(expected disagreement is zero), so it is undefined",
        )

    value = _alpha(patterns)
    if bootstrap <= 0:
        return Estimate(value)
    replicates = _alpha_replicates(patterns, bootstrap, seed)
    defined = replicates[~np.isnan(replicates)]
    low, high = _percentile_interval(defined)
    return Estimate(value, low, high, note=_dropped_note(bootstrap - len(defined), bootstrap))


def _dropped_note(dropped: int, replicates: int) -> str:
    if dropped <= _UNDEFINED_SHARE_TO_MENTION * replicates:
        return ""
    if dropped == replicates:
        return "every bootstrap replicate drew a single category, so there is no interval"
    return (
        f"{dropped} of {replicates} bootstrap replicates drew a single category and were dropped; "
        "the interval is conditional on alpha being defined"
    )


def _pair_agreement(rows: IntArray) -> FloatArray:
    """Per pair: agreeing ordered vote pairs / all ordered vote pairs, sum_c n_c (n_c - 1) / (m (m - 1))."""
    m = rows.sum(axis=1).astype(np.float64)
    return (rows * (rows - 1)).sum(axis=1) / (m * (m - 1.0))


def percent_agreement(
    counts: npt.ArrayLike, *, units: npt.ArrayLike | None = None, bootstrap: int = 1000, seed: int = 0
) -> Estimate:
    """Mean over pairs with two or more votes of the share of agreeing ordered vote pairs.

    The interval is the same pattern bootstrap over pairs as alpha's (so it is nearly free).
    """
    table = _as_counts(counts)
    patterns = _patterns(table, _as_units(units, table))
    n_units = int(patterns.units.sum())
    if not n_units:
        return Estimate(None, note=NO_OVERLAP)
    value = float(patterns.units @ _pair_agreement(patterns.rows) / n_units)
    notes = []
    only = _only_category(patterns.rows)
    if only is not None:
        notes.append(f"every counted vote is {only}, so agreement is total; it says nothing about chance")
    if n_units == 1:
        notes.append("it rests on a single pair")
    note = "; ".join(notes)
    if bootstrap <= 0:
        return Estimate(value, note=note)
    low, high = _percentile_interval(_percent_replicates(patterns, bootstrap, seed))
    return Estimate(value, low, high, note=note)


def fleiss_kappa(counts: npt.ArrayLike, *, units: npt.ArrayLike | None = None) -> Estimate:
    """Fleiss' kappa, defined only when every pair with a vote has the same number (>= 2) of votes.

    kappa = (P - P_e) / (1 - P_e): P the mean over pairs of sum_c n_c (n_c - 1) / (m (m - 1)), P_e the
    sum over categories of the squared share of all votes (Fleiss 1971, as statsmodels computes it)."""
    table = _as_counts(counts)
    weights = _as_units(units, table)
    totals = table.sum(axis=1)
    has = (totals > 0) & (weights > 0)
    voted, weights = table[has], weights[has]
    if len(voted) == 0:
        return Estimate(None, note="there are no votes")
    fewest, most = int(totals[has].min()), int(totals[has].max())
    if fewest != most:
        return Estimate(
            None,
            note=f"pairs have between {fewest} and {most} votes; "
            "Fleiss' kappa needs the same number of raters per pair",
        )
    if fewest < 2:
        return Estimate(None, note=f"{NO_OVERLAP}; Fleiss' kappa needs at least two raters per pair")
    if weights.sum() == 1:
        return Estimate(None, note="only one pair has votes; Fleiss' kappa needs several pairs to estimate chance")
    only = _only_category(voted)
    if only is not None:
        return Estimate(
            None,
            note=f"every vote is {only}: agreement is total, but kappa cannot separate it from chance "
            "(expected agreement is 1), so it is undefined",
        )
    observed = float(weights @ _pair_agreement(voted) / weights.sum())
    shares = (weights @ voted) / (weights.sum() * fewest)
    chance = float((shares * shares).sum())
    return Estimate((observed - chance) / (1.0 - chance))


def majority(counts: npt.ArrayLike) -> tuple[IntArray, FloatArray, IntArray]:
    """Per pair: the majority label (-1 without votes or a unique maximum), its vote share, total votes."""
    table = _as_counts(counts)
    totals = table.sum(axis=1)
    top = table.max(axis=1)
    unique_top = (table == top[:, None]).sum(axis=1) == 1
    label = np.where(unique_top & (totals > 0), table.argmax(axis=1), -1).astype(np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(totals > 0, top / np.maximum(totals, 1), np.nan)
    return label, share, totals


def agreement(
    counts: npt.ArrayLike, *, units: npt.ArrayLike | None = None, bootstrap: int = 1000, seed: int = 0
) -> Agreement:
    """Every statistic over `counts` (each row standing for `units` pairs, default one)."""
    table = _as_counts(counts)
    weights = _as_units(units, table)
    totals = table.sum(axis=1)
    return Agreement(
        pairs=int(weights.sum()),
        pairs_with_overlap=int(weights[totals >= 2].sum()),
        votes=int(weights @ totals),
        alpha=krippendorff_alpha(table, units=weights, bootstrap=bootstrap, seed=seed),
        fleiss=fleiss_kappa(table, units=weights),
        percent=percent_agreement(table, units=weights, bootstrap=bootstrap, seed=seed),
        label_counts=tuple(int(c) for c in weights @ table),
    )
