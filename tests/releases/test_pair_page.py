"""A curator's pair page shows everything about the pair: votes, skips and flags, the gate's state and why,
decisions and requests, model votes, and the responses in the annotators' viewers."""

from __future__ import annotations

import pytest
from django.urls import reverse

from annotations.models import Label, PairSkip, Role, ShownOrder, SkipKind, SkipReason
from judges.models import Judge, JudgeKind, ModelVote, VoteStatus
from releases.models import Adjudication, AdjudicationRequest
from tests.conftest import client_for
from tests.factories import MembershipFactory, PairFactory, UserFactory
from tests.releases.test_releases import vote

pytestmark = pytest.mark.django_db


@pytest.fixture
def pair(project, curator):
    pair = PairFactory(
        project=project,
        external_id="p-17",
        prompt="Explain **recursion**.",
        criterion="Prefer the answer with an example.",
        response1_text="A function that *calls itself*.",
        response2_text="See recursion.",
        model1="model-one",
        model2="model-two",
    )
    people = [
        MembershipFactory(project=project, role=Role.ANNOTATOR, user=UserFactory(username=name)).user
        for name in ("uma", "bob", "cy", "dee", "eve")
    ]
    vote(pair, people[0], Label.RESPONSE1, rationale="It has an example.", ms=12_400)
    vote(pair, people[1], Label.RESPONSE1, order=ShownOrder.RESPONSE2_LEFT, ms=3_000)
    vote(pair, people[2], Label.RESPONSE2, ms=9_000)
    PairSkip.objects.create(
        pair=pair, annotator=people[3], kind=SkipKind.SKIP, reason=SkipReason.EXPERTISE, note="Needs a mathematician"
    )
    PairSkip.objects.create(pair=pair, annotator=people[4], kind=SkipKind.FLAG, reason=SkipReason.BROKEN_MEDIA)
    judge = Judge.objects.create(project=project, name="gpt-judge", kind=JudgeKind.FIRST)
    ModelVote.objects.create(
        judge=judge, pair=pair, with_tie=True, order=ShownOrder.RESPONSE2_LEFT, verdict="A", label=Label.RESPONSE2,
        status=VoteStatus.OK, raw_response="B reads better. [[A]]", latency_ms=840,
    )  # fmt: skip
    AdjudicationRequest.objects.create(pair=pair, reason="The imported label says tie.", requested_by=curator)
    return pair


def test_the_pair_page_shows_the_pair_in_the_viewers_with_skips_and_flags(project, curator, pair):
    page = client_for(curator).get(reverse("annotations:pair_detail", args=[project.slug, pair.pk]))
    html = page.content.decode()
    assert page.status_code == 200
    assert 'id="workspace"' in html and 'data-viewer="text"' in html and "js/viewers.js" in html
    assert 'Response 1 <span class="muted small">model-one</span>' in html
    assert "<em>calls itself</em>" in html and "<strong>recursion</strong>" in html  # as annotators see it
    assert 'aria-current="page">Pairs' in html  # the project's tab bar
    skips = html[html.index('id="skips"') :]
    assert "Skips and flags (2)" in skips
    assert "Needs expertise I do not have" in skips and "Needs a mathematician" in skips
    assert "Flagged: broken media" in skips and "Media does not load or play" in skips
    # The gate's and the judges' sections load from their own apps.
    assert reverse("releases:pair_verdict", args=[project.slug, pair.pk]) in html
    assert reverse("judges:pair_model_votes", args=[project.slug, pair.pk]) in html


def test_the_gate_section_gives_state_why_every_vote_and_the_open_request(project, curator, pair):
    client = client_for(curator)
    html = client.get(reverse("releases:pair_verdict", args=[project.slug, pair.pk])).content.decode()
    assert "State: <strong>Accepted</strong> · response1 (votes)" in html
    assert "Response 1 has 2 of 3 counted votes (67%); the rule asks for 67% of at least 3 counted votes." in html
    rows = {row.split('"')[0]: row for row in html.split('<tr data-annotator="')[1:]}
    assert set(rows) == {"uma", "bob", "cy"}
    assert "It has an example." in rows["uma"] and "12 s" in rows["uma"] and "<td>response 1</td>" in rows["uma"]
    assert "<td>response 2</td>" in rows["bob"]  # bob saw response 2 on the left
    assert "Sent to adjudication by" in html and "The imported label says tie." in html
    assert reverse("releases:adjudicate", args=[project.slug, pair.pk]) in html

    Adjudication.objects.create(pair=pair, decision="response2", note="The example is wrong.", decided_by=curator)
    html = client.get(reverse("releases:pair_verdict", args=[project.slug, pair.pk])).content.decode()
    assert "A curator decided it: response 2." in html and "The example is wrong." in html
    assert "Sent to adjudication by" not in html  # answered


def test_the_model_votes_section_names_each_judge_and_its_answer(project, curator, pair):
    html = client_for(curator).get(reverse("judges:pair_model_votes", args=[project.slug, pair.pk])).content.decode()
    row = html[html.index('<tr data-judge="gpt-judge">') :]
    assert "<td>with tie</td>" in row and "<td>response 2</td>" in row  # response 2 was shown as A
    assert "<strong>Response 2</strong>" in row and "840 ms" in row and "B reads better. [[A]]" in row


def test_annotators_get_neither_section(project, annotator, pair):
    client = client_for(annotator)
    for name in ("releases:pair_verdict", "judges:pair_model_votes", "annotations:pair_detail"):
        response = client.get(reverse(name, args=[project.slug, pair.pk]))
        assert response.status_code == 403 and b"gpt-judge" not in response.content and b"uma" not in response.content
