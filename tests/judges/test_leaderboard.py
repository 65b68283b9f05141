"""The model-vs-human leaderboard, imported results, hard pairs and who may see them."""

from __future__ import annotations

import csv
import io
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from annotations.models import Label, Role, ShownOrder
from judges.models import Judge, JudgeKind, ModelVote, ScalarScore, VoteStatus
from releases.services.publish import release_publish
from tests.conftest import client_for
from tests.factories import MembershipFactory, PairFactory, UserFactory
from tests.releases.test_releases import votes

pytestmark = pytest.mark.django_db

R1, R2, TIE = Label.RESPONSE1, Label.RESPONSE2, Label.TIE
HUMAN = {"p1": R1, "p2": R2, "p3": TIE, "p4": R1, "q1": R2, "q2": R1}


@pytest.fixture
def bench(project):
    voters = [
        MembershipFactory(project=project, role=Role.ANNOTATOR, user=UserFactory(username=f"v{i}")).user
        for i in range(3)
    ]
    pairs = {}
    for name, label in HUMAN.items():
        pairs[name] = PairFactory(project=project, external_id=name, task="T2T" if name[0] == "p" else "TV2T")
        votes(pairs[name], voters, [label] * 3)
    return pairs


def _answers(judge, pairs, answers, *, with_tie):
    for name, label in answers.items():
        ModelVote.objects.create(
            judge=judge, pair=pairs[name], with_tie=with_tie, order=ShownOrder.RESPONSE1_LEFT,
            label=label, status=VoteStatus.OK if label else VoteStatus.UNPARSEABLE,
        )  # fmt: skip


def test_the_leaderboard_scores_exactly_as_the_paper(project, curator, bench):
    judge = Judge.objects.create(project=project, name="judge-x", kind=JudgeKind.IMPORTED)
    _answers(judge, bench, {"p1": R1, "p2": R1, "p3": TIE, "p4": R1, "q1": R2, "q2": None}, with_tie=True)
    _answers(judge, bench, {"p1": R1, "p2": R2, "p3": R1, "p4": R2, "q1": R2, "q2": R1}, with_tie=False)
    client = client_for(curator)

    board = client.get(reverse("judges:leaderboard", args=[project.slug])).context["board"]
    row = {r.name: r for r in board.with_tie}["judge-x"]
    assert (row.table.cells["T2T"].correct, row.table.cells["T2T"].n) == (3, 4)
    assert (row.table.cells["TV2T"].correct, row.table.cells["TV2T"].n) == (1, 2)  # no answer counts wrong
    assert round(row.table.overall * 100, 2) == 62.5  # the plain mean of 75 and 50, not 4 of 6
    row = {r.name: r for r in board.without_tie}["judge-x"]
    assert (row.table.cells["T2T"].correct, row.table.cells["T2T"].n) == (2, 3)  # the human tie is left out
    assert round(row.table.overall * 100, 2) == 83.33
    human = board.with_tie[0]
    assert human.name == "Human annotators" and human.table.overall == 1.0

    page = client.get(reverse("judges:leaderboard", args=[project.slug])).content.decode()
    assert '<td class="num" data-task="T2T">75.00 <span class="muted small">n=4</span>' in page
    exported = list(csv.reader(io.StringIO(client.get("/projects/bench/leaderboard.csv").content.decode())))
    overall = next(r for r in exported if r[1:5] == ["with_tie", "judge-x", "imported", "Overall"])
    assert (overall[0], overall[5], overall[8:]) == ("gate", "62.50", ["", "", ""])
    cell = next(r for r in exported if r[1:5] == ["without_tie", "judge-x", "imported", "T2T"])
    assert (cell[5], cell[8], cell[9]) == ("66.67", "2", "3")
    data = json.loads(client.get("/projects/bench/leaderboard.json").content)
    model = next(m for m in data["with_tie"] if m["model"] == "judge-x")
    tv2t = model["tasks"]["TV2T"]
    assert (tv2t["accuracy"], tv2t["correct"], tv2t["n"]) == (0.5, 1, 2)
    assert client.get("/projects/bench/leaderboard.xml").status_code == 404


def test_preference_files_import_and_bad_ones_say_where(project, curator, bench):
    client = client_for(curator)
    url = reverse("judges:import_results", args=[project.slug])
    records = [{"id": name, "criteria_preference": HUMAN[name], "predicted": "response1"} for name in HUMAN]
    good = SimpleUploadedFile("gpt-4o_preferences_with_tie.json", json.dumps(records).encode())
    response = client.post(url, {"kind": "preferences", "file": good}, follow=True)
    assert "Imported 6 results for gpt-4o." in response.content.decode()
    judge = Judge.objects.get(project=project, name="gpt-4o")
    assert judge.kind == JudgeKind.IMPORTED and judge.votes.filter(with_tie=True, label=R1).count() == 6

    records[2]["predicted"] = "D"
    records[4]["id"] = "not-here"
    bad = SimpleUploadedFile("gpt-4o_preferences.json", json.dumps(records).encode())
    html = client.post(url, {"kind": "preferences", "file": bad}, follow=True).content.decode()
    assert "gpt-4o_preferences.json:3: predicted:" in html
    assert "Nothing was imported." in html
    assert not judge.votes.filter(with_tie=False).exists()


def test_scalar_scores_are_scored_with_tie_calibration(project, curator, bench):
    rows = "id,score1,score2\n" + "\n".join(
        f"{name},{s1},{s2}" for name, (s1, s2) in
        {"p1": (2.0, 1.0), "p2": (0.5, 1.5), "p3": (1.0, 1.02), "p4": (0.1, 0.9), "q1": (0, 3), "q2": (3, 0)}.items()
    )  # fmt: skip
    upload = SimpleUploadedFile("rm-7b_scores.csv", rows.encode())
    client = client_for(curator)
    client.post(reverse("judges:import_results", args=[project.slug]), {"kind": "scores", "file": upload})
    judge = Judge.objects.get(project=project, name="rm-7b")
    assert judge.kind == JudgeKind.SCALAR and ScalarScore.objects.filter(judge=judge).count() == 6

    board = client.get(reverse("judges:leaderboard", args=[project.slug])).context["board"]
    with_tie = {r.name: r for r in board.with_tie}["rm-7b"].table
    # T2T: p3's gap 0.02 is the smallest; calling it a tie gets p1, p2, p3 right, p4 (0.1 < 0.9) wrong.
    assert (with_tie.cells["T2T"].correct, with_tie.cells["T2T"].n) == (3, 4)
    without = {r.name: r for r in board.without_tie}["rm-7b"].table
    assert (without.cells["T2T"].correct, without.cells["T2T"].n) == (2, 3)
    assert {r.name: r for r in board.with_tie}["rm-7b"].thresholds == {"T2T": pytest.approx(0.02), "TV2T": 0.0}

    # Its report: the thresholds, both confusion matrices and kappa, like any judge.
    report = client.get(f"/api/projects/{project.slug}/judges/{judge.pk}/report/").json()
    assert report["thresholds"] == {"T2T": pytest.approx(0.02), "TV2T": 0.0}
    by_question = {q["with_tie"]: q for q in report["questions"]}
    # Rows: the human label (response1, response2, tie); columns: the answer (…, none).
    assert by_question[True]["confusion"]["counts"] == [[2, 1, 0, 0], [0, 2, 0, 0], [0, 0, 1, 0]]
    assert by_question[False]["confusion"]["counts"] == [[2, 1, 0, 0], [0, 2, 0, 0], [0, 0, 0, 0]]
    # w/ Tie: 5 of 6 agree; chance (3*2 + 2*3 + 1*1) / 36 = 13/36, so kappa = (30 - 13) / (36 - 13).
    assert by_question[True]["kappa"] == pytest.approx(17 / 23)
    assert (by_question[True]["answered"], by_question[True]["failed"]) == (6, 0)
    page = client.get(reverse("judges:judge_detail", args=[project.slug, judge.pk])).content.decode()
    assert '<span data-task="T2T">T2T 0.0200</span>' in page and page.count('class="grid compact confusion"') == 2


def test_hard_pairs_are_where_strong_human_agreement_meets_wrong_judges(project, curator, bench):
    for name in ("judge-a", "judge-b"):
        judge = Judge.objects.create(project=project, name=name, kind=JudgeKind.IMPORTED)
        _answers(judge, bench, {"p1": R2, "p2": R2, "q1": R2}, with_tie=True)
    client = client_for(curator)
    page = client.get(reverse("judges:hard_pairs", args=[project.slug]))
    assert [h.pair.external_id for h in page.context["found"]] == ["p1"]
    assert '<tr data-pair="p1">' in page.content.decode()
    exported = client.get(reverse("judges:hard_pairs", args=[project.slug]) + "?format=csv").content.decode()
    assert "p1,T2T,response1,2,2" in exported
    # Prioritise them: every annotator now gets p1, as a gold pair with the humans' answer.
    response = client.post(reverse("judges:hard_pairs_to_gold", args=[project.slug]), follow=True)
    assert "1 hard pair made gold" in response.content.decode()
    bench["p1"].refresh_from_db()
    assert bench["p1"].gold_label == R1


def test_a_judge_page_shows_the_confusion_matrix_kappa_and_position_consistency(project, curator, bench):
    judge = Judge.objects.create(project=project, name="first", kind=JudgeKind.FIRST)
    for pair in bench.values():
        for order, label in ((ShownOrder.RESPONSE1_LEFT, R1), (ShownOrder.RESPONSE2_LEFT, R2)):
            ModelVote.objects.create(judge=judge, pair=pair, with_tie=True, order=order, verdict="A", label=label,
                                     status=VoteStatus.OK)  # fmt: skip
    report = client_for(curator).get(reverse("judges:judge_detail", args=[project.slug, judge.pk])).context["report"]
    assert report.confusion[:, 0].tolist() == [3, 2, 1] and report.confusion.sum() == 6  # always "response1"
    assert report.consistency == (0.0, 6)  # always the first response: every verdict flips with the seats


def test_judges_and_their_votes_stay_away_from_annotators_and_other_projects(project, annotator, outsider, bench):
    judge = Judge.objects.create(project=project, name="secret-judge-name", kind=JudgeKind.IMPORTED)
    _answers(judge, bench, {"p1": R2}, with_tie=True)
    urls = [
        reverse("judges:judge_list", args=[project.slug]),
        reverse("judges:judge_detail", args=[project.slug, judge.pk]),
        reverse("judges:leaderboard", args=[project.slug]),
        "/projects/bench/leaderboard.csv",
        reverse("judges:hard_pairs", args=[project.slug]),
    ]
    for user, status in ((annotator, 403), (outsider, 404)):
        client = client_for(user)
        for url in urls:
            assert client.get(url).status_code == status, (user, url)
        assert (
            client.post(reverse("judges:run_start", args=[project.slug, judge.pk]), {"tasks": ["T2T"]}).status_code
            == status
        )
        assert client.post(reverse("judges:import_results", args=[project.slug]), {}).status_code == status
    workspace = client_for(annotator).get(reverse("annotations:annotate", args=[project.slug])).content.decode()
    assert "secret-judge-name" not in workspace and "model-a" not in workspace


def test_the_human_row_scores_each_vote_against_the_others(project, curator):
    voters = [
        MembershipFactory(project=project, role=Role.ANNOTATOR, user=UserFactory(username=f"h{i}")).user
        for i in range(3)
    ]
    votes(PairFactory(project=project, external_id="unanimous"), voters, [R1, R1, R1])
    votes(PairFactory(project=project, external_id="two-one"), voters, [R1, R1, R2])
    board = client_for(curator).get(reverse("judges:leaderboard", args=[project.slug])).context["board"]
    cell = board.with_tie[0].table.cells["T2T"]
    # unanimous: 3 of 3 agree with the other two. two-one: each R1 vote's others split 1-1 (no majority,
    # not scored); the R2 vote's others say R1: wrong. 3 of 4.
    assert (cell.correct, cell.n) == (3, 4)


def test_the_release_leaderboard_scores_against_the_frozen_labels(project, curator, bench):
    from releases.models import Adjudication

    release_publish(project=project, user=curator, bootstrap=10)
    Adjudication.objects.create(pair=bench["p1"], decision=R2, decided_by=curator)  # live label flips after v1
    judge = Judge.objects.create(project=project, name="judge-x", kind=JudgeKind.IMPORTED)
    _answers(judge, bench, {"p1": R1}, with_tie=True)
    client = client_for(curator)
    url = reverse("judges:leaderboard", args=[project.slug])

    def score(**params):
        board = client.get(url, params).context["board"]
        return {r.name: r for r in board.with_tie}["judge-x"].table.cells["T2T"].correct

    assert score(release=1) == 1 and score() == 0
    assert client.get(url, {"release": "²"}).status_code == 400


def _write(path, records) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(records))


def test_a_paper_folder_leaves_tasks_the_project_lacks_alone_and_refuses_two_files_for_one_question(
    project, bench, tmp_path
):
    folder = tmp_path / "omnireward_preference_eval"
    _write(folder / "text_to_text/m_preferences_with_tie.json", [{"id": p, "predicted": "tie"} for p in HUMAN])
    _write(folder / "text_to_audio/m_preferences_with_tie.json", [{"id": "t2a-7", "predicted": "tie"}])
    out = io.StringIO()
    call_command("import_judge_results", str(folder), project=project.slug, stdout=out)
    assert "No pair of this project in text_to_audio/m_preferences_with_tie.json: left alone" in out.getvalue()
    assert ModelVote.objects.filter(judge__name="m").count() == len(HUMAN)

    # The same question for the same model on the same pairs twice (a backup beside the file): refused whole.
    _write(folder / "backup/text_to_text/m_preferences_with_tie.jsonl", [{"id": "p1", "predicted": "response2"}])
    _write(folder / "text_to_text/n_preferences.json", [{"id": "p1", "predicted": "response1"}])
    with pytest.raises(CommandError):
        call_command("import_judge_results", str(folder), project=project.slug, stderr=(err := io.StringIO()))
    assert "answers the same question as backup/text_to_text/m_preferences_with_tie.jsonl" in err.getvalue()
    assert not Judge.objects.filter(name="n").exists()
    assert ModelVote.objects.get(judge__name="m", pair=bench["p1"]).label == TIE  # unchanged


def test_length_table_and_position_consistency_use_the_questions_actually_asked(project, curator, bench):
    judge = Judge.objects.create(project=project, name="partial", kind=JudgeKind.IMPORTED)
    _answers(judge, bench, {"p1": R2, "p2": R1, "p3": R1, "p4": R2}, with_tie=True)  # all wrong
    _answers(judge, bench, {"p1": R1, "p2": R2}, with_tie=False)  # the no-tie question on two pairs, both right
    for name, label in {"p1": R1, "p2": R1}.items():  # a swapped no-tie run: same verdict on p1, not on p2
        ModelVote.objects.create(judge=judge, pair=bench[name], with_tie=False, order=ShownOrder.RESPONSE2_LEFT,
                                 label=label, status=VoteStatus.OK)  # fmt: skip
    report = client_for(curator).get(f"/api/projects/{project.slug}/judges/{judge.pk}/report/").json()
    scored = [b["accuracy"] for b in report["length"] if b["accuracy"]["n"]]
    assert (sum(b["correct"] for b in scored), sum(b["n"] for b in scored)) == (2, 2)
    assert report["consistency"] == {"value": 0.5, "pairs": 2}
    assert [(q["with_tie"], q["answered"]) for q in report["questions"]] == [(True, 4), (False, 2)]
