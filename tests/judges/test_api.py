"""The judges API as a script would use it: judges, runs, imported results, the leaderboard and diagnostics."""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from rest_framework.test import APIClient

from annotations.models import Label, ShownOrder
from judges.models import Judge, JudgeKind, JudgeRun, ModelVote, RunStatus, VoteStatus
from releases.services.publish import release_publish
from tests.conftest import client_for
from tests.judges import test_leaderboard
from tests.judges.test_leaderboard import HUMAN
from tests.releases.test_api import api

pytestmark = pytest.mark.django_db

R1, R2, TIE = Label.RESPONSE1, Label.RESPONSE2, Label.TIE
bench = test_leaderboard.bench  # the fixture: six pairs with unanimous human labels, see HUMAN


def url(name: str, *args) -> str:
    return reverse(f"judges-api:{name}", args=["bench", *args])


def test_a_judge_created_and_run_through_the_api_appears_on_the_leaderboard(
    project, curator, bench, django_capture_on_commit_callbacks
):
    client = api(curator)
    created = client.post(url("judge-list"), {"name": "always-first", "kind": JudgeKind.FIRST}, format="json")
    assert created.status_code == 201, created.json()
    judge = created.json()
    assert (judge["kind"], judge["runnable"], judge["created_by"], judge["concurrency"]) == ("first", True, "cora", 4)
    assert client.get(url("judge-list")).json()["results"] == [judge]

    with django_capture_on_commit_callbacks(execute=True):  # the job runs eagerly as the run commits
        started = client.post(url("run-list", judge["id"]), {"tasks": ["T2T"], "with_tie": True}, format="json")
    assert started.status_code == 202, started.json()
    assert (started.json()["status"], started.json()["tasks"]) == (RunStatus.QUEUED, ["T2T"])
    run = client.get(url("run-detail", judge["id"], started.json()["id"])).json()
    assert (run["status"], run["total"], run["done"], run["failed"], run["progress"]) == ("done", 4, 4, 0, 1.0)
    assert client.get(url("run-list", judge["id"])).json()["count"] == 1

    board = client.get(url("leaderboard")).json()
    row = next(r for r in board["with_tie"] if r["model"] == "always-first")
    # Always response1 on T2T: right on p1 and p4, wrong on p2 (response2) and p3 (tie).
    cell = row["tasks"]["T2T"]
    assert (cell["accuracy"], cell["correct"], cell["n"], row["overall"]) == (0.5, 2, 4, 0.5)
    tv2t = row["tasks"]["TV2T"]  # not run on it
    assert (tv2t["accuracy"], tv2t["correct"], tv2t["n"], tv2t["low"], tv2t["high"]) == (None, 0, 0, None, None)
    assert row["kind"] == "first" and board["with_tie"][0]["model"] == "Human annotators"
    never_asked = next(r for r in board["without_tie"] if r["model"] == "always-first")  # stays, with the reason
    assert (never_asked["overall"], never_asked["note"]) == (None, "No answers to the no-tie question.")
    assert (board["pairs"], board["tasks"], board["human_labels"]) == (
        6,
        ["T2T", "TV2T"],
        "the gate's accepted labels (live)",
    )
    assert board == json.loads(client_for(curator).get("/projects/bench/leaderboard.json").content)  # same JSON


def test_judges_validate_like_the_form(project, curator, settings):
    client = api(curator)
    endpoint = {"name": "gpt", "kind": "endpoint", "base_url": "http://vllm.internal:8000/v1", "model": "gpt-4o"}

    secret = client.post(url("judge-list"), endpoint | {"api_key_env": "DJANGO_SECRET_KEY"}, format="json")
    assert secret.status_code == 400 and list(secret.json()) == ["api_key_env"]
    assert "DJANGO_SECRET_KEY is not an allowed key variable" in secret.json()["api_key_env"][0]
    lower = client.post(url("judge-list"), endpoint | {"api_key_env": "omni_judge_key"}, format="json")
    assert lower.status_code == 400 and "api_key_env" in lower.json()
    bare = client.post(url("judge-list"), {"name": "gpt", "kind": "endpoint"}, format="json")
    assert bare.status_code == 400 and bare.json() == {
        "base_url": ["An endpoint judge needs this."],
        "model": ["An endpoint judge needs this."],
    }
    imported = client.post(url("judge-list"), {"name": "gpt", "kind": "imported"}, format="json")
    assert imported.status_code == 400 and list(imported.json()) == ["kind"]
    limits = client.post(url("judge-list"), endpoint | {"concurrency": 0, "timeout_s": 0, "retries": 11}, format="json")
    assert limits.status_code == 400 and set(limits.json()) == {"concurrency", "timeout_s", "retries"}
    assert not Judge.objects.exists()

    settings.JUDGE_API_KEY_ENVS = ["OPENAI_API_KEY"]
    good = client.post(url("judge-list"), endpoint | {"api_key_env": "OPENAI_API_KEY"}, format="json")
    assert good.status_code == 201 and good.json()["api_key_env"] == "OPENAI_API_KEY"
    twice = client.post(url("judge-list"), endpoint, format="json")
    assert twice.status_code == 400 and "already exists" in twice.json()["name"][0]

    judge_url = url("judge-detail", good.json()["id"])
    assert client.patch(judge_url, {"model": ""}, format="json").json() == {"model": ["An endpoint judge needs this."]}
    assert client.patch(judge_url, {"kind": "first"}, format="json").status_code == 400
    renamed = client.patch(judge_url, {"name": "gpt-4o", "concurrency": 8}, format="json")
    assert renamed.status_code == 200 and (renamed.json()["name"], renamed.json()["concurrency"]) == ("gpt-4o", 8)
    assert client.get(judge_url).json()["name"] == "gpt-4o"
    assert client.delete(judge_url).status_code == 204
    assert client.get(judge_url).status_code == 404 and not Judge.objects.exists()


def test_runs_validate_refuse_a_second_active_run_cancel_and_resume(
    project, curator, bench, django_capture_on_commit_callbacks
):
    judge = Judge.objects.create(project=project, name="first", kind=JudgeKind.FIRST)
    imported = Judge.objects.create(project=project, name="gpt", kind=JudgeKind.IMPORTED)
    client = api(curator)

    unknown = client.post(url("run-list", judge.pk), {"tasks": ["T9X"]}, format="json")
    assert unknown.status_code == 400 and "Unknown task" in unknown.json()["tasks"][0]
    assert client.post(url("run-list", judge.pk), {"with_tie": True}, format="json").json() == {
        "tasks": ["This field is required."]
    }
    not_runnable = client.post(url("run-list", imported.pk), {"tasks": ["T2T"]}, format="json")
    assert not_runnable.status_code == 400 and "imported results" in not_runnable.json()["non_field_errors"][0]

    queued = client.post(url("run-list", judge.pk), {"tasks": ["T2T", "TV2T"]}, format="json")  # job never sent
    assert queued.status_code == 202 and queued.json()["tasks"] == ["T2T", "TV2T"]
    busy = client.post(url("run-list", judge.pk), {"tasks": ["T2T"]}, format="json")
    assert busy.status_code == 409 and "already has a run in progress" in busy.json()["detail"]
    assert JudgeRun.objects.count() == 1

    run_id = queued.json()["id"]
    cancelled = client.post(url("run-cancel", judge.pk, run_id))
    assert cancelled.status_code == 200 and cancelled.json()["status"] == RunStatus.CANCELLED
    assert client.post(url("run-cancel", judge.pk, run_id)).status_code == 409  # already finished
    with django_capture_on_commit_callbacks(execute=True):
        resumed = client.post(url("run-resume", judge.pk, run_id))
    assert resumed.status_code == 202 and resumed.json()["status"] == RunStatus.QUEUED
    done = client.get(url("run-detail", judge.pk, run_id)).json()
    assert (done["status"], done["done"], done["total"], done["stalled"]) == ("done", 6, 6, False)
    assert client.post(url("run-resume", judge.pk, run_id)).status_code == 409
    assert client.get(url("run-detail", judge.pk, 999999)).status_code == 404


def test_result_files_import_and_bad_ones_come_back_with_their_problem_lines(project, curator, bench):
    client = api(curator)
    records = [{"id": name, "criteria_preference": HUMAN[name], "predicted": "response1"} for name in HUMAN]
    good = SimpleUploadedFile("gpt-4o_preferences_with_tie.json", json.dumps(records).encode())
    response = client.post(url("import"), {"kind": "preferences", "file": good}, format="multipart")
    assert response.status_code == 201, response.json()
    assert response.json()["rows"] == 6 and response.json()["judge"]["name"] == "gpt-4o"
    assert response.json()["judge"]["kind"] == "imported" and response.json()["judge"]["runnable"] is False

    records[2]["predicted"] = "D"
    records[4]["id"] = "not-here"
    bad = SimpleUploadedFile("gpt-4o_preferences.json", json.dumps(records).encode())
    refused = client.post(url("import"), {"kind": "preferences", "file": bad}, format="multipart")
    assert refused.status_code == 400
    lines = refused.json()["file"]
    assert any(line.startswith("gpt-4o_preferences.json:3: predicted:") for line in lines)
    assert lines[-1] == "Nothing was imported."
    assert not ModelVote.objects.filter(with_tie=False).exists()

    scores = SimpleUploadedFile("rm_scores.csv", b"id,score1,score2\np1,2.0,1.0\n")
    assert client.post(url("import"), {"kind": "scores", "file": scores}, format="multipart").status_code == 201
    assert Judge.objects.get(name="rm").kind == JudgeKind.SCALAR
    missing = client.post(url("import"), {"kind": "votes"}, format="multipart")
    assert missing.status_code == 400 and set(missing.json()) == {"kind", "file"}


def test_a_nul_in_a_result_file_id_or_model_name_is_a_problem_on_its_line(project, curator, bench):
    """PostgreSQL text cannot hold a NUL (psycopg raises DataError): such an id or model name was a 500 there."""
    client = api(curator)
    nul_id = SimpleUploadedFile("rm_scores.jsonl", b'{"id": "p1\\u0000", "score1": 1, "score2": 0}\n')
    refused = client.post(url("import"), {"kind": "scores", "file": nul_id}, format="multipart")
    assert refused.status_code == 400
    assert refused.json()["file"][0] == r"rm_scores.jsonl:1: id: 'p1\x00' holds a NUL character; no pair id does."
    nul_model = SimpleUploadedFile("s.jsonl", b'{"id": "p1", "score1": 1, "score2": 0, "model": "rm\\u0000"}\n')
    refused = client.post(url("import"), {"kind": "scores", "file": nul_model}, format="multipart")
    assert refused.status_code == 400
    assert refused.json()["file"][0] == r"s.jsonl:1: model: 'rm\x00' holds a NUL character; a model name cannot."
    assert not Judge.objects.exists()


def test_the_leaderboard_scores_against_a_release_when_asked(project, curator, bench):
    judge = Judge.objects.create(project=project, name="judge-x", kind=JudgeKind.IMPORTED)
    for name in ("p1", "p2"):
        ModelVote.objects.create(judge=judge, pair=bench[name], with_tie=True, order=ShownOrder.RESPONSE1_LEFT,
                                 label=R1, status=VoteStatus.OK)  # fmt: skip
    client = api(curator)
    assert client.get(url("leaderboard"), {"release": "x"}).json() == {"release": ["A valid integer is required."]}
    assert client.get(url("leaderboard"), {"release": 0}).status_code == 400
    missing = client.get(url("leaderboard"), {"release": 1})
    assert missing.status_code == 400 and missing.json() == {"truth": ["truth: this project has no release v1."]}
    release_publish(project=project, user=curator, bootstrap=0)
    for query in ({"release": 1}, {"truth": "release:1"}):
        board = client.get(url("leaderboard"), query).json()
        assert (board["truth"], board["human_labels"], board["pairs"]) == ("release:1", "release v1", 6)
        row = next(r for r in board["with_tie"] if r["model"] == "judge-x")
        cell = row["tasks"]["T2T"]
        assert (cell["accuracy"], cell["correct"], cell["n"]) == (0.5, 1, 2)


def test_a_judge_report_has_the_confusion_matrix_kappa_consistency_and_length_buckets(project, curator, bench):
    judge = Judge.objects.create(project=project, name="first", kind=JudgeKind.FIRST)
    for pair in bench.values():
        for order, label in ((ShownOrder.RESPONSE1_LEFT, R1), (ShownOrder.RESPONSE2_LEFT, R2)):
            ModelVote.objects.create(judge=judge, pair=pair, with_tie=True, order=order, verdict="A", label=label,
                                     status=VoteStatus.OK)  # fmt: skip
    report = api(curator).get(url("judge-report", judge.pk)).json()
    assert (report["judge"], report["name"], report["with_tie"]) == (judge.pk, "first", True)
    assert report["confusion"] == {
        "human": [R1, R2, TIE],
        "predicted": [R1, R2, TIE, "none"],
        "counts": [[3, 0, 0, 0], [2, 0, 0, 0], [1, 0, 0, 0]],  # always response1
    }
    assert report["kappa"] == 0.0 or report["kappa"] is None
    assert report["consistency"] == {"value": 0.0, "pairs": 6}  # every verdict flips with the seats
    assert (report["answered"], report["failed"]) == (6, 0)
    assert report["length"] and set(report["length"][0]) >= {"label", "low", "high", "n", "accuracy", "model_longer"}
    assert sum(bucket["n"] for bucket in report["length"]) == 6


def test_hard_pairs_are_listed_with_every_judges_answer(project, curator, bench):
    for name in ("judge-a", "judge-b"):
        judge = Judge.objects.create(project=project, name=name, kind=JudgeKind.IMPORTED)
        for pair in ("p1", "p2", "q1"):
            ModelVote.objects.create(judge=judge, pair=bench[pair], with_tie=True, order=ShownOrder.RESPONSE1_LEFT,
                                     label=R2, status=VoteStatus.OK)  # fmt: skip
    data = api(curator).get(url("hard-pairs")).json()
    assert data == {
        "total": 1,
        "pairs": [
            {"id": bench["p1"].id, "external_id": "p1", "task": "T2T", "human": R1, "wrong": 2, "answered": 2,
             "answers": {"judge-a": R2, "judge-b": R2}},
        ],
    }  # fmt: skip


def test_every_endpoint_is_closed_to_annotators_and_outsiders(project, curator, annotator, outsider, bench):
    judge = Judge.objects.create(project=project, name="first", kind=JudgeKind.FIRST)
    run = JudgeRun.objects.create(judge=judge, tasks=["T2T"], with_tie=True, status=RunStatus.FAILED)
    body = {"name": "other", "kind": "first", "tasks": ["T2T"], "model": "x"}
    endpoints = [
        ("get", url("judge-list")),
        ("post", url("judge-list")),
        ("get", url("judge-detail", judge.pk)),
        ("patch", url("judge-detail", judge.pk)),
        ("delete", url("judge-detail", judge.pk)),
        ("get", url("run-list", judge.pk)),
        ("post", url("run-list", judge.pk)),
        ("get", url("run-detail", judge.pk, run.pk)),
        ("post", url("run-cancel", judge.pk, run.pk)),
        ("post", url("run-resume", judge.pk, run.pk)),
        ("post", url("import")),
        ("get", url("leaderboard")),
        ("get", url("judge-report", judge.pk)),
        ("get", url("hard-pairs")),
        ("put", url("judge-detail", judge.pk)),  # a method the endpoint lacks: still the access check first
    ]
    for user, expected in ((annotator, 403), (outsider, 404), (None, 401)):
        client = api(user) if user else APIClient()
        for method, address in endpoints:
            response = getattr(client, method)(address, body, format="json")
            assert response.status_code == expected, (user, method, address)
    assert list(Judge.objects.values_list("name", flat=True)) == ["first"]
    assert JudgeRun.objects.get().status == RunStatus.FAILED and JudgeRun.objects.count() == 1


def test_a_browser_session_needs_the_csrf_token_to_write(project, curator):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(curator)
    assert client.get(url("judge-list")).status_code == 200
    response = client.post(url("judge-list"), {"name": "first", "kind": "first"}, format="json")
    assert response.status_code == 403 and "CSRF" in response.json()["detail"]
    assert not Judge.objects.exists()
