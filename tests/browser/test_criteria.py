"""A writer writes two opposite criteria for one comparison, a curator accepts them, two labellers label
both pairs, and the curator sees the criterion flip counted, in real Chromium."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from annotations.models import Pair
from criteria.models import Criterion, CriterionStatus
from tests.browser.conftest import screenshot, sign_in
from tests.criteria.test_writing import _comparisons, _member

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

HAIKU = "Prefer the response that is a real haiku with seasonal imagery."
PLAIN = "Prefer the response that plainly explains what autumn is."


def _add(page, text: str, side: str) -> None:
    page.keyboard.press("Alt+n")  # "Add a criterion"; the new empty draft takes the focus
    draft = page.locator("form.draft").last
    expect(draft.locator("textarea")).to_be_focused()
    page.keyboard.type(text)
    draft.locator(f'input[name=expected][value="{side}"]').check()
    expect(draft.locator(".draft-status")).to_contain_text("Saved")  # the newest edit, text and side
    assert Criterion.objects.filter(text=text).exclude(expected="").exists()


def _side_of(page, words: str) -> str:
    """A or B: the side whose response contains these words, as this person sees it."""
    return "A" if words in page.locator('article.side[data-side="A"]').inner_text() else "B"


def test_two_opposite_criteria_are_written_labelled_and_counted_as_a_flip(
    browser, live_server, project, curator, tmp_path
):
    project.votes_per_pair = 2
    project.criteria_per_comparison = 2
    project.writing_guidance = "Write criteria a careful reader of poems would care about."
    project.save()
    (comparison,) = _comparisons(tmp_path, project)
    writer = _member(project, "wren")
    labellers = [_member(project, f"lab{i}") for i in range(2)]

    def as_user(username: str):
        context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
        page = context.new_page()
        sign_in(page, username)
        return context, page

    # The writer: guidance, the comparison side by side, two drafts that survive a reload, submit.
    context, page = as_user(writer.username)
    page.goto(f"/projects/{project.slug}/write/")
    expect(page.locator(".guidance")).to_contain_text("careful reader of poems")
    expect(page.locator("article.side")).to_have_count(2)
    poem, plain = _side_of(page, "Leaves fall"), _side_of(page, "season that comes after")
    assert {poem, plain} == {"A", "B"}
    _add(page, HAIKU, poem)
    _add(page, PLAIN, plain)
    page.reload()
    expect(page.locator("form.draft textarea")).to_have_count(2)
    expect(page.locator("form.draft textarea").first).to_have_value(HAIKU)
    expect(page.locator(f'form.draft >> nth=1 >> input[value="{plain}"]')).to_be_checked()
    screenshot(page, "criteria-write")
    # An edit submitted at once (before the autosave's pause) is saved first, then submitted.
    page.locator("form.draft textarea").first.focus()
    page.keyboard.press("End")
    page.keyboard.type(" Vivid.")
    page.keyboard.press("Control+Enter")
    expect(page.locator(".messages")).to_contain_text("Submitted 2 criteria for review.")
    assert Criterion.objects.filter(writer=writer, status=CriterionStatus.SUBMITTED).count() == 2
    assert Criterion.objects.filter(text=f"{HAIKU} Vivid.").exists()
    context.close()

    # The curator accepts both; the review page warns about nothing here.
    context, page = as_user(curator.username)
    page.goto(f"/projects/{project.slug}/criteria/")
    expect(page.locator("form.review-row")).to_have_count(2)
    screenshot(page, "criteria-review")
    for _ in range(2):
        page.locator("form.review-row").first.locator("button[value=accept]").click()
        expect(page.locator(".messages")).to_contain_text("accepted")
    assert Pair.objects.filter(comparison=comparison).count() == 2
    assert set(Pair.objects.filter(comparison=comparison).values_list("criterion", flat=True)) == {
        f"{HAIKU} Vivid.",
        PLAIN,
    }
    context.close()

    # Two labellers label both pairs, each by its criterion, from the keyboard.
    for labeller in labellers:
        context, page = as_user(labeller.username)
        page.goto(f"/projects/{project.slug}/annotate/")
        for _ in range(2):
            criterion = page.locator("#criterion").inner_text()
            words = "Leaves fall" if "haiku" in criterion else "season that comes after"
            expect(page.locator("#workspace")).not_to_contain_text("favour")  # the expectation is not shown
            pair_before = page.locator("#workspace").get_attribute("data-pair")
            page.keyboard.press("1" if _side_of(page, words) == "A" else "2")
            expect(page.locator("#workspace")).not_to_have_attribute("data-pair", pair_before or "")
        context.close()

    # The writer is never handed the pairs made from their criteria.
    context, page = as_user(writer.username)
    page.goto(f"/projects/{project.slug}/annotate/")
    expect(page.locator("#workspace")).not_to_contain_text(HAIKU)
    context.close()

    # The curator sees the flip counted for T2T and the writer's expectations matched.
    context, page = as_user(curator.username)
    page.goto(f"/projects/{project.slug}/quality/")
    expect(page.locator('#written-criteria tr[data-task="T2T"] [data-flips]')).to_have_text("1")
    expect(page.locator('#written-criteria tr[data-writer="wren"]')).to_contain_text("2 (100%)")
    screenshot(page, "criteria-flips")
    context.close()


def test_a_media_comparison_shows_in_the_same_viewers_for_its_writer(page, project, curator):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from criteria.services import NewComparison, comparison_create
    from tests.criteria.test_writing import _png

    comparison = comparison_create(
        project=project,
        comparison=NewComparison(task="TI2I", prompt="Make the square blue.", model1="secret-m1", model2="secret-m2"),
        input_file=SimpleUploadedFile("in.png", _png("red")),
        response1_file=SimpleUploadedFile("a.png", _png("blue")),
        response2_file=SimpleUploadedFile("b.png", _png("green")),
    )
    comparison.refresh_from_db()
    assert comparison.media_ready  # the pipeline ran on commit (embedded Celery)
    writer = _member(project, "wren")
    sign_in(page, writer.username)
    page.goto(f"/projects/{project.slug}/write/")
    expect(page.locator(".input-media img")).to_be_visible()
    sides = page.locator("article.side img")
    expect(sides).to_have_count(2)
    for i in range(2):
        expect(sides.nth(i)).to_be_visible()
        assert sides.nth(i).evaluate("img => img.complete && img.naturalWidth > 0")
    expect(page.locator("body")).not_to_contain_text("secret-m1")
    screenshot(page, "criteria-write-media")


def test_space_plays_and_pauses_the_input_clip_on_the_writers_page(page, project, curator, tmp_path):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from annotations.demo import synth
    from criteria.services import NewComparison, comparison_create

    clip = tmp_path / "in.mp4"
    synth.lavfi(clip, ["testsrc2=size=160x120:rate=12:duration=4"], ["-pix_fmt", "yuv420p"])
    comparison_create(
        project=project,
        comparison=NewComparison(
            task="TV2T", prompt="What is in the clip?", response1_text="Colour bars.", response2_text="A cat."
        ),
        input_file=SimpleUploadedFile("in.mp4", clip.read_bytes()),
    )
    writer = _member(project, "vida")
    sign_in(page, writer.username)
    page.goto(f"/projects/{project.slug}/write/")
    video = page.locator(".input-media video")
    expect(video).to_have_attribute("data-ready", "1")
    assert video.evaluate("v => v.paused")
    page.keyboard.press("Space")
    page.wait_for_function("() => !document.querySelector('.input-media video').paused")
    page.wait_for_function("() => document.querySelector('.input-media video').currentTime > 0")
    page.keyboard.press("Space")
    page.wait_for_function("() => document.querySelector('.input-media video').paused")
