"""The Content-Security-Policy holds in real Chromium: an annotator labels one pair of each of the nine tasks,
a curator walks the curation pages, and the browser reports no violation while every viewer still renders."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from pathlib import Path

import pytest
import trimesh
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.urls import reverse
from PIL import Image
from playwright.sync_api import expect

from annotations.demo.plan import DemoWriter
from annotations.models import Judgment, Label, Pair, Project, Role, Task
from annotations.services.pair_import import pair_import
from media_pipeline import pipeline
from media_pipeline.models import MediaAsset, MediaKind
from tests.browser.conftest import screenshot, sign_in
from tests.browser.test_workspace import MEDIA_LOADED
from tests.browser.test_workspace import nine_task_project as _nine_task_project
from tests.criteria.test_writing import _comparisons
from tests.factories import MembershipFactory, PairFactory, ProjectFactory, UserFactory
from tests.releases.test_releases import votes

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
nine_task_project = _nine_task_project  # one pair of each task, with media made on this machine

# Init scripts run before the page's own and are not subject to its policy; the binding reports
# to the test at once, so nothing is lost when a page navigates away.
RECORD_VIOLATIONS = """
window.__csp = [];
document.addEventListener('securitypolicyviolation', (e) => {
  const text = [e.effectiveDirective, e.blockedURI || '-', (e.sourceFile || location.pathname) + ':' + e.lineNumber,
    e.sample || ''].join(' | ');
  window.__csp.push(text);
  window.__cspReport(text);
}, true);
"""

MEDIA_SETTLED = (
    "() => [...document.querySelectorAll('#workspace .viewer-media')].every(el => el.dataset.ready || el.dataset.error)"
)
# wavesurfer's shadow root only looks right if its nonce-carrying <style> was applied.
WAVESURFER_STYLED = """
(root) => [...root.querySelectorAll('.side .viewer-audio')].map((el) => {
  const host = [...el.children].find((c) => c.shadowRoot);
  const scroll = host && host.shadowRoot.querySelector('.scroll');
  return scroll ? getComputedStyle(scroll).position : 'no player';  // 'static' without the stylesheet
})
"""


def _watch(page) -> Callable[[], list[str]]:
    """Every CSP violation the page reports, as events and as console messages."""
    found: list[str] = []
    page.expose_function("__cspReport", lambda text: found.append(f"event: {text}"))
    page.add_init_script(RECORD_VIOLATIONS)

    def on_console(message) -> None:
        if "Content Security Policy" in message.text or "Refused to" in message.text:
            found.append(f"console: {message.text}")

    page.on("console", on_console)
    page.on("pageerror", lambda exc: found.append(f"page error: {exc}"))

    def violations() -> list[str]:
        # Reports travel to the test asynchronously; this page's own record is read at once.
        here = [f"event: {text}" for text in page.evaluate("window.__csp || []")]
        return found + [v for v in here if v not in found]

    return violations


def _open(page, url: str, *, ready: str | None = None):
    response = page.goto(url)
    assert response is not None and response.ok, (url, response and response.status)
    assert re.search(r"(^|; )script-src 'self'(;|$)", response.headers["content-security-policy"]), url
    page.wait_for_load_state("networkidle")
    if ready:
        expect(page.locator(ready).first).to_be_visible()
    return response


def test_an_annotator_labels_all_nine_tasks_without_a_csp_violation(page, nine_task_project: Project):
    violations = _watch(page)
    person = MembershipFactory(project=nine_task_project, role=Role.ANNOTATOR, user=UserFactory(username="cat")).user
    sign_in(page, person.username)
    response = _open(page, reverse("annotations:annotate", args=[nine_task_project.slug]))
    assert re.search(r"(^|; )style-src 'self' 'nonce-[^']+'(;|$)", response.headers["content-security-policy"])

    seen = []
    for step in range(9):
        pair = Pair.objects.get(pk=int(page.get_attribute("#workspace[data-pair]", "data-pair")))
        seen.append(pair.task)
        page.wait_for_function(MEDIA_SETTLED, timeout=30_000)
        checks = page.eval_on_selector("#workspace", MEDIA_LOADED)
        media = sum(1 for c in ("input_media_id", "response1_media_id", "response2_media_id") if getattr(pair, c))
        assert checks == ["ok"] * media, (pair.task, checks)
        if page.locator("#workspace .side .viewer-audio").count():
            styled = page.eval_on_selector("#workspace", WAVESURFER_STYLED)
            assert styled and all(s == "relative" for s in styled), (pair.task, styled)
        screenshot(page, f"csp-workspace-{step + 1}-{pair.task}")
        assert not violations(), (pair.task, violations())
        page.keyboard.press("3")  # tie: nothing here depends on the answer
        if step < 8:
            page.wait_for_function(f"() => document.querySelector('#workspace').dataset.pair !== '{pair.pk}'")
    expect(page.get_by_text("Your queue is empty")).to_be_visible()
    assert sorted(seen) == sorted(Task.values)
    assert not violations(), violations()

    # The watcher does see a violation when there is one: an inline style injected into the page.
    page.evaluate(
        "() => { const s = document.createElement('style'); s.textContent = 'b{}'; document.head.append(s); }"
    )
    page.wait_for_function("() => window.__csp.length > 0")
    assert any(v.startswith("event: style-src") for v in violations()), violations()


@pytest.fixture
def curated_project(tmp_path: Path) -> Project:
    """The demo's pairs of every task, some disputed votes, and a comparison to write criteria for."""
    project = Project.objects.create(slug="curated", name="Curated", votes_per_pair=3, gold_share=0)
    pair_import(project=project, data_path=DemoWriter(tmp_path, comparisons=1).build(), data_label="demo.jsonl")
    voters = [
        MembershipFactory(project=project, role=Role.ANNOTATOR, user=UserFactory(username=f"v{i}")).user
        for i in range(3)
    ]
    for task in Task.values:
        pair = Pair.objects.filter(project=project, task=task).order_by("external_id").first()
        votes(pair, voters, [Label.RESPONSE1, Label.RESPONSE2, Label.TIE])  # split three ways: disputed
    _comparisons(tmp_path, project)
    return project


def test_a_curator_walks_the_curation_pages_without_a_csp_violation(page, curated_project: Project):
    project = curated_project
    curator = MembershipFactory(
        project=project, role=Role.CURATOR, user=UserFactory(username="cur", is_staff=True, is_superuser=True)
    )
    violations = _watch(page)
    sign_in(page, curator.user.username)
    slug = project.slug
    disputed = Judgment.objects.filter(pair__project=project, pair__task=Task.T2I).first().pair

    pages = [
        ("project", reverse("annotations:project_detail", args=[slug]), "#pair-table"),
        ("media", reverse("annotations:media_status", args=[slug]), "#pipeline"),
        ("import", reverse("annotations:import_start", args=[slug]), "form"),
        ("members", reverse("annotations:project_members", args=[slug]), "#members"),
        ("new-project", reverse("annotations:project_new"), "#new-project"),
        ("pair", reverse("annotations:pair_detail", args=[slug, disputed.pk]), "main"),
        ("quality", reverse("releases:dashboard", args=[slug]), "main h1"),
        ("gate", reverse("releases:gate_edit", args=[slug]), "form"),
        ("label-audit", reverse("releases:label_audit", args=[slug]), "main h1"),
        ("adjudicate", reverse("releases:adjudicate", args=[slug, disputed.pk]), "#decide"),
        ("releases", reverse("releases:release_list", args=[slug]), "main h1"),
        ("judges", reverse("judges:judge_list", args=[slug]), "main h1"),
        ("criteria", reverse("criteria:review", args=[slug]), "main h1"),
        ("write", reverse("criteria:write", args=[slug]), "article.side"),
        ("api-docs", reverse("api-docs"), ".swagger-ui .info .title"),
        ("admin", "/admin/", "#content .module"),
        ("admin-change", reverse("admin:annotations_project_change", args=[project.pk]), "#project_form"),
    ]
    for name, url, ready in pages:
        _open(page, url, ready=ready)
        screenshot(page, f"csp-{name}")
        assert not violations(), (name, violations())

    # The selects that used to submit with an inline onchange handler now do it from static/js/app.js.
    _open(page, reverse("releases:adjudication_queue", args=[slug]), ready="#disputed")
    expect(page.locator("#disputed tbody tr")).not_to_have_count(0)
    page.select_option("select[name=task]", Task.T2I.value)
    expect(page).to_have_url(f"{page.url.split('?')[0]}?task=T2I")
    expect(page.locator("#disputed tbody tr[data-pair]").first).to_be_visible()
    screenshot(page, "csp-adjudication-queue")

    _open(page, reverse("judges:leaderboard", args=[slug]), ready="#truth")
    page.select_option("select[name=truth]", label="Gate (live)")
    expect(page.locator("#truth")).not_to_have_attribute("data-truth", "imported")
    assert "truth=" in page.url
    screenshot(page, "csp-leaderboard")
    assert not violations(), violations()


# Textured faces are strongly coloured; an untextured box (texture refused) is shades of grey.
TEXTURED = """
() => [...document.querySelectorAll('#workspace .viewer-3d canvas')].length === 2 &&
  [...document.querySelectorAll('#workspace .viewer-3d canvas')].every((canvas) => {
    const probe = document.createElement('canvas');
    probe.width = probe.height = 64;
    const ctx = probe.getContext('2d');
    ctx.drawImage(canvas, 0, 0, 64, 64);
    const px = ctx.getImageData(0, 0, 64, 64).data;
    let saturated = 0;
    for (let i = 0; i < px.length; i += 4) {
      if (Math.max(px[i], px[i + 1], px[i + 2]) - Math.min(px[i], px[i + 1], px[i + 2]) > 80) saturated++;
    }
    return saturated > 50;
  })
"""


def _textured_glb(red: int) -> MediaAsset:
    """A box whose colour comes from a PNG texture inside the GLB, as real generators (TRELLIS) write them."""
    texture = Image.new("RGB", (64, 64))
    for x in range(64):
        for y in range(64):
            texture.putpixel((x, y), (red, 40, 200) if (x // 8 + y // 8) % 2 else (240, 240, 240))
    body = trimesh.creation.box()
    uv = body.vertices[:, :2] - body.vertices[:, :2].min(axis=0)
    material = trimesh.visual.material.PBRMaterial(baseColorTexture=texture)
    body.visual = trimesh.visual.TextureVisuals(uv=uv / uv.max(), material=material)
    data = body.export(file_type="glb")
    sha = hashlib.sha256(data).hexdigest()
    key = default_storage.save(MediaAsset.storage_key(sha, "glb"), ContentFile(data))
    asset = MediaAsset.objects.create(sha256=sha, kind=MediaKind.MESH, extension="glb", file=key, size_bytes=len(data))
    pipeline.run(asset.pk)
    return asset


def test_a_textured_glb_renders_without_a_csp_violation(page):
    """three.js hands a GLB's embedded textures to fetch() as blob: URLs: the policy lets them through."""
    project = ProjectFactory(slug="meshes", votes_per_pair=1, gold_share=0)
    PairFactory(project=project, task=Task.T23D, response1_text=None, response2_text=None,
                response1_media=_textured_glb(40), response2_media=_textured_glb(220))  # fmt: skip
    person = MembershipFactory(project=project, role=Role.ANNOTATOR, user=UserFactory(username="tex")).user
    violations = _watch(page)
    sign_in(page, person.username)
    _open(page, reverse("annotations:annotate", args=[project.slug]))
    page.wait_for_function(MEDIA_SETTLED, timeout=30_000)
    assert page.eval_on_selector("#workspace", MEDIA_LOADED) == ["ok", "ok"]
    page.wait_for_function(TEXTURED, timeout=15_000)
    screenshot(page, "csp-workspace-textured-glb")
    assert not violations(), violations()
