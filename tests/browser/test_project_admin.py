"""A staff member creates a project from the app and staffs it, in real Chromium: no /admin/ on the way."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from annotations.models import Membership, Project, Role
from tests.browser.conftest import screenshot, sign_in
from tests.factories import UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_staff_creates_a_project_and_adds_an_annotator(page):
    UserFactory(username="boss", is_staff=True)
    UserFactory(username="ann")
    sign_in(page, "boss")
    page.get_by_role("link", name="New project").click()
    expect(page.locator("h1")).to_have_text("New project")
    page.fill("input[name=name]", "Voice Study 2")
    expect(page.locator("input[name=slug]")).to_have_value("voice-study-2")  # follows the name as it is typed
    page.fill("input[name=votes_per_pair]", "5")
    page.fill("textarea[name=writing_guidance]", "Say what makes one answer better.")
    page.select_option("select[name=tie_policy]", "exclude")
    screenshot(page, "project-new")
    page.get_by_role("button", name="Create project").click()

    expect(page.locator(".messages")).to_contain_text("Project Voice Study 2 created; you are its curator.")
    expect(page.locator("h1")).to_have_text("Members")
    expect(page.locator('#members tr[data-member="boss"] select[name=role]')).to_have_value("curator")

    page.fill("#add-member input[name=username]", "nobody-here")
    page.get_by_role("button", name="Add member").click()
    expect(page.locator('[data-field="username"]')).to_contain_text("No user named 'nobody-here'")
    page.fill("#add-member input[name=username]", "ann")
    page.get_by_role("button", name="Add member").click()
    expect(page.locator(".messages")).to_contain_text("ann added as annotator.")
    expect(page.locator("#members tbody tr")).to_have_count(2)
    # Changing the role submits on its own (data-autosubmit).
    page.select_option('#members tr[data-member="ann"] select[name=role]', "curator")
    expect(page.locator(".messages")).to_contain_text("ann is now curator.")
    screenshot(page, "project-members")

    project = Project.objects.get(slug="voice-study-2")
    assert project.votes_per_pair == 5 and project.gate_rule.tie_policy == "exclude"
    roles = dict(Membership.objects.filter(project=project).values_list("user__username", "role"))
    assert roles == {"boss": Role.CURATOR, "ann": Role.CURATOR}
