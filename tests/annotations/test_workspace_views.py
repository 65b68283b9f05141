"""The annotator's workspace pages: what an annotator sees, and what the forms store."""

from __future__ import annotations

import re
import uuid

import pytest
from django.test import Client
from django.urls import reverse

from annotations.models import Judgment, Label, Pair, PairSkip, Reservation, ShownOrder
from annotations.services.pair_import import pair_import
from media_pipeline import pipeline
from tests.conftest import client_for
from tests.factories import MembershipFactory, PairFactory, UserFactory

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}


def _url(project, name="annotate"):
    return reverse(f"annotations:{name}", args=[project.slug])


def _shown(html):
    """The pair id and the submission id the page carries."""
    pair = int(re.search(r'name="pair" value="(\d+)"', html).group(1))
    submission = re.search(r'name="submission_id" value="([0-9a-f-]+)"', html).group(1)
    return pair, submission


def _shown_nothing(html):
    return 'name="pair"' not in html and "Your queue is empty" in html


def test_anonymous_and_outsiders_get_nothing(client, project, outsider):
    PairFactory(project=project)
    for name in ("annotate", "vote", "skip", "undo"):
        response = client.post(_url(project, name)) if name != "annotate" else client.get(_url(project))
        assert response.status_code == 302 and "/accounts/login/" in response["Location"]
        other = client_for(outsider)
        response = other.post(_url(project, name)) if name != "annotate" else other.get(_url(project))
        assert response.status_code == 404


def test_annotator_sees_criterion_prompt_and_sides_but_no_models_labels_or_file_names(project, annotator, release_dir):
    pair_import(project=project, data_path=release_dir)
    kept = Pair.objects.filter(project=project, task="T2V").order_by("external_id").first()
    Pair.objects.filter(project=project).exclude(pk=kept.pk).delete()
    client = client_for(annotator)
    waiting = client.get(_url(project)).content.decode()
    assert _shown_nothing(waiting)  # held back until its media is ready
    assert "1 more pair will arrive once its media is processed." in waiting
    for asset_id in (kept.response1_media_id, kept.response2_media_id):
        pipeline.run(asset_id)
    html = client.get(_url(project)).content.decode()
    assert 'poster="/media-files/' in html
    pair_id, _ = _shown(html)
    pair = Pair.objects.select_related("response1_media", "response2_media").get(pk=pair_id)
    assert pair.criterion.split("\n")[0][:60] in html
    assert 'data-side="A"' in html and 'data-side="B"' in html and 'data-viewer="video"' in html
    for secret in (pair.model1, pair.model2, pair.response1_media.original_name, pair.response2_media.original_name):
        assert secret and secret not in html
    assert "Imported label" not in html and pair.get_reference_label_display() not in html.replace("Response A", "")
    # Side A carries the media of the response the server put on the left for this annotator.
    left = (
        pair.response1_media
        if Reservation.objects.get().shown_order == ShownOrder.RESPONSE1_LEFT
        else pair.response2_media
    )
    side_a = html.split('data-side="A"')[1].split('data-side="B"')[0]
    assert reverse("media_pipeline:asset_file", args=[left.id]) in side_a
    assert client.get(reverse("media_pipeline:asset_file", args=[left.id])).status_code == 200


def test_text_is_rendered_as_sanitised_markdown(project, annotator):
    PairFactory(
        project=project,
        prompt="<script>alert('p')</script> **bold**",
        criterion="<img src=x onerror=alert(1)>",
        response1_text="<script>alert(1)</script>\n\n- item [link](javascript:alert(2))",
        response2_text="| a | b |\n|---|---|\n| 1 | 2 |",
    )
    html = client_for(annotator).get(_url(project)).content.decode()
    assert "<script>alert" not in html and "<img src=x" not in html and 'href="javascript' not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<strong>bold</strong>" in html
    assert "<li>item" in html and "<td>1</td>" in html


def test_vote_by_htmx_stores_the_canonical_label_and_swaps_in_the_next_pair(project, annotator):
    PairFactory.create_batch(2, project=project)
    client = client_for(annotator)
    pair_id, submission = _shown(client.get(_url(project)).content.decode())
    response = client.post(
        _url(project, "vote"),
        {"pair": pair_id, "choice": "B", "submission_id": submission, "elapsed_ms": "2500", "rationale": "crisper"},
        **HTMX,
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith('<section id="workspace"') and "<html" not in html
    next_id, _ = _shown(html)
    assert next_id != pair_id
    stored = Judgment.objects.get()
    expected = Label.RESPONSE2 if stored.shown_order == ShownOrder.RESPONSE1_LEFT else Label.RESPONSE1
    assert (stored.pair_id, stored.label, stored.time_spent_ms, stored.rationale) == (
        pair_id,
        expected,
        2500,
        "crisper",
    )
    assert 'data-progress="done">1<' in html and 'data-progress="remaining">1<' in html


def test_double_submit_stores_one_judgment_and_shows_the_same_next_pair(project, annotator):
    PairFactory.create_batch(3, project=project)
    client = client_for(annotator)
    pair_id, submission = _shown(client.get(_url(project)).content.decode())
    form = {"pair": pair_id, "choice": "A", "submission_id": submission}
    first = client.post(_url(project, "vote"), form, **HTMX).content.decode()
    second = client.post(_url(project, "vote"), form, **HTMX).content.decode()
    assert Judgment.objects.count() == 1
    assert _shown(first)[0] == _shown(second)[0]


def test_a_second_tabs_vote_on_a_judged_pair_says_which_vote_was_kept(project, annotator):
    PairFactory.create_batch(2, project=project)
    client = client_for(annotator)
    pair_id, first_tab = _shown(client.get(_url(project)).content.decode())
    same_pair, second_tab = _shown(client.get(_url(project)).content.decode())
    assert same_pair == pair_id and second_tab != first_tab
    client.post(_url(project, "vote"), {"pair": pair_id, "choice": "A", "submission_id": first_tab}, **HTMX)
    html = client.post(
        _url(project, "vote"), {"pair": pair_id, "choice": "B", "submission_id": second_tab}, **HTMX
    ).content.decode()
    assert 'role="alert"' in html
    assert "You had already voted on this pair in another tab or window: that vote, A, was kept" in html
    assert _shown(html)[0] != pair_id  # and the pair now due is shown
    stored = Judgment.objects.get()
    assert stored.submission_id == uuid.UUID(first_tab)


def test_plain_form_post_redirects_back_to_the_workspace(project, annotator):
    PairFactory(project=project)
    client = client_for(annotator)
    pair_id, submission = _shown(client.get(_url(project)).content.decode())
    response = client.post(_url(project, "vote"), {"pair": pair_id, "choice": "tie", "submission_id": submission})
    assert response.status_code == 302 and response["Location"] == _url(project)
    assert Judgment.objects.get().label == Label.TIE
    assert "Your queue is empty" in client.get(_url(project)).content.decode()


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"choice": "C"}, "choice"),
        ({"submission_id": "not-a-uuid"}, "submission_id"),
        ({"coverage": '{"A": 7}'}, "coverage"),
        ({"elapsed_ms": "-5"}, "elapsed_ms"),
    ],
)
def test_malformed_votes_are_refused_with_the_field_named(project, annotator, form, message):
    PairFactory(project=project)
    client = client_for(annotator)
    pair_id, submission = _shown(client.get(_url(project)).content.decode())
    data = {"pair": pair_id, "choice": "A", "submission_id": submission, **form}
    response = client.post(_url(project, "vote"), data, **HTMX)
    assert response.status_code == 400 and message in response.content.decode()
    assert not Judgment.objects.exists()


def test_csrf_is_enforced_on_votes(project, annotator):
    PairFactory(project=project)
    client = Client(enforce_csrf_checks=True)
    client.force_login(annotator)
    pair_id, submission = _shown(client.get(_url(project)).content.decode())
    response = client.post(_url(project, "vote"), {"pair": pair_id, "choice": "A", "submission_id": submission})
    assert response.status_code == 403 and not Judgment.objects.exists()


def test_voting_on_someone_elses_pair_is_refused(project, annotator):
    mine, theirs = PairFactory.create_batch(2, project=project)
    client = client_for(annotator)
    shown, _ = _shown(client.get(_url(project)).content.decode())
    other = theirs if shown == mine.pk else mine
    html = client.post(
        _url(project, "vote"), {"pair": other.pk, "choice": "A", "submission_id": str(uuid.uuid4())}, **HTMX
    ).content.decode()
    assert "not in your queue" in html and not Judgment.objects.exists()


def test_skip_flag_and_undo(project, annotator):
    PairFactory.create_batch(3, project=project)
    client = client_for(annotator)
    first, _ = _shown(client.get(_url(project)).content.decode())
    html = client.post(_url(project, "skip"), {"pair": first, "reason": "criterion", "note": "vague"}, **HTMX)
    html = html.content.decode()
    assert "Skipped" in html
    second, submission = _shown(html)
    html = client.post(_url(project, "skip"), {"pair": second, "reason": "broken_media"}, **HTMX).content.decode()
    assert "Flagged as broken media" in html
    assert set(PairSkip.objects.values_list("kind", "reason", "note")) == {
        ("skip", "criterion", "vague"),
        ("flag", "broken_media", ""),
    }
    third, submission = _shown(html)
    client.post(_url(project, "vote"), {"pair": third, "choice": "A", "submission_id": submission}, **HTMX)
    html = client.post(_url(project, "undo"), **HTMX).content.decode()
    assert "Vote withdrawn (you had chosen A)" in html and _shown(html)[0] == third
    assert not Judgment.objects.filter(retracted_at__isnull=True).exists()
    bad = client.post(_url(project, "skip"), {"pair": third, "reason": "bored"}, **HTMX)
    assert bad.status_code == 400 and "reason" in bad.content.decode()


def test_annotators_see_only_their_own_progress(project, annotator):
    PairFactory.create_batch(2, project=project)
    someone = MembershipFactory(project=project, user=UserFactory(username="zed")).user
    theirs = client_for(someone)
    pair_id, submission = _shown(theirs.get(_url(project)).content.decode())
    theirs.post(_url(project, "vote"), {"pair": pair_id, "choice": "A", "submission_id": submission})
    html = client_for(annotator).get(_url(project)).content.decode()
    assert 'data-progress="done">0<' in html and "zed" not in html


def test_gated_project_locks_the_buttons_until_played(project, annotator, release_dir):
    pair_import(project=project, data_path=release_dir)
    kept = Pair.objects.filter(project=project, task="T2A").order_by("external_id").first()
    Pair.objects.filter(project=project).exclude(pk=kept.pk).delete()
    for asset_id in (kept.response1_media_id, kept.response2_media_id):
        pipeline.run(asset_id)
    project.must_view_share = 0.75
    project.save()
    html = client_for(annotator).get(_url(project)).content.decode()
    assert 'data-must-view="0.75"' in html and "75% of each" in html
    assert len(re.findall(r'class="vote-btn"[^>]*disabled', html)) == 3


def test_curator_sees_votes_skips_and_broken_media_flags(project, annotator, curator):
    PairFactory.create_batch(3, project=project)
    client = client_for(annotator)
    first, submission = _shown(client.get(_url(project)).content.decode())
    client.post(_url(project, "vote"), {"pair": first, "choice": "A", "submission_id": submission})
    second, _ = _shown(client.get(_url(project)).content.decode())
    client.post(_url(project, "skip"), {"pair": second, "reason": "broken_media", "note": "<b>black frames</b>"})
    html = client_for(curator).get(reverse("annotations:project_detail", args=[project.slug])).content.decode()
    assert "1 vote · 0 pairs with all 3 votes · 0 skipped · 1 flagged as broken media" in html
    assert Pair.objects.get(pk=second).external_id in html and "&lt;b&gt;black frames&lt;/b&gt;" in html
