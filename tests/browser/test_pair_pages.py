"""Curators see a pair in the viewers annotators use (linked 3D, synced video, waveforms, rendered text),
with its votes, gate state and model votes, on the pair page and the adjudication page."""

from __future__ import annotations

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from annotations.models import Pair, Project, Role, Task
from tests.browser.conftest import screenshot, sign_in
from tests.browser.test_csp import MEDIA_SETTLED
from tests.browser.test_csp import curated_project as _curated_project
from tests.browser.test_workspace import MEDIA_LOADED
from tests.factories import MembershipFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
curated_project = _curated_project  # the demo's nine tasks, one pair of each split three ways


def _media_count(pair: Pair) -> int:
    """Viewer elements the page shows: the input, and per side its mesh where both have one, else its media."""
    meshes = bool(pair.response1_mesh_id and pair.response2_mesh_id)
    sides = 2 if meshes else sum(1 for c in ("response1_media_id", "response2_media_id") if getattr(pair, c))
    return sides + (1 if pair.input_media_id else 0)


@pytest.mark.parametrize("task", [Task.T23D, Task.T2V, Task.T2A, Task.TI2T])
def test_a_curator_sees_the_pair_in_the_annotators_viewers_with_its_votes(page, curated_project: Project, task):
    curator = MembershipFactory(project=curated_project, role=Role.CURATOR, user=UserFactory(username="cur")).user
    sign_in(page, curator.username)
    pair = Pair.objects.filter(project=curated_project, task=task, judgments__isnull=False).distinct().get()
    page.goto(reverse("annotations:pair_detail", args=[curated_project.slug, pair.pk]))

    expect(page.locator("#verdict .why")).to_contain_text("No label leads: the 3 counted votes split 1 / 1 / 1")
    expect(page.locator("#votes tbody tr")).to_have_count(3)
    expect(page.locator("#model-votes")).to_contain_text("No judge has answered on this pair.")
    expect(page.locator("#skips")).to_contain_text("No annotator skipped this pair")
    page.wait_for_function(MEDIA_SETTLED, timeout=30_000)
    assert page.eval_on_selector("#workspace", MEDIA_LOADED) == ["ok"] * _media_count(pair)
    expect(page.get_by_text("Download 3D mesh")).to_have_count(0)
    expect(page.locator(".side h2").first).to_contain_text("Response 1")
    expect(page.locator(".vote-btn")).to_have_count(0)  # read-only
    screenshot(page, f"pair-page-{task}")

    page.goto(reverse("releases:adjudicate", args=[curated_project.slug, pair.pk]))
    expect(page.locator("#decide")).to_be_visible()
    page.wait_for_function(MEDIA_SETTLED, timeout=30_000)
    assert page.eval_on_selector("#workspace", MEDIA_LOADED) == ["ok"] * _media_count(pair)
    expect(page.locator(".side h2 .muted").first).to_have_text("model hidden")
    screenshot(page, f"adjudicate-page-{task}", full_page=False)
