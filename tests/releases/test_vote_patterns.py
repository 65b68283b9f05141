"""The grouped read (`vote_patterns`) that the Agreement page and the release preview use gives every
figure the per-pair read gives: states, labels, agreement with intervals, Fleiss' kappa, left picks."""

from __future__ import annotations

import random

import numpy as np
import pytest

from annotations.models import Label, ShownOrder, Task
from releases.gate import PairState
from releases.selectors import (
    TASKS,
    dashboard,
    gate_outcome,
    project_votes,
    states_of,
    task_agreement,
    vote_patterns,
)
from releases.services.publish import admitted, release_statistics, release_summary
from releases.services.quality import adjudication_decide, gate_rule_update, pair_gold_set
from tests.factories import JudgmentFactory, MembershipFactory, PairFactory, UserFactory

LABELS = (Label.RESPONSE1, Label.RESPONSE2, Label.TIE)


@pytest.fixture
def busy_project(project, curator):
    """Two tasks, pairs with 0-4 votes, gold pairs, decisions (a label and an exclusion), an annotator
    under the gold bar and pairs nobody voted on."""
    rng = random.Random(5)
    voters = [MembershipFactory(project=project, user=UserFactory(username=f"p{i}")).user for i in range(5)]
    pairs = [PairFactory(project=project, task=(Task.T2T, Task.T2I)[n % 2]) for n in range(60)]
    gold = pairs[:4]
    for pair in gold:
        pair_gold_set(pair=pair, label=Label.RESPONSE1)
    for pair in pairs[:-6]:  # the last six get no vote
        for voter in rng.sample(voters, rng.randint(1 if pair in gold else 0, 4)):
            # voter p0 answers gold pairs wrongly: under the bar once it applies
            label = Label.RESPONSE2 if (voter == voters[0] and pair in gold) else rng.choice(LABELS)
            order = rng.choice((ShownOrder.RESPONSE1_LEFT, ShownOrder.RESPONSE2_LEFT))
            JudgmentFactory(pair=pair, annotator=voter, label=label, shown_order=order)
    gate_rule_update(
        project=project,
        user=curator,
        min_votes=2,
        min_majority_share=0.6,
        tie_policy="label",
        min_gold_accuracy=0.5,
        min_gold_judged=1,
    )
    adjudication_decide(pair=pairs[10], user=curator, decision="response2", note="")
    adjudication_decide(pair=pairs[11], user=curator, decision="exclude", note="")
    adjudication_decide(pair=pairs[-1], user=curator, decision="tie", note="no votes, decided anyway")
    return project


@pytest.mark.django_db
def test_grouped_rows_give_every_figure_the_pairs_give(busy_project):
    per_pair, outcome = gate_outcome(busy_project, project_votes(busy_project))
    grouped, grouped_outcome = gate_outcome(busy_project, vote_patterns(busy_project))
    assert grouped.grouped and not per_pair.grouped
    assert len(grouped.pair_ids) < len(per_pair.pair_ids)  # pairs did share rows
    assert per_pair.below and grouped.below == per_pair.below  # someone is under the bar
    assert grouped.units.sum() == len(per_pair.pair_ids)
    for task in (None, *range(len(TASKS))):
        assert states_of(grouped, grouped_outcome, task) == states_of(per_pair, outcome, task)
    assert states_of(per_pair, outcome)[PairState.EXCLUDED.key] >= 1
    for task in (None, 0, 3):
        assert task_agreement(grouped, grouped.live, 3, bootstrap=200, seed=1, task=task) == task_agreement(
            per_pair, per_pair.live, 3, bootstrap=200, seed=1, task=task
        )
    rows, grouped_rows = admitted(outcome), admitted(grouped_outcome)
    assert release_summary(grouped, grouped_outcome, grouped_rows) == release_summary(per_pair, outcome, rows)
    assert release_statistics(grouped, grouped_outcome, grouped_rows, bootstrap=200, k=3) == release_statistics(
        per_pair, outcome, rows, bootstrap=200, k=3
    )
    assert grouped.left.sum() == per_pair.left.sum()


@pytest.mark.django_db
def test_the_agreement_page_counts_what_the_pairs_count(busy_project):
    report = dashboard(busy_project, bootstrap=100)
    votes, outcome = gate_outcome(busy_project, project_votes(busy_project))
    assert report.judgments == int(votes.live.sum())
    assert report.states == states_of(votes, outcome)
    assert report.pooled_left[:2] == (int(votes.left.sum()), int(votes.live[:, :2].sum()))
    t2i = next(task for task in report.tasks if task.task == Task.T2I)
    rows = np.flatnonzero(votes.task == TASKS.index(Task.T2I))
    assert t2i.vote_labels == tuple(int(n) for n in votes.live[rows].sum(axis=0))
    assert t2i.complete == int((votes.live[rows].sum(axis=1) >= busy_project.votes_per_pair).sum())
    accepted = rows[outcome.state[rows] == PairState.ACCEPTED]
    assert t2i.released_labels == tuple(int(n) for n in np.bincount(outcome.label[accepted], minlength=3))


@pytest.mark.django_db
def test_a_grouped_read_has_no_labels_by_pair(busy_project):
    from releases.selectors import consensus_from

    with pytest.raises(ValueError, match="no pair ids"):
        consensus_from(*gate_outcome(busy_project, vote_patterns(busy_project)))


@pytest.mark.django_db
def test_the_adjudication_queue_lists_exactly_the_disputed_and_sent_pairs(busy_project, curator):
    from releases.selectors import disputed_pairs, open_adjudication_requests
    from releases.services.audit import adjudication_request_send

    votes, outcome = gate_outcome(busy_project, project_votes(busy_project))
    accepted = votes.pair_ids[(outcome.state == PairState.ACCEPTED) & (votes.gold < 0)]
    adjudication_request_send(project=busy_project, user=curator, pair_ids=[int(accepted[0])], reason="look again")
    disputed = set(votes.pair_ids[outcome.state == PairState.DISPUTED].tolist())
    assert disputed  # the gate does dispute some
    sent = set(open_adjudication_requests(busy_project).values_list("pair_id", flat=True))
    queue = disputed_pairs(busy_project)
    listed = [pair.pk for pair in queue[0 : queue.count() + 5]]
    assert sorted(listed) == sorted(disputed | sent) and queue.count() == len(listed)
    for task in (Task.T2T, Task.T2I):
        mine = disputed_pairs(busy_project, task=task)
        pairs = mine[0:100]
        assert {pair.task for pair in pairs} <= {task} and mine.count() == len(pairs)
    # After one pair, the queue goes on in (task, id) order, and from the last back to the first.
    ordered = queue[0 : queue.count()]
    assert [queue.following(pair).pk for pair in ordered] == [*listed[1:], listed[0]]
