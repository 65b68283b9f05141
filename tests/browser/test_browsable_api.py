"""DRF's browsable API in real Chromium: the list pages that answered 500 (issue 16, item 5) render their
rows and forms under the app's CSP, and DRF's own templates and scripts cause no violation."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import screenshot, sign_in
from tests.browser.test_csp import _open, _watch
from tests.test_permission_matrix import world as _matrix_world

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
world = _matrix_world  # projects x and y, the personas, a release, a judge with a run


def test_a_curator_browses_the_api_without_a_csp_violation(page, world):
    users, kwargs = world
    slug, judge = kwargs["slug"], kwargs["judge_id"]
    violations = _watch(page)
    sign_in(page, users["curator"].username)
    pages = {
        "projects": ("/api/projects/", f'"slug": "{slug}"'),
        "judges": (f"/api/projects/{slug}/judges/", "hidden-judge-name"),
        "runs": (f"/api/projects/{slug}/judges/{judge}/runs/", '"status": "done"'),
        "releases": (f"/api/projects/{slug}/releases/", f"/api/projects/{slug}/releases/1/"),
        "comparisons": (f"/api/projects/{slug}/comparisons/", '"submitted": 1'),
        "adjudication": (f"/api/projects/{slug}/adjudication/", '"count": 0'),
    }
    for name, (url, row) in pages.items():
        _open(page, url, ready=".response-info pre")
        expect(page.locator(".response-info pre")).to_contain_text(row)
        screenshot(page, f"browsable-{name}")
        assert not violations(), (name, violations())

    # A list's POST form asks for what the POST takes (a publish: version and notes), not the rows' fields.
    _open(page, f"/api/projects/{slug}/releases/", ready="#post-object-form")
    form = page.locator("#post-object-form form")
    expect(form.locator("input[name=version]")).to_be_visible()
    expect(form.locator("textarea[name=notes], input[name=notes]")).to_have_count(1)
    expect(form.locator("[name=built_at]")).to_have_count(0)

    # DRF's scripts run (bootstrap's tabs), and its HTML form posts with the CSRF token it carries.
    _open(page, f"/api/projects/{slug}/judges/", ready="#post-object-form")
    page.click("a[name=raw-tab]")
    expect(page.locator("#post-generic-content-form textarea[name=_content]")).to_be_visible()
    page.click("a[name=html-tab]")
    form = page.locator("#post-object-form form")
    form.locator("input[name=name]").fill("judge-added-in-the-browser")
    form.locator("select[name=kind]").select_option("first")
    form.locator("button", has_text="POST").click()
    expect(page.locator(".response-info pre")).to_contain_text("HTTP 201 Created")
    expect(page.locator(".response-info pre")).to_contain_text('"name": "judge-added-in-the-browser"')
    screenshot(page, "browsable-judge-created")
    assert not violations(), violations()


def test_an_annotator_sees_a_refusal_not_the_curators_data(page, world):
    users, kwargs = world
    violations = _watch(page)
    sign_in(page, users["annotator"].username)
    _open(page, "/api/projects/", ready=".response-info pre")
    response = page.goto(f"/api/projects/{kwargs['slug']}/judges/")
    assert response is not None and response.status == 403
    expect(page.locator(".response-info pre")).to_contain_text("HTTP 403 Forbidden")
    expect(page.locator("body")).not_to_contain_text("hidden-judge-name")
    screenshot(page, "browsable-annotator-refused")
    assert not violations(), violations()
