"""The leaderboard's judge rows and hard pairs, counted by the database (judges/tallies.py), against a
straightforward recomputation from the model votes in Python, on a small random project."""

from __future__ import annotations

import random

import pytest

from annotations.models import Label, Role, ShownOrder
from judges import selectors, tallies
from judges.metrics import overall
from judges.models import Judge, JudgeKind, ModelVote, VoteStatus
from judges.selectors import TASKS, TruthChoice
from releases.gate import LABELS
from tests.factories import MembershipFactory, PairFactory, ProjectFactory, UserFactory
from tests.releases.test_releases import votes

pytestmark = pytest.mark.django_db

WITH_TIE_ANSWERS = [Label.RESPONSE1, Label.RESPONSE2, Label.TIE, None]
NO_TIE_ANSWERS = [Label.RESPONSE1, Label.RESPONSE2, None]


def _model_vote(judge, pair, *, with_tie, order, rng) -> ModelVote:
    label = rng.choice(WITH_TIE_ANSWERS if with_tie else NO_TIE_ANSWERS)
    status = VoteStatus.OK if label else rng.choice([VoteStatus.UNPARSEABLE, VoteStatus.FAILED])
    if rng.random() < 0.05:
        label, status = None, VoteStatus.SKIPPED
    return ModelVote(judge=judge, pair=pair, with_tie=with_tie, order=order, label=label, status=status)


@pytest.fixture
def world(project):
    """26 pairs over three tasks with 3 human votes each (some split, so not every pair is in the gate's truth)
    and imported labels; 2 pairs nobody voted on; four judges answering at random, one of them only on the
    unvoted pairs, one never; and a judge of another project on its own pair."""
    rng = random.Random(5)
    voters = [
        MembershipFactory(project=project, role=Role.ANNOTATOR, user=UserFactory(username=f"w{i}")).user
        for i in range(3)
    ]
    pairs = []
    for n in range(26):
        truth = rng.choice(LABELS)
        pair = PairFactory(project=project, task=TASKS[n % 3], reference_label=truth)
        votes(pair, voters, [truth if rng.random() < 0.8 else rng.choice(LABELS) for _ in voters])
        pairs.append(pair)
    unvoted = [PairFactory(project=project, task=TASKS[0], reference_label=Label.RESPONSE1) for _ in range(2)]
    made = []
    for name in ("alpha", "beta", "gamma", "delta"):
        judge = Judge.objects.create(project=project, name=name, kind=JudgeKind.IMPORTED)
        for pair in pairs + unvoted:
            for with_tie, order, share in (
                (True, ShownOrder.RESPONSE1_LEFT, 0.8),
                (False, ShownOrder.RESPONSE1_LEFT, 0.6),
                (True, ShownOrder.RESPONSE2_LEFT, 0.3),  # the swapped order: never on the leaderboard
            ):
                if rng.random() < share:
                    made.append(_model_vote(judge, pair, with_tie=with_tie, order=order, rng=rng))
    outside = Judge.objects.create(project=project, name="outside", kind=JudgeKind.IMPORTED)
    for pair in unvoted:
        made.append(ModelVote(judge=outside, pair=pair, with_tie=True, order="12", label="tie", status="ok"))
    Judge.objects.create(project=project, name="silent", kind=JudgeKind.IMPORTED)
    elsewhere = ProjectFactory(slug="elsewhere-judged")
    other = Judge.objects.create(project=elsewhere, name="alpha", kind=JudgeKind.IMPORTED)
    made.append(
        ModelVote(judge=other, pair=PairFactory(project=elsewhere), with_tie=True, order="12", label="tie", status="ok")
    )
    ModelVote.objects.bulk_create(made)
    return project


def _answers(project, *, with_tie: bool) -> dict[str, dict[int, str]]:
    """judge name -> pair id -> its label ("" for no answer), on the question as the leaderboard reads it."""
    found: dict[str, dict[int, str]] = {}
    for vote in ModelVote.objects.filter(judge__project=project).select_related("judge"):
        if vote.with_tie == with_tie and vote.order == ShownOrder.RESPONSE1_LEFT and vote.status != "skipped":
            found.setdefault(vote.judge.name, {})[vote.pair_id] = vote.label or ""
    return found


def _expected_cells(truth, given: dict[int, str], *, with_tie: bool) -> dict[str, tuple[int, int]]:
    cells = {task: [0, 0] for task in TASKS}
    for pair_id, human, task in zip(truth.pair_ids.tolist(), truth.labels.tolist(), truth.tasks.tolist(), strict=True):
        if pair_id in given and (with_tie or LABELS[human] != "tie"):
            cells[task][1] += 1
            cells[task][0] += given[pair_id] == LABELS[human]
    return {task: (correct, n) for task, (correct, n) in cells.items()}


@pytest.fixture(params=["array", "join"])
def lookup(request, monkeypatch):
    """PostgreSQL finds a pair's key by array subscript, or by a join when the pair ids are spread out."""
    if request.param == "join":
        monkeypatch.setattr(tallies, "DENSE_SLACK", -(10**9))


@pytest.mark.parametrize("truth_kind", ["gate", "imported"])
def test_judge_rows_count_what_a_recount_of_the_votes_finds(world, truth_kind, lookup):
    choice = TruthChoice(truth_kind) if truth_kind == "imported" else None
    board = selectors.leaderboard(world, choice)
    truth = board.truth
    assert 0 < len(truth.pair_ids) < 28 if truth_kind == "gate" else len(truth.pair_ids) == 28
    for with_tie, rows in ((True, board.with_tie), (False, board.without_tie)):
        by_name = {row.name: row for row in rows}
        given = _answers(world, with_tie=with_tie)
        for name in ("alpha", "beta", "gamma", "delta"):
            expected = _expected_cells(truth, given[name], with_tie=with_tie)
            cells = by_name[name].table.cells
            assert {task: (cell.correct, cell.n) for task, cell in cells.items()} == expected, (name, with_tie)
            assert by_name[name].table.overall == overall(list(cells.values()))
            assert by_name[name].note == ""
        assert by_name["silent"].note == f"No answers to the {'with-tie' if with_tie else 'no-tie'} question."
    outside = {row.name: row for row in board.with_tie}["outside"]
    if truth_kind == "gate":  # the gate has no label for the unvoted pairs
        assert outside.table.overall is None and outside.note.startswith("0 of 2 answers fall on pairs scored")
    else:
        assert (outside.table.cells[TASKS[0]].correct, outside.table.cells[TASKS[0]].n) == (0, 2)


def _expected_hard(project, truth) -> list[tuple[int, str, int, dict[str, str]]]:
    """Hard pairs as the page defines them, recounted one vote at a time: (pair id, label, wrong, answers)."""
    label_of = dict(zip(truth.pair_ids.tolist(), truth.labels.tolist(), strict=True))
    firm = set(truth.pair_ids[truth.strong].tolist())
    answers: dict[int, dict[str, str]] = {}
    ordered = ModelVote.objects.filter(judge__project=project).select_related("judge").order_by("judge__name")
    for vote in sorted(ordered, key=lambda v: (v.judge.name, not v.with_tie)):
        if vote.pair_id not in firm or vote.order != ShownOrder.RESPONSE1_LEFT or vote.status == "skipped":
            continue
        human = LABELS[label_of[vote.pair_id]]
        if vote.with_tie or human != "tie":
            answers.setdefault(vote.pair_id, {}).setdefault(vote.judge.name, vote.label or "no answer")
    found = []
    for pair_id, given in answers.items():
        human = LABELS[label_of[pair_id]]
        wrong = sum(answer != human for answer in given.values())
        if 2 * wrong > len(given):
            found.append((pair_id, human, wrong, given))
    return sorted(found, key=lambda item: (-item[2], item[0]))


@pytest.mark.parametrize("truth_kind", ["gate", "imported"])
def test_hard_pairs_are_the_ones_a_recount_of_the_votes_finds(world, truth_kind, lookup):
    choice = TruthChoice(truth_kind) if truth_kind == "imported" else None
    truth = selectors.resolve_truth(world, choice)
    expected = _expected_hard(world, truth)
    assert len(expected) > 5  # enough that the limit below cuts the list
    found, total = selectors.hard_pairs(world, truth, limit=5)
    assert total == len(expected)
    got = [(hard.pair.pk, hard.human, hard.wrong, hard.answers) for hard in found]
    assert got == expected[:5]
    assert all(hard.answered == len(hard.answers) for hard in found)
    assert [list(hard.answers) for hard in found] == [sorted(hard.answers) for hard in found]  # by judge name


def test_no_firm_label_no_hard_pair(project):
    truth = selectors.resolve_truth(project, None)
    assert not len(truth.pair_ids)
    assert selectors.hard_pairs(project, truth) == ([], 0)
