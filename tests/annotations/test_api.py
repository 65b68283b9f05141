"""The annotations API: the permission matrix, the annotator queue end to end, and what annotators never see."""

from __future__ import annotations

import hashlib
import itertools
import json
import secrets
import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from drf_spectacular.generators import SchemaGenerator
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from annotations.models import (
    ImportJob,
    ImportStatus,
    Judgment,
    Label,
    Membership,
    Pair,
    PairSkip,
    Reservation,
    Role,
    ShownOrder,
    Task,
)
from annotations.services.queue import Vote, next_assignment, record_vote, shown_order_for
from media_pipeline.models import AssetStatus, MediaAsset, Rendition
from tests.factories import MembershipFactory, PairFactory, ProjectFactory, UserFactory

pytestmark = pytest.mark.django_db

MODEL_NAMES = ("secret-model-one", "secret-model-two")
_numbers = itertools.count()


def api_for(user) -> APIClient:
    client = APIClient()
    token, _ = Token.objects.get_or_create(user=user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


def url(name: str, project, *args) -> str:
    return reverse(f"annotations-api:{name}", args=[project.slug, *args])


def absolute(name: str, *args) -> str:
    return "http://testserver" + reverse(name, args=args)


def text_pair(project, **fields) -> Pair:
    fields = {"model1": MODEL_NAMES[0], "model2": MODEL_NAMES[1], "reference_label": Label.RESPONSE1, **fields}
    return PairFactory(project=project, **fields)


def asset(*, kind="image", status=AssetStatus.READY, name="secret-render-by-model.png", **fields) -> MediaAsset:
    digest = hashlib.sha256(f"asset-{next(_numbers)}".encode()).hexdigest()
    return MediaAsset.objects.create(
        sha256=digest,
        kind=kind,
        extension="png",
        file=f"assets/{digest[:2]}/{digest}.png",
        size_bytes=10,
        original_name=name,
        status=status,
        **fields,
    )


def media_pair(project, one: MediaAsset, two: MediaAsset, **fields) -> Pair:
    fields = {"task": Task.T2I, "response1_text": None, "response2_text": None, **fields}
    return text_pair(project, response1_media=one, response2_media=two, **fields)


def left_label(pair: Pair, side_a: dict) -> str:
    """Which stored response the annotator was shown as A, read from the API's side A."""
    if pair.response1_media_id is not None:
        return Label.RESPONSE1 if side_a["media"]["url"].endswith(f"/{pair.response1_media_id}/") else Label.RESPONSE2
    assert side_a["text"] in (pair.response1_text, pair.response2_text)
    return Label.RESPONSE1 if side_a["text"] == pair.response1_text else Label.RESPONSE2


def vote(client, project, turn: dict, choice: str, **extra):
    body = {"pair": turn["pair"]["id"], "choice": choice, "submission_id": turn["submission_id"], **extra}
    return client.post(url("queue-vote", project), body, format="json")


# Projects


def test_project_list_shows_role_and_pair_count_and_staff_see_all(project, curator, annotator, outsider):
    text_pair(project)
    text_pair(project)
    rows = api_for(annotator).get(reverse("annotations-api:project-list")).json()
    assert rows["count"] == 1
    assert rows["results"] == [
        {"slug": "bench", "name": "Bench", "description": "", "role": "annotator", "pair_count": 2}
    ]
    assert [r["slug"] for r in api_for(outsider).get(reverse("annotations-api:project-list")).json()["results"]] == [
        "elsewhere"
    ]
    staff = UserFactory(username="root", is_staff=True)
    rows = api_for(staff).get(reverse("annotations-api:project-list")).json()["results"]
    assert {(r["slug"], r["role"]) for r in rows} == {("bench", "curator"), ("elsewhere", "curator")}


def test_project_detail_gives_curators_the_overview_and_annotators_none(project, curator, annotator):
    text_pair(project)
    media_pair(project, asset(), asset())
    mine = api_for(annotator).get(url("project-detail", project)).json()
    assert mine["role"] == "annotator" and mine["pair_count"] == 2 and mine["curator"] is None
    assert "gold_share" not in json.dumps(mine)
    theirs = api_for(curator).get(url("project-detail", project)).json()
    assert theirs["role"] == "curator" and theirs["votes_per_pair"] == 3
    tasks = {row["task"]: row for row in theirs["curator"]["tasks"]}
    assert tasks["T2T"]["pairs"] == 1 and tasks["T2I"]["labelled"] == 1 and tasks["T2V"]["pairs"] == 0
    assert theirs["curator"]["media"] == {"image": 2}
    assert theirs["curator"]["labelling"] == {"judgments": 0, "complete_pairs": 0, "skips": 0, "flag_count": 0}


# The permission matrix


def _endpoints(project, pair_id: int, job_id: uuid.UUID):
    """Every endpoint in the project: (method, url, body, curators only)."""
    return [
        ("get", url("project-detail", project), None, False),
        ("get", url("member-list", project), None, True),
        ("post", url("member-list", project), {"username": "ann", "role": "curator"}, True),
        ("delete", url("member-detail", project, "ann"), None, True),
        ("get", url("pair-list", project), None, True),
        ("get", url("pair-detail", project, pair_id), None, True),
        ("get", url("import-list", project), None, True),
        ("post", url("import-list", project), {}, True),
        ("get", url("import-detail", project, job_id), None, True),
        ("get", url("media", project), None, True),
        ("post", url("media-retry", project), {}, True),
        ("get", url("judgment-list", project), None, True),
        ("get", url("queue-next", project), None, False),
        ("post", url("queue-vote", project), {}, False),
        ("post", url("queue-skip", project), {}, False),
        ("post", url("queue-undo", project), {}, False),
    ]


def test_annotators_get_403_on_curator_endpoints_and_outsiders_404_everywhere(project, curator, annotator, outsider):
    pair = text_pair(project)
    job = ImportJob.objects.create(project=project, data_name="x.jsonl")
    as_annotator, as_outsider, anonymous = api_for(annotator), api_for(outsider), APIClient()
    for method, path, body, curators_only in _endpoints(project, pair.pk, job.pk):
        response = getattr(as_outsider, method)(path, body, format="json")
        assert response.status_code == 404, (method, path)
        assert getattr(anonymous, method)(path, body, format="json").status_code == 401, (method, path)
        if curators_only:
            response = getattr(as_annotator, method)(path, body, format="json")
            assert response.status_code == 403, (method, path)
            assert "curators" in response.json()["detail"]
    # Nothing an annotator sent reached a service: access is checked before the body is read.
    assert Membership.objects.get(user=annotator).role == Role.ANNOTATOR
    assert ImportJob.objects.count() == 1 and Judgment.objects.count() == 0


def test_session_auth_enforces_csrf_on_writes(project, annotator):
    text_pair(project)
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(annotator)
    turn = client.get(url("queue-next", project)).json()  # reads need no token
    refused = vote(client, project, turn, "A")
    assert refused.status_code == 403 and "CSRF" in refused.json()["detail"]
    assert Judgment.objects.count() == 0
    token = secrets.token_hex(16)
    client.cookies["csrftoken"] = token
    assert vote(client, project, turn, "A").status_code == 403  # the cookie alone is not enough
    body = {"pair": turn["pair"]["id"], "choice": "A", "submission_id": turn["submission_id"]}
    accepted = client.post(url("queue-vote", project), body, format="json", HTTP_X_CSRFTOKEN=token)
    assert accepted.status_code == 201 and Judgment.objects.count() == 1


# Members


def test_curators_manage_members(project, curator, annotator):
    client = api_for(curator)
    listed = client.get(url("member-list", project)).json()["results"]
    assert [(m["username"], m["role"]) for m in listed] == [("ann", "annotator"), ("cora", "curator")]

    UserFactory(username="newbie")
    added = client.post(url("member-list", project), {"username": "newbie", "role": "annotator"}, format="json")
    assert added.status_code == 201 and added.json()["role"] == "annotator"
    changed = client.post(url("member-list", project), {"username": "newbie", "role": "curator"}, format="json")
    assert changed.status_code == 200 and changed.json()["username"] == "newbie"
    assert Membership.objects.get(project=project, user__username="newbie").role == Role.CURATOR

    unknown = client.post(url("member-list", project), {"username": "nobody", "role": "annotator"}, format="json")
    assert unknown.status_code == 400 and unknown.json() == {"username": ["No user named 'nobody'."]}
    bad_role = client.post(url("member-list", project), {"username": "ann", "role": "owner"}, format="json")
    assert bad_role.status_code == 400 and list(bad_role.json()) == ["role"]

    assert client.delete(url("member-detail", project, "newbie")).status_code == 204
    assert client.delete(url("member-detail", project, "newbie")).status_code == 404
    assert not Membership.objects.filter(user__username="newbie").exists()


def test_a_username_with_a_nul_is_no_member_and_is_never_looked_up(project, curator, annotator):
    """PostgreSQL refuses a NUL in a query parameter (psycopg raises DataError), so looking it up was a 500."""
    client = api_for(curator)
    with CaptureQueriesContext(connection) as queries:
        response = client.delete(url("member-detail", project, "ann\x00"))
    assert response.status_code == 404 and response.json() == {"detail": "No such member."}
    # SQLite's rendering of the SQL drops everything from the NUL on, so look for the lookup itself.
    assert not [q["sql"] for q in queries.captured_queries if '"auth_user"."username" =' in q["sql"]]
    assert Membership.objects.filter(user=annotator).exists()


def test_the_last_curator_cannot_leave_or_step_down(project, curator):
    client = api_for(curator)
    demoted = client.post(url("member-list", project), {"username": "cora", "role": "annotator"}, format="json")
    assert demoted.status_code == 409 and "needs a curator" in demoted.json()["detail"]
    assert client.delete(url("member-detail", project, "cora")).status_code == 409
    assert Membership.objects.get(user=curator).role == Role.CURATOR


def test_removing_an_annotator_gives_their_reserved_pair_back(project, curator, annotator):
    pair = text_pair(project)
    assert api_for(annotator).get(url("queue-next", project)).json()["pair"]["id"] == pair.pk
    pair.refresh_from_db()
    assert pair.claimed == 1
    assert api_for(curator).delete(url("member-detail", project, "ann")).status_code == 204
    pair.refresh_from_db()
    assert pair.claimed == 0 and not Reservation.objects.exists()
    assert api_for(annotator).get(url("queue-next", project)).status_code == 404


# Pairs


def test_pair_list_filters_pages_and_refuses_unknown_tasks(project, curator, django_assert_max_num_queries):
    Pair.objects.bulk_create(
        Pair(
            project=project,
            external_id=f"t2t-{i:03}",
            task=Task.T2T,
            prompt="p",
            criterion="c",
            response1_text="a",
            response2_text="b",
        )
        for i in range(101)
    )
    text_pair(
        project,
        external_id="img-1",
        task=Task.T2I,
        prompt="A red circle",
        response1_text=None,
        response2_text=None,
        response1_media=asset(),
        response2_media=asset(),
    )
    client = api_for(curator)
    with django_assert_max_num_queries(5):
        first = client.get(url("pair-list", project)).json()
    assert first["count"] == 102 and len(first["results"]) == 100 and first["next"].endswith("page=2")
    assert client.get(url("pair-list", project), {"page": 2}).json()["results"][-1]["external_id"] == "t2t-100"

    for task in ("T2I", "text_to_image"):
        rows = client.get(url("pair-list", project), {"task": task}).json()["results"]
        assert [r["external_id"] for r in rows] == ["img-1"]
        assert rows[0]["model1"] == MODEL_NAMES[0] and rows[0]["reference_label"] == "response1"
    assert client.get(url("pair-list", project), {"q": "red circ"}).json()["count"] == 1

    refused = client.get(url("pair-list", project), {"task": "T9000"})
    assert refused.status_code == 400
    assert list(refused.json()) == ["task"] and "Unknown task 'T9000'" in refused.json()["task"][0]


def test_pair_detail_carries_media_ids_status_and_rendition_urls(project, curator, outsider):
    one, two = asset(), asset(status=AssetStatus.QUEUED)
    Rendition.objects.create(
        asset=one, role="web", file="renditions/x/web0.webp", content_type="image/webp", size_bytes=5
    )
    Rendition.objects.create(
        asset=one, role="thumb", file="renditions/x/thumb0.webp", content_type="image/webp", size_bytes=2
    )
    pair = media_pair(project, one, two, gold_label=Label.TIE)
    body = api_for(curator).get(url("pair-detail", project, pair.pk)).json()
    assert body["model1"] == MODEL_NAMES[0] and body["gold_label"] == "tie" and body["response1_text"] is None
    first = body["response1_media"]
    assert first["id"] == one.pk and first["status"] == "ready" and first["original_name"] == one.original_name
    assert first["url"] == absolute("media_pipeline:asset_file", one.pk)
    assert first["original_url"] == absolute("media_pipeline:asset_rendition", one.pk, "original")
    assert [(r["role"], r["url"]) for r in first["renditions"]] == [
        ("thumb", absolute("media_pipeline:asset_rendition", one.pk, "thumb")),
        ("web", absolute("media_pipeline:asset_rendition", one.pk, "web")),
    ]
    assert body["response2_media"]["status"] == "queued" and body["response2_media"]["renditions"] == []
    assert body["input_media"] is None and body["response1_mesh"] is None

    elsewhere = text_pair(ProjectFactory())
    assert api_for(curator).get(url("pair-detail", project, elsewhere.pk)).status_code == 404


# Imports


def _jsonl(*rows: dict) -> bytes:
    return b"".join(json.dumps(row).encode() + b"\n" for row in rows)


def _row(external_id: str) -> dict:
    return {
        "id": external_id,
        "task": "T2T",
        "prompt": "Say hi.",
        "criteria": "Prefer the friendlier one.",
        "criteria_preference": "response1",
        "response1": "Hi!",
        "response2": "Hello.",
        "model1": "m1",
        "model2": "m2",
    }


def test_import_is_accepted_then_runs_and_reports(project, curator, django_capture_on_commit_callbacks):
    from django.core.files.uploadedfile import SimpleUploadedFile

    client = api_for(curator)
    upload = SimpleUploadedFile("pairs.jsonl", _jsonl(_row("a1"), _row("a2")))
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url("import-list", project), {"data_file": upload}, format="multipart")
    assert response.status_code == 202, response.json()
    created = response.json()
    assert created["data_name"] == "pairs.jsonl" and created["created_by"] == "cora"

    job = client.get(url("import-detail", project, created["id"])).json()
    assert job["status"] == ImportStatus.SUCCEEDED, job["message"]
    assert job["summary"]["new_pairs"] == 2 and job["problems"] == [] and job["progress"]["percent"] == 100
    assert Pair.objects.filter(project=project).count() == 2
    assert [j["id"] for j in client.get(url("import-list", project)).json()["results"]] == [created["id"]]


def test_the_schema_documents_uploads_as_files_not_urls():
    """drf-spectacular documents a plain FileField as a URL string, so clients (and schemathesis) sent URLs."""
    components = SchemaGenerator().get_schema(request=None, public=True)["components"]["schemas"]
    for component, field in (("ImportCreate", "data_file"), ("ImportCreate", "media_file"), ("ResultImport", "file")):
        assert components[component]["properties"][field]["format"] == "binary", (component, field)


def test_import_validation_errors_name_the_field(project, curator):
    from django.core.files.uploadedfile import SimpleUploadedFile

    client = api_for(curator)
    missing = client.post(url("import-list", project), {}, format="multipart")
    assert missing.status_code == 400 and list(missing.json()) == ["data_file"]
    wrong = client.post(
        url("import-list", project), {"data_file": SimpleUploadedFile("notes.txt", b"hi")}, format="multipart"
    )
    assert wrong.status_code == 400
    assert wrong.json() == {"data_file": ["notes.txt: expected a .zip, .jsonl, .parquet file."]}
    task = client.post(
        url("import-list", project),
        {"data_file": SimpleUploadedFile("p.jsonl", _jsonl(_row("a"))), "default_task": "T2X"},
        format="multipart",
    )
    assert task.status_code == 400 and task.json() == {"default_task": ["Unknown task 'T2X'."]}
    assert ImportJob.objects.count() == 0


# Media


def test_media_overview_and_retry(project, curator):
    broken, fine = asset(status=AssetStatus.FAILED, error="Not an image."), asset()
    media_pair(project, broken, fine, media_ready=False)
    stranger = asset(status=AssetStatus.FAILED)  # another project's problem
    client = api_for(curator)
    overview = client.get(url("media", project)).json()
    assert overview["counts"] == {"queued": 0, "running": 0, "ready": 1, "failed": 1}
    assert overview["waiting_pairs"] == 1 and overview["total"] == 2 and overview["busy"] is False
    assert overview["failures"] == [{"id": broken.pk, "kind": "image", "error": "Not an image.", "attempts": 0}]

    bad = client.post(url("media-retry", project), {"asset": "first"}, format="json")
    assert bad.status_code == 400 and list(bad.json()) == ["asset"]
    assert client.post(url("media-retry", project), {"asset": stranger.pk}, format="json").json() == {"queued": 0}
    assert client.post(url("media-retry", project), {}, format="json").json() == {"queued": 1}
    broken.refresh_from_db()
    stranger.refresh_from_db()
    assert broken.status == AssetStatus.QUEUED and stranger.status == AssetStatus.FAILED


# The annotator queue


def _pairs_in_both_orders(project, annotator) -> dict[str, Pair]:
    """Two text pairs: one this annotator sees as shown (response 1 as A), one swapped."""
    found: dict[str, Pair] = {}
    while len(found) < 2:
        pair = text_pair(project, response1_text=f"first answer {len(found)}", response2_text=f"second {len(found)}")
        order = shown_order_for(annotator.pk, pair.pk)
        if order in found:
            pair.delete()
        else:
            found[order] = pair
    return found


def test_annotator_labels_two_pairs_and_labels_are_stored_canonically(project, annotator):
    pairs = {p.pk: p for p in _pairs_in_both_orders(project, annotator).values()}
    client = api_for(annotator)
    turn = client.get(url("queue-next", project)).json()
    assert turn["done"] is False and turn["progress"] == {"done": 0, "remaining": 2, "more": False, "total": 2}
    expected, seen_orders = {}, set()
    for choice in ("A", "B"):
        pair = pairs[turn["pair"]["id"]]
        side_a, side_b = turn["pair"]["sides"]
        assert (side_a["letter"], side_b["letter"]) == ("A", "B")
        assert turn["pair"]["criterion"] == pair.criterion and turn["pair"]["task"] == "T2T"
        left = left_label(pair, side_a)
        right = Label.RESPONSE2 if left == Label.RESPONSE1 else Label.RESPONSE1
        assert side_b["text"] == (pair.response1_text if right == Label.RESPONSE1 else pair.response2_text)
        seen_orders.add(left)
        expected[pair.pk] = left if choice == "A" else right
        response = vote(client, project, turn, choice, rationale="  looks better  ", elapsed_ms=1200)
        assert response.status_code == 201, response.json()
        body = response.json()
        assert body["created"] is True
        assert body["judgment"]["choice"] == choice and body["judgment"]["pair"] == pair.pk
        assert body["judgment"]["rationale"] == "looks better" and "label" not in body["judgment"]
        turn = body["next"]
    assert seen_orders == {Label.RESPONSE1, Label.RESPONSE2}  # the randomisation was exercised both ways
    assert turn["done"] is True and turn["pair"] is None and turn["progress"]["done"] == 2
    stored = {j.pair_id: j for j in Judgment.objects.filter(annotator=annotator)}
    assert {pk: j.label for pk, j in stored.items()} == expected
    assert {j.shown_order for j in stored.values()} == {ShownOrder.RESPONSE1_LEFT, ShownOrder.RESPONSE2_LEFT}


def test_a_doubled_vote_is_stored_once(project, annotator):
    text_pair(project)
    text_pair(project)
    client = api_for(annotator)
    turn = client.get(url("queue-next", project)).json()
    first, again = vote(client, project, turn, "tie"), vote(client, project, turn, "tie")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["created"] is False and again.json()["judgment"] == first.json()["judgment"]
    assert again.json()["next"]["pair"]["id"] == first.json()["next"]["pair"]["id"]  # still the same pair held
    assert Judgment.objects.count() == 1 and Judgment.objects.get().label == Label.TIE

    reused = vote(client, project, {**first.json()["next"], "submission_id": turn["submission_id"]}, "A")
    assert reused.status_code == 409 and "already used" in reused.json()["detail"]
    assert Judgment.objects.count() == 1


def test_another_vote_on_a_judged_pair_is_a_409_holding_the_vote_kept(project, annotator):
    text_pair(project)
    text_pair(project)
    client = api_for(annotator)
    turn = client.get(url("queue-next", project)).json()
    other_tab = client.get(url("queue-next", project)).json()  # the same pair, held, with its own submission id
    assert other_tab["pair"]["id"] == turn["pair"]["id"] and other_tab["submission_id"] != turn["submission_id"]
    assert vote(client, project, turn, "B").status_code == 201
    late = vote(client, project, other_tab, "A")
    assert late.status_code == 409
    body = late.json()
    assert "already voted on this pair" in body["detail"] and "B, was kept" in body["detail"]
    assert body["judgment"]["pair"] == turn["pair"]["id"] and body["judgment"]["choice"] == "B"
    assert body["judgment"]["submission_id"] == turn["submission_id"]
    assert Judgment.objects.count() == 1


def test_vote_validation_errors_name_the_field(project, annotator):
    text_pair(project)
    client = api_for(annotator)
    turn = client.get(url("queue-next", project)).json()
    cases = [
        ({"choice": "C"}, "choice"),
        ({"submission_id": "not-a-uuid"}, "submission_id"),
        ({"pair": 0}, "pair"),
        ({"elapsed_ms": -5}, "elapsed_ms"),
        ({"coverage": {"C": 0.5}}, "coverage"),
        ({"coverage": {"A": 1.5}}, "coverage"),
    ]
    for change, field in cases:
        body = {"pair": turn["pair"]["id"], "choice": "A", "submission_id": turn["submission_id"], **change}
        response = client.post(url("queue-vote", project), body, format="json")
        assert response.status_code == 400 and list(response.json()) == [field], (change, response.json())
    missing = client.post(url("queue-vote", project), {}, format="json").json()
    assert set(missing) == {"pair", "choice", "submission_id"}
    assert Judgment.objects.count() == 0


def test_a_coverage_share_that_is_not_a_number_is_refused_by_name(project, annotator):
    """DRF reads the string "nan" as NaN, which passes both bounds; stored, it broke the write (a 500 on
    PostgreSQL, whose jsonb has no NaN; a misleading 409 on SQLite)."""
    text_pair(project)
    client = api_for(annotator)
    turn = client.get(url("queue-next", project)).json()
    for share in ("nan", "NaN", "-nan"):
        response = vote(client, project, turn, "A", coverage={"A": share, "B": 1})
        assert response.status_code == 400, (share, response.content)
        assert response.json() == {"coverage": {"A": ["A valid number is required."]}}
    assert Judgment.objects.count() == 0
    assert vote(client, project, turn, "A", coverage={"A": 1, "B": 0.5}).status_code == 201


def test_voting_on_a_pair_not_handed_out_is_refused(project, annotator):
    other = text_pair(project)
    held = text_pair(project)
    client = api_for(annotator)
    turn = client.get(url("queue-next", project)).json()
    not_mine = other if turn["pair"]["id"] == held.pk else held
    response = vote(client, project, {**turn, "pair": {"id": not_mine.pk}}, "A")
    assert response.status_code == 409 and "not in your queue" in response.json()["detail"]


def test_skip_flag_and_undo(project, annotator):
    for _ in range(3):
        text_pair(project)
    client = api_for(annotator)
    turn = client.get(url("queue-next", project)).json()
    skip_url = url("queue-skip", project)
    first = turn["pair"]["id"]

    no_reason = client.post(skip_url, {"pair": first}, format="json")
    assert no_reason.status_code == 400 and list(no_reason.json()) == ["reason"]
    mixed = client.post(skip_url, {"pair": first, "kind": "flag", "reason": "unsure"}, format="json")
    assert mixed.status_code == 400 and list(mixed.json()) == ["reason"]
    as_skip = client.post(skip_url, {"pair": first, "reason": "broken_media"}, format="json")
    assert as_skip.status_code == 400 and list(as_skip.json()) == ["kind"]

    skipped = client.post(skip_url, {"pair": first, "reason": "expertise", "note": "medical"}, format="json").json()
    assert skipped["skip"] == skipped["skip"] | {
        "pair": first,
        "kind": "skip",
        "reason": "expertise",
        "note": "medical",
    }
    second = skipped["next"]["pair"]["id"]
    assert second != first
    flagged = client.post(skip_url, {"pair": second, "kind": "flag"}, format="json").json()
    assert flagged["skip"]["kind"] == "flag" and flagged["skip"]["reason"] == "broken_media"
    assert set(PairSkip.objects.values_list("kind", flat=True)) == {"skip", "flag"}
    again = client.post(skip_url, {"pair": first, "reason": "unsure"}, format="json")
    assert again.status_code == 409

    nothing = client.post(url("queue-undo", project))
    assert nothing.status_code == 409 and "Nothing to undo" in nothing.json()["detail"]
    third = flagged["next"]
    assert vote(client, project, third, "B").status_code == 201
    undone = client.post(url("queue-undo", project)).json()
    assert undone["undone"]["choice"] == "B" and undone["undone"]["retracted_at"] is not None
    assert undone["next"]["pair"]["id"] == third["pair"]["id"]  # the pair comes back first
    assert Judgment.objects.get().retracted_at is not None


def test_an_empty_queue_says_done_and_counts_pairs_waiting_for_media(project, annotator):
    media_pair(project, asset(status=AssetStatus.QUEUED), asset(), media_ready=False)
    turn = api_for(annotator).get(url("queue-next", project))
    assert turn.status_code == 200
    assert turn.json() == {
        "done": True,
        "pair": None,
        "submission_id": None,
        "progress": {"done": 0, "remaining": 0, "more": False, "total": 0},
        "waiting_for_media": 1,
    }


def test_annotator_responses_never_carry_model_names_file_names_labels_or_other_votes(project, annotator):
    project.must_view_share = 0.9
    project.save()
    one, two = asset(name="made-by-secret-model-one.png"), asset(name="made-by-secret-model-two.png")
    video_one, video_two = asset(kind="video", name="clip-one.mp4"), asset(kind="video", name="clip-two.mp4")
    pairs = [
        text_pair(project),
        text_pair(project, gold_label=Label.RESPONSE2, reference_label=Label.RESPONSE2),
        media_pair(project, one, two),
        media_pair(project, video_one, video_two, task=Task.T2V),
    ]
    other = MembershipFactory(project=project, user=UserFactory(username="second-voter")).user
    for _ in pairs:
        assignment = next_assignment(project, other)
        assert assignment is not None
        record_vote(
            project,
            other,
            Vote(assignment.pair.pk, "A", uuid.uuid4(), rationale="OTHER-VOTER-RATIONALE", coverage={"A": 1, "B": 1}),
        )
    client = api_for(annotator)
    texts = [
        client.get(reverse("annotations-api:project-list")).content,
        client.get(url("project-detail", project)).content,
    ]
    turn_response = client.get(url("queue-next", project))
    texts.append(turn_response.content)
    turn = turn_response.json()
    served = set()
    while not turn["done"]:
        served.add(turn["pair"]["id"])
        if turn["pair"]["viewer"] == "video":
            assert turn["pair"]["must_view_share"] == 0.9
            side = turn["pair"]["sides"][0]["media"]
            assert side["poster"] == absolute(
                "media_pipeline:asset_rendition", int(side["url"].split("/")[-2]), "poster"
            )
        response = vote(client, project, turn, "A", coverage={"A": 1.0, "B": 1.0})
        assert response.status_code == 201, response.json()
        texts.append(response.content)
        if len(served) == 1:  # undo and vote again once, and skip nothing: every pair is served
            undone = client.post(url("queue-undo", project))
            texts.append(undone.content)
            response = vote(client, project, undone.json()["next"], "tie", coverage={"A": 1.0, "B": 1.0})
            texts.append(response.content)
        turn = response.json()["next"]
    assert served == {p.pk for p in pairs}
    raw = b"\n".join(texts).decode()
    secrets_ = [
        *MODEL_NAMES,
        "response1",
        "response2",
        "reference_label",
        "gold",
        "OTHER-VOTER-RATIONALE",
        "second-voter",
        "original_name",
        "sha256",
    ]
    for asset_ in (one, two, video_one, video_two):
        secrets_ += [asset_.original_name, asset_.sha256, asset_.file.name]
    for secret in secrets_:
        assert secret not in raw, secret


# Judgments


def test_curators_list_judgments_with_canonical_labels_and_filters(
    project, curator, annotator, django_assert_max_num_queries
):
    pairs = list(_pairs_in_both_orders(project, annotator).values())
    image = media_pair(project, asset(), asset())
    client = api_for(annotator)
    turn = client.get(url("queue-next", project)).json()
    while not turn["done"]:
        turn = vote(client, project, turn, "A").json()["next"]
    other = MembershipFactory(project=project, user=UserFactory(username="bea")).user
    assignment = next_assignment(project, other)
    record_vote(project, other, Vote(assignment.pair.pk, "B", uuid.uuid4(), rationale="because"))

    curator_client = api_for(curator)
    with django_assert_max_num_queries(5):
        listing = curator_client.get(url("judgment-list", project)).json()
    assert listing["count"] == 4
    newest = listing["results"][0]
    assert newest["annotator"] == "bea" and newest["choice"] == "B" and newest["rationale"] == "because"
    assert newest["label"] == Judgment.objects.get(annotator=other).label
    for row in listing["results"][1:]:
        stored = Judgment.objects.get(pk=row["id"])
        assert row["label"] == stored.label and row["shown_order"] == stored.shown_order and row["choice"] == "A"
        assert row["label"] == (Label.RESPONSE1 if stored.shown_order == ShownOrder.RESPONSE1_LEFT else Label.RESPONSE2)

    by_annotator = curator_client.get(url("judgment-list", project), {"annotator": "ann"}).json()
    assert by_annotator["count"] == 3
    by_pair = curator_client.get(url("judgment-list", project), {"pair": pairs[0].pk}).json()["results"]
    assert {r["pair"] for r in by_pair} == {pairs[0].pk}
    by_task = curator_client.get(url("judgment-list", project), {"task": "T2I"}).json()["results"]
    assert {r["pair_external_id"] for r in by_task} == {image.external_id}

    bad = curator_client.get(url("judgment-list", project), {"pair": "first", "task": "nope"})
    assert bad.status_code == 400 and set(bad.json()) == {"pair", "task"}
