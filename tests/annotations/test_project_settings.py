"""Curators change their project's settings on a page or through the API; bad values name their field."""

from __future__ import annotations

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from annotations.models import Project
from tests.conftest import client_for

pytestmark = pytest.mark.django_db

FORM = {"name": "Bench", "description": "", "votes_per_pair": 3, "reservation_minutes": 15, "gold_share": 0.1,
        "must_view_share": "", "criteria_per_comparison": 2, "writing_guidance": ""}  # fmt: skip


def test_a_curator_sets_k_the_criteria_needed_and_the_writing_guidance_on_the_page(project, curator):
    client = client_for(curator)
    url = reverse("annotations:project_settings", args=[project.slug])
    assert 'name="criteria_per_comparison"' in client.get(url).content.decode()
    saved = client.post(url, {**FORM, "criteria_per_comparison": 3, "writing_guidance": "Be specific.",
                              "votes_per_pair": 5}, follow=True)  # fmt: skip
    assert "Settings saved." in saved.content.decode()
    project.refresh_from_db()
    assert (project.criteria_per_comparison, project.writing_guidance, project.votes_per_pair) == (
        3,
        "Be specific.",
        5,
    )
    refused = client.post(url, {**FORM, "gold_share": 1.5, "criteria_per_comparison": 0})
    page = refused.content.decode()
    assert refused.status_code == 400
    assert "The gold share must be between 0 and 1 (got 1.5)." in page
    assert "The criteria per comparison must be between 1 and 20 (got 0)." in page
    project.refresh_from_db()
    assert project.gold_share == 0.1 and project.criteria_per_comparison == 3  # nothing half-saved


def test_settings_through_the_api_for_curators_only(project, curator, annotator):
    api = APIClient()
    api.force_authenticate(curator)
    url = f"/api/projects/{project.slug}/settings/"
    changed = api.patch(url, {"writing_guidance": "Name no side.", "must_view_share": 0.9}, format="json")
    assert changed.status_code == 200 and changed.json()["must_view_share"] == 0.9
    refused = api.patch(url, {"votes_per_pair": 0, "name": "Renamed"}, format="json")
    assert refused.status_code == 400 and "votes_per_pair" in refused.json()
    assert Project.objects.get(pk=project.pk).name == "Bench"  # nothing of a refused change is kept
    off = api.patch(url, {"must_view_share": None}, format="json")
    assert off.json()["must_view_share"] is None
    member = APIClient()
    member.force_authenticate(annotator)
    assert member.patch(url, {"votes_per_pair": 1}, format="json").status_code == 403
    assert member.get(url).status_code == 403
