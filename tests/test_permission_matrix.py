"""Every page and endpoint, walked as anonymous, an outsider, an annotator, a curator and staff.

The routes come from the URL resolver, so a new page or endpoint is in the matrix the day it is added;
each must be classified below (the test fails on an unclassified route).
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator

import pytest
from django.contrib.auth.models import Permission
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from PIL import Image

from annotations.models import ImportJob, Label, Role
from criteria.models import Criterion
from judges.models import Judge, JudgeKind, JudgeRun, ModelVote, VoteStatus
from media_pipeline import pipeline
from media_pipeline.models import MediaAsset
from releases.models import Release
from releases.services.publish import release_build, release_publish
from tests.factories import JudgmentFactory, MembershipFactory, PairFactory, ProjectFactory, UserFactory

pytestmark = pytest.mark.django_db

# Routes any member of the project may use; every other project route is for its curators.
MEMBER = {
    ("annotations", "project_list"), ("annotations", "annotate"), ("annotations", "vote"),
    ("annotations", "skip"), ("annotations", "undo"),
    ("media_pipeline", "asset_file"), ("media_pipeline", "asset_frame"), ("media_pipeline", "asset_rendition"),
    ("media_pipeline", "asset_view"),
}  # fmt: skip
MEMBER |= {("annotations-api", name) for name in
           ("project-list", "project-detail", "queue-next", "queue-vote", "queue-skip", "queue-undo")}  # fmt: skip
# Any member writes criteria; reviewing them and their signals are for curators.
MEMBER |= {("criteria", name) for name in ("write", "write_comparison", "draft_save", "draft_delete", "submit")}
MEMBER |= {("criteria-api", name) for name in ("write-next", "draft-create", "draft-detail", "criteria-submit")}
# Routes for those who may create projects (staff, or the create_project permission), in no project.
CREATOR = {("annotations", "project_new")}
OPEN = {(None, "login"), (None, "logout"), (None, None), (None, "health-live"), (None, "health-ready")}
AUTHENTICATED = {(None, "api-schema"), (None, "api-docs")}


def _routes(patterns, prefix: str = "", ns: str | None = None) -> Iterator[tuple[str | None, str | None, str]]:
    for p in patterns:
        if isinstance(p, URLResolver):
            yield from _routes(p.url_patterns, prefix + str(p.pattern), p.namespace or ns)
        elif isinstance(p, URLPattern):
            yield ns, p.name, prefix + str(p.pattern)


@pytest.fixture
def world(tmp_path):
    x, y = ProjectFactory(slug="x"), ProjectFactory(slug="y")
    users = {
        "curator": MembershipFactory(project=x, role=Role.CURATOR, user=UserFactory(username="cur")).user,
        "annotator": MembershipFactory(project=x, role=Role.ANNOTATOR, user=UserFactory(username="ann")).user,
        "outsider": MembershipFactory(project=y, role=Role.CURATOR, user=UserFactory(username="out")).user,
        "staff": UserFactory(username="root", is_staff=True),
        "creator": UserFactory(username="maker"),  # may create projects; a member of none
    }
    users["creator"].user_permissions.add(Permission.objects.get(codename="create_project"))
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), "green").save(buffer, "PNG")
    data = buffer.getvalue()
    sha = hashlib.sha256(data).hexdigest()
    key = default_storage.save(MediaAsset.storage_key(sha, "png"), ContentFile(data))
    asset = MediaAsset.objects.create(sha256=sha, kind="image", extension="png", file=key, size_bytes=len(data))
    pipeline.run(asset.pk)
    pair = PairFactory(project=x, task="T2I", response1_text=None, response2_text=None, response1_media=asset,
                       response2_media=asset, model1="hidden-model-name")  # fmt: skip
    voters = [MembershipFactory(project=x, user=UserFactory(username=f"v{i}")).user for i in range(3)]
    for voter in voters:
        JudgmentFactory(pair=pair, annotator=voter, label=Label.RESPONSE1, shown_order="12", time_spent_ms=1)
    release = release_publish(project=x, user=users["curator"], bootstrap=10)
    release_build(release.pk)
    judge = Judge.objects.create(project=x, name="hidden-judge-name", kind=JudgeKind.FIRST)
    run = JudgeRun.objects.create(judge=judge, tasks=["T2I"], with_tie=True, status="done")
    ModelVote.objects.create(judge=judge, pair=pair, with_tie=True, order="12", label="response2", status=VoteStatus.OK)
    job = ImportJob.objects.create(project=x, data_name="d.jsonl", created_by=users["curator"])
    comparison = PairFactory(project=x, kind="comparison", criterion="", model1="hidden-model-name")
    criterion = Criterion.objects.create(
        comparison=comparison, writer=users["annotator"], shown_order="12", text="Prefer the greener image.",
        expected="response1", status="submitted",
    )  # fmt: skip
    kwargs = {
        "slug": x.slug, "pair_id": pair.pk, "job_id": job.pk, "version": release.version, "judge_id": judge.pk,
        "run_id": run.pk, "action": "cancel", "fmt": "csv", "asset_id": asset.pk, "index": 0, "role": "web",
        "username": "ann", "id": pair.pk, "pk": pair.pk, "comparison_id": comparison.pk,
        "criterion_id": criterion.pk,
    }  # fmt: skip
    assert Release.objects.get(pk=release.pk).status == "ready"
    return users, kwargs


def _url(ns: str | None, name: str, pattern: str, kwargs: dict) -> str:
    import re

    wanted = {m.group(1) for m in re.finditer(r"<(?:\w+:)?(\w+)>", pattern)}
    return reverse(f"{ns}:{name}" if ns else name, kwargs={k: kwargs[k] for k in wanted})


def _kind(ns: str | None, name: str | None) -> str:
    if (ns, name) in OPEN:
        return "open"
    if (ns, name) in AUTHENTICATED:
        return "authenticated"
    if (ns, name) in MEMBER:
        return "member"
    if (ns, name) in CREATOR:
        return "creator"
    if ns in ("annotations", "releases", "judges", "media_pipeline", "criteria") or (ns and ns.endswith("-api")):
        return "curator"
    raise AssertionError(f"unclassified route {ns}:{name}")


ALLOWED = {200, 204, 302, 400, 405, 409}  # 400: needs query parameters; 405: POST-only; 409: nothing to undo
# The world's asset is an image: it has no video frames and no rendered mesh views.
NO_FRAMES = {("media_pipeline", "asset_frame"), ("media_pipeline", "asset_view")}


def _expected(ns: str | None, name: str | None, persona: str, api: bool) -> set[int]:
    kind = _kind(ns, name)
    if kind == "open":
        return {200, 302, 405}
    if persona == "anonymous":
        return {401, 403} if api else {302}
    if (ns, name) == ("annotations", "project_list") or "project-list" in (name or ""):
        return {200}  # everyone signed in has a project list: their own projects only
    if kind == "authenticated":
        return ALLOWED
    if kind == "creator":
        return ALLOWED if persona in ("staff", "creator") else {403}
    if persona == "creator":
        return {404, 405}  # creating projects gives no way into anyone else's
    if persona == "outsider":
        return {404, 405}
    if persona == "annotator" and kind == "curator":
        return {403, 405}
    return ALLOWED | ({404} if (ns, name) in NO_FRAMES else set())


def test_every_route_answers_each_persona_as_it_should(world):
    users, kwargs = world
    routes = [r for r in _routes(get_resolver().url_patterns) if r[0] != "admin" and r[1]]
    assert len(routes) > 30
    clients = {"anonymous": Client()}
    for persona, user in users.items():
        clients[persona] = Client()
        clients[persona].force_login(user)
    failures = []
    for ns, name, pattern in routes:
        url = _url(ns, name, pattern, kwargs)
        kind = _kind(ns, name)
        api = url.startswith("/api/")
        for persona, client in clients.items():
            if (ns, name) == (None, "logout"):
                continue
            code = client.get(url).status_code
            allowed = _expected(ns, name, persona, api)
            if code not in allowed:
                failures.append(f"GET {url} as {persona}: {code}, expected one of {sorted(allowed)}")
            if code == 405 and persona in ("anonymous", "outsider", "creator", "annotator") and kind != "open":
                # State-changing routes: a POST (or PUT) with nothing in it must be refused before it acts.
                posted = client.post(url, {}).status_code
                if posted == 405:
                    posted = client.put(url, {}, content_type="application/json").status_code
                refused = (
                    {302}
                    if persona == "anonymous" and not api
                    else {401, 403}
                    if persona == "anonymous"
                    else (
                        {404}
                        if persona in ("outsider", "creator")
                        else ({403} if kind == "curator" else {200, 204, 302, 400, 404, 409})
                    )
                )
                if posted not in refused:
                    failures.append(f"POST {url} as {persona}: {posted}, expected one of {sorted(refused)}")
    assert not failures, "\n".join(failures)


def test_annotators_never_receive_model_names_or_model_votes(world):
    users, kwargs = world
    client = Client()
    client.force_login(users["annotator"])
    for ns, name, pattern in _routes(get_resolver().url_patterns):
        if ns == "admin" or not name or _kind(ns, name) not in ("member", "authenticated"):
            continue
        response = client.get(_url(ns, name, pattern, kwargs))
        body = b"".join(response.streaming_content) if response.streaming else response.content
        for secret in (b"hidden-model-name", b"hidden-judge-name"):
            assert secret not in body, (name, secret)
