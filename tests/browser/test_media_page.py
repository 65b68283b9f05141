"""A curator watches the media pipeline and retries a failed file, in real Chromium."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from media_pipeline import pipeline
from media_pipeline.models import MediaAsset
from tests.browser.conftest import screenshot, sign_in
from tests.media_pipeline.test_pipeline import _asset, _media_pair

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_curator_sees_a_failure_with_its_message_and_retries_it(page, project, curator, tmp_path):
    good, bad = _asset(tmp_path / "good"), _asset(tmp_path / "bad", broken=True)
    _media_pair(project, good, bad)
    pipeline.run(good.id)
    pipeline.run(bad.id)
    sign_in(page, curator.username)
    page.goto(f"/projects/{project.slug}/")
    page.click("text=pipeline")
    expect(page.locator('[data-status="ready"] .count')).to_have_text("1")
    expect(page.locator('[data-status="failed"] .count')).to_have_text("1")
    row = page.locator(f'#failures tr[data-asset="{bad.id}"]')
    expect(row.locator(".error")).to_contain_text("ffprobe cannot read the file: original.wav: Invalid data")
    expect(page.locator("[data-waiting]")).to_contain_text("1 pair waiting for media")
    screenshot(page, "media-pipeline")
    row.locator("text=Retry").click()
    expect(page.locator(".messages")).to_contain_text("1 file queued again.")
    bad.refresh_from_db()
    # Embedded mode: the retry reset the attempt count, the job ran again as the retry committed, and failed again.
    assert (bad.status, bad.attempts) == ("failed", 1)
    expect(row.locator(".error")).to_contain_text("ffprobe cannot read the file")
    assert MediaAsset.objects.get(pk=good.pk).status == "ready"
