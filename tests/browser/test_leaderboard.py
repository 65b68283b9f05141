"""A researcher adds an offline judge, runs it, and reads the leaderboard, in real Chromium."""

from __future__ import annotations

import json
import zipfile

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
    expect(page.locator('#with-tie tr[data-model="Human annotators"] [data-overall] strong')).to_have_text("100.00")
    screenshot(page, "leaderboard")


def test_the_leaderboard_against_imported_labels_shows_both_models_from_a_paper_folder(
    page, project, curator, tmp_path
):
    """Pairs that came with the benchmark's labels, two models' per-task result files zipped as the paper's
    evaluation writes them, uploaded on the Judges page: the leaderboard scores both against the imported labels."""
    labels = {f"t{i}": [Label.RESPONSE1, Label.RESPONSE2, Label.TIE][i % 3] for i in range(6)}
    for pid, label in labels.items():
        PairFactory(project=project, external_id=pid, reference_label=label)
    archive = tmp_path / "omnireward_preference_eval.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for model, right in (("alpha-7b", 6), ("beta-72b", 3)):  # alpha right on all six, beta on the first three
            records = [
                {"id": pid, "predicted": label if i < right else "tie" if label != "tie" else "response1"}
                for i, (pid, label) in enumerate(labels.items())
            ]
            zf.writestr(f"eval/text_to_text/{model}_preferences_with_tie.json", json.dumps(records))
            zf.writestr(f"eval/text_to_text/log_{model}.log", "run log")

    sign_in(page, curator.username)
    page.goto(f"/projects/{project.slug}/judges/")
    page.set_input_files("input[name=file]", str(archive))
    page.click("form:has(input[name=file]) button[type=submit]")
    expect(page.locator("#truth")).to_contain_text("Scored against the labels imported with the pairs: 6 pairs (T2T 6)")
    expect(page.locator(".messages")).to_contain_text("6 added, 0 replaced")
    alpha = page.locator('#with-tie tr[data-model="alpha-7b"]')
    beta = page.locator('#with-tie tr[data-model="beta-72b"]')
    expect(alpha.locator('[data-task="T2T"]')).to_contain_text("100.00 n=6")
    expect(beta.locator('[data-task="T2T"]')).to_contain_text("50.00 n=6")
    expect(beta.locator('[data-task="T2T"] [data-interval]')).to_have_text("[18.76, 81.24]")  # Wilson, 3 of 6
    screenshot(page, "leaderboard-imported-labels")
