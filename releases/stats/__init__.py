"""Pure statistics for releases: agreement over pairs and per-annotator quality (numpy/scipy only)."""

from __future__ import annotations

from releases.stats.agreement import (
    Agreement,
    Estimate,
    agreement,
    alpha_from_counts,
    coincidence_matrix,
    fleiss_kappa,
    krippendorff_alpha,
    majority,
    percent_agreement,
    value_counts,
)
from releases.stats.annotators import (
    AnnotatorStats,
    VoteTable,
    annotator_stats,
    cohens_kappa,
    fair_coin_p_value,
    leave_one_out_majority,
    left_pick_test,
    wilson_interval,
)

__all__ = [
    "Agreement",
    "AnnotatorStats",
    "Estimate",
    "VoteTable",
    "agreement",
    "alpha_from_counts",
    "annotator_stats",
    "cohens_kappa",
    "coincidence_matrix",
    "fair_coin_p_value",
    "fleiss_kappa",
    "krippendorff_alpha",
    "leave_one_out_majority",
    "left_pick_test",
    "majority",
    "percent_agreement",
    "value_counts",
    "wilson_interval",
]
