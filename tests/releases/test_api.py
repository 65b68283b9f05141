"""The releases API as a script would use it: statistics, gate, adjudication, gold, publishing and downloading."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile

import pytest
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from annotations.models import Label, Pair, ShownOrder
from releases.models import Adjudication, GateRule, Release, ReleaseStatus
from tests.factories import PairFactory
from tests.releases import test_releases
from tests.releases.test_annotator_stats import compute_annotator_stats
from tests.releases.test_releases import votes

pytestmark = pytest.mark.django_db

R1, R2, TIE = Label.RESPONSE1, Label.RESPONSE2, Label.TIE
voters = test_releases.voters  # the fixture: three annotators of the project


def api(user) -> APIClient:
    client = APIClient()
    token, _ = Token.objects.get_or_create(user=user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


def url(name: str, *args) -> str:
    return reverse(f"releases-api:{name}", args=["bench", *args])


def test_statistics_give_agreement_gate_states_annotators_and_prompt_groups(
    project, curator, voters, django_capture_on_commit_callbacks
):
    for i in range(6):
        pair = PairFactory(project=project, external_id=f"p{i}", criterion=f"criterion {i % 2}")
        votes(pair, voters, [R1, R1, R1] if i % 3 else [R1, R2, TIE], order=ShownOrder.RESPONSE1_LEFT)
    flip = PairFactory(project=project, external_id="flip", criterion="criterion 2")
    votes(flip, voters, [R2, R2, R2])
    compute_annotator_stats(project, django_capture_on_commit_callbacks)  # the background job
    client = api(curator)

    response = client.get(url("statistics"), {"bootstrap": 50})
    data = response.json()

    assert response.status_code == 200
    assert data["judgments"] == 21
    assert data["states"] == {"needs_votes": 0, "accepted": 5, "disputed": 2, "excluded": 0}
    assert data["overall"]["votes"] == 21 and data["overall"]["alpha"]["value"] is not None
    assert data["overall"]["alpha"]["low"] <= data["overall"]["alpha"]["value"] <= data["overall"]["alpha"]["high"]
    assert data["overall"]["vote_labels"] == {R1: 14, R2: 5, TIE: 2}
    (task,) = data["tasks"]
    assert (task["task"], task["pairs"], task["complete"]) == ("T2T", 7, 7)
    assert task["states"]["disputed"] == 2 and task["released_labels"] == {R1: 4, R2: 1, TIE: 0}
    assert set(task["agreement"]) >= {"alpha", "fleiss_kappa", "percent_agreement", "pairs_with_overlap"}
    assert [a["username"] for a in data["annotators"]] == ["voter0", "voter1", "voter2"]
    v0 = data["annotators"][0]
    assert (v0["judgments"], v0["left_picks"], v0["sided_votes"], v0["tie_rate"]) == (7, 6, 7, 0.0)
    assert v0["median_time_ms"] == 4000 and 0 < v0["left_p_value"] < 1
    assert set(v0["kappa"]) == {"value", "low", "high", "note"} and "kappa_compared" in v0
    assert v0["gold_judged"] == 0 and v0["below_bar"] is False
    assert data["pooled_left"]["sided_votes"] == 19
    (group,) = data["prompt_groups"]  # the same prompt and responses under three criteria
    assert group["flips"] is True and data["prompt_group_count"] == 1
    assert {c["external_id"]: c["label"] for c in group["criteria"]}["flip"] == R2
    assert data["gate"]["min_votes"] == 3 and data["gate"]["updated_by"] is None

    for bad in ("2001", "-1", "many"):
        refused = client.get(url("statistics"), {"bootstrap": bad})
        assert refused.status_code == 400 and "bootstrap" in refused.json(), bad


def test_the_gate_rule_reads_and_updates_through_the_service(project, curator):
    client = api(curator)
    assert client.get(url("gate")).json() == {
        "min_votes": 3, "min_majority_share": pytest.approx(2 / 3), "tie_policy": "label",
        "min_gold_accuracy": None, "min_gold_judged": 5, "updated_at": None, "updated_by": None,
    }  # fmt: skip

    bad = client.put(url("gate"), {"min_votes": 2, "min_majority_share": 0.4, "tie_policy": "label"}, format="json")
    assert bad.status_code == 400
    assert list(bad.json()) == ["min_majority_share"] and "above 0.5" in bad.json()["min_majority_share"][0]
    too_many = client.put(url("gate"), {"min_votes": 9, "min_majority_share": 1, "tie_policy": "label"}, format="json")
    assert too_many.status_code == 400 and "queue stops at 3" in too_many.json()["min_votes"][0]
    unknown = client.put(url("gate"), {"min_votes": 2, "min_majority_share": 1, "tie_policy": "x"}, format="json")
    assert unknown.status_code == 400 and "tie_policy" in unknown.json()
    assert not GateRule.objects.exists()

    good = {"min_votes": 2, "min_majority_share": 0.75, "tie_policy": "abstain", "min_gold_accuracy": 0.8}
    saved = client.put(url("gate"), good, format="json")
    assert saved.status_code == 200
    assert saved.json()["updated_by"] == "cora" and saved.json()["min_gold_judged"] == 5
    rule = GateRule.objects.get(project=project)
    assert (rule.min_votes, rule.min_majority_share, rule.tie_policy) == (2, 0.75, "abstain")
    assert (rule.min_gold_accuracy, rule.updated_by) == (0.8, curator)


def test_adjudication_lists_disputed_pairs_shows_votes_and_records_decisions(project, curator, voters):
    first = PairFactory(project=project, external_id="d1")
    second = PairFactory(project=project, external_id="d2")
    clear = PairFactory(project=project, external_id="ok")
    for pair in (first, second):
        votes(pair, voters, [R1, R2, TIE], rationale="because")
    votes(clear, voters, [R1, R1, R1])
    client = api(curator)

    queue = client.get(url("adjudication-list")).json()
    assert queue["count"] == 2 and queue["next"] is None
    assert queue["results"][0] == {
        "id": first.id, "external_id": "d1", "task": "T2T", "prompt": first.prompt, "criterion": first.criterion,
        "votes": {R1: 1, R2: 1, TIE: 1},
    }  # fmt: skip
    assert client.get(url("adjudication-list"), {"task": "T2I"}).json()["count"] == 0
    assert client.get(url("adjudication-list"), {"task": "T9X"}).status_code == 400

    verdict = client.get(url("adjudication", first.id)).json()
    assert (verdict["state"], verdict["label"], verdict["counted"]) == ("disputed", None, {R1: 1, R2: 1, TIE: 1})
    assert verdict["pair"]["external_id"] == "d1" and verdict["decisions"] == []
    assert [(v["annotator"], v["label"], v["shown_order"], v["time_spent_ms"], v["rationale"], v["counted"])
            for v in verdict["votes"]] == [
        ("voter0", R1, "12", 4000, "because", True),
        ("voter1", R2, "12", 4000, "because", True),
        ("voter2", TIE, "12", 4000, "because", True),
    ]  # fmt: skip

    decided = client.post(url("adjudication", first.id), {"decision": R2, "note": "B is right"}, format="json")
    assert decided.status_code == 201
    body = decided.json()
    assert (body["decision"], body["note"], body["decided_by"]) == (R2, "B is right", "cora") and body["decided_at"]
    after = client.get(url("adjudication", first.id)).json()
    assert (after["state"], after["label"], after["source"]) == ("accepted", R2, "adjudication")
    assert [d["id"] for d in after["decisions"]] == [body["id"]]
    assert [p["external_id"] for p in client.get(url("adjudication-list")).json()["results"]] == ["d2"]

    unknown = client.post(url("adjudication", second.id), {"decision": "maybe"}, format="json")
    assert unknown.status_code == 400 and list(unknown.json()) == ["decision"]
    assert not Adjudication.objects.filter(pair=second).exists()
    assert client.get(url("adjudication", 999999)).status_code == 404


def test_gold_answers_are_set_and_cleared(project, curator):
    pair = PairFactory(project=project, external_id="g")
    client = api(curator)
    response = client.put(url("pair-gold", pair.id), {"gold_label": TIE}, format="json")
    assert response.status_code == 200 and response.json()["gold_label"] == TIE
    assert Pair.objects.get(pk=pair.pk).gold_label == TIE
    bad = client.put(url("pair-gold", pair.id), {"gold_label": "maybe"}, format="json")
    assert bad.status_code == 400 and "gold_label" in bad.json()
    cleared = client.put(url("pair-gold", pair.id), {"gold_label": None}, format="json")
    assert cleared.json()["gold_label"] is None and Pair.objects.get(pk=pair.pk).gold_label is None
    assert client.put(url("pair-gold", pair.id), {}, format="json").status_code == 400


def test_publish_through_the_api_then_download_the_zip(project, curator, voters, django_capture_on_commit_callbacks):
    client = api(curator)
    assert client.post(url("release-list"), {"version": 1}, format="json").status_code == 400  # nothing admitted
    only = PairFactory(project=project, external_id="only")
    votes(only, voters, [R2, R2, R2])
    votes(PairFactory(project=project, external_id="split"), voters, [R1, R2, TIE])

    preview = client.get(url("release-preview"), {"bootstrap": 0}).json()
    assert preview["next_version"] == 1 and (preview["disputed"], preview["needs_votes"]) == (1, 0)
    assert preview["summary"]["pairs"] == 1 and preview["summary"]["tasks"]["T2T"]["labels"][R2] == 1
    assert preview["statistics"]["overall"]["votes"] == 3 and preview["gate"]["min_votes"] == 3

    with django_capture_on_commit_callbacks(execute=True):  # the build job runs eagerly as the publish commits
        published = client.post(url("release-list"), {"version": 1, "notes": "first cut"}, format="json")
    assert published.status_code == 201, published.json()
    assert (published.json()["version"], published.json()["status"]) == (1, ReleaseStatus.BUILDING)

    detail = client.get(url("release-detail", 1)).json()
    release = Release.objects.get(project=project, version=1)
    assert detail["status"] == ReleaseStatus.READY and detail["notes"] == "first cut"
    assert (detail["archive_sha256"], detail["archive_bytes"]) == (release.archive_sha256, release.archive_bytes)
    assert detail["summary"]["pairs"] == 1 and detail["gate"]["tie_policy"] == "label"
    assert detail["created_by"] == "cora" and detail["statistics"]["overall"]["votes"] == 3
    assert detail["download_url"] == "http://testserver" + url("release-download", 1)
    listed = client.get(url("release-list")).json()
    assert listed["count"] == 1 and listed["results"][0]["url"] == "http://testserver" + url("release-detail", 1)

    download = client.get(detail["download_url"], HTTP_ACCEPT="application/zip")
    body = b"".join(download.streaming_content)
    assert download.status_code == 200 and download["Content-Type"] == "application/zip"
    assert download["Content-Disposition"] == 'attachment; filename="bench-v1.zip"'
    assert hashlib.sha256(body).hexdigest() == release.archive_sha256
    with zipfile.ZipFile(io.BytesIO(body)) as zf:
        manifest = json.loads(zf.read("manifest.json"))
    assert [(p["id"], p["label"], p["votes"]) for p in manifest["pairs"]] == [("only", R2, {R2: 3})]

    stale = client.post(url("release-list"), {"version": 1}, format="json")  # a double click
    assert stale.status_code == 409 and "Version 1 was published after" in stale.json()["detail"]
    assert Release.objects.count() == 1
    rebuilt = client.post(url("release-rebuild", 1))
    assert rebuilt.status_code == 409 and "nothing to do" in rebuilt.json()["detail"]
    assert client.get(url("release-detail", 7)).status_code == 404


def test_a_release_downloads_only_once_built_and_a_failed_one_is_built_again(
    project, curator, voters, django_capture_on_commit_callbacks
):
    votes(PairFactory(project=project), voters, [R1, R1, R1])
    client = api(curator)
    assert client.post(url("release-list"), {"version": 1}, format="json").status_code == 201  # job not run
    assert client.get(url("release-detail", 1)).json()["download_url"] is None
    missing = client.get(url("release-download", 1), HTTP_ACCEPT="application/zip")
    assert missing.status_code == 404 and missing.json()["detail"] == "This release has no archive yet."

    Release.objects.filter(version=1).update(status=ReleaseStatus.FAILED, error="disk full")
    with django_capture_on_commit_callbacks(execute=True):
        again = client.post(url("release-rebuild", 1))
    assert again.status_code == 202 and again.json()["error"] == ""
    assert client.get(url("release-detail", 1)).json()["status"] == ReleaseStatus.READY


def test_two_releases_compare(project, curator, voters):
    a, b, c = (PairFactory(project=project, external_id=x) for x in "abc")
    votes(a, voters, [R1, R1, R1])
    votes(b, voters, [R2, R2, R2])
    client = api(curator)
    assert client.post(url("release-list"), {"version": 1}, format="json").status_code == 201
    Adjudication.objects.create(pair=b, decision=R1, decided_by=curator)  # b flips
    Adjudication.objects.create(pair=a, decision="exclude", decided_by=curator)  # a removed
    votes(c, voters, [TIE, TIE, TIE])  # c added
    assert client.post(url("release-list"), {"version": 2}, format="json").status_code == 201

    diff = client.get(url("release-compare"), {"old": 1, "new": 2}).json()
    assert (diff["old"], diff["new"], diff["added"], diff["removed"], diff["flipped"], diff["unchanged"]) == (
        1, 2, 1, 1, 1, 0,
    )  # fmt: skip
    assert diff["per_task"] == {"T2T": {"added": 1, "removed": 1, "flipped": 1}}
    assert diff["added_rows"] == [{"external_id": "c", "task": "T2T", "label": TIE}]
    assert diff["removed_rows"] == [{"external_id": "a", "task": "T2T", "label": R1}]
    assert diff["flipped_rows"] == [{"external_id": "b", "task": "T2T", "label": R1, "old_label": R2}]
    bad = client.get(url("release-compare"), {"old": "x"})
    assert bad.status_code == 400 and set(bad.json()) == {"old", "new"}
    assert client.get(url("release-compare"), {"old": 1, "new": 3}).status_code == 404


def test_every_endpoint_is_closed_to_annotators_and_outsiders(project, curator, annotator, outsider, voters):
    pair = PairFactory(project=project)
    votes(pair, voters, [R1, R1, R1])
    api(curator).post(url("release-list"), {"version": 1}, format="json")
    Release.objects.update(status=ReleaseStatus.FAILED)  # so that a rebuild would do something
    body = {"decision": TIE, "gold_label": TIE, "version": 2, "min_votes": 1, "min_majority_share": 1,
            "tie_policy": "label"}  # fmt: skip
    endpoints = [
        ("get", url("statistics")),
        ("get", url("gate")),
        ("put", url("gate")),
        ("get", url("adjudication-list")),
        ("get", url("adjudication", pair.id)),
        ("post", url("adjudication", pair.id)),
        ("put", url("pair-gold", pair.id)),
        ("post", url("pair-gold", pair.id)),  # a method the endpoint lacks: still the access check first
        ("delete", url("gate")),
        ("get", url("release-list")),
        ("post", url("release-list")),
        ("get", url("release-preview")),
        ("get", url("release-detail", 1)),
        ("get", url("release-download", 1)),
        ("post", url("release-rebuild", 1)),
        ("get", url("release-compare") + "?old=1&new=1"),
    ]
    for user, expected in ((annotator, 403), (outsider, 404), (None, 401)):
        client = api(user) if user else APIClient()
        for method, address in endpoints:
            response = getattr(client, method)(address, body, format="json")
            assert response.status_code == expected, (user, method, address)
    assert api(curator).get(url("statistics"), {"bootstrap": 0}).status_code == 200
    assert Release.objects.count() == 1 and Release.objects.get().status == ReleaseStatus.FAILED
    assert not Adjudication.objects.exists() and not GateRule.objects.exists()
    assert Pair.objects.get(pk=pair.pk).gold_label is None


def test_a_browser_session_needs_the_csrf_token_to_write(project, curator, voters):
    pair = PairFactory(project=project)
    votes(pair, voters, [R1, R2, TIE])
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(curator)
    assert client.get(url("adjudication", pair.id)).status_code == 200  # reads need no token
    response = client.post(url("adjudication", pair.id), {"decision": TIE}, format="json")
    assert response.status_code == 403 and "CSRF" in response.json()["detail"]
    assert not Adjudication.objects.exists()
