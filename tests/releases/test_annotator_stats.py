"""The Agreement page's per-annotator table: computed by a background job, never in the request, shown
with its age and the votes since, computed again when stale, with the quality bar read live."""

from __future__ import annotations

import dataclasses
import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from annotations.models import Judgment, Label, Role, ShownOrder
from annotations.services.tallies import tally_vote
from releases.models import AnnotatorStatsReport, AnnotatorStatsStatus
from releases.selectors import annotator_votes
from releases.selectors_annotators import annotator_table, live_vote_count
from releases.services.annotator_stats import annotator_stats_request
from releases.services.quality import gate_rule_update, pair_gold_set
from releases.stats.annotators import annotator_stats
from tests.conftest import client_for
from tests.factories import JudgmentFactory, MembershipFactory, PairFactory, UserFactory

pytestmark = pytest.mark.django_db

A, B, TIE = Label.RESPONSE1, Label.RESPONSE2, Label.TIE


def compute_annotator_stats(project, capture) -> AnnotatorStatsReport:
    """What the worker does once the page asked: here the job runs in-process when the request commits."""
    with capture(execute=True):
        annotator_stats_request(project=project, force=True)
    return AnnotatorStatsReport.objects.get(project=project)


def _age(project, seconds: float) -> None:
    """The stored table's votes were read `seconds` ago."""
    AnnotatorStatsReport.objects.filter(project=project).update(computed_at=timezone.now() - timedelta(seconds=seconds))


@pytest.fixture
def voters(project):
    return [
        MembershipFactory(project=project, role=Role.ANNOTATOR, user=UserFactory(username=f"v{i}")).user
        for i in range(4)
    ]


@pytest.fixture
def voted(project, voters):
    """Ten pairs, two of them gold, voted with disagreement, ties, left picks and different times."""
    labels = [A, B, TIE]
    for i in range(10):
        pair = PairFactory(project=project, external_id=f"p{i}", gold_label=A if i < 2 else None)
        for j, user in enumerate(voters[: 3 + i % 2]):
            order = ShownOrder.RESPONSE1_LEFT if (i + j) % 3 else ShownOrder.RESPONSE2_LEFT
            JudgmentFactory(
                pair=pair, annotator=user, label=labels[(i * j + j) % 3] if j else A, shown_order=order,
                time_spent_ms=1000 + 300 * i + 70 * j,
            )  # fmt: skip
    return project


def _dashboard(client, project):
    return client.get(reverse("releases:dashboard", args=[project.slug]))


def test_the_job_computes_exactly_what_the_request_used_to(voted, curator, django_capture_on_commit_callbacks):
    report = compute_annotator_stats(voted, django_capture_on_commit_callbacks)
    assert report.status == AnnotatorStatsStatus.READY and report.votes == 35 and report.computed_at is not None

    # The request's former computation: every vote read and the statistics computed on the spot.
    votes = annotator_votes(voted)
    users = get_user_model().objects.in_bulk([int(u) for u in votes.annotator_ids])
    expected = {
        users[int(votes.annotator_ids[s.annotator])].username: dataclasses.replace(
            s, annotator=int(votes.annotator_ids[s.annotator])
        )
        for s in annotator_stats(votes.table, votes.gold)
    }
    table = annotator_table(voted, live_votes=live_vote_count(voted))
    shown = {row.user.username: row.stats for row in table.rows}
    assert shown == expected  # gold accuracy, read live from the standings, included
    assert [row.user.username for row in table.rows] == ["v0", "v1", "v2", "v3"]
    assert shown["v0"].gold_judged == 2 and shown["v0"].gold_accuracy.value == 1.0
    assert not table.changed and not table.due


def test_the_page_never_computes_it_shows_it_with_its_age_after_the_job_ran(
    voted, curator, django_capture_on_commit_callbacks
):
    client = client_for(curator)
    with django_capture_on_commit_callbacks(execute=False) as sent:
        first = _dashboard(client, voted)
    html = first.content.decode()
    # Queued for a worker, not computed: no row yet, and the section polls.
    assert len(sent) == 1 and AnnotatorStatsReport.objects.get(project=voted).status == AnnotatorStatsStatus.QUEUED
    assert "data-annotator=" not in html and "Not computed yet." in html
    assert 'hx-trigger="every 2s"' in html and "waiting for a worker" in html

    sent[0]()  # the worker runs the job (eager here)
    poll = client.get(reverse("releases:dashboard", args=[voted.slug]), headers={"HX-Request": "true"})
    html = poll.content.decode()
    assert html.lstrip().startswith('<div id="annotator-stats"')  # only the section
    assert 'hx-trigger="every 2s"' not in html  # in: the polling stops
    assert html.count('<tr data-annotator="v') == 4
    assert re.search(r"Computed \d+ s ago from 35 votes, no vote since\.", html)

    _age(voted, 200)
    html = _dashboard(client, voted).content.decode()
    assert "Computed 3\xa0minutes ago from 35 votes, no vote since." in html  # unchanged: not computed again
    assert AnnotatorStatsReport.objects.get(project=voted).status == AnnotatorStatsStatus.READY


def test_a_vote_afterwards_marks_it_stale_and_queues_one_new_computation(
    voted, curator, voters, django_capture_on_commit_callbacks
):
    compute_annotator_stats(voted, django_capture_on_commit_callbacks)
    client = client_for(curator)
    late = PairFactory(project=voted, external_id="late")
    JudgmentFactory(pair=late, annotator=voters[0], label=B)
    JudgmentFactory(pair=late, annotator=voters[1], label=B)

    # Fresh (under a minute old): shown with the votes since, nothing queued.
    with django_capture_on_commit_callbacks(execute=False) as sent:
        html = _dashboard(client, voted).content.decode()
    assert not sent and "2 votes since</strong>" in html and 'hx-trigger="every 2s"' not in html

    # A minute old: queued once, the old table still shown meanwhile; another view queues nothing more.
    _age(voted, 61)
    with django_capture_on_commit_callbacks(execute=False) as sent:
        html = _dashboard(client, voted).content.decode()
        again = _dashboard(client, voted).content.decode()
    assert len(sent) == 1 and AnnotatorStatsReport.objects.get(project=voted).status == AnnotatorStatsStatus.QUEUED
    for page in (html, again):
        assert "Computed 1\xa0minute ago from 35 votes: <strong data-votes-since>2 votes since</strong>" in page
        assert page.count('<tr data-annotator="v') == 4 and 'hx-trigger="every 2s"' in page

    sent[0]()
    report = AnnotatorStatsReport.objects.get(project=voted)
    assert report.status == AnnotatorStatsStatus.READY and report.votes == 37
    table = annotator_table(voted, live_votes=live_vote_count(voted))
    assert {row.user.username: row.stats.judgments for row in table.rows}["v0"] == 11 and not table.changed


def test_an_undo_counts_as_a_change(voted, curator, voters, django_capture_on_commit_callbacks):
    compute_annotator_stats(voted, django_capture_on_commit_callbacks)
    gone = Judgment.objects.filter(annotator=voters[2]).first()
    assert gone is not None
    Judgment.objects.filter(pk=gone.pk).update(retracted_at=timezone.now())
    tally_vote(
        project_id=voted.pk, annotator_id=gone.annotator_id, pair_id=gone.pair_id, label=gone.label,
        shown_order=gone.shown_order, delta=-1,
    )  # fmt: skip
    table = annotator_table(voted, live_votes=live_vote_count(voted))
    assert (table.new_votes, table.undone, table.changed) == (0, 1, True)


def test_the_quality_bar_and_gold_accuracy_are_live_not_from_the_stored_table(
    voted, curator, voters, django_capture_on_commit_callbacks
):
    compute_annotator_stats(voted, django_capture_on_commit_callbacks)
    client = client_for(curator)
    assert "not counted</span>" not in _dashboard(client, voted).content.decode()

    # v1 judged both gold pairs; make their answers B: v0 falls below a 0.9 bar at once.
    gate_rule_update(
        project=voted, user=curator, min_votes=2, min_majority_share=0.66, tie_policy="label",
        min_gold_accuracy=0.9, min_gold_judged=1,
    )  # fmt: skip
    for pair in voted.pairs.filter(gold_label__isnull=False):
        pair_gold_set(pair=pair, label=B)
    html = _dashboard(client, voted).content.decode()
    row = re.search(r'<tr data-annotator="v0" class="below-bar">.*?</tr>', html, re.S)
    assert row and "not counted</span>" in row.group(0)
    gold = re.search(r"<td data-gold>.*?</td>", row.group(0), re.S)
    assert gold and '<span class="est">0.000</span>' in gold.group(0) and "of 2" in gold.group(0)
    assert AnnotatorStatsReport.objects.get(project=voted).status == AnnotatorStatsStatus.READY  # nothing recomputed


def test_recompute_now_queues_one_and_the_page_polls_until_it_is_in(voted, curator, django_capture_on_commit_callbacks):
    compute_annotator_stats(voted, django_capture_on_commit_callbacks)
    client = client_for(curator)
    url = reverse("releases:annotator_stats_recompute", args=[voted.slug])
    assert ">Recompute now</button>" in _dashboard(client, voted).content.decode()
    with django_capture_on_commit_callbacks(execute=False) as sent:
        response = client.post(url, follow=True)
    assert response.redirect_chain[-1][0] == reverse("releases:dashboard", args=[voted.slug])
    assert "being computed again" in response.content.decode() and len(sent) == 1
    assert 'hx-trigger="every 2s"' in response.content.decode()

    # While one runs, another asks for nothing.
    AnnotatorStatsReport.objects.filter(project=voted).update(
        status=AnnotatorStatsStatus.RUNNING, lease_until=timezone.now() + timedelta(seconds=30), attempts=1
    )
    with django_capture_on_commit_callbacks(execute=False) as sent:
        response = client.post(url, follow=True)
    assert "already being computed" in response.content.decode() and not sent


def test_a_failed_computation_shows_why_and_waits_for_a_person(
    voted, curator, monkeypatch, django_capture_on_commit_callbacks
):
    def broken(project):
        raise MemoryError("no room")

    monkeypatch.setattr("releases.services.annotator_stats.annotator_votes", broken)
    report = compute_annotator_stats(voted, django_capture_on_commit_callbacks)
    assert report.status == AnnotatorStatsStatus.FAILED and "MemoryError: no room" in report.error
    _age(voted, 1000)
    with django_capture_on_commit_callbacks(execute=False) as sent:
        html = _dashboard(client_for(curator), voted).content.decode()
    assert not sent and "MemoryError: no room" in html and ">Recompute now</button>" in html


def test_annotators_and_other_projects_curators_cannot_see_or_recompute_it(
    voted, curator, annotator, outsider, django_capture_on_commit_callbacks
):
    compute_annotator_stats(voted, django_capture_on_commit_callbacks)
    page = reverse("releases:dashboard", args=[voted.slug])
    post = reverse("releases:annotator_stats_recompute", args=[voted.slug])
    api = reverse("releases-api:annotator-stats", args=[voted.slug])
    for user, status in ((annotator, 403), (outsider, 404)):
        client = client_for(user)
        assert client.get(page).status_code == status, user
        assert client.get(page, headers={"HX-Request": "true"}).status_code == status, user
        assert client.post(post).status_code == status, user
        assert client.post(api).status_code == status, user
        assert client.get(api).status_code == status, user  # no GET: but the check comes first
    assert AnnotatorStatsReport.objects.get(project=voted).status == AnnotatorStatsStatus.READY


def test_the_api_gives_the_table_with_its_age_and_recomputes_on_request(
    voted, curator, voters, django_capture_on_commit_callbacks
):
    client = APIClient()
    client.force_authenticate(curator)
    statistics = reverse("releases-api:statistics", args=[voted.slug])
    with django_capture_on_commit_callbacks(execute=False) as sent:
        first = client.get(statistics, {"bootstrap": 0}).json()
    assert first["annotators"] == [] and len(sent) == 1
    assert first["annotator_stats"]["job"]["status"] == "queued" and first["annotator_stats"]["updating"] is True
    assert first["annotator_stats"]["computed_at"] is None and first["annotator_stats"]["votes"] is None

    sent[0]()
    JudgmentFactory(pair=PairFactory(project=voted), annotator=voters[3], label=A)
    body = client.get(statistics, {"bootstrap": 0}).json()
    assert [a["username"] for a in body["annotators"]] == ["v0", "v1", "v2", "v3"]
    assert set(body["annotators"][0]) == {
        "username", "judgments", "median_time_ms", "kappa", "kappa_compared", "gold_judged", "gold_accuracy",
        "tie_rate", "left_picks", "sided_votes", "left_rate", "left_p_value", "below_bar",
    }  # fmt: skip
    stats = body["annotator_stats"]
    assert (stats["votes"], stats["votes_since"], stats["undone_since"], stats["changed"]) == (35, 1, 0, True)
    assert stats["updating"] is False and 0 <= stats["age_s"] < 60 and stats["computed_at"]
    assert stats["job"]["state"] == "ready" and stats["job"]["action"] is None
    assert stats["recompute_url"].endswith(reverse("releases-api:annotator-stats", args=[voted.slug]))

    with django_capture_on_commit_callbacks(execute=True):
        again = client.post(stats["recompute_url"])
    assert again.status_code == 202 and again.json()["job"]["status"] == "queued"
    fresh = client.get(statistics, {"bootstrap": 0}).json()["annotator_stats"]
    assert (fresh["votes"], fresh["votes_since"], fresh["changed"]) == (36, 0, False)

    AnnotatorStatsReport.objects.filter(project=voted).update(
        status=AnnotatorStatsStatus.RUNNING, lease_until=timezone.now() + timedelta(seconds=30), attempts=1
    )
    assert client.post(stats["recompute_url"]).status_code == 409


def test_a_project_without_votes_asks_for_nothing(project, curator, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as sent:
        html = _dashboard(client_for(curator), project).content.decode()
    assert not sent and not AnnotatorStatsReport.objects.exists() and "No votes yet." in html
