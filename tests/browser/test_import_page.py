"""A curator imports the fixture release in real Chromium and looks at what arrived."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from annotations.models import Pair
from tests.browser.conftest import screenshot, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_curator_uploads_a_release_and_browses_its_pairs(page, project, curator, release_zip):
    sign_in(page, curator.username)
    page.click(f"text={project.name}")
    page.click("text=Import pairs")
    page.set_input_files("input[name=data_file]", str(release_zip))
    # Embedded mode (eager Celery): the import and its media jobs run in this request.
    page.click("text=Upload and import", timeout=180_000)

    page.wait_for_selector("text=new pairs from 51 rows", timeout=60_000)
    summary = page.locator("table.summary")
    assert summary.locator("tr", has_text="TV2T").locator("td").nth(1).inner_text() == "5"
    assert summary.locator("tr", has_text="T23D").locator("td").nth(2).inner_text() == "6"
    screenshot(page, "import-summary")

    page.click("text=See the pairs")
    assert page.locator(".tile", has_text="T2V").locator(".count").inner_text() == "6"
    page.select_option("select[name=task]", "T2V")
    # The unfiltered first page lists t2v_0004 too: wait for htmx to swap in the filtered table.
    expect(page.locator("#pair-table tbody tr")).to_have_count(6)
    assert "t2i_0001" not in page.locator("#pair-table").inner_text()

    pair = Pair.objects.get(external_id="t2v_0004")
    page.click("text=t2v_0004")
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
