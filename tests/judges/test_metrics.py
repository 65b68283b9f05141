from __future__ import annotations

import numpy as np
import pytest
from statsmodels.stats.inter_rater import cohens_kappa

from judges.metrics import (
    Cell,
    accuracy_with_tie,
    accuracy_without_tie,
    confusion,
    kappa,
    leaderboard_row,
    length_bias,
    overall,
    position_consistency,
    scalar_without_tie,
    tie_calibrated,
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
