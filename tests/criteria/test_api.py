"""The criterion-writing API: write, submit, review, publish the flips."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from annotations.models import Judgment, Label, Pair, PairKind
from annotations.services.tallies import tally_recount
from criteria.models import Criterion, CriterionStatus
from releases.models import ReleasePair
from releases.services.publish import release_publish
from tests.conftest import client_for
from tests.criteria.test_writing import _comparisons, _member
from tests.factories import JudgmentFactory, PairFactory

pytestmark = pytest.mark.django_db


def _api(user) -> APIClient:
    api = APIClient()
    api.force_authenticate(user)
    return api


def test_a_writer_drafts_submits_and_a_curator_reviews_through_the_api(project, curator, tmp_path):
    (comparison,) = _comparisons(tmp_path, project)
    writer = _member(project, "wren")
    api, base = _api(writer), f"/api/projects/{project.slug}"

    turn = api.get(f"{base}/write/next/").json()
    assert turn["comparison"] == comparison.pk and [s["letter"] for s in turn["sides"]] == ["A", "B"]
    assert "gpt-x" not in str(turn) and "llama-y" not in str(turn)  # writers never see model names

    first = api.post(f"{base}/comparisons/{comparison.pk}/criteria/", {"text": "Prefer the left one, it rhymes."})
    assert first.status_code == 201 and first.json()["status"] == "draft"
    refused = api.post(f"{base}/comparisons/{comparison.pk}/criteria/submit/")
    assert refused.status_code == 400
    assert "Criterion 1: say which response it should favour" in str(refused.json()["criteria"])
    updated = api.put(f"{base}/criteria/{first.json()['id']}/", {"text": "Prefer the real haiku.", "expected": "A"})
    assert updated.status_code == 200 and updated.json()["expected"] == "A"
    api.post(
        f"{base}/comparisons/{comparison.pk}/criteria/", {"text": "Prefer the left one, it rhymes.", "expected": "B"}
    )
    assert api.post(f"{base}/comparisons/{comparison.pk}/criteria/submit/").status_code == 200
    assert api.get(f"{base}/criteria/review/").status_code == 403  # reviewing is for curators

    queue = _api(curator).get(f"{base}/criteria/review/").json()
    assert queue["total"] == 1
    (entry,) = queue["comparisons"]
    warned = {c["text"]: c["warnings"] for c in entry["criteria"]}
    assert any("Names a side" in w for w in warned["Prefer the left one, it rhymes."])
    assert warned["Prefer the real haiku."] == []
    left_one = next(c for c in entry["criteria"] if "left" in c["text"])
    bad = _api(curator).post(f"{base}/criteria/{left_one['id']}/review/", {"decision": "maybe"})
    assert bad.status_code == 400 and "decision" in bad.json()
    rejected = _api(curator).post(f"{base}/criteria/{left_one['id']}/review/", {"decision": "reject", "note": "Side"})
    assert rejected.json() == {"id": left_one["id"], "status": "rejected", "pair": None}
    kept = next(c for c in entry["criteria"] if "haiku" in c["text"])
    accepted = (
        _api(curator)
        .post(
            f"{base}/criteria/{kept['id']}/review/",
            {"decision": "accept", "text": "Prefer the response that is a haiku."},
        )
        .json()
    )
    pair = Pair.objects.get(pk=accepted["pair"])
    assert pair.criterion == "Prefer the response that is a haiku." and pair.kind == PairKind.PAIR
    counts = _api(curator).get(f"{base}/comparisons/").json()["results"]
    assert counts == [{"id": comparison.pk, "external_id": "cmp-0", "task": "T2T", "submitted": 0, "accepted": 1}]
    # Another draft on a reviewed criterion is refused with a reason.
    again = api.put(f"{base}/criteria/{kept['id']}/", {"text": "Sneaky edit", "expected": "A"})
    assert again.status_code == 400 and "no longer yours to edit" in str(again.json())


def _voted(pair: Pair, voters, label: str) -> None:
    for voter in voters:
        JudgmentFactory(pair=pair, annotator=voter, label=label, shown_order="12", time_spent_ms=3000)


def test_signals_and_a_release_of_only_the_flips(project, curator, tmp_path):
    project.votes_per_pair = 2
    project.save()
    (comparison,) = _comparisons(tmp_path, project)
    writer = _member(project, "wren")
    voters = [_member(project, f"lab{i}") for i in range(2)]
    made = []
    for text, expected in (("Prefer the real haiku.", "response1"), ("Prefer the plain explanation.", "response2")):
        criterion = Criterion.objects.create(
            comparison=comparison, writer=writer, shown_order="12", text=text, expected=expected,
            status=CriterionStatus.SUBMITTED,
        )  # fmt: skip
        made.append(_api(curator).post(f"/api/projects/{project.slug}/criteria/{criterion.pk}/review/",
                                       {"decision": "accept"}).json()["pair"])  # fmt: skip
    _voted(Pair.objects.get(pk=made[0]), voters, Label.RESPONSE1)
    _voted(Pair.objects.get(pk=made[1]), voters, Label.RESPONSE1)  # the labellers disagree with wren here
    ordinary = PairFactory(project=project, external_id="plain")
    _voted(ordinary, voters, Label.RESPONSE2)

    signals = _api(curator).get(f"/api/projects/{project.slug}/criteria/signals/").json()
    assert signals["total_flips"] == 0 and signals["flips"] == [{"task": "T2T", "comparisons": 1, "flips": 0}]
    assert signals["writers"] == [{"writer": "wren", "accepted": 2, "settled": 2, "matched": 1, "share": 0.5}]
    refused = _api(curator).post(
        f"/api/projects/{project.slug}/releases/", {"version": 1, "flips_only": True}, format="json"
    )
    assert refused.status_code == 400 and "flips_only" in refused.json()

    Judgment.objects.filter(pair_id=made[1]).update(label=Label.RESPONSE2)  # now the label follows the criterion
    tally_recount(project=project)  # a write behind the services' back, as a bulk writer would
    signals = _api(curator).get(f"/api/projects/{project.slug}/criteria/signals/").json()
    assert signals["total_flips"] == 1
    assert signals["writers"][0]["matched"] == 2
    release = release_publish(project=project, user=curator, flips_only=True, bootstrap=10)
    assert sorted(ReleasePair.objects.filter(release=release).values_list("pair_id", flat=True)) == sorted(made)
    assert release.gate["criterion_flips_only"] is True
    page = client_for(curator).get(f"/projects/{project.slug}/releases/{release.version}/").content.decode()
    assert "Only criterion flips" in page
    preview = client_for(curator).get(f"/projects/{project.slug}/releases/").content.decode()
    assert 'data-flip-pairs="2"' in preview
    everything = release_publish(project=project, user=curator, bootstrap=10)
    assert ReleasePair.objects.filter(release=everything).count() == 3


def test_nobody_edits_or_reviews_what_is_not_theirs(project, curator, tmp_path, outsider):
    (comparison,) = _comparisons(tmp_path, project)
    writer, other = _member(project, "wren"), _member(project, "otis")
    draft = (
        _api(writer)
        .post(f"/api/projects/{project.slug}/comparisons/{comparison.pk}/criteria/", {"text": "Prefer the haiku."})
        .json()
    )
    taken = _api(other).put(f"/api/projects/{project.slug}/criteria/{draft['id']}/", {"text": "Mine now"})
    assert taken.status_code == 400 and "No such criterion of yours" in str(taken.json())
    assert _api(other).delete(f"/api/projects/{project.slug}/criteria/{draft['id']}/").status_code == 400
    assert _api(outsider).get(f"/api/projects/{project.slug}/write/next/").status_code == 404
    assert _api(writer).get(f"/api/projects/{project.slug}/criteria/signals/").status_code == 403
    assert Criterion.objects.get(pk=draft["id"]).text == "Prefer the haiku."
    # A draft is never reviewed: only submitted criteria are.
    refused = _api(curator).post(f"/api/projects/{project.slug}/criteria/{draft['id']}/review/", {"decision": "accept"})
    assert refused.status_code == 400 and "only submitted ones are reviewed" in str(refused.json())


def test_comparisons_are_added_through_the_api_as_json_or_with_files(project, curator, annotator):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from tests.criteria.test_writing import _png

    base = f"/api/projects/{project.slug}/comparisons/"
    made = _api(curator).post(base, {"task": "T2T", "prompt": "Greet me.", "response1_text": "Hello",
                                     "response2_text": "Hey"}, format="json")  # fmt: skip
    assert made.status_code == 201 and made.json()["task"] == "T2T"
    files = {"response1_file": SimpleUploadedFile("a.png", _png("red")),
             "response2_file": SimpleUploadedFile("b.png", _png("blue"))}  # fmt: skip
    made = _api(curator).post(base, {"task": "T2I", "prompt": "A red square.", **files}, format="multipart")
    assert made.status_code == 201
    refused = _api(curator).post(base, {"task": "T2I", "prompt": "A cat."}, format="multipart")
    assert refused.status_code == 400 and "response1_file" in refused.json()
    assert _api(annotator).post(base, {"task": "T2T", "prompt": "x"}, format="json").status_code == 403
    listed = _api(curator).get(base).json()
    assert listed["count"] == 2 and [c["task"] for c in listed["results"]] == ["T2T", "T2I"]


def test_drafts_are_capped_per_writer_and_comparison(project, tmp_path):
    from criteria.services import MAX_DRAFTS

    (comparison,) = _comparisons(tmp_path, project)
    api, url = _api(_member(project, "wren")), f"/api/projects/{project.slug}/comparisons/{comparison.pk}/criteria/"
    for n in range(MAX_DRAFTS):
        assert api.post(url, {"text": f"Draft {n}"}).status_code == 201
    refused = api.post(url, {"text": "One too many"})
    assert refused.status_code == 400 and "submit or delete some first" in str(refused.json())
