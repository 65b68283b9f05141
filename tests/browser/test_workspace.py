"""An annotator labels one pair of every task in real Chromium, using only the keyboard."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from annotations.demo.plan import DemoWriter
from annotations.models import Judgment, Label, Pair, PairSkip, Project, Role, Task
from annotations.services.pair_import import pair_import
from tests.browser.conftest import screenshot, sign_in
from tests.factories import MembershipFactory, PairFactory, ProjectFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# What each key means, and the keys the test uses in turn: every key gets pressed at least once.
KEY_CHOICE = {"1": "A", "2": "B", "3": "tie", "ArrowLeft": "A", "ArrowRight": "B", "ArrowDown": "tie"}
KEY_ORDER = ["1", "2", "3", "ArrowLeft", "ArrowRight", "ArrowDown", "2", "1", "3"]

MEDIA_LOADED = """
(root) => {
  const items = [...root.querySelectorAll('.viewer-media')];
  const checks = items.map((el) => {
    if (el.dataset.error) return 'error: ' + el.dataset.error;
    if (el.dataset.ready !== '1') return 'not ready';
    if (el.tagName === 'IMG') return el.complete && el.naturalWidth > 0 ? 'ok' : 'image not decoded';
    if (el.tagName === 'VIDEO') return el.readyState >= 2 && el.videoWidth > 0 ? 'ok' : 'video not ready';
    if (el.classList.contains('viewer-audio')) return parseFloat(el.dataset.duration) > 0 ? 'ok' : 'audio not decoded';
    if (el.classList.contains('viewer-3d')) {
      const canvas = el.querySelector('canvas');
      if (!canvas) return 'no canvas';
      const probe = document.createElement('canvas');
      probe.width = 64; probe.height = 64;
      const ctx = probe.getContext('2d');
      ctx.drawImage(canvas, 0, 0, 64, 64);
      const px = ctx.getImageData(0, 0, 64, 64).data;
      const colours = new Set();
      for (let i = 0; i < px.length; i += 4) colours.add(px[i] + ',' + px[i + 1] + ',' + px[i + 2]);
      return colours.size > 4 && parseInt(el.dataset.triangles, 10) > 0 ? 'ok' : 'blank canvas';
    }
    return 'unknown viewer';
  });
  return checks;
}
"""


@pytest.fixture
def nine_task_project(tmp_path: Path) -> Project:
    """One pair per task, with media generated on this machine (mp4, wav/mp3/flac/ogg, png/jpg, glb/obj)."""
    project = ProjectFactory(slug="nine", name="Nine tasks", votes_per_pair=1, gold_share=0)
    data = DemoWriter(tmp_path, comparisons=1).build()
    pair_import(project=project, data_path=data, data_label="demo.jsonl")
    keep = [Pair.objects.filter(project=project, task=task).order_by("external_id").first().pk for task in Task.values]
    Pair.objects.filter(project=project).exclude(pk__in=keep).delete()
    assert Pair.objects.filter(project=project).count() == 9
    return project


def _open_workspace(page, project: Project, username: str):
    """A new annotator of `project`, signed in and looking at their workspace."""
    person = MembershipFactory(project=project, role=Role.ANNOTATOR, user=UserFactory(username=username)).user
    sign_in(page, person.username)
    page.goto(reverse("annotations:annotate", args=[project.slug]))
    return person


def gated_on(project: Project, task: str, share: float) -> Project:
    """`project` with only its `task` pair left, whose vote waits until `share` of each response was viewed."""
    Pair.objects.filter(project=project).exclude(task=task).delete()
    project.must_view_share = share
    project.save()
    return project


def _side_a_is_response1(page, pair: Pair) -> bool:
    """Decide from what the page shows on the left which response the annotator saw as A."""
    side_a = page.locator('.side[data-side="A"] .viewer-slot')
    if pair.response1_media_id is None:
        return side_a.inner_text().strip()[:40] in _plain(pair.response1_text)
    html = side_a.inner_html()
    urls = {n: reverse("media_pipeline:asset_file", args=[getattr(pair, f"response{n}_media_id")]) for n in (1, 2)}
    assert (urls[1] in html) != (urls[2] in html), html
    return urls[1] in html


def _plain(markdown: str) -> str:
    return re.sub(r"[*_`#]", "", markdown)


def _expected(choice: str, a_is_1: bool) -> str:
    if choice == "tie":
        return Label.TIE
    return Label.RESPONSE1 if (choice == "A") == a_is_1 else Label.RESPONSE2


def test_annotator_labels_all_nine_tasks_by_keyboard(page, nine_task_project):
    project = nine_task_project
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    person = _open_workspace(page, project, "kim")

    expected: dict[int, str] = {}
    seen_tasks: list[str] = []
    for step in range(9):
        workspace = page.locator("#workspace[data-pair]")
        pair_id = int(workspace.get_attribute("data-pair"))
        pair = Pair.objects.get(pk=pair_id)
        seen_tasks.append(pair.task)
        assert pair.criterion in page.inner_text("#criterion")
        page.wait_for_function(
            "() => [...document.querySelectorAll('#workspace .viewer-media')]"
            ".every(el => el.dataset.ready === '1' || el.dataset.error)",
            timeout=30_000,
        )
        checks = page.eval_on_selector("#workspace", MEDIA_LOADED)
        media_count = sum(1 for c in ("input_media_id", "response1_media_id", "response2_media_id") if getattr(pair, c))
        assert checks == ["ok"] * media_count, (pair.task, checks)
        screenshot(page, f"workspace-{step + 1}-{pair.task}")

        key = KEY_ORDER[step]
        expected[pair_id] = _expected(KEY_CHOICE[key], _side_a_is_response1(page, pair))
        page.keyboard.press(key)
        if step < 8:
            page.wait_for_function(f"() => document.querySelector('#workspace').dataset.pair !== '{pair_id}'")
            assert page.locator('[data-progress="done"]').inner_text() == str(step + 1)

    page.wait_for_selector("text=Your queue is empty")
    screenshot(page, "workspace-queue-empty")
    assert sorted(seen_tasks) == sorted(Task.values)
    stored = dict(Judgment.objects.filter(annotator=person).values_list("pair_id", "label"))
    assert stored == expected
    assert all(ms > 0 for ms in Judgment.objects.values_list("time_spent_ms", flat=True))
    assert not errors, errors


@pytest.mark.parametrize(("width", "height"), [(1366, 768), (1440, 900)])
def test_the_vote_bar_is_on_screen_without_scrolling_for_every_task(
    browser, live_server, nine_task_project, width, height
):
    context = browser.new_context(base_url=live_server.url, viewport={"width": width, "height": height})
    page = context.new_page()
    try:
        _open_workspace(page, nine_task_project, f"screen-{width}")
        for _ in range(9):
            pair = Pair.objects.get(pk=int(page.get_attribute("#workspace[data-pair]", "data-pair")))
            page.wait_for_function(
                "() => [...document.querySelectorAll('#workspace .viewer-media')]"
                ".every(el => el.dataset.ready === '1' || el.dataset.error)",
                timeout=30_000,
            )
            assert page.evaluate("window.scrollY") == 0
            bar = page.locator(".vote-buttons").bounding_box()
            assert bar is not None and bar["y"] >= 0 and bar["y"] + bar["height"] <= height, (pair.task, bar)
            # On screen in the keys' order.
            assert page.locator(".vote-btn").all_inner_texts() == ["1 A is better", "2 B is better", "3 Tie"]
            screenshot(page, f"vote-bar-{width}x{height}-{pair.task}", full_page=False)
            page.keyboard.press("1")
            expect(page.locator("#workspace")).not_to_have_attribute("data-pair", str(pair.pk))
    finally:
        context.close()


def test_undo_skip_and_rationale_from_the_keyboard(page):
    project = ProjectFactory(slug="keys", name="Keys", votes_per_pair=1, gold_share=0)
    PairFactory.create_batch(3, project=project)
    _open_workspace(page, project, "lee")

    first = page.get_attribute("#workspace", "data-pair")
    page.keyboard.press("r")
    page.keyboard.type("clearer answer")
    page.keyboard.press("Escape")
    page.keyboard.press("3")
    page.wait_for_function(f"() => document.querySelector('#workspace').dataset.pair !== '{first}'")
    assert Judgment.objects.get().rationale == "clearer answer"

    page.keyboard.press("u")
    page.wait_for_selector("text=Vote withdrawn (you had chosen Tie)")
    assert page.get_attribute("#workspace", "data-pair") == first
    assert not Judgment.objects.filter(retracted_at__isnull=True).exists()

    page.keyboard.press("s")
    page.wait_for_selector("dialog.skip-dialog[open]")
    page.keyboard.press("ArrowDown")  # the next reason in the list
    page.keyboard.press("Enter")
    page.wait_for_selector("text=Skipped. The curators will see it.")
    assert page.get_attribute("#workspace", "data-pair") != first
    screenshot(page, "workspace-after-skip")
    skip = PairSkip.objects.get()
    assert (skip.pair_id, skip.reason) == (int(first), "expertise")


def test_a_vote_whose_answer_was_lost_is_stored_once_when_retried(page):
    project = ProjectFactory(slug="flaky", name="Flaky", votes_per_pair=1, gold_share=0)
    PairFactory.create_batch(2, project=project)
    _open_workspace(page, project, "ray")
    first = page.get_attribute("#workspace", "data-pair")

    lost = []

    def drop_the_answer(route):
        if not lost:
            route.fetch()  # the server stores the vote...
            lost.append(True)
            route.abort("connectionreset")  # ...but the browser never hears back
        else:
            route.continue_()

    page.route("**/annotate/vote/", drop_the_answer)
    page.keyboard.press("2")
    page.wait_for_selector("text=Could not reach the server")
    assert page.get_attribute("#workspace", "data-pair") == first
    assert Judgment.objects.count() == 1
    page.keyboard.press("2")  # the annotator tries again
    page.wait_for_function(f"() => document.querySelector('#workspace').dataset.pair !== '{first}'")
    assert Judgment.objects.count() == 1
    assert page.locator('[data-progress="done"]').inner_text() == "1"


def test_a_vote_from_a_second_tab_on_a_judged_pair_is_answered_not_dropped(page):
    project = ProjectFactory(slug="tabs", name="Tabs", votes_per_pair=1, gold_share=0)
    PairFactory.create_batch(2, project=project)
    _open_workspace(page, project, "tess")
    other_tab = page.context.new_page()  # same browser, same sign-in
    other_tab.goto(reverse("annotations:annotate", args=[project.slug]))
    pair = page.get_attribute("#workspace", "data-pair")
    assert other_tab.get_attribute("#workspace", "data-pair") == pair  # both tabs show the pair held

    page.keyboard.press("1")
    expect(page.locator("#workspace")).not_to_have_attribute("data-pair", pair)
    other_tab.keyboard.press("2")
    expect(other_tab.get_by_role("alert")).to_contain_text(
        "You had already voted on this pair in another tab or window: that vote, A, was kept"
    )
    expect(other_tab.locator("#workspace")).not_to_have_attribute("data-pair", pair)  # the pair now due
    screenshot(other_tab, "workspace-second-tab-vote-refused")
    stored = Judgment.objects.get()
    assert str(stored.pair_id) == pair and Judgment.objects.count() == 1


def test_must_view_gating_unlocks_votes_only_after_both_clips_played(page, nine_task_project):
    project = gated_on(nine_task_project, Task.T2A, 0.6)
    _open_workspace(page, project, "gus")
    page.wait_for_function(
        "() => [...document.querySelectorAll('#workspace .viewer-audio')].every(el => el.dataset.ready === '1')"
    )
    assert page.locator(".vote-btn:disabled").count() == 3
    page.keyboard.press("1")
    page.wait_for_timeout(300)
    assert not Judgment.objects.exists()

    page.keyboard.press("a")  # play A to the end, then B
    page.wait_for_function(
        "() => { const m = (document.querySelector('[data-gate]').dataset.progress || '').match(/^A (\\d+)%/);"
        " return m && Number(m[1]) >= 60; }",
        timeout=15_000,
    )
    assert page.locator(".vote-btn:disabled").count() == 3  # B not played yet
    page.keyboard.press("b")
    page.wait_for_selector(".vote-btn:not(:disabled)", timeout=15_000)
    screenshot(page, "workspace-gated-unlocked")
    page.keyboard.press("1")
    page.wait_for_selector("text=Your queue is empty")
    coverage = Judgment.objects.get().view_coverage
    assert coverage["A"] >= 0.6 and coverage["B"] >= 0.6
