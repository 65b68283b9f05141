"""The leaderboard's judge rows and hard pairs, counted on the judges' answer sheets (judges/sheets.py),
against a straightforward recomputation from the model votes in Python, on a small random project; and
the sheets themselves against their votes after every kind of write."""

from __future__ import annotations

import json
import random
import threading
import zlib

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection, transaction

from annotations.models import Label, Role, ShownOrder
from judges import selectors, sheets
from judges.metrics import overall
from judges.models import AnswerSheet, Judge, JudgeKind, ModelVote, VoteStatus
from judges.selectors import TASKS, TruthChoice
from judges.services.imports import judge_import_upload
from judges.services.runs import judge_run_start
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


@pytest.fixture(params=["when read", "by the writer"])
def lookup(request, world):
    """The sheets are built by the page that reads them, or were built by a writer beforehand."""
    if request.param == "by the writer":
        sheets.answer_sheets_refresh(judge_ids=Judge.objects.values_list("pk", flat=True))


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


# --- the answer sheets against their votes ----------------------------------------------------------------

CODE = {Label.RESPONSE1: 0, Label.RESPONSE2: 1, Label.TIE: 2, None: -1}


def _recount(judge, *, with_tie: bool, order: str) -> dict[int, int]:
    """pair id -> answer code, straight from the vote rows (skipped ones were never really asked)."""
    rows = ModelVote.objects.filter(judge=judge, with_tie=with_tie, order=order).exclude(status=VoteStatus.SKIPPED)
    return {vote.pair_id: CODE[vote.label] for vote in rows}


def _sheet(judge, *, with_tie: bool, order: str) -> dict[int, int]:
    sheet = sheets.answer_sheets([judge.pk], order).get((judge.pk, with_tie), sheets.EMPTY)
    ids = sheet.pair_ids()
    return dict(zip(ids.tolist(), sheet.on(ids).tolist(), strict=True))


def _current(judge) -> bool:
    """Every sheet of the judge was built at its current version (no reader has to build it)."""
    rows = AnswerSheet.objects.filter(judge=judge).values_list("version", "built_version")
    return bool(rows) and all(version == built for version, built in rows)


def _assert_sheets_equal_votes(judge) -> None:
    for with_tie in (True, False):
        for order in ShownOrder.values:
            assert _sheet(judge, with_tie=with_tie, order=order) == _recount(judge, with_tie=with_tie, order=order)


def test_a_run_and_an_import_leave_current_sheets_equal_to_their_votes(project, django_capture_on_commit_callbacks):
    pairs = [PairFactory(project=project, external_id=f"p{i}") for i in range(12)]
    first = Judge.objects.create(project=project, name="always-first", kind=JudgeKind.FIRST)
    with django_capture_on_commit_callbacks(execute=True):
        judge_run_start(judge=first, user=None, tasks=["T2T"], with_tie=True, both_orders=True)
    assert _current(first)  # the run built them as it finished
    _assert_sheets_equal_votes(first)
    assert set(_sheet(first, with_tie=True, order="21").values()) == {CODE[Label.RESPONSE2]}  # "A" seen second

    def imported(answers: dict[str, str | None], name: str = "gpt_preferences_with_tie.json"):
        records = [{"id": pair_id, "predicted": label} for pair_id, label in answers.items()]
        upload = SimpleUploadedFile(name, json.dumps(records).encode())
        return judge_import_upload(project=project, user=None, kind="preferences", upload=upload).first_judge

    gpt = imported({f"p{i}": Label.TIE for i in range(8)})
    assert _current(gpt)  # built in the import's transaction
    _assert_sheets_equal_votes(gpt)
    imported({"p2": Label.RESPONSE1, "p9": None})  # merges by pair: p2 replaced, p9 added as no answer
    assert _current(gpt)
    assert _sheet(gpt, with_tie=True, order="12") == {
        **{pairs[i].pk: 2 for i in range(8)},
        pairs[2].pk: 0,
        pairs[9].pk: -1,
    }
    _assert_sheets_equal_votes(gpt)


def test_every_other_write_of_votes_makes_the_sheets_stale_and_the_next_read_sees_it(world):
    """Writes no service of ours made (a cascade, a queryset update or delete, a bulk insert) still bump the
    version, so a sheet built before them is built again when next read."""
    judges = list(Judge.objects.filter(project=world, name__in=["alpha", "beta", "gamma", "delta"]))
    sheets.answer_sheets_refresh(judge_ids=[judge.pk for judge in judges])
    assert all(_current(judge) for judge in judges)
    alpha, beta = judges[0], judges[1]
    pairs = list(world.pairs.order_by("id"))

    pairs[0].delete()  # the pair's votes go by cascade
    ModelVote.objects.filter(judge=alpha, with_tie=True).update(label=Label.TIE, status=VoteStatus.OK)
    ModelVote.objects.filter(judge=beta, with_tie=False, pair__in=pairs[1:6]).delete()
    ModelVote.objects.filter(judge=beta, with_tie=True, pair__in=pairs[6:9]).update(status=VoteStatus.SKIPPED)
    ModelVote.objects.bulk_create(
        [ModelVote(judge=beta, pair=pair, with_tie=True, order="21", label="tie", status="ok") for pair in pairs[10:]],
        ignore_conflicts=True,
    )
    assert not any(_current(judge) for judge in judges)  # every judge had a vote on the deleted pair
    for judge in judges:
        _assert_sheets_equal_votes(judge)
        assert _current(judge)  # the read stored what it built
    assert set(_sheet(alpha, with_tie=True, order="12").values()) == {CODE[Label.TIE]}


def test_a_current_sheet_is_read_as_stored_and_a_stale_one_never(world):
    """What makes the pages fast is that a current sheet is believed without reading the votes; what makes them
    right is that any write of the votes makes it stale. A sheet overwritten behind the mechanism's back shows
    which one the page read."""
    alpha = Judge.objects.get(project=world, name="alpha")
    truth = selectors.resolve_truth(world, TruthChoice("imported"))
    sheets.answer_sheets_refresh(judge_ids=[alpha.pk])
    row = AnswerSheet.objects.get(judge=alpha, with_tie=True, order="12")
    first, last = int(truth.pair_ids.min()), int(truth.pair_ids.max())
    forged = zlib.compress(np.zeros(last - first + 1, dtype=np.int8).tobytes())  # "response1" on every pair
    AnswerSheet.objects.filter(pk=row.pk).update(first_pair_id=first, codes=forged)

    def alpha_with_tie():
        board = selectors.leaderboard(world, TruthChoice("imported"))
        cells = {row.name: row for row in board.with_tie}["alpha"].table.cells
        return sum(cell.n for cell in cells.values())

    assert alpha_with_tie() == len(truth.pair_ids)  # the forged sheet: an answer on every pair
    ModelVote.objects.filter(judge=alpha, with_tie=True, order="12").first().save()  # any write, even a no-op one
    given = _answers(world, with_tie=True)["alpha"]
    assert alpha_with_tie() == len(set(given) & set(truth.pair_ids.tolist()))  # the votes again


def test_a_judge_goes_with_its_sheets(world):
    alpha = Judge.objects.get(project=world, name="alpha")
    sheets.answer_sheets([alpha.pk])
    assert AnswerSheet.objects.filter(judge=alpha).exists()
    alpha.delete()
    if connection.vendor == "postgresql":  # the foreign keys are checked at commit: check them now
        connection.check_constraints()
    assert not AnswerSheet.objects.filter(judge_id=alpha.pk).exists()
    assert "alpha" not in {row.name for row in selectors.leaderboard(world).with_tie}


@pytest.mark.django_db(transaction=True)
def test_a_reader_neither_waits_for_a_writer_nor_sees_its_votes_before_they_commit(project):
    if connection.vendor != "postgresql":
        pytest.skip("SQLite writes one transaction at a time")
    pair, other = PairFactory(project=project), PairFactory(project=project)
    judge = Judge.objects.create(project=project, name="judge", kind=JudgeKind.IMPORTED)
    ModelVote.objects.create(judge=judge, pair=pair, with_tie=True, order="12", label=Label.RESPONSE1, status="ok")
    writing, finish = threading.Event(), threading.Event()

    def writer() -> None:
        try:
            with transaction.atomic():  # holds the sheet's row, whose version it bumped, until it commits
                ModelVote.objects.create(judge=judge, pair=other, with_tie=True, order="12", label="tie", status="ok")
                writing.set()
                finish.wait(20)
        finally:
            connection.close()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        assert writing.wait(20)
        with connection.cursor() as cursor:
            cursor.execute("SET statement_timeout = 5000")  # waiting for the writer would fail here
        assert _sheet(judge, with_tie=True, order="12") == {pair.pk: 0}
        assert not _current(judge)  # built for this reader, not stored under the writer's lock
    finally:
        finish.set()
        thread.join()
        with connection.cursor() as cursor:
            cursor.execute("SET statement_timeout = 0")
    assert _sheet(judge, with_tie=True, order="12") == {pair.pk: 0, other.pk: 2}
    assert _current(judge)
