"""The gate rule on hand-built votes: each pair's state and label follow from the rule."""

from __future__ import annotations

import numpy as np

from annotations.services.tallies import is_below
from releases.gate import PairState, Rule, Source, decide, explain
from releases.stats.agreement import value_counts

A, B, TIE = 0, 1, 2


def _counts(votes: list[tuple[int, int, int]], n_pairs: int, below: tuple[int, ...] = ()) -> tuple[np.ndarray, ...]:
    """(pair, annotator, label) votes as the tallies hold them: live votes per pair and label, and those of
    the annotators in `below`."""
    pair, annotator, label = (np.array(col, dtype=np.int64) for col in zip(*votes, strict=True))
    mine = np.isin(annotator, below)
    return value_counts(pair, label, n_pairs), value_counts(pair[mine], label[mine], n_pairs)


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
    out = decide(_rule(), *_counts(VOTES, 5), NONE, NONE)

    assert out.state.tolist() == [PairState.ACCEPTED, PairState.ACCEPTED, PairState.DISPUTED, PairState.NEEDS_VOTES,
                                  PairState.ACCEPTED]  # fmt: skip
    assert out.label.tolist() == [A, A, -1, -1, TIE]
    assert out.counted[2].tolist() == [1, 1, 1]
    assert round(float(out.share[1]), 3) == 0.667


def test_a_unanimity_bar_disputes_two_of_three():
    out = decide(_rule(min_majority_share=1.0), *_counts(VOTES, 5), NONE, NONE)
    assert out.state[0] == PairState.ACCEPTED
    assert out.state[1] == PairState.DISPUTED


def test_tie_policies():
    table = _counts(VOTES, 5)
    excluded = decide(_rule(tie_policy="exclude"), *table, NONE, NONE)
    assert excluded.state[4] == PairState.EXCLUDED  # consensus tie, left out

    abstain = decide(_rule(tie_policy="abstain", min_votes=2), *table, NONE, NONE)
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
    out = decide(_rule(), *_counts(VOTES, 5), gold, adjudication)

    assert (out.state[2], out.label[2], out.source[2]) == (PairState.ACCEPTED, B, Source.GOLD)
    assert (out.state[1], out.label[1], out.source[1]) == (PairState.ACCEPTED, TIE, Source.ADJUDICATION)
    assert (out.state[0], out.source[0]) == (PairState.EXCLUDED, Source.ADJUDICATION)


def test_votes_of_an_annotator_below_the_quality_bar_are_not_counted():
    # Pairs 0 and 1 are gold with answer A; annotator 2 gets both wrong, the others both right.
    votes = [(0, 0, A), (0, 1, A), (0, 2, B), (1, 0, A), (1, 1, A), (1, 2, B), (2, 0, A), (2, 1, A), (2, 2, B)]
    gold = np.array([A, A, -1], dtype=np.int8)
    no = np.full(3, -1, dtype=np.int8)

    without_bar = decide(_rule(min_majority_share=1.0), *_counts(votes, 3), gold, no)
    assert without_bar.state[2] == PairState.DISPUTED  # A A B

    bar = (0.8, 2)
    assert [is_below(bar, judged=2, correct=c) for c in (2, 2, 0)] == [False, False, True]
    with_bar = decide(_rule(min_majority_share=1.0, min_votes=2), *_counts(votes, 3, below=(2,)), gold, no)
    assert with_bar.counted[2].tolist() == [2, 0, 0]
    assert (with_bar.state[2], with_bar.label[2]) == (PairState.ACCEPTED, A)

    # An annotator measured on fewer gold pairs than the rule asks keeps counting; no bar, nobody is below.
    assert not is_below((0.8, 3), judged=2, correct=0)
    assert not is_below((None, 1), judged=5, correct=0)


def test_each_state_is_explained_in_a_sentence_with_the_numbers_that_decided_it():
    live, uncounted = _counts(VOTES, 5)
    gold, adjudication = NONE.copy(), NONE.copy()
    gold[3], adjudication[2] = A, B
    rule = _rule(queue_votes=3)
    outcome = decide(rule, live, uncounted, gold, adjudication)
    plain = decide(rule, live, uncounted, NONE, NONE)

    def why(result, pair: int) -> str:
        counted = tuple(int(n) for n in result.counted[pair])
        return explain(
            rule, PairState(result.state[pair]), int(result.label[pair]), Source(result.source[pair]), counted,
            int(live[pair].sum()),
        )  # fmt: skip

    assert why(plain, 1) == (
        "Response 1 has 2 of 3 counted votes (67%); the rule asks for 67% of at least 3 counted votes."
    )
    assert why(plain, 2) == (
        "No label leads: the 3 counted votes split 1 / 1 / 1; the rule asks for 67% of at least 3 counted votes."
    )
    assert why(plain, 3) == "2 of the 3 counted votes the rule asks for so far."
    assert why(outcome, 3) == "A gold pair: its known answer, response 1, decides it."
    assert why(outcome, 2) == "A curator decided it: response 2."
    unanimous = _rule(min_majority_share=1.0)
    strict = decide(unanimous, live, uncounted, NONE, NONE)
    assert explain(unanimous, PairState(strict.state[1]), -1, Source.NONE, (2, 1, 0), 3) == (
        "The leading label has 67% of the 3 counted votes; the rule asks for 100% of at least 3 counted votes."
    )
    no_ties = _rule(tie_policy="exclude")
    dropped = decide(no_ties, live, uncounted, NONE, NONE)
    assert PairState(dropped.state[4]) == PairState.EXCLUDED
    assert explain(no_ties, PairState.EXCLUDED, TIE, Source.VOTES, (1, 0, 2), 3) == (
        "The counted votes agree on a tie (2 of 3), and the rule leaves ties out."
    )
    abstain = _rule(tie_policy="abstain", queue_votes=3)
    closed = decide(abstain, live, uncounted, NONE, NONE)
    assert PairState(closed.state[4]) == PairState.DISPUTED
    assert explain(abstain, PairState.DISPUTED, -1, Source.NONE, (1, 0, 0), 3) == (
        "The queue has closed it at 3 votes, but only 1 count under the rule (it asks for 3): a curator decides."
    )
