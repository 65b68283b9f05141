"""Pure statistics: no database, only numbers computed by hand or by the reference packages."""

from __future__ import annotations

from fractions import Fraction

import krippendorff
import numpy as np
import pytest
from scipy.stats import binomtest
from statsmodels.stats.inter_rater import cohens_kappa as sm_cohens_kappa
from statsmodels.stats.inter_rater import fleiss_kappa as sm_fleiss_kappa

from releases.stats import (
    VoteTable,
    agreement,
    alpha_from_counts,
    annotator_stats,
    cohens_kappa,
    coincidence_matrix,
    fair_coin_p_value,
    fleiss_kappa,
    krippendorff_alpha,
    leave_one_out_majority,
    left_pick_test,
    majority,
    percent_agreement,
    value_counts,
    wilson_interval,
)
from releases.stats.agreement import _alpha_replicates, _nominal_alpha, _patterns

# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", section C: coders A-D (rows)
# by units 1-12 (columns), "." missing. Nominal alpha = 0.743.
KRIPPENDORFF_2011_C = """
1 2 3 3 2 1 4 1 2 . . .
1 2 3 3 2 2 4 1 2 5 . 3
. 3 3 3 2 3 4 2 2 5 1 .
1 2 3 3 2 4 4 1 2 5 1 .
"""

# Four pairs x three votes, worked by hand below for Fleiss, percent agreement and alpha.
HAND_TABLE = np.array([[3, 0, 0], [0, 3, 0], [2, 1, 0], [1, 1, 1]])


def reference_counts() -> np.ndarray:
    pair, label = [], []
    for row in KRIPPENDORFF_2011_C.split("\n"):
        for unit, value in enumerate(row.split()):
            if value != ".":
                pair.append(unit)
                label.append(int(value) - 1)
    return value_counts(np.array(pair), np.array(label), n_pairs=12, k=5)


def random_counts(rng: np.random.Generator, n_pairs: int, k: int) -> np.ndarray:
    """Between 0 and 6 votes per pair, labels skewed so categories differ in frequency."""
    votes = rng.integers(0, 7, size=n_pairs)
    probs = rng.dirichlet(np.ones(k))
    return np.array([rng.multinomial(m, probs) for m in votes])


# --- value counts and the reference -------------------------------------------------------------


def test_value_counts_builds_the_pair_by_category_matrix() -> None:
    counts = value_counts(np.array([0, 0, 2, 2, 2]), np.array([1, 2, 0, 0, 2]), n_pairs=3)
    assert counts.tolist() == [[0, 1, 1], [0, 0, 0], [2, 0, 1]]
    assert counts.dtype == np.int64


def test_value_counts_refuses_a_label_outside_the_categories() -> None:
    # Label 3 with k=3 would silently land in the next pair's row.
    with pytest.raises(ValueError, match="labels"):
        value_counts(np.array([0]), np.array([3]), n_pairs=2)


def test_krippendorff_2011_reference_alpha() -> None:
    counts = reference_counts()
    estimate = krippendorff_alpha(counts, bootstrap=1000, seed=0)
    assert estimate.value is not None and round(estimate.value, 3) == 0.743
    assert estimate.low is not None and estimate.high is not None
    assert estimate.low <= estimate.value <= estimate.high
    assert estimate.note == ""


def test_reference_summary_counts_pairs_and_votes() -> None:
    summary = agreement(reference_counts(), bootstrap=200)
    assert summary.pairs == 12
    assert summary.pairs_with_overlap == 11  # unit 12 has a single value
    assert summary.votes == 41
    assert summary.label_counts == (9, 13, 11, 5, 3)
    assert summary.fleiss.value is None
    assert summary.fleiss.note.startswith("pairs have between 1 and 4 votes; ")


# --- our coincidence formula against the krippendorff package ------------------------------------


@pytest.mark.parametrize(("seed", "k"), [(0, 3), (1, 3), (2, 5), (3, 2), (4, 4)])
def test_own_coincidences_match_krippendorff(seed: int, k: int) -> None:
    counts = random_counts(np.random.default_rng(seed), n_pairs=60, k=k)
    pairable = counts[counts.sum(axis=1) >= 2]
    expected = krippendorff.krippendorff._coincidences(pairable)
    assert np.allclose(coincidence_matrix(counts), expected)
    alpha = krippendorff.alpha(value_counts=pairable, level_of_measurement="nominal")
    assert alpha_from_counts(counts) == pytest.approx(alpha, abs=1e-12)
    assert krippendorff_alpha(counts, bootstrap=0).value == pytest.approx(alpha, abs=1e-12)


@pytest.mark.parametrize("seed", [5, 6, 7])
def test_pattern_weighted_alpha_matches_krippendorff(seed: int) -> None:
    # The bootstrap's shortcut: alpha from distinct count vectors weighted by how often they occur.
    counts = random_counts(np.random.default_rng(seed), n_pairs=200, k=3)
    pairable = counts[counts.sum(axis=1) >= 2]
    patterns = _patterns(pairable)
    assert patterns.units.sum() == len(pairable)
    rows = patterns.rows
    diagonal = (rows * (rows - 1)).sum(axis=1) / (rows.sum(axis=1) - 1.0)
    alpha = _nominal_alpha(patterns.units @ diagonal, patterns.units @ rows)
    assert float(alpha) == pytest.approx(krippendorff.alpha(value_counts=pairable, level_of_measurement="nominal"))


@pytest.mark.parametrize("seed", [8, 9])
def test_counts_given_once_per_pattern_give_what_every_pair_gives(seed: int) -> None:
    # The curator pages pass each distinct count vector once with how many pairs share it.
    counts = random_counts(np.random.default_rng(seed), n_pairs=300, k=3)
    rows, units = np.unique(counts, axis=0, return_counts=True)
    assert len(rows) < len(counts)
    per_pair = agreement(counts, bootstrap=200, seed=3)
    grouped = agreement(rows, units=units, bootstrap=200, seed=3)
    assert grouped == per_pair
    pairable = counts[counts.sum(axis=1) >= 2]
    assert grouped.alpha.value == pytest.approx(
        krippendorff.alpha(value_counts=pairable, level_of_measurement="nominal")
    )
    at_3 = counts[counts.sum(axis=1) == 3]
    rows3, units3 = np.unique(at_3, axis=0, return_counts=True)
    assert fleiss_kappa(rows3, units=units3).value == pytest.approx(sm_fleiss_kappa(at_3, method="fleiss"))
    # A pattern standing for no pair counts for nothing.
    padded = agreement(np.vstack([rows, [[7, 0, 0]]]), units=np.append(units, 0), bootstrap=0)
    assert padded == agreement(counts, bootstrap=0)


def test_units_must_match_the_rows() -> None:
    with pytest.raises(ValueError, match="units"):
        agreement(HAND_TABLE, units=[1, 2])
    with pytest.raises(ValueError, match="units"):
        agreement(HAND_TABLE, units=[1, -1, 1, 1])


def test_bootstrap_is_seeded_and_brackets_the_estimate() -> None:
    rng = np.random.default_rng(11)
    truth = rng.integers(0, 3, size=2000)
    labels = np.where(rng.random((2000, 3)) < 0.8, truth[:, None], rng.integers(0, 3, size=(2000, 3)))
    counts = value_counts(np.repeat(np.arange(2000), 3), labels.ravel(), n_pairs=2000)
    first = krippendorff_alpha(counts, seed=3)
    assert first == krippendorff_alpha(counts, seed=3)
    assert first.low is not None and first.high is not None and first.value is not None
    assert first.low < first.value < first.high
    assert first.high - first.low < 0.1
    replicates = _alpha_replicates(_patterns(counts), 400, seed=0)
    assert replicates.std() == pytest.approx((first.high - first.low) / 3.92, rel=0.25)


# --- hand-computed small cases -------------------------------------------------------------------


def test_fleiss_kappa_by_hand() -> None:
    # P_i = 1, 1, 1/3, 0 -> P = 7/12; p_j = 6/12, 5/12, 1/12 -> P_e = 31/72; kappa = 11/41.
    estimate = fleiss_kappa(HAND_TABLE)
    assert estimate.value == pytest.approx(float(Fraction(11, 41)))
    assert estimate.value == pytest.approx(sm_fleiss_kappa(HAND_TABLE, method="fleiss"))
    assert estimate.note == ""


def test_fleiss_kappa_ignores_pairs_without_votes() -> None:
    with_empty = np.vstack([HAND_TABLE, [[0, 0, 0]]])
    assert fleiss_kappa(with_empty).value == pytest.approx(float(Fraction(11, 41)))


def test_fleiss_kappa_needs_the_same_number_of_raters() -> None:
    estimate = fleiss_kappa(np.array([[2, 0, 0], [3, 1, 1], [1, 1, 1]]))
    assert estimate.value is None
    assert estimate.note == "pairs have between 2 and 5 votes; Fleiss' kappa needs the same number of raters per pair"


def test_percent_agreement_by_hand() -> None:
    # Agreeing ordered vote pairs / all ordered vote pairs per pair: 1, 1, 1/3, 0.
    estimate = percent_agreement(HAND_TABLE, bootstrap=500)
    assert estimate.value == pytest.approx(7 / 12)
    assert estimate.low is not None and estimate.high is not None
    assert 0 <= estimate.low <= 7 / 12 <= estimate.high <= 1


def test_percent_agreement_skips_pairs_without_overlap() -> None:
    counts = np.vstack([HAND_TABLE, [[1, 0, 0], [0, 0, 0]]])
    assert percent_agreement(counts, bootstrap=0).value == pytest.approx(7 / 12)


def test_alpha_by_hand() -> None:
    # n = 12, n_c = 6, 5, 1, sum_c o_cc = 3 + 3 + 1 + 0 = 7: alpha = 1 - 11 * 5 / (144 - 62) = 27/82.
    assert krippendorff_alpha(HAND_TABLE, bootstrap=0).value == pytest.approx(float(Fraction(27, 82)))


def test_majority_with_ties_and_empty_pairs() -> None:
    label, share, votes = majority(np.array([[2, 1, 0], [1, 1, 0], [0, 0, 0], [1, 1, 1], [0, 0, 3]]))
    assert label.tolist() == [0, -1, -1, -1, 2]
    assert np.allclose(share, [2 / 3, 1 / 2, np.nan, 1 / 3, 1.0], equal_nan=True)
    assert votes.tolist() == [3, 2, 0, 3, 3]


# --- degenerate cases ----------------------------------------------------------------------------


def test_everybody_agreeing_is_explained_not_scored() -> None:
    summary = agreement(np.array([[3, 0, 0], [3, 0, 0], [2, 0, 0]]), bootstrap=100)
    assert summary.alpha.value is None
    assert "every counted vote is response1 (A)" in summary.alpha.note
    assert "chance" in summary.alpha.note
    assert summary.fleiss.value is None
    assert "pairs have between 2 and 3 votes" in summary.fleiss.note
    assert summary.percent.value == 1.0
    assert "every counted vote is response1 (A)" in summary.percent.note


def test_fleiss_with_every_vote_the_same_is_undefined() -> None:
    estimate = fleiss_kappa(np.array([[0, 0, 2], [0, 0, 2]]))
    assert estimate.value is None
    assert "every vote is tie" in estimate.note


def test_no_overlap_is_explained() -> None:
    summary = agreement(np.array([[1, 0, 0], [0, 1, 0], [0, 0, 0]]))
    assert summary.pairs_with_overlap == 0
    for estimate in (summary.alpha, summary.percent, summary.fleiss):
        assert estimate.value is None
        assert "no pair has two or more votes, so there is nothing to agree on" in estimate.note


def test_single_pair_is_explained() -> None:
    summary = agreement(np.array([[2, 1, 0], [1, 0, 0]]))
    assert summary.alpha.value is None
    assert "only one pair" in summary.alpha.note
    assert summary.percent.value == pytest.approx(1 / 3)
    assert "single pair" in summary.percent.note
    single = fleiss_kappa(np.array([[2, 1, 0]]))
    assert single.value is None and "only one pair" in single.note


def test_alpha_needs_two_categories() -> None:
    estimate = krippendorff_alpha(np.array([[2], [3]]))
    assert estimate.value is None and "two categories" in estimate.note


def test_mostly_unanimous_data_says_replicates_were_dropped() -> None:
    # 19 unanimous pairs and 1 split: about a third of resamples contain no split pair at all.
    counts = np.vstack([np.tile([2, 0, 0], (19, 1)), [[1, 1, 0]]])
    estimate = krippendorff_alpha(counts, bootstrap=400, seed=1)
    assert estimate.value is not None
    assert "bootstrap replicates drew a single category and were dropped" in estimate.note


# --- annotators ----------------------------------------------------------------------------------


def vote_table(votes: list[tuple[int, int, int, bool, int]], n_pairs: int, n_annotators: int) -> VoteTable:
    """votes: (pair, annotator, label, left, time_ms)."""
    pair, annotator, label, left, time_ms = zip(*votes, strict=True)
    return VoteTable(
        pair=np.array(pair, dtype=np.int64),
        annotator=np.array(annotator, dtype=np.int64),
        label=np.array(label, dtype=np.int8),
        left=np.array(left, dtype=bool),
        time_ms=np.array(time_ms, dtype=np.int64),
        n_pairs=n_pairs,
        n_annotators=n_annotators,
    )


def test_leave_one_out_majority_needs_a_unique_top_among_the_others() -> None:
    table = vote_table(
        [
            (0, 0, 0, False, 1), (0, 1, 0, False, 1), (0, 2, 1, False, 1),  # others of a 0-vote: [1, 1, 0]
            (1, 0, 1, False, 1), (1, 1, 1, False, 1), (1, 2, 1, False, 1),
            (2, 0, 2, False, 1), (2, 1, 0, False, 1), (2, 2, 1, False, 1),  # every leave-one-out is a tie
            (3, 0, 0, False, 1),  # alone on its pair
        ],
        n_pairs=4,
        n_annotators=3,
    )  # fmt: skip
    assert leave_one_out_majority(table).tolist() == [-1, -1, 0, 1, 1, 1, -1, -1, -1, -1]


# Annotators 1 and 2 always agree with each other (the "reference" label); annotator 0 deviates on
# pairs 3, 7 and 9, and alone judges pair 10. Annotator 3 never voted.
REFERENCE = [0, 0, 0, 0, 1, 1, 1, 1, 2, 2]
FIRST = [0, 0, 0, 1, 1, 1, 1, 0, 2, 0]
GOLD = np.array([0, -1, -1, 0, -1, -1, -1, -1, 2, -1, -1], dtype=np.int8)


def panel() -> VoteTable:
    votes = []
    for p, (ref, own) in enumerate(zip(REFERENCE, FIRST, strict=True)):
        votes.append((p, 0, own, own != 2, 1000 * (p + 1)))  # every sided vote on the left
        for annotator in (1, 2):
            # Left on pairs 0, 1, 4, 5: half of the eight sided votes.
            votes.append((p, annotator, ref, ref != 2 and p % 4 < 2, 100 * (p + 1)))
    votes.append((10, 0, 1, True, 11000))
    return vote_table(votes, n_pairs=11, n_annotators=4)


def test_annotator_kappa_against_the_others_majority() -> None:
    first, second, third, silent = annotator_stats(panel(), GOLD)
    # Annotator 0 vs the reference: rows [3,1,1], [1,3,0], [0,0,1]; p_o = 7/10,
    # p_e = (5*4 + 4*4 + 1*2)/100 = 38/100, kappa = 0.32/0.62 = 16/31.
    assert first.judgments == 11
    assert first.compared == 10
    assert first.kappa.value == pytest.approx(16 / 31)
    # Annotators 1 and 2 are compared only where annotator 0 agreed (otherwise the others tie).
    assert second.compared == third.compared == 7
    assert second.kappa.value == pytest.approx(1.0)
    assert silent.judgments == 0 and silent.compared == 0
    assert silent.kappa.value is None and silent.kappa.note == "this annotator has no judgments"


def test_annotator_gold_ties_and_times() -> None:
    first, second, _, silent = annotator_stats(panel(), GOLD)
    assert first.gold_judged == 3
    assert first.gold_accuracy.value == pytest.approx(2 / 3)
    expected = binomtest(2, 3).proportion_ci(method="wilson")
    assert (first.gold_accuracy.low, first.gold_accuracy.high) == pytest.approx((expected.low, expected.high))
    assert second.gold_accuracy.value == 1.0
    assert second.gold_accuracy.low is not None and second.gold_accuracy.low < 1.0
    assert silent.gold_accuracy.value is None and "no gold pairs" in silent.gold_accuracy.note
    assert first.tie_rate == pytest.approx(1 / 11)
    assert second.tie_rate == pytest.approx(2 / 10)
    assert silent.tie_rate is None
    assert first.median_time_ms == 6000.0
    assert second.median_time_ms == 550.0  # mean of the middle two of 100..1000
    assert silent.median_time_ms is None


def test_left_bias_shows_in_the_p_value() -> None:
    first, second, _, silent = annotator_stats(panel(), GOLD)
    assert (first.left_picks, first.sided_votes) == (10, 10)
    assert first.left_rate == 1.0
    assert first.left_p_value == pytest.approx(2 / 2**10)
    assert (second.left_picks, second.sided_votes) == (4, 8)
    assert second.left_p_value == pytest.approx(1.0)
    assert silent.left_p_value is None and silent.left_rate is None
    picks, sided, p_value = left_pick_test(panel())
    assert (picks, sided) == (18, 26)
    assert p_value == pytest.approx(binomtest(18, 26, 0.5).pvalue)


def test_kappa_without_any_clear_majority_is_explained() -> None:
    # Two votes per pair that always disagree: each vote's "others" is the single opposite vote,
    # so it is compared; a lone third annotator on pair 2 has no others at all.
    table = vote_table([(0, 0, 0, True, 1), (0, 1, 1, True, 1), (1, 2, 2, False, 1)], n_pairs=2, n_annotators=3)
    stats = annotator_stats(table, np.full(2, -1, dtype=np.int8))
    assert stats[0].compared == 1
    assert stats[2].compared == 0
    assert stats[2].kappa.value is None
    assert "no judgment (1 in all) shares its pair" in stats[2].kappa.note


def test_kappa_with_a_single_shared_category_is_explained() -> None:
    table = vote_table([(p, a, 1, True, 10) for p in range(3) for a in range(2)], n_pairs=3, n_annotators=2)
    stats = annotator_stats(table, np.full(3, -1, dtype=np.int8))
    assert stats[0].compared == 3
    assert stats[0].kappa.value is None
    assert "chose response2 (B)" in stats[0].kappa.note


@pytest.mark.parametrize("seed", range(4))
def test_vectorised_cohens_kappa_matches_statsmodels(seed: int) -> None:
    tables = np.random.default_rng(seed).integers(0, 20, size=(5, 3, 3))
    expected = [sm_cohens_kappa(t).kappa for t in tables]
    assert cohens_kappa(tables) == pytest.approx(expected)


def test_vote_table_refuses_a_tie_that_picked_left() -> None:
    with pytest.raises(ValueError, match="tie"):
        vote_table([(0, 0, 2, True, 1)], n_pairs=1, n_annotators=1)


@pytest.mark.parametrize("trials", [1, 2, 7, 10, 31, 200, 2500])
def test_vectorised_binomial_helpers_match_scipy(trials: int) -> None:
    successes = np.unique(np.linspace(0, trials, 12).astype(int))
    low, high = wilson_interval(successes, np.full(len(successes), trials))
    p_values = fair_coin_p_value(successes, trials)
    for k, lo, hi, p_value in zip(successes, low, high, p_values, strict=True):
        test = binomtest(int(k), trials, 0.5)
        ci = test.proportion_ci(confidence_level=0.95, method="wilson")
        assert (lo, hi) == pytest.approx((ci.low, ci.high), abs=1e-12)
        assert p_value == pytest.approx(test.pvalue, rel=1e-9, abs=1e-300)
