"""Accessible (issue 18 item 8): axe-core finds no serious or critical violation on the annotator's workspace
for each of the nine tasks and on the curator's pages, and every workspace control works from the keyboard
with a visible focus, in real Chromium."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.urls import reverse
from playwright.sync_api import expect

from annotations.models import Judgment, Label, Pair, PairSkip, Project, Role, Task
from judges.models import Judge
from judges.services.runs import judge_run_start
from releases.services.publish import release_publish
from tests.browser.conftest import screenshot, sign_in
from tests.browser.test_csp import MEDIA_SETTLED
from tests.browser.test_csp import curated_project as _curated_project
from tests.browser.test_workspace import _open_workspace, gated_on
from tests.browser.test_workspace import nine_task_project as _nine_task_project
from tests.factories import MembershipFactory, PairFactory, ProjectFactory, UserFactory
from tests.releases.test_releases import votes

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
nine_task_project = _nine_task_project  # one pair of each task, with media made on this machine
curated_project = _curated_project  # the demo's pairs of every task, disputed votes, a comparison to write for

# axe-core's JavaScript ships inside the wheel and is injected into the page: nothing is fetched.
AXE = Axe()
BLOCKING = ("serious", "critical")


def _axe(page, where: str) -> list[str]:
    """axe's serious and critical violations on what the page shows now, one readable line per offending node."""
    found = []
    for violation in AXE.run(page).response["violations"]:
        if violation["impact"] not in BLOCKING:
            continue
        for node in violation["nodes"]:
            target = " ".join(str(t) for t in node["target"])
            why = node.get("failureSummary", "").replace("\n", " ")
            found.append(f"{where}: {violation['id']} ({violation['impact']}) at {target}: {why}")
    return found


def _report(found: list[str]) -> str:
    return f"{len(found)} serious or critical axe violation(s):\n" + "\n".join(found)


def test_the_workspace_of_every_task_has_no_serious_axe_violation(page, live_server, nine_task_project: Project):
    fetched: list[str] = []
    page.on("request", lambda request: fetched.append(request.url))
    _open_workspace(page, nine_task_project, "axel")
    found: list[str] = []
    seen = []
    for step in range(9):
        pair = Pair.objects.get(pk=int(page.get_attribute("#workspace[data-pair]", "data-pair")))
        seen.append(pair.task)
        page.wait_for_function(MEDIA_SETTLED, timeout=30_000)
        found += _axe(page, f"workspace {pair.task}")
        if step == 0:  # the dialogs, once: they are the same for every task
            page.keyboard.press("?")
            expect(page.locator("dialog.keys-dialog")).to_be_visible()
            found += _axe(page, "workspace keys dialog")
            page.keyboard.press("Escape")
            page.keyboard.press("s")
            expect(page.locator("dialog.skip-dialog")).to_be_visible()
            found += _axe(page, "workspace skip dialog")
            page.keyboard.press("Escape")
            expect(page.locator("dialog.skip-dialog")).to_be_hidden()
        page.keyboard.press("3")
        if step < 8:
            expect(page.locator("#workspace")).not_to_have_attribute("data-pair", str(pair.pk))
    expect(page.get_by_text("Your queue is empty")).to_be_visible()
    found += _axe(page, "workspace, queue empty")
    assert sorted(seen) == sorted(Task.values)
    assert not found, _report(found)
    # The check does see a violation when there is one: a text box without a name.
    page.evaluate("() => document.querySelector('main').append(document.createElement('input'))")
    assert any(" label (critical)" in line for line in _axe(page, "probe")), _axe(page, "probe")
    elsewhere = [url for url in fetched if not url.startswith((live_server.url, "data:", "blob:"))]
    assert not elsewhere, elsewhere  # axe came from the wheel, not from a CDN


@pytest.fixture
def published_project(curated_project: Project, tmp_path: Path) -> Project:
    """curated_project with what the curator's other pages show: admitted pairs in a release, a judge that ran."""
    project = curated_project
    voters = [m.user for m in project.memberships.filter(role=Role.ANNOTATOR).select_related("user")]
    for task in Task.values:
        pair = Pair.objects.filter(project=project, task=task, judgments=None).order_by("external_id").first()
        votes(pair, voters, [Label.RESPONSE1] * 3)
    release_publish(project=project, user=None, notes="First cut.", bootstrap=100)
    judge = Judge.objects.create(project=project, name="prefers-longer", kind="longer")
    judge_run_start(judge=judge, user=None, tasks=[Task.T2T], with_tie=True)
    return project


def test_the_curator_pages_have_no_serious_axe_violation(page, published_project: Project, tmp_path: Path):
    project = published_project
    slug = project.slug
    curator = UserFactory(username="cura", is_staff=True)
    MembershipFactory(project=project, role=Role.CURATOR, user=curator)
    disputed = Judgment.objects.filter(pair__project=project, pair__task=Task.T2I).first().pair
    judge = Judge.objects.get(project=project)
    comparison = Pair.objects.filter(project=project, kind="comparison").first()
    found: list[str] = []

    page.goto(reverse("login"))
    found += _axe(page, "sign-in")
    sign_in(page, curator.username)

    pages = [
        ("projects", reverse("annotations:project_list")),
        ("new project", reverse("annotations:project_new")),
        ("pairs", reverse("annotations:project_detail", args=[slug])),
        ("members", reverse("annotations:project_members", args=[slug])),
        ("settings", reverse("annotations:project_settings", args=[slug])),
        ("media", reverse("annotations:media_status", args=[slug])),
        ("import", reverse("annotations:import_start", args=[slug])),
        ("criteria", reverse("criteria:review", args=[slug])),
        ("new comparison", reverse("criteria:comparison_new", args=[slug])),
        ("write", reverse("criteria:write_comparison", args=[slug, comparison.pk])),
        ("agreement", reverse("releases:dashboard", args=[slug])),
        ("gate rule", reverse("releases:gate_edit", args=[slug])),
        ("label audit", reverse("releases:label_audit", args=[slug])),
        ("adjudication", reverse("releases:adjudication_queue", args=[slug])),
        ("adjudicate", reverse("releases:adjudicate", args=[slug, disputed.pk])),
        ("releases", reverse("releases:release_list", args=[slug])),
        ("release 1", reverse("releases:release_detail", args=[slug, 1])),
        ("judges", reverse("judges:judge_list", args=[slug])),
        ("judge", reverse("judges:judge_detail", args=[slug, judge.pk])),
        ("leaderboard", reverse("judges:leaderboard", args=[slug])),
        ("hard pairs", reverse("judges:hard_pairs", args=[slug])),
        ("not found", f"/projects/{slug}/pairs/999999/"),
    ]
    # A pair's page for every task: its media is shown with the browser's own players.
    pages += [
        (f"pair {task}", reverse("annotations:pair_detail", args=[slug, pair.pk]))
        for task in Task.values
        for pair in [Pair.objects.filter(project=project, task=task).order_by("external_id").first()]
    ]
    for name, url in pages:
        page.goto(url)
        page.wait_for_load_state("networkidle")
        screenshot(page, "a11y-" + re.sub(r"\W+", "-", name))
        found += _axe(page, name)

    # An import's page, after a failed and a successful upload.
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "b1", "task": "T2T", "prompt": "p", "response1": "x", "response2": "y", "criteria": "c",'
                   ' "criteria_preference": "A"}\n')  # fmt: skip
    good = tmp_path / "good.jsonl"
    good.write_text('{"id": "g1", "task": "T2T", "prompt": "p", "response1": "x", "response2": "y", "criteria": "c"}\n')
    for name, upload, shown in [("import problems", bad, "table.problems"), ("import summary", good, "table.summary")]:
        page.goto(reverse("annotations:import_start", args=[slug]))
        page.set_input_files("input[name=data_file]", str(upload))
        page.click("text=Upload and import")
        expect(page.locator(shown)).to_be_visible(timeout=60_000)
        screenshot(page, "a11y-" + re.sub(r"\W+", "-", name))
        found += _axe(page, name)
    assert not found, _report(found)


FOCUS_STATE = """
() => {
  const el = document.activeElement;
  if (!el || el === document.body) return null;
  el.dataset.a11yTabbed = '1';
  const style = getComputedStyle(el);  // a player's controls are in its shadow DOM: the focus is on the player
  const outline = style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) > 0;
  const ring = style.boxShadow !== 'none';
  // Not hidden, even in part, behind something else such as the workspace's sticky vote bar.
  const r = el.getBoundingClientRect();  // the part inside the window: a tall text box may not fit
  const box = {left: Math.max(r.left, 0), top: Math.max(r.top, 0), right: Math.min(r.right, innerWidth),
               bottom: Math.min(r.bottom, innerHeight)};
  box.width = box.right - box.left;
  box.height = box.bottom - box.top;
  const dx = Math.min(8, box.width / 4), dy = Math.min(8, box.height / 4);  // inside rounded corners
  const corners = [[box.left + dx, box.top + dy], [box.right - dx, box.top + dy], [box.left + dx, box.bottom - dy],
    [box.right - dx, box.bottom - dy]];
  const uncovered = box.width > 0 && box.height > 0 && corners.every(([x, y]) => {
    const hit = document.elementFromPoint(x, y);
    return !!hit && (hit === el || el.contains(hit));
  });
  const name = (el.getAttribute('aria-label') || el.innerText || el.name || el.value || '')
    .trim().replace(/\\s+/g, ' ');
  return {tag: el.tagName.toLowerCase(), name: name.slice(0, 40), visible: (outline || ring) && uncovered,
          outline: style.outlineStyle + ' ' + style.outlineWidth, shadow: style.boxShadow};
}
"""
# Every control of the workspace a person could use: its own, the viewers' toolbar and the full-size images.
CONTROLS_NOT_TABBED = """
() => [...document.querySelectorAll(
    '#workspace button, #workspace textarea, #workspace select, #workspace input:not([type=hidden]), ' +
    '#workspace [role=button], #workspace a[href]')]
  .filter((el) => !el.disabled && !el.closest('dialog') && el.getClientRects().length && !el.dataset.a11yTabbed)
  .map((el) => el.outerHTML.slice(0, 120))
"""


def _tab_through(page, limit: int = 80) -> list[dict]:
    """Every control Tab reaches from the top of the page, in order, until focus leaves the page or comes round."""
    page.evaluate("() => document.activeElement && document.activeElement.blur()")
    stops: list[dict] = []
    for _ in range(limit):
        page.keyboard.press("Tab")
        state = page.evaluate(FOCUS_STATE)
        if state is None or (stops and state == stops[0]):
            break
        stops.append(state)
    return stops


def test_every_workspace_control_of_every_task_is_reached_by_tab_with_a_visible_focus(page, nine_task_project):
    _open_workspace(page, nine_task_project, "tab")
    for step in range(9):
        pair = Pair.objects.get(pk=int(page.get_attribute("#workspace[data-pair]", "data-pair")))
        page.wait_for_function(MEDIA_SETTLED, timeout=30_000)
        stops = _tab_through(page)
        hidden_focus = [s for s in stops if not s["visible"]]
        assert not hidden_focus, (pair.task, "focus not visible on", hidden_focus)
        names = [s["name"] for s in stops]
        for control in ["Keys ?", "1 A is better", "2 B is better", "3 Tie", "S Skip…", "X Flag broken media…"]:
            assert control in names, (pair.task, control, names)
        assert "textarea" in [s["tag"] for s in stops], (pair.task, names)  # the rationale
        assert page.evaluate(CONTROLS_NOT_TABBED) == [], pair.task
        # Tab to a vote button and press it.
        page.locator(".vote-btn").last.focus()
        screenshot(page, f"a11y-focus-{pair.task}", full_page=False)
        page.keyboard.press("Enter")
        if step < 8:
            expect(page.locator("#workspace")).not_to_have_attribute("data-pair", str(pair.pk))
    expect(page.get_by_text("Your queue is empty")).to_be_visible()
    assert Judgment.objects.filter(label=Label.TIE).count() == 9


def test_rationale_undo_skip_and_help_work_from_focused_controls(page):
    project = ProjectFactory(slug="keys", name="Keys", votes_per_pair=1, gold_share=0)
    PairFactory.create_batch(2, project=project)
    _open_workspace(page, project, "kay")

    # The keys' help opens with Enter on its button and closes with Escape, focus back on the button.
    page.get_by_role("button", name="Keys").focus()
    page.keyboard.press("Enter")
    expect(page.locator("dialog.keys-dialog")).to_be_visible()
    expect(page.locator("dialog.keys-dialog button")).to_be_focused()
    page.keyboard.press("Escape")
    expect(page.locator("dialog.keys-dialog")).to_be_hidden()
    expect(page.get_by_role("button", name="Keys")).to_be_focused()

    # A rationale, then Shift+Tab back to Tie and Enter.
    first = page.get_attribute("#workspace", "data-pair")
    page.locator("form.vote textarea").focus()
    page.keyboard.type("sharper picture")
    page.keyboard.press("Shift+Tab")
    expect(page.locator(".vote-btn", has_text="Tie")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#workspace")).not_to_have_attribute("data-pair", first)
    assert Judgment.objects.get().rationale == "sharper picture"

    # Undo with Space on its button.
    page.locator("button[data-action=undo]").focus()
    page.keyboard.press(" ")
    expect(page.get_by_text("Vote withdrawn")).to_be_visible()
    expect(page.locator("#workspace")).to_have_attribute("data-pair", first)

    # Skip: Enter on the button opens the dialog on the first reason; every stop in it shows its focus.
    page.locator("button[data-action=skip]").focus()
    page.keyboard.press("Enter")
    expect(page.locator("dialog.skip-dialog")).to_be_visible()
    expect(page.locator("dialog.skip-dialog input[name=reason]").first).to_be_focused()
    stops = [page.evaluate(FOCUS_STATE)]
    while len(stops) < 10:
        page.keyboard.press("Tab")
        state = page.evaluate(FOCUS_STATE)
        if state is None or state == stops[0]:  # past the last control focus leaves for the browser's own UI
            break
        stops.append(state)
    assert [s["name"] for s in stops][-2:] == ["Skip pair Enter", "Cancel Esc"], stops
    assert all(s["visible"] for s in stops), stops
    page.locator("dialog.skip-dialog button[type=submit]").focus()
    screenshot(page, "a11y-skip-dialog-focus", full_page=False)
    page.keyboard.press("Enter")
    expect(page.get_by_text("Skipped. The curators will see it.")).to_be_visible()
    assert PairSkip.objects.get().pair_id == int(first)


def test_a_keyboard_user_unlocks_a_3d_pair_gated_on_orbiting(page, nine_task_project):
    _open_workspace(page, gated_on(nine_task_project, Task.T23D, 0.5), "orbit")
    page.wait_for_function(MEDIA_SETTLED, timeout=30_000)
    expect(page.locator(".vote-btn:disabled")).to_have_count(3)
    pictures = "() => [...document.querySelectorAll('.viewer-3d canvas')].map((c) => c.toDataURL())"
    before = page.evaluate(pictures)
    for _ in range(6):  # 15 degrees a press: 90 degrees is a full orbit for the gate
        page.keyboard.press(".")
    expect(page.locator(".vote-btn:disabled")).to_have_count(0)
    after = page.evaluate(pictures)
    assert all(a != b for a, b in zip(before, after, strict=True)), "both views turn"  # linked cameras
    page.get_by_role("button", name="Orbit ▶").focus()
    page.keyboard.press("Enter")  # the toolbar button turns it too
    screenshot(page, "a11y-3d-orbited", full_page=False)
    page.keyboard.press("1")
    expect(page.get_by_text("Your queue is empty")).to_be_visible()
    assert Judgment.objects.get().view_coverage == {"A": 1, "B": 1}


def test_focus_is_visible_on_the_curator_pages_controls(page, project, curator):
    PairFactory.create_batch(2, project=project)
    sign_in(page, curator.username)
    for url in [
        reverse("annotations:project_list"),
        reverse("annotations:project_detail", args=[project.slug]),
        reverse("annotations:project_members", args=[project.slug]),
        reverse("annotations:import_start", args=[project.slug]),
        reverse("annotations:project_settings", args=[project.slug]),
        reverse("releases:dashboard", args=[project.slug]),
    ]:
        page.goto(url)
        stops = _tab_through(page)
        assert stops, url
        hidden_focus = [s for s in stops if not s["visible"]]
        assert not hidden_focus, (url, hidden_focus)
