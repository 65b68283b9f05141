"""The gate: from votes, gold answers, adjudications and a rule to each pair's state and label.

Pure numpy over per-pair vote counts (the tallies), so the dashboard, the preview and the publish step
decide the same way, and 317K pairs are decided in milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np

from .stats.agreement import majority

LABELS = ("response1", "response2", "tie")
LABEL_CODE = {label: code for code, label in enumerate(LABELS)}  # the codes every array here uses
TIE = 2
EXCLUDE_DECISION = 3  # an adjudication that leaves the pair out
DECISION_CODE = {**LABEL_CODE, "exclude": EXCLUDE_DECISION}
# A released tie's kind (projects with tie kinds), by code; -1: not a tie, or no counted tie vote gave a kind.
TIE_KINDS = ("both_good", "both_bad", "mixed")
BOTH_BAD = 1


class PairState(IntEnum):
    NEEDS_VOTES = 0
    ACCEPTED = 1
    DISPUTED = 2
    EXCLUDED = 3

    @property
    def key(self) -> str:
        return self.name.lower()

    @property
    def title(self) -> str:
        return self.name.replace("_", " ").capitalize()


class Source(IntEnum):
    NONE = 0
    VOTES = 1
    GOLD = 2
    ADJUDICATION = 3

    @property
    def key(self) -> str:
        return self.name.lower()


@dataclass(frozen=True)
class Rule:
    min_votes: int
    min_majority_share: float
    tie_policy: str  # "label", "exclude" or "abstain" (releases.models.TiePolicy)
    min_gold_accuracy: float | None
    min_gold_judged: int
    queue_votes: int = 0  # the project's overlap k: with this many live votes the queue serves the pair no more


# Shares are entered and recorded to 4 decimals (0.6667 for two of three); compare to that precision.
SHARE_TOLERANCE = 5e-5


@dataclass(frozen=True)
class Outcome:
    state: np.ndarray  # PairState per pair
    label: np.ndarray  # 0/1/2, -1 when the pair has no label
    source: np.ndarray  # Source per pair
    counted: np.ndarray  # (n_pairs, 3) votes that count under the rule
    share: np.ndarray  # majority share of the counted votes (nan without votes)

    def states(self, state: PairState) -> np.ndarray:
        return np.flatnonzero(self.state == state)


def decide(rule: Rule, live: np.ndarray, uncounted: np.ndarray, gold: np.ndarray, adjudication: np.ndarray) -> Outcome:
    """Each pair's state and label from its votes per label.

    live: (n, 3) live votes per pair and label; uncounted: (n, 3) those of them cast by annotators below
    the quality bar; gold: label per pair or -1; adjudication: the latest decision per pair (0-2, 3 = exclude)
    or -1.
    """
    n = len(live)
    counted = live - uncounted
    if rule.tie_policy == "abstain":
        counted = counted.copy()
        counted[:, TIE] = 0
    top, share, total = majority(counted)

    state = np.full(n, PairState.NEEDS_VOTES, dtype=np.int8)
    label = np.full(n, -1, dtype=np.int8)
    source = np.full(n, Source.NONE, dtype=np.int8)

    votes = live.sum(axis=1)
    # A pair the queue has closed (k live votes) but with fewer counted votes than the rule needs (tie
    # votes abstaining, annotators under the quality bar) will get no more votes: a curator decides it.
    closed = (votes >= rule.queue_votes) if rule.queue_votes else np.zeros(n, dtype=bool)
    enough = (total >= rule.min_votes) | (closed & (votes > 0))
    clear = (total >= rule.min_votes) & (top >= 0) & (share >= rule.min_majority_share - SHARE_TOLERANCE)
    state[enough] = PairState.DISPUTED
    state[clear] = PairState.ACCEPTED
    label[clear] = top[clear]
    source[clear] = Source.VOTES

    is_gold = gold >= 0
    state[is_gold], label[is_gold], source[is_gold] = PairState.ACCEPTED, gold[is_gold], Source.GOLD

    decided = (adjudication >= 0) & ~is_gold
    keep = decided & (adjudication != EXCLUDE_DECISION)
    state[keep], label[keep], source[keep] = PairState.ACCEPTED, adjudication[keep], Source.ADJUDICATION
    dropped = decided & (adjudication == EXCLUDE_DECISION)
    state[dropped], label[dropped], source[dropped] = PairState.EXCLUDED, -1, Source.ADJUDICATION

    if rule.tie_policy == "exclude":
        state[(state == PairState.ACCEPTED) & (label == TIE)] = PairState.EXCLUDED
    return Outcome(state, label, source, counted, share)


LABEL_WORDS = ("response 1", "response 2", "a tie")


def explain(rule: Rule, state: PairState, label: int, source: Source, counted: tuple[int, ...], live: int) -> str:
    """One pair's state in a sentence, for the curator's pair page: what decided it, or what it lacks."""
    total = sum(counted)
    share = max(counted) / total if total else 0.0
    if source == Source.GOLD:
        return f"A gold pair: its known answer, {LABEL_WORDS[label]}, decides it."
    if source == Source.ADJUDICATION:
        if state == PairState.EXCLUDED:
            return "A curator's decision leaves it out of releases."
        return f"A curator decided it: {LABEL_WORDS[label]}."
    needs = f"the rule asks for {rule.min_majority_share:.0%} of at least {rule.min_votes} counted votes"
    if state == PairState.EXCLUDED:
        return f"The counted votes agree on a tie ({max(counted)} of {total}), and the rule leaves ties out."
    if state == PairState.ACCEPTED:
        return f"{LABEL_WORDS[label].capitalize()} has {max(counted)} of {total} counted votes ({share:.0%}); {needs}."
    if state == PairState.DISPUTED:
        if total < rule.min_votes:
            return (
                f"The queue has closed it at {live} votes, but only {total} count under the rule (it asks for "
                f"{rule.min_votes}): a curator decides."
            )
        if list(counted).count(max(counted)) > 1:
            return f"No label leads: the {total} counted votes split {' / '.join(map(str, counted))}; {needs}."
        return f"The leading label has {share:.0%} of the {total} counted votes; {needs}."
    return f"{total} of the {rule.min_votes} counted votes the rule asks for so far."


def tie_kind_codes(label: np.ndarray, kinds: np.ndarray) -> np.ndarray:
    """Each row's tie kind code (TIE_KINDS) from its label and its counted tie votes per kind (n, 2).

    A tie takes the kind most of its counted tie votes name; as many of each is mixed. Tie votes without a
    kind (cast before the project asked for kinds) name none, and a tie no counted vote named a kind for
    (a gold answer or an adjudication, say) has none: -1, as have A and B.
    """
    good, bad = kinds[:, 0], kinds[:, 1]
    tie = label == TIE
    code = np.full(len(label), -1, dtype=np.int8)
    code[tie & (good > bad)] = 0
    code[tie & (bad > good)] = BOTH_BAD
    code[tie & (good == bad) & (good > 0)] = 2
    return code
