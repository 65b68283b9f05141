"""Per-pair tallies and gold standings: equal to a recount from the vote rows, whatever happened."""

from __future__ import annotations

import random
import threading
import uuid

import numpy as np
import pytest
from django.core.management import CommandError, call_command
from django.db import connection, connections

from annotations.models import GoldStanding, Label, Pair, PairTally
from annotations.services.queue import QueueError, Vote, next_assignment, record_skip, record_vote, undo_last
from annotations.services.tallies import is_below, tally_recount
from releases.gate import decide
from releases.selectors import annotator_votes, as_rule, dashboard, gate_outcome, gate_rule, quality_bar
from releases.services.quality import adjudication_decide, gate_rule_update, pair_gold_set
from releases.stats.agreement import value_counts
from tests.factories import JudgmentFactory, MembershipFactory, PairFactory, ProjectFactory, UserFactory
from tests.services import unavailable

A, B, TIE = Label.RESPONSE1, Label.RESPONSE2, Label.TIE


def _rule(project, user, bar, judged=1):
    return gate_rule_update(
        project=project,
        user=user,
        min_votes=2,
        min_majority_share=0.66,
        tie_policy="label",
        min_gold_accuracy=bar,
        min_gold_judged=judged,
    )


def _from_rows(project):
    """The gate's inputs recounted from the vote rows alone (no tally, no standing): live votes and the
    votes of annotators below the bar, per pair id."""
    votes = annotator_votes(project)
    table = votes.table
    live = value_counts(table.pair, table.label, table.n_pairs)
    gold = votes.gold[table.pair]
    on_gold = gold >= 0
    judged = np.bincount(table.annotator[on_gold], minlength=table.n_annotators)
    correct = np.bincount(table.annotator[on_gold & (gold == table.label)], minlength=table.n_annotators)
    bar = quality_bar(project.pk)
    below = np.array([is_below(bar, int(j), int(c)) for j, c in zip(judged, correct, strict=True)], dtype=bool)
    mine = below[table.annotator] if len(table.pair) else np.zeros(0, dtype=bool)
    uncounted = value_counts(table.pair[mine], table.label[mine], table.n_pairs)
    below_ids = {int(votes.annotator_ids[i]) for i in np.flatnonzero(below)}
    return votes.pair_ids, live, uncounted, below_ids


def _assert_equal_to_rows(project):
    pair_ids, live, uncounted, below_ids = _from_rows(project)
    votes, outcome = gate_outcome(project)
    assert votes.below == below_ids
    at = np.searchsorted(votes.pair_ids, pair_ids)
    assert (votes.pair_ids[at] == pair_ids).all()  # every voted pair is listed
    assert (votes.live[at] == live).all()
    assert (votes.uncounted[at] == uncounted).all()
    unvoted = np.setdiff1d(np.arange(len(votes.pair_ids)), at)
    assert (votes.live[unvoted] == 0).all()
    assert votes.left.sum() == int(annotator_votes(project).table.left.sum())
    # The gate decided from the recount equals the gate decided from the tallies.
    full = np.zeros_like(votes.live)
    full_uncounted = np.zeros_like(votes.live)
    full[at], full_uncounted[at] = live, uncounted
    again = decide(as_rule(gate_rule(project)), full, full_uncounted, votes.gold, votes.adjudication)
    assert (again.state == outcome.state).all() and (again.label == outcome.label).all()


@pytest.mark.django_db
def test_a_vote_below_the_bar_is_uncounted_and_a_gold_change_counts_it_again(project, curator):
    voters = [MembershipFactory(project=project, user=UserFactory(username=f"t{i}")).user for i in range(3)]
    gold, other = PairFactory(project=project), PairFactory(project=project)
    pair_gold_set(pair=gold, label=A)
    _rule(project, curator, 0.5)
    JudgmentFactory(pair=gold, annotator=voters[0], label=B)  # wrong on gold: below the bar
    for voter in voters:
        JudgmentFactory(pair=other, annotator=voter, label=A if voter != voters[0] else B)
    tally = PairTally.objects.get(pair=other)
    assert (tally.response1, tally.response2, tally.uncounted_response2) == (2, 1, 1)
    assert GoldStanding.objects.get(project=project, annotator=voters[0]).below_bar

    pair_gold_set(pair=gold, label=B)  # the gold answer was wrong: the annotator was right after all
    tally.refresh_from_db()
    assert (tally.uncounted_response1, tally.uncounted_response2, tally.uncounted_tie) == (0, 0, 0)
    assert gate_outcome(project)[0].below == frozenset()
    _rule(project, curator, None)
    _assert_equal_to_rows(project)
    assert tally_recount(project=project).differing == []


@pytest.mark.django_db
def test_recount_reports_and_corrects_a_tally_that_drifted(project, capsys):
    voter = MembershipFactory(project=project, user=UserFactory(username="drift")).user
    pair = PairFactory(project=project)
    JudgmentFactory(pair=pair, annotator=voter, label=TIE)
    PairTally.objects.filter(pair=pair).update(tie=5)
    with pytest.raises(CommandError, match="1 tallies differed"):
        call_command("recount", "--project", project.slug, "--check")
    assert f"pair ids {pair.pk}" in capsys.readouterr().out
    assert PairTally.objects.get(pair=pair).tie == 1
    call_command("recount", "--project", project.slug, "--check")
    assert "every tally equals its votes" in capsys.readouterr().out


@pytest.mark.django_db(transaction=True)
def test_concurrent_votes_undos_skips_gold_changes_and_adjudications_keep_every_figure_equal_to_a_recount():
    if connection.vendor != "postgresql":
        unavailable("concurrent writers need PostgreSQL (set DATABASE_URL)")
    project = ProjectFactory(votes_per_pair=3, gold_share=0.25)
    curator = MembershipFactory(project=project, user=UserFactory(username="boss"), role="curator").user
    pairs = PairFactory.create_batch(30, project=project)
    for pair in pairs[:3]:
        pair_gold_set(pair=pair, label=A)
    _rule(project, curator, 0.7)
    people = [MembershipFactory(project=project, user=UserFactory(username=f"c{i}")).user for i in range(6)]
    start = threading.Barrier(len(people) + 1)
    errors: list[BaseException] = []

    def annotator(person, seed):
        rng = random.Random(seed)
        start.wait()
        for _ in range(30):
            roll = rng.random()
            try:
                if roll < 0.12:
                    undo_last(project, person)
                    continue
                assignment = next_assignment(project, person)
                if assignment is None:
                    return
                if roll < 0.22:
                    record_skip(project, person, pair_id=assignment.pair.pk, reason="unsure")
                else:
                    choice = rng.choice(["A", "B", "tie"])
                    record_vote(project, person, Vote(assignment.pair.pk, choice, uuid.uuid4()))
            except QueueError:
                pass  # nothing to undo, or a hold that moved on: the queue said so, nothing was stored

    def boss():
        rng = random.Random(99)
        start.wait()
        for step in range(24):
            pair = rng.choice(pairs)
            if step % 3 == 0:
                pair_gold_set(pair=pair, label=rng.choice([A, B, None]))
            elif step % 3 == 1:
                adjudication_decide(pair=pair, user=curator, decision=rng.choice([A, B, "exclude"]))
            else:
                _rule(project, curator, rng.choice([None, 0.5, 0.8]))

    def run(fn, *args):
        def go():
            try:
                fn(*args)
            except BaseException as exc:
                errors.append(exc)
            finally:
                connections.close_all()

        return threading.Thread(target=go)

    threads = [run(annotator, p, i) for i, p in enumerate(people)] + [run(boss)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not errors, errors
    assert not any(thread.is_alive() for thread in threads)

    assert PairTally.objects.filter(project=project).exists()
    _assert_equal_to_rows(project)
    before = dashboard(project, bootstrap=20)
    result = tally_recount(project=project)
    assert (result.differing, result.standings) == ([], [])
    # Rebuilt from nothing, every figure the Agreement page shows is the same.
    PairTally.objects.filter(project=project).delete()
    GoldStanding.objects.filter(project=project).delete()
    rebuilt = tally_recount(project=project)
    assert (
        len(rebuilt.differing)
        == rebuilt.pairs
        == Pair.objects.filter(judgments__isnull=False, judgments__retracted_at__isnull=True).distinct().count()
    )
    after = dashboard(project, bootstrap=20)
    assert (before.states, before.judgments, before.pooled_left) == (after.states, after.judgments, after.pooled_left)
    assert before.overall == after.overall and before.tasks == after.tasks
    assert before.states["accepted"] + before.states["disputed"] > 0
