"""A curator reads agreement, tightens the gate, adjudicates from the keyboard, publishes and compares
releases, in real Chromium."""

from __future__ import annotations

import zipfile

import pytest
from playwright.sync_api import expect

from annotations.models import Label, Role
from releases.models import Adjudication, Release, ReleaseStatus
from tests.browser.conftest import screenshot, sign_in
from tests.factories import MembershipFactory, PairFactory, UserFactory
from tests.releases.test_releases import votes

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

R1, R2, TIE = Label.RESPONSE1, Label.RESPONSE2, Label.TIE


def test_curator_goes_from_agreement_to_a_published_release(page, project, curator, tmp_path):
    voters = [
        MembershipFactory(project=project, role=Role.ANNOTATOR, user=UserFactory(username=f"voter{i}")).user
        for i in range(3)
    ]
    for i in range(9):
        pair = PairFactory(project=project, external_id=f"p{i}")
        votes(pair, voters, [R1, R1, R2] if i % 2 else [R2, R2, R2], rationale=f"reason {i}")
    disputed = PairFactory(project=project, external_id="split", criterion="<img src=x onerror=alert(1)>")
    votes(disputed, voters, [R1, R2, TIE], rationale="<script>window.pwned = 1</script>")

    sign_in(page, curator.username)
    page.goto(f"/projects/{project.slug}/")
    page.click("nav.subnav >> text=Agreement")
    expect(page.locator('[data-state="accepted"] .count')).to_have_text("9")
    expect(page.locator('[data-state="disputed"] .count')).to_have_text("1")
    expect(page.locator("svg.forest g.row")).to_have_count(2)  # T2T and Overall
    expect(page.locator('#annotators tr[data-annotator="voter0"]')).to_be_visible()
    screenshot(page, "curation-dashboard")

    # Unanimity: the 2-of-3 pairs become disputed.
    page.click("text=Edit gate rule")
    page.fill("input[name=min_majority_share]", "1")
    page.click("text=Save rule")
    expect(page.locator('[data-state="disputed"] .count')).to_have_text("5")

    # Adjudicate the three-way split with the keyboard; the hostile criterion and rationale stay text.
    page.click("nav.subnav >> text=Adjudication")
    page.click('#disputed tr[data-pair="split"] a')
    expect(page.locator("#votes tr")).to_have_count(4)
    expect(page.locator("#votes")).to_contain_text("<script>window.pwned = 1</script>")
    assert page.evaluate("window.pwned") is None
    # The keys come from a deferred script, which has run once the document is parsed (the #votes check
    # above can pass while the rest of the page is still arriving).
    page.wait_for_load_state("domcontentloaded")
    page.keyboard.press("3")  # third decision: tie
    expect(page.locator('#decide input[value="tie"]')).to_be_checked()
    page.fill("textarea[name=note]", "The criterion is ambiguous here.")
    screenshot(page, "curation-adjudicate")
    page.click("text=Decide and go to the next")
    expect(page.locator(".messages")).to_contain_text("split: decided tie.")
    decision = Adjudication.objects.get(pair=disputed)
    assert (decision.decision, decision.decided_by_id) == ("tie", curator.id)

    page.click("nav.subnav >> text=Releases")
    expect(page.locator("[data-admitted]")).to_contain_text("6 pairs admitted")
    page.fill("textarea[name=notes]", "Unanimous pairs only.")
    page.click("text=Publish version 1")
    expect(page.locator('[data-status="ready"]')).to_be_visible(timeout=30_000)  # built on commit (embedded)
    screenshot(page, "curation-release")
    with page.expect_download() as download:
        page.click("text=Download zip")
    path = tmp_path / "v1.zip"
    download.value.save_as(path)
    with zipfile.ZipFile(path) as zf:
        assert "manifest.json" in zf.namelist() and "README.md" in zf.namelist()
    release = Release.objects.get(project=project, version=1)
    assert release.status == ReleaseStatus.READY and release.summary["pairs"] == 6

    # Back to 2-of-3, publish v2, and compare: the four 2-of-3 pairs are added, nothing flipped.
    page.goto(f"/projects/{project.slug}/quality/gate/")
    page.fill("input[name=min_majority_share]", "0.66")
    page.click("text=Save rule")
    page.click("nav.subnav >> text=Releases")
    page.click("text=Publish version 2")
    expect(page.locator('[data-status="ready"]')).to_be_visible(timeout=30_000)
    page.click("text=Compare with v1")
    expect(page.locator('[data-change="added"] .count')).to_have_text("4")
    expect(page.locator('[data-change="flipped"] .count')).to_have_text("0")
    screenshot(page, "curation-compare")
