"""The gate rule on hand-built votes: each pair's state and label follow from the rule."""

from __future__ import annotations

import numpy as np

from releases.gate import PairState, Rule, Source, decide
from releases.stats.annotators import VoteTable

A, B, TIE = 0, 1, 2


def _table(votes: list[tuple[int, int, int]], n_pairs: int, n_annotators: int) -> VoteTable:
    pair, annotator, label = (np.array(col, dtype=np.int64) for col in zip(*votes, strict=True))
    return VoteTable(
        pair=pair,
        annotator=annotator,
        label=label.astype(np.int8),
        left=np.zeros(len(pair), dtype=bool),
        time_ms=np.full(len(pair), 1000, dtype=np.int64),
        n_pairs=n_pairs,
        n_annotators=n_annotators,
    )


def _rule(**overrides: object) -> Rule:
    values: dict = {
        "min_votes": 3,
        "min_majority_share": 2 / 3,
        "tie_policy": "label",
        "min_gold_accuracy": None,
        "min_gold_judged": 2,
    }
    return Rule(**(values | overrides))


NONE = np.full(5, -1, dtype=np.int8)

# pair 0: A A A (accepted A) · pair 1: A A B (2/3: accepted A) · pair 2: A B TIE (disputed)
# pair 3: A A (needs votes) · pair 4: TIE TIE A (accepted tie)
VOTES = [(0, 0, A), (0, 1, A), (0, 2, A), (1, 0, A), (1, 1, A), (1, 2, B), (2, 0, A), (2, 1, B), (2, 2, TIE)]
VOTES += [(3, 0, A), (3, 1, A), (4, 0, TIE), (4, 1, TIE), (4, 2, A)]


def test_states_and_labels_follow_the_majority_rule():
    out = decide(_rule(), _table(VOTES, 5, 3), NONE, NONE)

    assert out.state.tolist() == [PairState.ACCEPTED, PairState.ACCEPTED, PairState.DISPUTED, PairState.NEEDS_VOTES,
                                  PairState.ACCEPTED]  # fmt: skip
    assert out.label.tolist() == [A, A, -1, -1, TIE]
    assert out.counted[2].tolist() == [1, 1, 1]
    assert round(float(out.share[1]), 3) == 0.667


def test_a_unanimity_bar_disputes_two_of_three():
    out = decide(_rule(min_majority_share=1.0), _table(VOTES, 5, 3), NONE, NONE)
    assert out.state[0] == PairState.ACCEPTED
    assert out.state[1] == PairState.DISPUTED


def test_tie_policies():
    table = _table(VOTES, 5, 3)
    excluded = decide(_rule(tie_policy="exclude"), table, NONE, NONE)
    assert excluded.state[4] == PairState.EXCLUDED  # consensus tie, left out

    abstain = decide(_rule(tie_policy="abstain", min_votes=2), table, NONE, NONE)
    # Without the tie votes pair 2 is A vs B (disputed), pair 4 has a single A vote (needs votes).
    assert abstain.counted[2].tolist() == [1, 1, 0]
    assert abstain.state[2] == PairState.DISPUTED
    assert abstain.state[4] == PairState.NEEDS_VOTES


def test_gold_and_adjudication_override_the_votes():
    gold = NONE.copy()
    gold[2] = B
    adjudication = NONE.copy()
    adjudication[1] = TIE  # a curator overrules an accepted pair
    adjudication[0] = 3  # and leaves another out
    out = decide(_rule(), _table(VOTES, 5, 3), gold, adjudication)

    assert (out.state[2], out.label[2], out.source[2]) == (PairState.ACCEPTED, B, Source.GOLD)
    assert (out.state[1], out.label[1], out.source[1]) == (PairState.ACCEPTED, TIE, Source.ADJUDICATION)
    assert (out.state[0], out.source[0]) == (PairState.EXCLUDED, Source.ADJUDICATION)


def test_votes_of_an_annotator_below_the_quality_bar_are_not_counted():
    # Pairs 0 and 1 are gold with answer A; annotator 2 gets both wrong, the others both right.
    votes = [(0, 0, A), (0, 1, A), (0, 2, B), (1, 0, A), (1, 1, A), (1, 2, B), (2, 0, A), (2, 1, A), (2, 2, B)]
    gold = np.array([A, A, -1], dtype=np.int8)
    no = np.full(3, -1, dtype=np.int8)
    table = _table(votes, 3, 3)

    without_bar = decide(_rule(min_majority_share=1.0), table, gold, no)
    assert without_bar.state[2] == PairState.DISPUTED  # A A B

    with_bar = decide(_rule(min_majority_share=1.0, min_votes=2, min_gold_accuracy=0.8), table, gold, no)
    assert with_bar.excluded_annotators.tolist() == [2]
    assert with_bar.counted[2].tolist() == [2, 0, 0]
    assert (with_bar.state[2], with_bar.label[2]) == (PairState.ACCEPTED, A)

    # An annotator measured on fewer gold pairs than the rule asks keeps counting.
    unmeasured = decide(_rule(min_gold_accuracy=0.8, min_gold_judged=3), table, gold, no)
    assert unmeasured.excluded_annotators.tolist() == []
