"""The rules around written criteria: who may label, what a comparison refuses, what the writer queue hands out."""

from __future__ import annotations

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from annotations.models import Label, Pair, PairKind
from annotations.services.queue import next_assignment
from criteria.models import Criterion, CriterionStatus
from criteria.selectors import comparison_next_for_writer, signals
from criteria.services import Review, criterion_draft_save, criterion_review
from releases.models import Adjudication
from tests.conftest import client_for
from tests.criteria.test_writing import _comparisons, _member
from tests.factories import JudgmentFactory, PairFactory

pytestmark = pytest.mark.django_db


def _submitted(comparison, writer, text="Prefer the response that is a real haiku.", expected="response1"):
    return Criterion.objects.create(comparison=comparison, writer=writer, shown_order="12", text=text,
                                    expected=expected, status=CriterionStatus.SUBMITTED)  # fmt: skip


def test_the_curator_who_accepted_a_criterion_never_labels_its_pair(project, curator, tmp_path):
    (comparison,) = _comparisons(tmp_path, project)
    writer, labeller = _member(project, "wren"), _member(project, "lab")
    criterion = criterion_review(project=project, reviewer=curator, criterion_id=_submitted(comparison, writer).pk,
                                 review=Review("accept"))  # fmt: skip
    assert criterion.pair is not None and criterion.pair.accepted_by == curator
    assert next_assignment(project, curator) is None and next_assignment(project, writer) is None
    assert next_assignment(project, labeller).pair == criterion.pair


def test_a_curators_edit_makes_the_pair_but_the_writers_own_words_and_expectation_stay(project, curator, tmp_path):
    project.votes_per_pair = 1
    project.save()
    (comparison,) = _comparisons(tmp_path, project)
    writer, labeller = _member(project, "wren"), _member(project, "lab")
    criterion = _submitted(comparison, writer, text="Prefer the left one, the haiku.", expected="response1")
    criterion_review(project=project, reviewer=curator, criterion_id=criterion.pk,
                     review=Review("accept", text="Prefer the real haiku.", expected="response2"))  # fmt: skip
    criterion.refresh_from_db()
    assert (criterion.text, criterion.expected) == ("Prefer the left one, the haiku.", "response1")
    assert (criterion.accepted_text, criterion.accepted_expected) == ("Prefer the real haiku.", "response2")
    assert criterion.pair.criterion == "Prefer the real haiku."

    JudgmentFactory(pair=criterion.pair, annotator=labeller, label=Label.RESPONSE1, shown_order="12",
                            time_spent_ms=2000)  # fmt: skip
    (wren,) = signals(project).writers
    assert (wren.settled, wren.matched) == (1, 1)  # measured against what the writer expected


def test_a_comparison_is_neither_gold_nor_adjudicated_and_its_project_can_be_deleted(project, curator, tmp_path):
    (comparison,) = _comparisons(tmp_path, project)
    criterion_review(project=project, reviewer=curator, criterion_id=_submitted(comparison, _member(project, "w")).pk,
                     review=Review("accept"))  # fmt: skip
    client = client_for(curator)
    gold = client.post(reverse("releases:pair_gold", args=[project.slug, comparison.pk]), {"gold_label": "response1"})
    assert gold.status_code == 404
    judged = client.post(reverse("releases:adjudicate", args=[project.slug, comparison.pk]), {"decision": "tie"})
    assert judged.status_code == 404 and not Adjudication.objects.exists()
    api = APIClient()
    api.force_authenticate(curator)
    assert api.put(f"/api/projects/{project.slug}/pairs/{comparison.pk}/gold/", {"label": "tie"}).status_code == 404
    project.delete()
    assert not Pair.objects.exists() and not Criterion.objects.exists()


def test_a_long_comparison_id_still_makes_a_pair_id_within_the_limit(project, curator):
    comparison = PairFactory(project=project, external_id="x" * 200, kind=PairKind.COMPARISON, criterion="")
    criterion = criterion_review(project=project, reviewer=curator,
                                 criterion_id=_submitted(comparison, _member(project, "w")).pk,
                                 review=Review("accept"))  # fmt: skip
    assert len(criterion.pair.external_id) == 200 and criterion.pair.external_id.endswith(f"~c{criterion.pk}")


def test_the_writer_queue_holds_a_comparison_while_someone_drafts_for_it(project, tmp_path):
    project.criteria_per_comparison = 1
    project.save()
    first, second = _comparisons(tmp_path, project, rows=2)
    wren, otis = _member(project, "wren"), _member(project, "otis")
    assert comparison_next_for_writer(project, wren) == first
    criterion_draft_save(project=project, writer=wren, comparison_id=first.pk, text="Prefer the haiku.", expected="")
    assert comparison_next_for_writer(project, wren) == first  # their own drafts first
    assert comparison_next_for_writer(project, otis) == second  # first is being written for
    Criterion.objects.filter(writer=wren).update(status=CriterionStatus.REJECTED, expected="response1")
    assert comparison_next_for_writer(project, otis) == first  # a rejected criterion does not count
    assert comparison_next_for_writer(project, wren) == first  # nor does it stop its writer trying again


def test_a_comparison_whose_media_is_not_ready_says_so_to_its_writer(project, tmp_path):
    (comparison,) = _comparisons(tmp_path, project)
    Pair.objects.filter(pk=comparison.pk).update(media_ready=False)
    writer = _member(project, "wren")
    page = client_for(writer).get(reverse("criteria:write_comparison", args=[project.slug, comparison.pk]))
    html = page.content.decode()
    assert "Media still processing" in html and "Add a criterion" not in html and 'article class="side' not in html
