"""3D is always judgeable: with WebGL off the workspace shows the pipeline's rendered views of both meshes
(the same cameras on both sides) and must-view gating opens once every view was seen; with WebGL on, the
linked three.js viewer as before."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import pytest
import trimesh
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.urls import reverse
from playwright.sync_api import expect

from annotations.models import Judgment, Project, Role, Task
from media_pipeline import pipeline
from media_pipeline.models import MediaAsset, MediaKind
from tests.browser.conftest import CHROMIUM, screenshot, sign_in
from tests.factories import MembershipFactory, PairFactory, ProjectFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _mesh(body: trimesh.Trimesh, colour: tuple[int, int, int]) -> MediaAsset:
    """A coloured primitive, stored and run through the real pipeline (GLB, thumbnail, four views)."""
    body.visual.face_colors = (*colour, 255)
    data = body.export(file_type="glb")
    sha = hashlib.sha256(data).hexdigest()
    key = default_storage.save(MediaAsset.storage_key(sha, "glb"), ContentFile(data))
    asset = MediaAsset.objects.create(sha256=sha, kind=MediaKind.MESH, extension="glb", file=key, size_bytes=len(data))
    pipeline.run(asset.pk)
    asset.refresh_from_db()
    assert asset.status == "ready", asset.error
    return asset


@pytest.fixture
def mesh_project() -> Project:
    """One T23D pair of two meshes; votes wait until both were seen in full (must-view share 1)."""
    project = ProjectFactory(slug="meshes", votes_per_pair=1, gold_share=0, must_view_share=1.0)
    PairFactory(
        project=project,
        task=Task.T23D,
        criterion="Prefer the red box.",
        response1_text=None,
        response2_text=None,
        response1_media=_mesh(trimesh.creation.box(extents=(1, 0.6, 0.4)), (200, 40, 40)),
        response2_media=_mesh(trimesh.creation.icosphere(subdivisions=2), (40, 60, 200)),
    )
    return project


@pytest.fixture(scope="module")
def browser_without_webgl(pw) -> Iterator[object]:
    """A Chromium whose WebGL is switched off, as in a remote desktop or a locked-down browser."""
    instance = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-3d-apis"])
    yield instance
    instance.close()


@pytest.fixture
def page_without_webgl(browser_without_webgl, live_server) -> Iterator[object]:
    context = browser_without_webgl.new_context(base_url=live_server.url, viewport={"width": 1366, "height": 768})
    yield context.new_page()
    context.close()


def _annotate(page, project: Project, username: str) -> None:
    person = MembershipFactory(project=project, role=Role.ANNOTATOR, user=UserFactory(username=username)).user
    sign_in(page, person.username)
    page.goto(reverse("annotations:annotate", args=[project.slug]))


def test_without_webgl_the_rendered_views_stand_in_and_unlock_the_vote(page_without_webgl, mesh_project):
    page = page_without_webgl
    _annotate(page, mesh_project, "nogl")
    note = page.locator(".viewer-note")
    expect(note).to_contain_text("3D view unavailable: WebGL is turned off or not available in this browser")
    expect(page.locator(".viewer-error")).to_have_count(0)  # not "This media could not be loaded"
    views = page.locator(".side .viewer-3d img.mesh-view")
    expect(views).to_have_count(2)
    for side in ("A", "B"):
        expect(page.locator(f'.side[data-side="{side}"] .viewer-3d')).to_have_attribute("data-seen", "1")
        expect(page.locator(f'.side[data-side="{side}"] img.mesh-view')).to_have_attribute(
            "alt", f"front view of Response {side}, 3D model"
        )
    decoded = "(imgs) => imgs.map((img) => img.complete && img.naturalWidth === 512)"
    assert views.evaluate_all(decoded) == [True, True]
    expect(page.locator(".vote-btn:disabled")).to_have_count(3)  # one view of four seen
    screenshot(page, "mesh-views-without-webgl-front", full_page=False)

    # Both sides turn to the same camera together; each view counts once it has been shown.
    page.get_by_role("button", name="Top").click()
    expect(page.locator('.side[data-side="A"] img.mesh-view')).to_have_attribute(
        "alt", "top view of Response A, 3D model"
    )
    expect(page.locator('.side[data-side="B"] img.mesh-view')).to_have_attribute(
        "alt", "top view of Response B, 3D model"
    )
    expect(page.get_by_role("button", name="Top")).to_have_attribute("aria-pressed", "true")
    seen = page.locator('.side[data-side="B"] .viewer-3d')
    expect(seen).to_have_attribute("data-seen", "2")
    page.keyboard.press("v")  # V steps on: top -> front (seen already) -> side -> back
    expect(page.get_by_role("button", name="Front")).to_have_attribute("aria-pressed", "true")
    page.keyboard.press("v")
    expect(seen).to_have_attribute("data-seen", "3")
    expect(page.locator(".vote-btn:disabled")).to_have_count(3)
    page.keyboard.press("v")
    expect(seen).to_have_attribute("data-seen", "4")
    expect(page.locator(".vote-btn:disabled")).to_have_count(0)
    expect(page.locator("[data-gate]")).to_have_text("Voting unlocked.")
    screenshot(page, "mesh-views-without-webgl-unlocked", full_page=False)

    page.keyboard.press("1")
    expect(page.get_by_text("Your queue is empty")).to_be_visible()
    assert Judgment.objects.get().view_coverage == {"A": 1, "B": 1}


def test_with_webgl_the_linked_3d_viewer_shows_and_no_fallback(page, mesh_project):
    _annotate(page, mesh_project, "gl")
    meshes = page.locator(".side .viewer-3d")
    for n in range(2):
        expect(meshes.nth(n)).to_have_attribute("data-ready", "1", timeout=30_000)
        assert int(meshes.nth(n).get_attribute("data-triangles")) > 0
    expect(page.locator(".side .viewer-3d canvas")).to_have_count(2)
    expect(page.locator(".viewer-note")).to_have_count(0)
    expect(page.locator("img.mesh-view")).to_have_count(0)
    expect(page.get_by_role("button", name="Wireframe")).to_be_visible()
    screenshot(page, "mesh-views-with-webgl", full_page=False)
    # Orbiting the linked views a quarter turn counts as having seen both meshes in full.
    box = page.locator('.side[data-side="A"] .viewer-3d canvas').bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] - 2, box["y"] + box["height"] / 2, steps=12)
    page.mouse.move(box["x"] + 2, box["y"] + box["height"] / 2, steps=24)
    page.mouse.up()
    expect(page.locator(".vote-btn:disabled")).to_have_count(0)
    page.keyboard.press("2")
    expect(page.get_by_text("Your queue is empty")).to_be_visible()
    assert Judgment.objects.get().label in ("response1", "response2")
