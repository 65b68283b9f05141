"""A researcher adds an offline judge, runs it, and reads the leaderboard, in real Chromium."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from annotations.models import Label, Role
from judges.models import ModelVote
from tests.browser.conftest import screenshot, sign_in
from tests.factories import MembershipFactory, PairFactory, UserFactory
from tests.releases.test_releases import votes

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_researcher_runs_a_baseline_judge_and_reads_the_leaderboard(page, project, curator):
    voters = [
        MembershipFactory(project=project, role=Role.ANNOTATOR, user=UserFactory(username=f"v{i}")).user
        for i in range(3)
    ]
    for i in range(8):
        pair = PairFactory(project=project, external_id=f"p{i}", response1_text="short",
                           response2_text="a much longer response " * (i + 1))  # fmt: skip
        votes(pair, voters, [Label.RESPONSE2 if i % 4 else Label.RESPONSE1] * 3)

    sign_in(page, curator.username)
    page.goto(f"/projects/{project.slug}/")
    page.click("nav.subnav >> text=Judges")
    page.fill("input[name=name]", "prefers-longer")
    page.select_option("select[name=kind]", "longer")
    page.click("text=Add judge")
    expect(page.locator("h1")).to_have_text("prefers-longer")
    page.check('#start-run input[value="T2T"]')
    page.check("#start-run input[name=with_tie]")
    page.click("text=Start run")
    expect(page.locator("#runs [data-status]").first).to_have_text("done")  # eager: ran as the run committed
    expect(page.locator("#runs [data-progress]").first).to_have_text("8 / 8")
    assert ModelVote.objects.filter(judge__name="prefers-longer").count() == 8

    page.click("nav.subnav >> text=Leaderboard")
    row = page.locator('#with-tie tr[data-model="prefers-longer"]')
    expect(row.locator('[data-task="T2T"]')).to_contain_text("75.00")  # 6 of 8: the longer one won 6 times
    expect(page.locator('#with-tie tr[data-model="Human annotators"] [data-overall]')).to_have_text("100.00")
    screenshot(page, "leaderboard")
