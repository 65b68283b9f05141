"""Two labelings of the same pairs compared: the imported label against our annotators' consensus.

Pure numpy. Labels are codes 0 = response1, 1 = response2, 2 = tie (releases.gate.LABELS).

The kappa interval is a 95% percentile bootstrap over pairs, seeded: resampling pairs with replacement
is the same as drawing the 3 x 3 confusion table from a multinomial over its nine cells, so a replicate
costs nine numbers whatever the number of pairs. Replicates where kappa is undefined (every drawn pair
in one and the same category on both sides) are dropped, and a note says so when there are many.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from .agreement import LABEL_NAMES, Estimate
from .annotators import cohens_kappa, wilson_interval

K = 3
# More undefined replicates than this and the interval is conditional enough to be worth a note.
_UNDEFINED_SHARE_TO_MENTION = 0.05

NOTHING_TO_COMPARE = "no pair has both an imported label and a consensus yet, so there is nothing to compare"


@dataclass(frozen=True)
class Comparison:
    confusion: npt.NDArray[np.int64]  # 3 x 3: rows the imported label, columns the consensus
    agreement: Estimate  # share of compared pairs where the two agree, 95% Wilson interval
    kappa: Estimate  # Cohen's kappa, 95% percentile bootstrap interval over pairs

    @property
    def compared(self) -> int:
        return int(self.confusion.sum())

    @property
    def agreed(self) -> int:
        return int(np.trace(self.confusion))


def confusion_table(imported: npt.ArrayLike, consensus: npt.ArrayLike) -> npt.NDArray[np.int64]:
    """Rows: imported label; columns: consensus. Both arrays hold codes 0..2 and have the same length."""
    a = np.asarray(imported, dtype=np.int64)
    b = np.asarray(consensus, dtype=np.int64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"imported and consensus must be 1-D and the same length, got {a.shape} and {b.shape}.")
    if a.size and (min(a.min(), b.min()) < 0 or max(a.max(), b.max()) >= K):
        raise ValueError("labels must be codes 0 (response1), 1 (response2) or 2 (tie).")
    return np.bincount(a * K + b, minlength=K * K).reshape(K, K).astype(np.int64)


def _single(margin: npt.NDArray[np.int64]) -> str | None:
    used = np.flatnonzero(margin)
    return LABEL_NAMES[int(used[0])] if len(used) == 1 else None


def kappa_estimate(table: npt.NDArray[np.int64], *, bootstrap: int = 1000, seed: int = 0) -> Estimate:
    """Cohen's kappa of a confusion table with its bootstrap interval; None with a sentence when degenerate."""
    n = int(table.sum())
    if n == 0:
        return Estimate(None, note=NOTHING_TO_COMPARE)
    imported_only, consensus_only = _single(table.sum(axis=1)), _single(table.sum(axis=0))
    if imported_only is not None and imported_only == consensus_only:
        return Estimate(
            None,
            note=f"every compared pair is {imported_only} in both the import and the consensus: agreement is "
            "total, but kappa cannot tell it from chance (chance agreement is 1), so it is undefined",
        )
    # With one category on one side kappa is exactly 0 whatever the other side does: report why instead.
    for side, only in (("imported label", imported_only), ("consensus", consensus_only)):
        if only is not None:
            return Estimate(
                None,
                note=f"every compared pair's {side} is {only}, so kappa is 0 by construction and says nothing "
                "about agreement; read the agreement share and the confusion matrix instead",
            )
    value = float(cohens_kappa(table))
    if bootstrap <= 0:
        return Estimate(value)
    rng = np.random.default_rng(seed)
    drawn = rng.multinomial(n, table.ravel() / n, size=bootstrap).reshape(bootstrap, K, K)
    replicates = cohens_kappa(drawn)
    defined = replicates[~np.isnan(replicates)]
    if len(defined) == 0:
        return Estimate(value, note="every bootstrap replicate drew a single category, so there is no interval")
    low, high = np.percentile(defined, [2.5, 97.5])
    dropped = bootstrap - len(defined)
    note = ""
    if dropped > _UNDEFINED_SHARE_TO_MENTION * bootstrap:
        note = (
            f"{dropped} of {bootstrap} bootstrap replicates drew a single category and were dropped; "
            "the interval is conditional on kappa being defined"
        )
    return Estimate(value, float(low), float(high), note=note)


def agreement_estimate(table: npt.NDArray[np.int64]) -> Estimate:
    n = int(table.sum())
    if n == 0:
        return Estimate(None, note=NOTHING_TO_COMPARE)
    agreed = int(np.trace(table))
    low, high = wilson_interval(agreed, n)
    return Estimate(agreed / n, float(low), float(high))


def compare(imported: npt.ArrayLike, consensus: npt.ArrayLike, *, bootstrap: int = 1000, seed: int = 0) -> Comparison:
    table = confusion_table(imported, consensus)
    return Comparison(table, agreement_estimate(table), kappa_estimate(table, bootstrap=bootstrap, seed=seed))
