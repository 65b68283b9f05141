"""Tie kinds in real Chromium: 3 asks what kind of tie, 1 / 2 answer, Escape goes back, undo brings it back."""

from __future__ import annotations

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from annotations.models import Judgment, Label, Role, TieKind
from tests.browser.conftest import screenshot, sign_in
from tests.factories import MembershipFactory, PairFactory, ProjectFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_tie_asks_its_kind_by_keyboard_and_mouse(page):
    project = ProjectFactory(slug="kinds", name="Kinds", votes_per_pair=1, gold_share=0, tie_kinds=True)
    PairFactory.create_batch(3, project=project)
    person = MembershipFactory(project=project, role=Role.ANNOTATOR, user=UserFactory(username="tia")).user
    sign_in(page, person.username)
    page.goto(reverse("annotations:annotate", args=[project.slug]))
    workspace = page.locator("#workspace")
    expect(workspace).to_have_attribute("data-ws-ready", "1")  # the keys are bound
    step, buttons = page.locator(".tie-step"), page.locator(".vote-buttons")
    first = workspace.get_attribute("data-pair")

    page.keyboard.press("3")
    expect(step).to_be_visible()
    expect(buttons).to_be_hidden()
    expect(page.get_by_role("button", name="1 Both good")).to_be_focused()
    screenshot(page, "workspace-tie-kind-step")
    page.keyboard.press("ArrowLeft")  # the A/B keys wait while the kind is asked
    page.keyboard.press("Escape")
    expect(step).to_be_hidden()
    expect(buttons).to_be_visible()
    assert not Judgment.objects.exists()

    page.keyboard.press("ArrowDown")
    expect(step).to_be_visible()
    page.keyboard.press("2")
    expect(workspace).not_to_have_attribute("data-pair", first)
    stored = Judgment.objects.get()
    assert (str(stored.pair_id), stored.label, stored.tie_kind) == (first, Label.TIE, TieKind.BOTH_BAD)

    page.keyboard.press("u")
    expect(page.get_by_role("status")).to_contain_text("Vote withdrawn (you had chosen Tie (both bad))")
    expect(workspace).to_have_attribute("data-pair", first)
    expect(workspace).to_have_attribute("data-ws-ready", "1")
    page.get_by_role("button", name="3 Tie…").click()
    page.get_by_role("button", name="1 Both good").click()
    expect(workspace).not_to_have_attribute("data-pair", first)
    live = Judgment.objects.get(retracted_at__isnull=True)
    assert (str(live.pair_id), live.label, live.tie_kind) == (first, Label.TIE, TieKind.BOTH_GOOD)

    page.keyboard.press("?")
    expect(page.locator('.keys-dialog tr[data-keys="tie-kinds"]')).to_contain_text("Tie: both good / both bad")
