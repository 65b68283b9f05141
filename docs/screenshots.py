"""Take the README's screenshots from a running demo (`make demo`), with Playwright driving Chromium.

    OMNI_ADDR=127.0.0.1:8790 OMNI_DATA_DIR=/tmp/docs-demo ./scripts/demo.sh &   # a demo of its own
    .venv/bin/python docs/screenshots.py --url http://127.0.0.1:8790

It changes the demo it points at, so point it at a throwaway one: annotator3 skips pairs until the
workspace shows images, and the curator adds three offline baseline judges and runs them (once; a
second run finds them there) so the leaderboard has rows.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from playwright.sync_api import Page, expect, sync_playwright

DOCS = Path(__file__).resolve().parent
PASSWORD = "omni-demo-pass"  # noqa: S105 -- the demo's published password (annotations/services/demo.py)
SLUG = "omni-demo"
BASELINES = [("Prefer longer", "longer"), ("Always first", "first"), ("Random", "random")]
WAIT_MS = 300_000  # media processing and judge runs of the demo take a minute or two


def sign_in(page: Page, username: str) -> None:
    page.context.clear_cookies()
    page.goto("/accounts/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/projects/")


def media_ready(page: Page) -> None:
    """The annotator's queue holds only pairs whose media is ready: wait until none is waiting."""
    page.goto(f"/projects/{SLUG}/media/")
    expect(page.locator("[data-waiting]")).to_contain_text("0 pairs waiting for media", timeout=WAIT_MS)


def annotator_workspace(page: Page, out: Path) -> None:
    sign_in(page, "annotator3")
    page.goto(f"/projects/{SLUG}/annotate/")
    for _ in range(200):
        if page.locator(".sides[data-viewer=image]").count():
            break
        expect(page.locator("#workspace[data-ws-ready]")).to_be_attached()
        shown = page.locator("#workspace").get_attribute("data-pair")
        page.click("button[data-action=skip]")  # with the first reason, "I cannot judge this criterion"
        page.click(".skip-dialog button[type=submit]")
        expect(page.locator("#workspace")).not_to_have_attribute("data-pair", shown or "")
        if not page.locator(".sides").count():
            break
    if not page.locator(".sides[data-viewer=image]").count():
        raise SystemExit("annotator3's queue has no image pair left; run against a fresh demo")
    page.reload()  # the pair stays reserved for annotator3; the reload drops the "Skipped" notice
    for img in page.locator(".sides img").all():
        expect(img).to_have_js_property("complete", True)
    page.screenshot(path=str(out / "annotator-workspace.png"))


def curator_agreement(page: Page, out: Path) -> None:
    sign_in(page, "curator")
    page.goto(f"/projects/{SLUG}/quality/")
    expect(page.locator("svg").first).to_be_visible()
    page.screenshot(path=str(out / "curator-agreement.png"))


def researcher_leaderboard(page: Page, out: Path) -> None:
    sign_in(page, "curator")
    for name, kind in BASELINES:
        page.goto(f"/projects/{SLUG}/judges/")
        if page.locator(f'tr[data-judge="{name}"]').count():
            continue
        page.fill("#new-judge input[name=name]", name)
        page.select_option("#new-judge select[name=kind]", kind)
        page.click("#new-judge button[type=submit]")
        page.wait_for_url("**/judges/*/")
        for with_tie in (False, True):  # one run per leaderboard table
            for box in page.locator("#start-run input[name=tasks]").all():
                box.check()
            page.locator("#start-run input[name=with_tie]").set_checked(with_tie)
            page.click("#start-run button[type=submit]")
            page.wait_for_load_state()
            expect(page.locator("#runs [data-job-state]:not([data-job-state=done])")).to_have_count(0, timeout=WAIT_MS)
    page.goto(f"/projects/{SLUG}/leaderboard/")
    expect(page.locator("#without-tie")).to_contain_text("Prefer longer")
    page.locator("#truth").evaluate("p => p.scrollIntoView()")  # what it is scored against, then the w/ Tie table
    page.screenshot(path=str(out / "researcher-leaderboard.png"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="http://127.0.0.1:8000", help="Where the demo is served.")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--out", type=Path, default=DOCS)
    args = parser.parse_args()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=args.chromium, args=["--no-sandbox"])
        context = browser.new_context(base_url=args.url, viewport={"width": 1280, "height": 800})
        page = context.new_page()
        sign_in(page, "curator")
        media_ready(page)
        annotator_workspace(page, args.out)
        curator_agreement(page, args.out)
        researcher_leaderboard(page, args.out)
        browser.close()


if __name__ == "__main__":
    main()
