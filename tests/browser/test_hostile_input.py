"""Script payloads in everything people import, type or upload stay inert text in real Chromium.

A curator uploads pairs whose prompts, criteria, responses, model names, ids and file names carry
script payloads; an annotator judges them with a hostile rationale and flags one with a hostile note;
judges, a release and an adjudication carry more. Every page that shows them, as the person who sees
it, must show the payload as text: no dialog, no `window.__pwned`, no javascript: link, no inline
handler or script that the app did not write.
"""

from __future__ import annotations

import io
import zipfile
from urllib.parse import quote

import orjson
import pytest
from django.urls import reverse
from PIL import Image
from playwright.sync_api import expect

from annotations.models import Judgment, Label, Pair, PairSkip, Role, Task
from judges.models import Judge, JudgeKind, JudgeRun, ModelVote, VoteStatus
from releases.models import Release, ReleaseStatus
from releases.services.publish import release_publish
from tests.browser.conftest import screenshot, sign_in
from tests.factories import MembershipFactory, PairFactory, ProjectFactory, UserFactory
from tests.releases.test_releases import votes

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCRIPT = "<script>window.__pwned='script'</script>"
IMG = "<img src=x onerror=\"window.__pwned='img'\">"
SVG = "<svg onload=\"window.__pwned='svg'\">"
BREAKOUT = "\"'><script>window.__pwned='breakout'</script>"
MD_LINK = "[click me](javascript:window.__pwned='md-link')"
RAW = '<div onmouseover="window.__pwned=\'raw\'">raw <b>html</b></div><iframe src="javascript:alert(1)"></iframe>'
HOSTILE = f"{SCRIPT} {IMG} {SVG} {BREAKOUT}"
MARKDOWN = f"{HOSTILE}\n\n{MD_LINK}\n\n{RAW}\n\n<a href=\"javascript:window.__pwned='a'\">plain link</a>"
# Short enough for names and ids; no quotes or slashes, which browsers and Django rewrite in file names.
SHORT = "<svg onload=window.__pwned=1>"
FILE_NAME = "<img src=x onerror=window.__pwned=1>"

# What a payload would leave behind had it become markup: a handler or script mentioning __pwned, a
# javascript: link, an iframe. (Payload text in data-* and value attributes is escaped and inert.)
STATE = """() => ({
  pwned: typeof window.__pwned === 'undefined' ? null : String(window.__pwned),
  jsLinks: document.querySelectorAll('a[href^="javascript:" i], iframe[src^="javascript:" i]').length
    + [...document.links].filter((a) => a.protocol === 'javascript:').length,
  handlers: [...document.querySelectorAll('*')].flatMap((el) => [...el.attributes]
    .filter((a) => (a.name.startsWith('on') || a.name === 'srcdoc') && a.value.includes('__pwned'))
    .map((a) => el.tagName + ' ' + a.name + '=' + a.value.slice(0, 80))),
  scripts: [...document.scripts].filter((s) => s.textContent.includes('__pwned')).length,
  iframes: document.querySelectorAll('iframe').length,
})"""
CLEAN = {"pwned": None, "jsLinks": 0, "handlers": [], "scripts": 0, "iframes": 0}


class Inspector:
    """Visits pages and proves no payload ran; collects every dialog the payloads might open."""

    def __init__(self, page) -> None:
        self.page = page
        self.dialogs: list[str] = []
        self.visited: list[str] = []
        page.on("dialog", lambda dialog: (self.dialogs.append(dialog.message), dialog.dismiss()))

    def visit(self, url: str, *, shows: tuple[str, ...] = ()) -> None:
        self.page.goto(url)
        self.check(url, shows=shows)

    def check(self, where: str, *, shows: tuple[str, ...] = ()) -> None:
        self.page.wait_for_load_state("networkidle")
        assert self.dialogs == [], (where, self.dialogs)
        state = self.page.evaluate(STATE)
        assert state == CLEAN, (where, state)
        for text in shows:
            expect(self.page.locator("body")).to_contain_text(text)
        self.visited.append(where)


def _rows() -> bytes:
    rows = [
        {
            "id": "t2t-hostile", "task": "T2T", "prompt": MARKDOWN, "criteria": f"Criterion {HOSTILE}",
            "criteria_preference": "response1", "response1": f"One {MARKDOWN}", "response2": f"Two {HOSTILE}",
            "model1": SHORT, "model2": BREAKOUT, "source": SHORT,
        },
        {
            "id": f"ti2t{SHORT}", "task": "TI2T", "prompt": f"Look {MARKDOWN}", "criteria": f"Image {HOSTILE}",
            "criteria_preference": "response2", "image": f"{FILE_NAME}.png", "response1": f"Three {HOSTILE}",
            "response2": f"Four {MD_LINK}", "model1": "m1", "model2": "m2",
        },
    ]  # fmt: skip
    return b"".join(orjson.dumps(row) + b"\n" for row in rows)


def _media_zip() -> bytes:
    image = io.BytesIO()
    Image.new("RGB", (32, 24), "purple").save(image, "PNG")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr(f"media_data/{FILE_NAME}.png", image.getvalue())
    return buffer.getvalue()


def _upload(page, slug: str, data: tuple[str, bytes], media: tuple[str, bytes] | None = None) -> None:
    page.goto(f"/projects/{slug}/import/")
    page.set_input_files("input[name=data_file]", {"name": data[0], "mimeType": "application/json", "buffer": data[1]})
    if media:
        page.set_input_files("input[name=media_file]", {"name": media[0], "mimeType": "application/zip",
                                                        "buffer": media[1]})  # fmt: skip
    # Embedded mode (eager Celery): the import and its media jobs run in this request.
    page.click("text=Upload and import", timeout=120_000)
    page.wait_for_selector("#job-status .badge.succeeded, #job-status .badge.failed", timeout=60_000)


def test_script_payloads_everywhere_stay_text(page, live_server):
    project = ProjectFactory(slug="hostile", name=f"Bench {SHORT}", description=f"Guidance {HOSTILE} {MD_LINK}",
                             votes_per_pair=3, gold_share=0)  # fmt: skip
    curator = MembershipFactory(project=project, role=Role.CURATOR, user=UserFactory(username="cora")).user
    ann = MembershipFactory(project=project, role=Role.ANNOTATOR, user=UserFactory(username="ann")).user
    voters = [MembershipFactory(project=project, role=Role.ANNOTATOR, user=UserFactory(username=f"v{i}")).user
              for i in range(3)]  # fmt: skip
    # Humans agree on this one and the judge does not: it is a hard pair, shown with its id.
    hard = PairFactory(project=project, external_id=f"hard{SHORT}", prompt=MARKDOWN, criterion=f"Hard {HOSTILE}",
                       claimed=3)  # fmt: skip
    votes(hard, voters, [Label.RESPONSE1] * 3, rationale=f"Voter {HOSTILE}")
    inspector = Inspector(page)

    # The curator uploads hostile rows under hostile file names, then a file whose problems quote a payload.
    sign_in(page, curator.username)
    _upload(page, project.slug, (f"{FILE_NAME}.jsonl", _rows()), (f"{SHORT}.zip", _media_zip()))
    inspector.check("import (succeeded)", shows=(f"Import of {FILE_NAME}.jsonl", f"with {SHORT}.zip"))
    expect(page.locator("#job-status .badge")).to_have_text("succeeded")
    screenshot(page, "hostile-import")
    bad = orjson.dumps({"id": "bad", "task": SCRIPT, "prompt": "p", "criteria": "c", "response1": "a",
                        "response2": "b"}) + b"\n"  # fmt: skip
    _upload(page, project.slug, (f"{SHORT}.jsonl", bad))
    inspector.check("import (problems)", shows=(f"unknown task {SCRIPT!r}", f"{SHORT}.jsonl"))
    screenshot(page, "hostile-import-problems")
    t2t = Pair.objects.get(project=project, external_id="t2t-hostile")
    ti2t = Pair.objects.get(project=project, task=Task.TI2T)
    assert ti2t.external_id == f"ti2t{SHORT}" and ti2t.input_media.original_name.endswith(f"{FILE_NAME}.png")

    # The annotator judges the first pair with a hostile rationale (htmx) and flags the second with a hostile note.
    sign_in(page, ann.username)
    inspector.visit(reverse("annotations:annotate", args=[project.slug]), shows=("<script>window.", "onerror="))
    first = Pair.objects.get(pk=page.locator("#workspace").get_attribute("data-pair"))
    expect(page.locator("#criterion")).to_have_text(first.criterion)  # the literal characters, tags and all
    expect(page.locator(".prompt-text")).to_contain_text("[click me](javascript:")
    expect(page.locator(".prompt-text")).to_contain_text("<div onmouseover=")
    screenshot(page, "hostile-workspace")
    page.fill("form.vote textarea[name=rationale]", f"Rationale {MARKDOWN}")
    page.click(".vote-btn[value=tie]")
    page.wait_for_function(f"() => document.querySelector('#workspace').dataset.pair !== '{first.pk}'")
    inspector.check("workspace after the htmx vote")
    second = Pair.objects.get(pk=page.locator("#workspace").get_attribute("data-pair"))
    expect(page.locator("#criterion")).to_have_text(second.criterion)
    page.keyboard.press("x")
    page.fill(".skip-dialog input[name=note]", f"Note {HOSTILE}")
    screenshot(page, "hostile-flag-dialog")
    page.click(".skip-dialog button[type=submit]")
    expect(page.locator(".queue-empty")).to_be_visible()
    inspector.check("workspace after the htmx flag")
    judgment = Judgment.objects.get(annotator=ann)
    assert judgment.rationale.replace("\r\n", "\n") == f"Rationale {MARKDOWN}" and judgment.label == Label.TIE

    # The annotator writes a hostile criterion for a hostile comparison, under hostile guidance.
    project.writing_guidance = f"Guide {HOSTILE}"
    project.save()
    comparison = PairFactory(project=project, external_id=f"cmp{SHORT}", kind="comparison", criterion="",
                             prompt=MARKDOWN, response1_text=f"Five {MARKDOWN}", response2_text=f"Six {HOSTILE}",
                             model1=SHORT)  # fmt: skip
    write_url = reverse("criteria:write_comparison", args=[project.slug, comparison.pk])
    inspector.visit(write_url, shows=(f"Guide {SCRIPT}", "[click me](javascript:", f"Six {SCRIPT}"))
    page.click("button[data-action=add]")
    page.fill("form.draft textarea", f"Written {HOSTILE}")
    page.check("form.draft input[value=A]")
    expect(page.locator("form.draft .draft-status")).to_contain_text("Saved")
    inspector.check("criterion draft saved (htmx)")
    page.click("form[data-submit] button")
    inspector.check("criteria submitted")
    assert PairSkip.objects.get(annotator=ann).note == f"Note {HOSTILE}"

    # Two more votes split the first pair three ways; a judge with hostile names disagrees on the hard pair.
    votes(first, voters[:2], [Label.RESPONSE1, Label.RESPONSE2], rationale=f"Other {HOSTILE}")
    judge = Judge.objects.create(project=project, name=SHORT, kind=JudgeKind.IMPORTED, model=BREAKOUT)
    JudgeRun.objects.create(judge=judge, tasks=["T2T"], with_tie=True, status="failed", error=f"Endpoint said {SCRIPT}")
    for pair in (hard, t2t):
        ModelVote.objects.create(judge=judge, pair=pair, with_tie=True, order="12", label=Label.RESPONSE2,
                                 verdict="B", status=VoteStatus.OK, raw_response=f"B {SCRIPT}")  # fmt: skip
    release_publish(project=project, user=curator, notes=f"Notes {HOSTILE}", bootstrap=10)
    release = Release.objects.get(project=project)
    assert release.status == ReleaseStatus.READY  # built on commit (embedded)

    sign_in(page, curator.username)
    slug = project.slug
    inspector.visit("/projects/", shows=(project.name, "Guidance <script>"))
    inspector.visit(f"/projects/{slug}/", shows=(f"Note {HOSTILE}", f"{FILE_NAME}.jsonl", f"hard{SHORT}"))
    screenshot(page, "hostile-project")
    # Query parameters are reflected into the filter form and the pager.
    inspector.visit(f"/projects/{slug}/?q={quote(BREAKOUT)}")
    expect(page.locator("input[name=q]")).to_have_value(BREAKOUT)
    inspector.visit(f"/projects/{slug}/?task={quote(BREAKOUT)}")
    for pair in (t2t, ti2t, hard):
        inspector.visit(reverse("annotations:pair_detail", args=[slug, pair.pk]), shows=(pair.criterion,))
    expect(page.locator(".criterion")).to_contain_text(f"Hard {HOSTILE}")
    shown = (SHORT, BREAKOUT, f"Source: {SHORT}", f"imported from {FILE_NAME}.jsonl", f"One {SCRIPT}")
    inspector.visit(reverse("annotations:pair_detail", args=[slug, t2t.pk]), shows=shown)
    screenshot(page, "hostile-pair-detail")
    inspector.visit(reverse("annotations:pair_detail", args=[slug, ti2t.pk]), shows=(f"{FILE_NAME}.png",))
    inspector.visit(reverse("annotations:media_status", args=[slug]))
    inspector.visit(reverse("criteria:review", args=[slug]), shows=(f"cmp{SHORT}",))
    expect(page.locator("form.review-row textarea")).to_have_value(f"Written {HOSTILE}")
    page.click("form.review-row button[value=accept]")
    inspector.check("criterion accepted")
    assert Pair.objects.get(comparison=comparison).criterion == f"Written {HOSTILE}"
    inspector.visit(reverse("releases:dashboard", args=[slug]))
    inspector.visit(reverse("releases:adjudication_queue", args=[slug]), shows=(f"Criterion {SCRIPT}",))
    inspector.visit(f"{reverse('releases:adjudication_queue', args=[slug])}?task={quote(BREAKOUT)}")
    inspector.visit(reverse("releases:adjudicate", args=[slug, first.pk]),
                    shows=(f"Rationale {SCRIPT}", f"Other {HOSTILE}"))  # fmt: skip
    screenshot(page, "hostile-adjudicate")
    page.check('#decide input[value="tie"]')
    page.fill("textarea[name=note]", f"Decided {HOSTILE}")
    page.click("text=Decide and go to the next")
    inspector.check("adjudication decided")
    inspector.visit(reverse("releases:adjudicate", args=[slug, first.pk]), shows=(f"Decided {HOSTILE}",))
    inspector.visit(reverse("releases:release_list", args=[slug]), shows=("Notes <script>",))
    inspector.visit(reverse("releases:release_detail", args=[slug, release.version]), shows=(f"Notes {HOSTILE}",))
    inspector.visit(f"{reverse('releases:release_compare', args=[slug])}?old={quote(SCRIPT)}&new=1")
    inspector.visit(reverse("judges:judge_list", args=[slug]), shows=(SHORT, BREAKOUT))
    inspector.visit(reverse("judges:judge_detail", args=[slug, judge.pk]), shows=(f"Endpoint said {SCRIPT}",))
    inspector.visit(reverse("judges:leaderboard", args=[slug]), shows=(SHORT,))
    screenshot(page, "hostile-leaderboard")
    inspector.visit(reverse("judges:hard_pairs", args=[slug]), shows=(f"hard{SHORT}", f"{SHORT}: response2"))
    screenshot(page, "hostile-hard-pairs")

    # The API's own pages: the schema browser and DRF's browsable API render the same data as JSON text.
    inspector.visit(reverse("api-docs"))
    expect(page.locator(".swagger-ui")).to_be_visible(timeout=30_000)
    api = "annotations-api"
    for name in ("pair-list", "judgment-list", "import-list", "project-detail"):
        inspector.visit(reverse(f"{api}:{name}", args=[slug]), shows=("window.__pwned",))
    screenshot(page, "hostile-api-browsable")
    inspector.visit(reverse("judges-api:hard-pairs", args=[slug]))
    assert len(inspector.visited) >= 30


def test_guessing_a_password_ends_on_a_readable_lock_out_page(page, annotator):
    for attempt in range(5):
        page.goto("/accounts/login/")
        page.fill("input[name=username]", annotator.username)
        page.fill("input[name=password]", f"guess-{attempt}")
        with page.expect_response(lambda r: r.request.method == "POST") as answer:
            page.click("button[type=submit]")
    assert answer.value.status == 429
    expect(page.locator("[role=alert]")).to_have_text(
        "Too many failed sign-ins for this account from your address; try again in 15 minutes."
    )
    expect(page.locator("a.brand")).to_be_visible()  # the site's own page, with its header
    screenshot(page, "hostile-locked-out")
    page.click("text=Back to sign in")
    page.fill("input[name=username]", annotator.username)
    page.fill("input[name=password]", "pw-for-tests")
    page.click("button[type=submit]")
    expect(page.locator("[role=alert]")).to_contain_text("Too many failed sign-ins")  # even the right password
