from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import pytest
from scipy.stats import binomtest
from statsmodels.stats.inter_rater import cohens_kappa

from judges.metrics import (
    Cell,
    Table,
    accuracy_with_tie,
    accuracy_without_tie,
    confusion,
    kappa,
    leaderboard_row,
    leaderboard_row_from_confusion,
    length_bias,
    mcnemar,
    overall,
    overall_interval,
    paired_mcnemar,
    position_consistency,
    scalar_answers,
    scalar_without_tie,
    table_of,
    tie_calibrated,
    wilson,
)

R1, R2, TIE, NONE = 0, 1, 2, -1


# --------------------------------------------------------------------------- accuracies


def test_accuracy_without_tie_drops_human_ties_and_counts_model_ties_and_no_answers_wrong() -> None:
    human = [R1, R2, TIE, R1, R2, TIE]
    predicted = [R1, TIE, R1, NONE, R2, TIE]
    # Human ties (positions 2 and 5) are dropped; of the rest R1 ok, TIE wrong, NONE wrong, R2 ok.
    assert accuracy_without_tie(np.array(human), np.array(predicted)) == Cell(accuracy=0.5, correct=2, n=4)


def test_accuracy_with_tie_is_three_way_exact_match() -> None:
    human = np.array([R1, R2, TIE, TIE, R1])
    predicted = np.array([R1, R1, TIE, NONE, TIE])
    assert accuracy_with_tie(human, predicted) == Cell(accuracy=0.4, correct=2, n=5)


def test_accuracies_on_no_pairs_have_no_value() -> None:
    assert accuracy_with_tie(np.array([], dtype=int), np.array([], dtype=int)) == Cell(None, 0, 0)
    assert accuracy_without_tie(np.array([TIE, TIE]), np.array([TIE, R1])) == Cell(None, 0, 0)


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="length"):
        accuracy_with_tie(np.array([R1, R2]), np.array([R1]))
    with pytest.raises(ValueError, match="human"):
        accuracy_with_tie(np.array([NONE]), np.array([R1]))
    with pytest.raises(ValueError, match="predicted"):
        accuracy_with_tie(np.array([R1]), np.array([3]))


# --------------------------------------------------------------------------- Overall

PAPER_WITH_TIE = [75.30, 60.23, 68.85, 70.59, 58.35, 64.08, 63.99, 67.88, 58.95]


def test_overall_matches_the_papers_check() -> None:
    cells = [Cell(accuracy=score / 100, correct=0, n=100 + 37 * i) for i, score in enumerate(PAPER_WITH_TIE)]
    result = overall(cells)
    assert result is not None
    assert round(result * 100, 2) == 65.36


def test_overall_is_the_plain_mean_not_weighted_by_pairs() -> None:
    cells = [Cell(1.0, 1, 1), Cell(0.0, 0, 99)]
    assert overall(cells) == 0.5  # weighted by pairs it would be 0.01


def test_overall_leaves_out_tasks_without_pairs() -> None:
    assert overall([Cell(0.8, 8, 10), Cell(None, 0, 0), Cell(0.6, 3, 5)]) == pytest.approx(0.7)
    assert overall([Cell(None, 0, 0)]) is None
    assert overall([]) is None


def test_leaderboard_row_reproduces_the_papers_overall_from_pairs() -> None:
    order = ["T2T", "TI2T", "TV2T", "TA2T", "T2I", "T2V", "T2A", "T23D", "TI2I"]
    tasks, human, predicted = [], [], []
    for task, score in zip(order, PAPER_WITH_TIE, strict=True):
        n = 10_000  # correct / n gives the score exactly
        correct = round(score * 100)
        tasks += [task] * n
        human += [TIE] * n
        predicted += [TIE] * correct + [R1] * (n - correct)
    row = leaderboard_row(
        np.array(tasks, dtype=object), np.array(human), np.array(predicted), with_tie=True, task_order=order
    )
    assert list(row.cells) == order
    assert row.cells["T2T"] == Cell(0.753, 7530, 10_000)
    assert row.overall is not None
    assert round(row.overall * 100, 2) == 65.36


def test_leaderboard_row_uses_the_right_metric_and_skips_unsupported_tasks() -> None:
    tasks = np.array(["T2T", "T2T", "T2T", "T2I", "T2I"])
    human = np.array([R1, TIE, R2, R1, R2])
    predicted = np.array([R1, TIE, R1, R1, R1])
    order = ["T2T", "T2I", "T2A"]

    with_tie = leaderboard_row(tasks, human, predicted, with_tie=True, task_order=order)
    assert with_tie.cells == {"T2T": Cell(2 / 3, 2, 3), "T2I": Cell(0.5, 1, 2), "T2A": Cell(None, 0, 0)}
    assert with_tie.overall == pytest.approx((2 / 3 + 0.5) / 2)

    without_tie = leaderboard_row(tasks, human, predicted, with_tie=False, task_order=order)
    assert without_tie.cells["T2T"] == Cell(0.5, 1, 2)
    assert without_tie.overall == pytest.approx(0.5)


def test_leaderboard_row_refuses_tasks_outside_the_order() -> None:
    with pytest.raises(ValueError, match="T2X"):
        leaderboard_row(np.array(["T2X"]), np.array([R1]), np.array([R1]), with_tie=True, task_order=["T2T"])


# --------------------------------------------------------------------------- confusion and kappa


def test_confusion_counts_no_answers_in_the_last_column() -> None:
    human = np.array([R1, R1, R1, R2, R2, TIE, TIE, TIE])
    predicted = np.array([R1, R2, NONE, R2, TIE, TIE, NONE, NONE])
    expected = np.array(
        [
            [1, 1, 0, 1],
            [0, 1, 1, 0],
            [0, 0, 1, 2],
        ]
    )
    np.testing.assert_array_equal(confusion(human, predicted), expected)


def test_kappa_against_a_hand_computation_and_statsmodels() -> None:
    # Answered pairs form the 3 x 3 table [[4, 1, 0], [1, 3, 1], [0, 1, 2]] (n = 13); one NONE is left out.
    table = np.array([[4, 1, 0], [1, 3, 1], [0, 1, 2]])
    human, predicted = [], []
    for h in range(3):
        for p in range(3):
            human += [h] * int(table[h, p])
            predicted += [p] * int(table[h, p])
    human.append(R1)
    predicted.append(NONE)

    observed = 9 / 13
    # Row margins 5, 5, 3; column margins 5, 5, 3.
    chance = (5 * 5 + 5 * 5 + 3 * 3) / 13**2
    by_hand = (observed - chance) / (1 - chance)

    result = kappa(np.array(human), np.array(predicted))
    assert result == pytest.approx(by_hand)
    assert result == pytest.approx(cohens_kappa(table).kappa)


def test_kappa_is_none_when_undefined() -> None:
    assert kappa(np.array([R1, R2]), np.array([NONE, NONE])) is None
    assert kappa(np.array([R1, R1]), np.array([R1, R1])) is None  # chance agreement is 1


# --------------------------------------------------------------------------- position consistency


def test_position_consistency_counts_pairs_both_runs_answered() -> None:
    first = np.array([R1, R2, TIE, R1, NONE, R2])
    swapped = np.array([R1, R1, TIE, R2, R1, NONE])
    # Pairs 0-3 count; 0 and 2 agree.
    assert position_consistency(first, swapped) == (0.5, 4)
    assert position_consistency(np.array([NONE]), np.array([R1])) == (None, 0)


# --------------------------------------------------------------------------- length bias


def test_length_buckets_split_by_relative_difference() -> None:
    len1 = np.array([10, 80, 100, 100, 100, 100, 0, 100])
    len2 = np.array([100, 100, 100, 95, 60, 10, 0, 90])
    # d = -0.9, -0.2, 0, 0.05, 0.4, 0.9, 0 (both empty), 0.1 (on the edge: similar)
    human = np.array([R2, R2, R1, R1, R2, R1, TIE, R1])
    predicted = np.array([R2, R1, R1, R1, R1, R1, R2, NONE])

    buckets = length_bias(human, predicted, len1, len2)
    assert [b.label for b in buckets] == ["B much longer", "B longer", "similar", "A longer", "A much longer"]
    by = {b.label: b for b in buckets}
    assert [b.n for b in buckets] == [1, 1, 4, 1, 1]

    similar = by["similar"]
    assert (similar.low, similar.high) == (-0.1, 0.1)
    assert similar.accuracy == Cell(2 / 3, 2, 3)  # the human tie is dropped, NONE is wrong
    # Unequal lengths in "similar": d = 0.05 (A longer, model and human pick A) and d = 0.1 (human A, no answer).
    assert (similar.model_longer, similar.model_sided) == (1.0, 1)
    assert (similar.human_longer, similar.human_sided) == (1.0, 2)

    assert by["B much longer"].accuracy == Cell(1.0, 1, 1)
    assert (by["B much longer"].model_longer, by["B much longer"].human_longer) == (1.0, 1.0)
    assert (by["B longer"].model_longer, by["B longer"].human_longer) == (0.0, 1.0)
    assert (by["A longer"].model_longer, by["A longer"].human_longer) == (1.0, 0.0)
    assert by["A longer"].accuracy == Cell(0.0, 0, 1)
    assert (by["A much longer"].low, by["A much longer"].high) == (0.5, 1.0)


def test_length_buckets_are_mirror_images_at_the_edges() -> None:
    # d = +0.5 and -0.5 both fall in the "longer" buckets, not "much longer".
    buckets = length_bias(np.array([R1, R2]), np.array([R1, R2]), np.array([100, 50]), np.array([50, 100]))
    assert {b.label: b.n for b in buckets} == {
        "B much longer": 0,
        "B longer": 1,
        "similar": 0,
        "A longer": 1,
        "A much longer": 0,
    }
    assert all(b.model_longer is None for b in buckets if b.n == 0)


def test_length_bias_custom_edges_and_refusals() -> None:
    buckets = length_bias(np.array([R1]), np.array([R1]), np.array([10]), np.array([1]), edges=(0.2,))
    assert [b.label for b in buckets] == ["B longer", "similar", "A longer"]
    with pytest.raises(ValueError, match="edges"):
        length_bias(np.array([R1]), np.array([R1]), np.array([1]), np.array([1]), edges=(0.5, 0.1))
    with pytest.raises(ValueError, match="negative"):
        length_bias(np.array([R1]), np.array([R1]), np.array([-1]), np.array([1]))


# --------------------------------------------------------------------------- scalar reward models


def test_scalar_without_tie_counts_equal_scores_wrong() -> None:
    human = np.array([R1, R2, R1, TIE])
    score1 = np.array([2.0, 1.0, 1.0, 5.0])
    score2 = np.array([1.0, 3.0, 1.0, 0.0])
    assert scalar_without_tie(human, score1, score2) == Cell(2 / 3, 2, 3)


def test_tie_calibration_hand_case() -> None:
    # |differences| 0.1, 0.2, 0.5, 1.0, 2.0 with sides A, B, A, B, A.
    human = np.array([TIE, TIE, R1, TIE, R1])
    score1 = np.array([1.1, 1.0, 1.5, 1.0, 3.0])
    score2 = np.array([1.0, 1.2, 1.0, 2.0, 1.0])
    # eps = 0: 2 correct (the two A's); 0.1: 3; 0.2: 4; 0.5: 3; 1.0: 4; 2.0: 3. Best 4, smallest eps 0.2.
    predicted, eps, cell = tie_calibrated(human, score1, score2)
    assert eps == pytest.approx(0.2)
    np.testing.assert_array_equal(predicted, [TIE, TIE, R1, R2, R1])
    assert cell == Cell(0.8, 4, 5)


def test_tie_calibration_equal_scores_are_always_ties() -> None:
    predicted, eps, cell = tie_calibrated(np.array([R1, TIE]), np.array([1.0, 2.0]), np.array([0.0, 2.0]))
    assert eps == 0.0
    np.testing.assert_array_equal(predicted, [R1, TIE])
    assert cell == Cell(1.0, 2, 2)


def test_tie_calibration_on_no_pairs() -> None:
    predicted, eps, cell = tie_calibrated(np.array([], dtype=int), np.array([]), np.array([]))
    assert (len(predicted), eps, cell) == (0, 0.0, Cell(None, 0, 0))


def _brute_force(human: np.ndarray, score1: np.ndarray, score2: np.ndarray) -> tuple[float, int]:
    gap = np.abs(score1 - score2)
    best_eps, best_correct = 0.0, -1
    for eps in sorted({0.0, *gap.tolist()}):
        predicted = np.where(gap <= eps, TIE, np.where(score1 > score2, R1, np.where(score2 > score1, R2, NONE)))
        correct = int((predicted == human).sum())
        if correct > best_correct:
            best_eps, best_correct = eps, correct
    return best_eps, best_correct


@pytest.mark.parametrize("seed", range(25))
def test_tie_calibration_picks_what_brute_force_picks(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 80))
    human = rng.integers(0, 3, size=n)
    # Rounded scores make equal differences and equal scores common, the cases a sort can get wrong.
    score1 = rng.normal(size=n).round(1)
    score2 = np.where(rng.random(n) < 0.15, score1, rng.normal(size=n).round(1))

    predicted, eps, cell = tie_calibrated(human, score1, score2)
    best_eps, best_correct = _brute_force(human, score1, score2)
    assert eps == best_eps
    assert cell.correct == best_correct
    assert cell == accuracy_with_tie(human, predicted)


# --------------------------------------------------------------------------- Wilson intervals

Z95 = NormalDist().inv_cdf(0.975)


def _wilson_by_formula(k: int, n: int) -> tuple[float, float]:
    """Wilson (1927): (p + z^2/2n -+ z sqrt(p(1-p)/n + z^2/4n^2)) / (1 + z^2/n)."""
    p = k / n
    centre = p + Z95**2 / (2 * n)
    spread = Z95 * math.sqrt(p * (1 - p) / n + Z95**2 / (4 * n * n))
    return (centre - spread) / (1 + Z95**2 / n), (centre + spread) / (1 + Z95**2 / n)


CASES = [(0, 1), (1, 1), (0, 7), (7, 7), (1, 2), (3, 10), (9, 10), (50, 100), (1, 500), (753, 1000)]


@pytest.mark.parametrize(("k", "n"), CASES)
def test_every_cell_carries_the_wilson_interval(k: int, n: int) -> None:
    by_formula = _wilson_by_formula(k, n)
    by_scipy = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    cell = accuracy_with_tie(np.array([R1] * n), np.array([R1] * k + [R2] * (n - k)))
    assert cell.low is not None and cell.high is not None
    assert (cell.low, cell.high) == pytest.approx(by_formula, abs=1e-12)
    assert (cell.low, cell.high) == pytest.approx((by_scipy.low, by_scipy.high), abs=1e-12)
    assert cell.low <= k / n <= cell.high
    assert wilson(k, n) == (cell.low, cell.high)


def test_cells_made_anywhere_get_the_interval_and_an_empty_cell_has_none() -> None:
    # w/o Tie (here through a leaderboard row), length buckets and tie calibration all make cells.
    row = leaderboard_row(
        np.array(["T2T"] * 4),
        np.array([R1, R2, R1, TIE]),
        np.array([R1, R1, R1, R1]),
        with_tie=False,
        task_order=["T2T", "T2I"],
    )
    assert (row.cells["T2T"].low, row.cells["T2T"].high) == pytest.approx(_wilson_by_formula(2, 3))
    assert (row.cells["T2I"].low, row.cells["T2I"].high) == (None, None)
    bucket = length_bias(np.array([R1, R2]), np.array([R1, R2]), np.array([5, 5]), np.array([5, 5]))[2]
    assert (bucket.accuracy.low, bucket.accuracy.high) == pytest.approx(_wilson_by_formula(2, 2))
    _, _, calibrated = tie_calibrated(np.array([R1, TIE, R2]), np.array([1.0, 1.0, 0.0]), np.array([0.0, 1.0, 2.0]))
    assert (calibrated.low, calibrated.high) == pytest.approx(_wilson_by_formula(3, 3))
    assert (Cell(None, 0, 0).low, Cell(None, 0, 0).high) == (None, None)


def test_wilson_refuses_impossible_counts() -> None:
    with pytest.raises(ValueError, match="correct"):
        wilson(4, 3)
    with pytest.raises(ValueError, match="correct"):
        Cell(None, -1, 3)


# --------------------------------------------------------------------------- Overall bootstrap


def _explicit_bootstrap(outcomes: list[np.ndarray], replicates: int, seed: int) -> np.ndarray:
    """Overall recomputed on pairs resampled with replacement within each task, one by one."""
    rng = np.random.default_rng(seed)
    per_task = [
        outcome[rng.integers(0, len(outcome), size=(replicates, len(outcome)))].mean(axis=1) for outcome in outcomes
    ]
    return np.mean(per_task, axis=0)


def _outcomes(counts: list[tuple[int, int]]) -> list[np.ndarray]:
    return [np.array([True] * k + [False] * (n - k)) for k, n in counts]


@pytest.mark.parametrize(
    "counts",
    [
        [(30, 40), (10, 25), (51, 60)],
        [(5, 12), (190, 200)],
        [(1, 1), (0, 3), (17, 20), (200, 400)],
    ],
)
def test_overall_bootstrap_agrees_with_resampling_pairs_one_by_one(counts: list[tuple[int, int]]) -> None:
    cells = [Cell(k / n, k, n) for k, n in counts]
    low, high = overall_interval(cells)
    assert low is not None and high is not None

    explicit = _explicit_bootstrap(_outcomes(counts), replicates=40_000, seed=7)
    slow_low, slow_high = np.percentile(explicit, [2.5, 97.5])
    # Two Monte Carlo runs of the same distribution: the bounds and widths agree to well under a point.
    assert low == pytest.approx(slow_low, abs=0.006)
    assert high == pytest.approx(slow_high, abs=0.006)
    assert high - low == pytest.approx(slow_high - slow_low, abs=0.008)
    # Coverage: the interval holds about 95% of the explicit replicates.
    assert np.mean((explicit >= low) & (explicit <= high)) == pytest.approx(0.95, abs=0.015)


@pytest.mark.parametrize("seed", range(20))
def test_overall_bootstrap_contains_overall_and_is_deterministic(seed: int) -> None:
    rng = np.random.default_rng(seed)
    cells = []
    for _ in range(int(rng.integers(1, 10))):
        n = int(rng.integers(0, 60))
        k = int(rng.binomial(n, rng.choice([0.0, 0.5, 0.9, 1.0, rng.random()]))) if n else 0
        cells.append(Cell(k / n if n else None, k, n))
    point = overall(cells)
    low, high = overall_interval(cells)
    if point is None:
        assert (low, high) == (None, None)
        return
    assert low is not None and high is not None
    assert low <= point <= high
    assert overall_interval(cells) == (low, high)


def test_overall_bootstrap_follows_its_seed() -> None:
    cells = [Cell(k / n, k, n) for k, n in [(301, 457), (612, 1001), (77, 129), (1500, 2003)]]
    assert overall_interval(cells, seed=1) == overall_interval(cells, seed=1)
    assert overall_interval(cells, seed=1) != overall_interval(cells, seed=2)


def test_overall_bootstrap_edge_cases() -> None:
    assert overall_interval([]) == (None, None)
    assert overall_interval([Cell(None, 0, 0)]) == (None, None)
    # Nothing varies when every task is all right or all wrong.
    assert overall_interval([Cell(1.0, 5, 5), Cell(0.0, 0, 8)]) == (0.5, 0.5)
    with pytest.raises(ValueError, match="replicates"):
        overall_interval([Cell(1.0, 5, 5)], replicates=0)


@pytest.mark.parametrize("with_tie", [True, False])
def test_a_row_from_confusion_counts_is_the_row_from_the_pairs(with_tie: bool) -> None:
    rng = np.random.default_rng(3)
    order = ["T2T", "T2I", "T2A"]
    tasks = rng.choice(order[:2], size=400)  # T2A has no pairs: an empty cell, out of Overall
    human = rng.integers(0, 3, size=400)
    predicted = rng.integers(-1, 3, size=400)
    counts = np.stack([confusion(human[tasks == task], predicted[tasks == task]) for task in order])
    expected = leaderboard_row(tasks, human, predicted, with_tie=with_tie, task_order=order)
    assert leaderboard_row_from_confusion(counts, with_tie=with_tie, task_order=order) == expected
    with pytest.raises(ValueError, match="shape"):
        leaderboard_row_from_confusion(counts[:2], with_tie=with_tie, task_order=order)


def test_leaderboard_row_fills_the_overall_interval_and_keeps_overall() -> None:
    tasks = np.array(["T2T"] * 30 + ["T2I"] * 12)
    human = np.array([R1] * 42)
    predicted = np.array([R1] * 21 + [R2] * 9 + [R1] * 3 + [NONE] * 9)
    row = leaderboard_row(tasks, human, predicted, with_tie=True, task_order=["T2T", "T2I", "T2A"])
    assert row.overall == pytest.approx((21 / 30 + 3 / 12) / 2)
    assert (row.overall_low, row.overall_high) == overall_interval(list(row.cells.values()))
    assert row.overall_low is not None and row.overall_high is not None
    assert row.overall_low < row.overall < row.overall_high
    assert table_of(row.cells) == row
    # A table built the old way still works; it just has no interval.
    assert Table(cells=row.cells, overall=row.overall).overall_low is None


# --------------------------------------------------------------------------- McNemar


def _exact_two_sided(a_only: int, b_only: int) -> float:
    """Sum of the Binomial(a_only + b_only, 1/2) outcomes at most as likely as the one seen."""
    m = a_only + b_only
    seen = math.comb(m, a_only)
    return min(1.0, sum(math.comb(m, i) for i in range(m + 1) if math.comb(m, i) <= seen) / 2**m)


def _pairs(both: int, a_only: int, b_only: int, neither: int) -> tuple[np.ndarray, np.ndarray]:
    a = [True] * both + [True] * a_only + [False] * b_only + [False] * neither
    b = [True] * both + [False] * a_only + [True] * b_only + [False] * neither
    return np.array(a), np.array(b)


@pytest.mark.parametrize(
    ("both", "a_only", "b_only", "neither"),
    [(10, 0, 0, 3), (4, 5, 0, 1), (0, 0, 7, 0), (2, 3, 3, 2), (20, 1, 9, 5), (50, 14, 30, 6), (0, 1, 0, 0)],
)
def test_mcnemar_is_the_exact_binomial_test_on_discordant_pairs(
    both: int, a_only: int, b_only: int, neither: int
) -> None:
    a, b = _pairs(both, a_only, b_only, neither)
    result = mcnemar(a, b)
    assert (result.n, result.a_only, result.b_only) == (both + a_only + b_only + neither, a_only, b_only)
    assert result.p_value == pytest.approx(_exact_two_sided(a_only, b_only), rel=1e-12)


def test_mcnemar_hand_values() -> None:
    assert mcnemar(*_pairs(10, 0, 0, 3)).p_value == 1.0  # no discordant pair: nothing to tell them apart
    assert mcnemar(*_pairs(0, 5, 0, 0)).p_value == pytest.approx(2 / 32)  # all five go to A
    assert mcnemar(*_pairs(0, 0, 7, 0)).p_value == pytest.approx(2 / 128)
    assert mcnemar(*_pairs(0, 1, 9, 0)).p_value == pytest.approx(2 * (1 + 10) / 1024)
    assert mcnemar([], []).p_value == 1.0


def test_mcnemar_refuses_bad_inputs() -> None:
    with pytest.raises(ValueError, match="length"):
        mcnemar(np.array([True]), np.array([True, False]))
    with pytest.raises(ValueError, match="boolean"):
        mcnemar(np.array([1, 0]), np.array([True, False]))


def test_paired_mcnemar_per_task_and_pooled_under_both_rules() -> None:
    tasks = np.array(["T2T"] * 6 + ["T2I"] * 4)
    human = np.array([R1, R2, R1, TIE, R2, R1, R1, R2, TIE, R1])
    a = np.array([R1, R2, R1, TIE, NONE, R2, R1, R2, R1, R1])
    b = np.array([R1, R1, TIE, R1, R2, R2, R2, R1, TIE, NONE])
    # w/ Tie, right/wrong per pair:
    # T2T  a: T T T T F F   b: T F F F T F  -> a_only 3, b_only 1
    # T2I  a: T T F T       b: F F T F      -> a_only 3, b_only 1
    with_tie = paired_mcnemar(tasks, human, a, b, with_tie=True, task_order=["T2T", "T2I", "T2A"])
    assert (with_tie.tasks["T2T"].a_only, with_tie.tasks["T2T"].b_only, with_tie.tasks["T2T"].n) == (3, 1, 6)
    assert (with_tie.tasks["T2I"].a_only, with_tie.tasks["T2I"].b_only, with_tie.tasks["T2I"].n) == (3, 1, 4)
    assert with_tie.tasks["T2A"] == mcnemar([], [])
    assert (with_tie.overall.a_only, with_tie.overall.b_only, with_tie.overall.n) == (6, 2, 10)
    assert with_tie.overall.p_value == pytest.approx(_exact_two_sided(6, 2))
    assert with_tie.tasks["T2T"].p_value == pytest.approx(_exact_two_sided(3, 1))

    # w/o Tie drops the two human ties (T2T position 3, T2I position 2); a model tie is wrong.
    without = paired_mcnemar(tasks, human, a, b, with_tie=False, task_order=["T2T", "T2I"])
    assert (without.tasks["T2T"].a_only, without.tasks["T2T"].b_only, without.tasks["T2T"].n) == (2, 1, 5)
    assert (without.tasks["T2I"].a_only, without.tasks["T2I"].b_only, without.tasks["T2I"].n) == (3, 0, 3)
    assert (without.overall.a_only, without.overall.b_only) == (5, 1)
    assert without.overall.p_value == pytest.approx(_exact_two_sided(5, 1))

    with pytest.raises(ValueError, match="T2X"):
        paired_mcnemar(
            np.array(["T2X"]), np.array([R1]), np.array([R1]), np.array([R1]), with_tie=True, task_order=["T2T"]
        )
    with pytest.raises(ValueError, match="b_predicted"):
        paired_mcnemar(tasks, human, a, b + 5, with_tie=True, task_order=["T2T", "T2I"])


# --------------------------------------------------------------------------- scalar diagnostics


def test_scalar_answers_per_task_threshold_and_predictions() -> None:
    # T2T is the tie-calibration hand case above (best eps 0.2). T2I has gaps 0.5 (side A, human tie),
    # 3 (side B, human R2) and 0 (equal scores, human R2).
    tasks = np.array(["T2T"] * 5 + ["T2I"] * 3)
    human = np.array([TIE, TIE, R1, TIE, R1, TIE, R2, R2])
    score1 = np.array([1.1, 1.0, 1.5, 1.0, 3.0, 2.0, 0.0, 4.0])
    score2 = np.array([1.0, 1.2, 1.0, 2.0, 1.0, 1.5, 3.0, 4.0])
    # T2I candidates: eps 0 -> (A, B, tie) 1 right; eps 0.5 -> (tie, B, tie) 2 right; eps 3 -> all tie, 1 right.
    answers = scalar_answers(tasks, human, score1, score2, task_order=["T2T", "T2I", "T2A"])
    assert answers.eps == pytest.approx({"T2T": 0.2, "T2I": 0.5})
    np.testing.assert_array_equal(answers.without_tie, [R1, R2, R1, R2, R1, R1, R2, NONE])
    np.testing.assert_array_equal(answers.with_tie, [TIE, TIE, R1, R2, R1, TIE, R2, TIE])

    # The diagnostics other judges get, counted by hand from the arrays above.
    np.testing.assert_array_equal(
        confusion(human, answers.with_tie),
        [[2, 0, 0, 0], [0, 1, 1, 0], [0, 1, 3, 0]],
    )
    np.testing.assert_array_equal(
        confusion(human, answers.without_tie),
        [[2, 0, 0, 0], [0, 1, 0, 1], [2, 2, 0, 0]],
    )
    # w/ Tie answers: agree 6 of 8; human margins (2, 2, 4), model margins (2, 2, 4).
    chance = (2 * 2 + 2 * 2 + 4 * 4) / 64
    assert kappa(human, answers.with_tie) == pytest.approx((6 / 8 - chance) / (1 - chance))

    # Fed to the leaderboard they give the scalar row's cells: tie calibration per task, w/o Tie by score.
    order = ["T2T", "T2I", "T2A"]
    row = leaderboard_row(tasks, human, answers.with_tie, with_tie=True, task_order=order)
    assert row.cells["T2T"] == tie_calibrated(human[:5], score1[:5], score2[:5])[2]
    assert row.cells["T2I"] == Cell(2 / 3, 2, 3)
    row = leaderboard_row(tasks, human, answers.without_tie, with_tie=False, task_order=order)
    assert row.cells["T2I"] == scalar_without_tie(human[5:], score1[5:], score2[5:])


def test_scalar_answers_refuse_unknown_tasks_and_mismatched_lengths() -> None:
    with pytest.raises(ValueError, match="T2X"):
        scalar_answers(np.array(["T2X"]), np.array([R1]), np.array([1.0]), np.array([0.0]), task_order=["T2T"])
    with pytest.raises(ValueError, match="length"):
        scalar_answers(np.array(["T2T"]), np.array([R1]), np.array([1.0, 2.0]), np.array([0.0]), task_order=["T2T"])
    empty = scalar_answers(np.array([]), np.array([], dtype=int), np.array([]), np.array([]), task_order=["T2T"])
    assert (empty.eps, len(empty.with_tie), len(empty.without_tie)) == ({}, 0, 0)
