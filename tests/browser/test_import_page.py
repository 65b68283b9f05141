"""A curator imports the fixture release in real Chromium and looks at what arrived."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from annotations.models import Pair
from tests.browser.conftest import screenshot, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_curator_uploads_a_release_and_browses_its_pairs(page, project, curator, fixture_release, release_zip):
    rows = fixture_release.task_rows
    sign_in(page, curator.username)
    page.click(f"text={project.name}")
    page.click("text=Import pairs")
    page.set_input_files("input[name=data_file]", str(release_zip))
    # Embedded mode (eager Celery): the import and its media jobs run in this request.
    page.click("text=Upload and import", timeout=180_000)

    page.wait_for_selector(f"text=new pairs from {fixture_release.total} rows", timeout=60_000)
    summary = page.locator("table.summary")
    assert summary.locator("tr", has_text="TV2T").locator("td").nth(1).inner_text() == str(rows["TV2T"])
    assert summary.locator("tr", has_text="T23D").locator("td").nth(2).inner_text() == str(rows["T23D"])
    screenshot(page, "import-summary")

    page.click("text=See the pairs")
    assert page.locator(".tile", has_text="T2V").locator(".count").inner_text() == str(rows["T2V"])
    page.select_option("select[name=task]", "T2V")
    # The unfiltered first page lists T2V pairs too: wait for htmx to swap in the filtered table.
    expect(page.locator("#pair-table tbody tr")).to_have_count(rows["T2V"])
    assert fixture_release.ids("text_to_image")[0] not in page.locator("#pair-table").inner_text()

    # One of its videos is a WebM without a duration: the player must still learn how long it lasts.
    browse = fixture_release.pairs["t2v_browse"]
    pair = Pair.objects.get(external_id=browse)
    page.click(f"text={browse}")
    page.wait_for_function("() => [...document.querySelectorAll('video')].every(v => v.readyState >= 1)")
    durations = page.eval_on_selector_all("video", "vs => vs.map(v => v.duration)")
    assert len(durations) == 2 and all(d > 0 for d in durations)
    assert pair.criterion[:30] in page.inner_text(".criterion")
    screenshot(page, "pair-t2v")


def test_bad_upload_shows_located_problems(page, project, curator, tmp_path):
    bad = tmp_path / "pairs.jsonl"
    bad.write_text(
        '{"id": "a1", "task": "T2T", "prompt": "p", "response1": "x", "response2": "y", '
        '"criteria": "c", "criteria_preference": "A"}\n'
    )
    sign_in(page, curator.username)
    page.goto(f"/projects/{project.slug}/import/")
    page.set_input_files("input[name=data_file]", str(bad))
    # Embedded mode (eager Celery): the import and its media jobs run in this request.
    page.click("text=Upload and import", timeout=180_000)
    page.wait_for_selector("text=nothing was imported")
    row = page.locator("table.problems tbody tr").first
    assert [c.inner_text() for c in row.locator("td").all()] == [
        "pairs.jsonl", "1", "criteria_preference", "label 'A' is not one of response1, response2, tie.",
    ]  # fmt: skip
    screenshot(page, "import-problems")
    assert Pair.objects.count() == 0
