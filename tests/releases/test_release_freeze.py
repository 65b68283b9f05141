"""The frozen pairs a publish writes (one INSERT .. SELECT from a staging table) are the rows the
ReleasePair instances it used to build wrote: same pairs, labels, sources, counts, shares and hashes,
and the same JSON, key order included, on both databases."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from annotations.models import Judgment, Label, Pair, Role, ShownOrder
from annotations.services.pair_import import pair_import
from annotations.services.tallies import tally_recount
from releases.gate import LABELS, Source
from releases.models import Adjudication, GateRule, LabelSource, Release, ReleasePair
from releases.selectors import gate_outcome
from releases.services.publish import admitted, release_publish
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db

R1, R2, TIE = Label.RESPONSE1, Label.RESPONSE2, Label.TIE
# Votes per pattern, by 7 annotators; the rule below admits a majority share of 0.51 from 3 votes on.
PATTERNS: list[list[str]] = [
    [R1] * 7,  # share 1.0
    [R1] * 4 + [R2] * 3,  # 0.5714 (4/7), no tie votes: the JSON leaves "tie" out
    [R2] * 5 + [TIE] * 2,  # 0.7143
    [TIE] * 2 + [R1],  # a tie label, 0.6667
    [R1] * 3 + [R2] * 3,  # no majority: disputed, out unless adjudicated
    [R2] * 2,  # too few votes: out unless gold or adjudicated
    [],  # no votes: the share is null where gold or an adjudication admits it
]


def _previous_rows(release: Release) -> list[ReleasePair]:
    """What publishing wrote before the staging table: a ReleasePair per admitted pair, built in Python
    from the decision arrays and the pairs' fields and media rows (read back per chunk)."""
    votes, outcome = gate_outcome(release.project)
    rows = admitted(outcome)
    sources = {
        Source.VOTES: LabelSource.VOTES,
        Source.GOLD: LabelSource.GOLD,
        Source.ADJUDICATION: LabelSource.ADJUDICATION,
    }
    ids = votes.pair_ids[rows]
    info = {
        r[0]: r[1:]
        for r in Pair.objects.filter(id__in=ids.tolist()).values_list(
            "id", "external_id", "task", *(f"{c}__sha256" for c in Pair.MEDIA_FIELDS)
        )
    }
    made = []
    for at, pair_id in zip(rows.tolist(), ids.tolist(), strict=True):
        external_id, task, *hashes = info[pair_id]
        share = float(outcome.share[at])
        made.append(
            ReleasePair(
                release=release,
                pair_id=pair_id,
                external_id=external_id,
                task=task,
                label=LABELS[int(outcome.label[at])],
                source=sources[Source(int(outcome.source[at]))],
                votes={label: int(n) for label, n in zip(LABELS, outcome.counted[at], strict=True) if n},
                majority_share=None if np.isnan(share) else round(share, 4),
                media={c: h for c, h in zip(Pair.MEDIA_FIELDS, hashes, strict=True) if h},
            )
        )
    return made


def _written(release: Release) -> list[tuple[Any, ...]]:
    """Every frozen row as read back, JSON as (key, value) lists so the key order counts too."""
    return [
        (
            p.pair_id,
            p.external_id,
            p.task,
            p.label,
            p.source,
            list(p.votes.items()),
            p.majority_share,
            list(p.media.items()),
        )
        for p in ReleasePair.objects.filter(release=release).order_by("pair_id")
    ]


@pytest.fixture
def judged(project, release_dir, curator):
    """The fixture release (text and media pairs of every task) with votes of every pattern, gold pairs
    (judged and not), and adjudications (a label on a disputed pair, a tie on one without votes, an exclusion)."""
    assert pair_import(project=project, data_path=release_dir).ok
    voters = [
        MembershipFactory(project=project, role=Role.ANNOTATOR, user=UserFactory(username=f"judge{i}")).user
        for i in range(7)
    ]
    pairs = list(Pair.objects.filter(project=project).order_by("id"))
    Judgment.objects.bulk_create(
        Judgment(pair=pair, annotator=voter, label=label, shown_order=ShownOrder.RESPONSE1_LEFT, time_spent_ms=3000)
        for n, pair in enumerate(pairs)
        for voter, label in zip(voters, PATTERNS[n % len(PATTERNS)], strict=False)
    )
    gold = [pair for n, pair in enumerate(pairs) if n % 11 in (5, 6)]  # without votes and with two
    for pair in gold:
        pair.gold_label = R2
    Pair.objects.bulk_update(gold, ["gold_label"])
    by_pattern = {k: [p for n, p in enumerate(pairs) if n % len(PATTERNS) == k and p not in gold] for k in (0, 4, 6)}
    Adjudication.objects.create(pair=by_pattern[4][0], decision=R1, decided_by=curator)
    Adjudication.objects.create(pair=by_pattern[6][0], decision=TIE, decided_by=curator)
    Adjudication.objects.create(pair=by_pattern[0][0], decision="exclude", decided_by=curator)
    GateRule.objects.create(project=project, min_votes=3, min_majority_share=0.51)
    tally_recount(project=project)  # the votes and gold answers above were written in bulk
    return project


def test_publish_writes_the_rows_the_previous_code_wrote(judged, curator):
    release = release_publish(project=judged, user=curator, bootstrap=0)
    written = _written(release)

    before = Release.objects.create(project=judged, version=99, gate={}, created_by=curator)
    ReleasePair.objects.bulk_create(_previous_rows(before))
    assert written == _written(before)

    # The project exercises what the JSON and the rounding have to get right.
    assert len(written) == release.summary["pairs"] > 20
    assert {row[4] for row in written} == set(LabelSource.values)
    assert {row[3] for row in written} == set(LABELS)
    shares = {row[6] for row in written}
    assert {None, 0.5714, 0.6667, 0.7143, 1.0} <= shares
    assert any(row[7] for row in written) and any(not row[7] for row in written)  # media pairs and text pairs
    assert any(len(row[7]) >= 2 for row in written)
    assert [("response1", 4), ("response2", 3)] in [row[5] for row in written]
    assert [] in [row[5] for row in written]  # admitted without counted votes (gold or adjudication)
