"""Tie kinds (issue 18, item 7): a tie says both good or both bad on projects that ask, end to end.

The setting, the vote (service, workspace page, API), undo, the tallies and their recount. The release
column and the Agreement page's both-bad figure are in tests/releases/test_tie_kind_releases.py.
"""

from __future__ import annotations

import re
import uuid

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse

from annotations.models import Judgment, Label, PairTally, Project, TieKind
from annotations.services.queue import Vote, next_assignment, record_vote, undo_last
from annotations.services.tallies import tally_recount
from releases.services.quality import gate_rule_update, pair_gold_set
from tests.annotations.test_api import api_for
from tests.conftest import client_for
from tests.factories import JudgmentFactory, MembershipFactory, PairFactory, UserFactory

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}
GOOD, BAD = TieKind.BOTH_GOOD, TieKind.BOTH_BAD


@pytest.fixture
def kinds(project: Project) -> Project:
    project.tie_kinds = True
    project.gold_share = 0
    project.save()
    PairFactory.create_batch(2, project=project)
    return project


def _vote(project, user, choice, kind=""):
    assignment = next_assignment(project, user)
    assert assignment is not None
    return record_vote(project, user, Vote(assignment.pair.pk, choice, uuid.uuid4(), tie_kind=kind))


def _tally(judgment):
    t = PairTally.objects.get(pair=judgment.pair_id)
    return (t.tie, t.tie_good, t.tie_bad, t.uncounted_tie_good, t.uncounted_tie_bad)


# --- the service -----------------------------------------------------------------------------------


def test_a_tie_stores_its_kind_and_counts_it_and_undo_takes_it_back(kinds, annotator):
    stored = _vote(kinds, annotator, "tie", BAD).judgment
    assert (stored.label, stored.tie_kind) == (Label.TIE, BAD)
    assert _tally(stored) == (1, 0, 1, 0, 0)
    undone = undo_last(kinds, annotator)
    assert undone.pk == stored.pk and undone.tie_kind == BAD
    assert _tally(stored) == (0, 0, 0, 0, 0)
    # The pair comes back to the annotator, who votes again with the other kind.
    again = _vote(kinds, annotator, "tie", GOOD).judgment
    assert again.pair_id == stored.pair_id and _tally(again) == (1, 1, 0, 0, 0)
    assert tally_recount(project=kinds).differing == []


@pytest.mark.parametrize(
    ("tie_kinds", "choice", "kind", "message"),
    [
        (True, "tie", "", "asks what kind of tie"),
        (True, "A", BAD, "goes with a tie only"),
        (True, "tie", "both_meh", "Unknown tie kind"),
        (False, "tie", GOOD, "does not ask what kind a tie is"),
    ],
)
def test_a_kind_that_does_not_fit_is_refused_by_field_and_nothing_is_stored(
    project, annotator, tie_kinds, choice, kind, message
):
    project.tie_kinds = tie_kinds
    project.save()
    pair = PairFactory(project=project)
    next_assignment(project, annotator)
    with pytest.raises(ValidationError) as refused:
        record_vote(project, annotator, Vote(pair.pk, choice, uuid.uuid4(), tie_kind=kind))
    assert message in refused.value.message_dict["tie_kind"][0]
    assert not Judgment.objects.exists() and not PairTally.objects.exists()
    assert next_assignment(project, annotator).pair.pk == pair.pk  # still held: vote again


def test_without_tie_kinds_a_tie_is_one_key_as_before(project, annotator):
    PairFactory(project=project)
    stored = _vote(project, annotator, "tie").judgment
    assert (stored.label, stored.tie_kind) == (Label.TIE, "")


def test_recount_rebuilds_kind_tallies_including_votes_below_the_quality_bar(kinds, curator):
    voters = [MembershipFactory(project=kinds, user=UserFactory(username=f"k{i}")).user for i in range(3)]
    gold, pair = PairFactory(project=kinds), PairFactory(project=kinds)
    pair_gold_set(pair=gold, label=Label.RESPONSE1)
    gate_rule_update(
        project=kinds, user=curator, min_votes=2, min_majority_share=0.66, tie_policy="label",
        min_gold_accuracy=0.5, min_gold_judged=1,
    )  # fmt: skip
    JudgmentFactory(pair=pair, annotator=voters[0], label=Label.TIE, tie_kind=BAD)
    JudgmentFactory(pair=pair, annotator=voters[1], label=Label.TIE, tie_kind=GOOD)
    JudgmentFactory(pair=gold, annotator=voters[0], label=Label.RESPONSE2)  # wrong on gold: below the bar
    tally = PairTally.objects.get(pair=pair)
    assert (tally.tie_good, tally.tie_bad, tally.uncounted_tie_good, tally.uncounted_tie_bad) == (1, 1, 0, 1)
    assert tally_recount(project=kinds).differing == []
    PairTally.objects.filter(pair=pair).update(tie_bad=0, uncounted_tie_bad=0)  # drifted
    assert tally_recount(project=kinds).differing == [pair.pk]
    tally.refresh_from_db()
    assert (tally.tie_good, tally.tie_bad, tally.uncounted_tie_good, tally.uncounted_tie_bad) == (1, 1, 0, 1)


def test_the_database_refuses_a_kind_on_a_non_tie(project, annotator):
    pair = PairFactory(project=project)
    with pytest.raises(IntegrityError), transaction.atomic():
        Judgment.objects.create(
            pair=pair, annotator=annotator, label=Label.RESPONSE1, shown_order="12", time_spent_ms=1, tie_kind=BAD
        )


# --- the settings page and the workspace -------------------------------------------------------------


def test_curators_turn_tie_kinds_on_in_settings(project, curator):
    client = client_for(curator)
    url = reverse("annotations:project_settings", args=[project.slug])
    page = client.get(url).content.decode()
    assert 'name="tie_kinds"' in page and "checked" not in page.split('name="tie_kinds"')[1].split(">")[0]
    fields = {
        "name": project.name, "votes_per_pair": 3, "reservation_minutes": 15, "gold_share": 0.1,
        "criteria_per_comparison": 2, "tie_kinds": "on",
    }  # fmt: skip
    assert client.post(url, fields).status_code == 302
    project.refresh_from_db()
    assert project.tie_kinds is True
    del fields["tie_kinds"]  # an unticked box is not sent: off again
    client.post(url, fields)
    project.refresh_from_db()
    assert project.tie_kinds is False


def _shown(html):
    return int(re.search(r'name="pair" value="(\d+)"', html).group(1)), re.search(
        r'name="submission_id" value="([0-9a-f-]+)"', html
    ).group(1)


def test_the_workspace_asks_a_ties_kind_and_stores_it(kinds, annotator):
    client = client_for(annotator)
    html = client.get(reverse("annotations:annotate", args=[kinds.slug])).content.decode()
    assert 'class="tie-step"' in html and "Tie: what kind?" in html
    assert 'name="tie_kind" value="both_good"' in html and 'name="tie_kind" value="both_bad"' in html
    assert '<tr data-keys="tie-kinds">' in html  # the key help says 3 then 1 / 2
    pair, submission = _shown(html)
    vote_url = reverse("annotations:vote", args=[kinds.slug])
    # Tie alone is refused, saying which field and why; the pair stays.
    refused = client.post(vote_url, {"pair": pair, "choice": "tie", "submission_id": submission}, **HTMX)
    assert refused.status_code == 400 and refused["Content-Type"].startswith("text/plain")
    assert "tie_kind: This project asks what kind of tie it is" in refused.content.decode()
    # A kind button sends the kind alone: a tie of that kind.
    response = client.post(vote_url, {"pair": pair, "tie_kind": "both_bad", "submission_id": submission}, **HTMX)
    assert response.status_code == 200
    judgment = Judgment.objects.get(annotator=annotator)
    assert (judgment.pair_id, judgment.label, judgment.tie_kind) == (pair, Label.TIE, BAD)
    undone = client.post(reverse("annotations:undo", args=[kinds.slug]), **HTMX).content.decode()
    assert "you had chosen Tie (both bad)" in undone
    assert _shown(undone)[0] == pair


def test_the_workspace_without_tie_kinds_has_one_tie_key_and_refuses_a_kind(project, annotator):
    PairFactory(project=project)
    client = client_for(annotator)
    html = client.get(reverse("annotations:annotate", args=[project.slug])).content.decode()
    assert "tie-step" not in html and 'name="tie_kind"' not in html and "><kbd>3</kbd> Tie</button>" in html
    pair, submission = _shown(html)
    vote_url = reverse("annotations:vote", args=[project.slug])
    refused = client.post(vote_url, {"pair": pair, "choice": "A", "tie_kind": "both_good", "submission_id": submission})
    assert refused.status_code == 400 and "tie_kind:" in refused.content.decode()
    junk = client.post(vote_url, {"pair": pair, "tie_kind": "never", "submission_id": submission})
    assert junk.status_code == 400 and "tie_kind" in junk.content.decode()
    assert client.post(vote_url, {"pair": pair, "choice": "tie", "submission_id": submission}).status_code == 302
    assert Judgment.objects.get().tie_kind == ""


# --- the API ------------------------------------------------------------------------------------------


def test_api_settings_carry_tie_kinds_validated_like_the_others(project, curator, annotator):
    api = api_for(curator)
    url = reverse("annotations-api:project-settings", args=[project.slug])
    assert api.get(url).json()["tie_kinds"] is False
    bad = api.patch(url, {"tie_kinds": "sometimes"}, format="json")
    assert bad.status_code == 400 and "tie_kinds" in bad.json()
    assert api.patch(url, {"tie_kinds": True}, format="json").json()["tie_kinds"] is True
    detail = api_for(annotator).get(reverse("annotations-api:project-detail", args=[project.slug])).json()
    assert detail["tie_kinds"] is True
    created = api_for(UserFactory(is_staff=True)).post(
        reverse("annotations-api:project-list"), {"name": "Kinds", "tie_kinds": True}, format="json"
    )
    assert created.status_code == 201 and created.json()["tie_kinds"] is True
    assert Project.objects.get(slug="kinds").tie_kinds


def test_api_vote_takes_and_returns_the_kind_and_refuses_misfits_by_field(kinds, annotator, curator):
    api = api_for(annotator)
    turn = api.get(reverse("annotations-api:queue-next", args=[kinds.slug])).json()
    assert turn["pair"]["tie_kinds"] is True
    vote_url = reverse("annotations-api:queue-vote", args=[kinds.slug])
    base = {"pair": turn["pair"]["id"], "submission_id": turn["submission_id"]}
    for body, why in (
        ({"choice": "tie"}, "asks what kind of tie"),
        ({"choice": "B", "tie_kind": "both_good"}, "goes with a tie only"),
        ({"choice": "tie", "tie_kind": "so-so"}, "not a valid choice"),
    ):
        refused = api.post(vote_url, {**base, **body}, format="json")
        assert refused.status_code == 400 and why in refused.json()["tie_kind"][0], refused.json()
    voted = api.post(vote_url, {**base, "choice": "tie", "tie_kind": "both_good"}, format="json")
    assert voted.status_code == 201
    assert (voted.json()["judgment"]["choice"], voted.json()["judgment"]["tie_kind"]) == ("tie", "both_good")
    listed = api_for(curator).get(reverse("annotations-api:judgment-list", args=[kinds.slug])).json()
    assert [(j["label"], j["tie_kind"]) for j in listed["results"]] == [("tie", "both_good")]
    undone = api.post(reverse("annotations-api:queue-undo", args=[kinds.slug])).json()
    assert undone["undone"]["tie_kind"] == "both_good"


def test_api_vote_refuses_a_kind_on_a_project_without_them(project, annotator):
    PairFactory(project=project)
    api = api_for(annotator)
    turn = api.get(reverse("annotations-api:queue-next", args=[project.slug])).json()
    assert turn["pair"]["tie_kinds"] is False
    body = {"pair": turn["pair"]["id"], "submission_id": turn["submission_id"], "choice": "tie", "tie_kind": "both_bad"}
    refused = api.post(reverse("annotations-api:queue-vote", args=[project.slug]), body, format="json")
    assert refused.status_code == 400
    why = "This project does not ask what kind a tie is: send the tie without a tie kind."
    assert refused.json() == {"tie_kind": [why]}
    del body["tie_kind"]
    voted = api.post(reverse("annotations-api:queue-vote", args=[project.slug]), body, format="json")
    assert voted.status_code == 201 and voted.json()["judgment"]["tie_kind"] == ""
