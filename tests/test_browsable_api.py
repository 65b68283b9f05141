"""Every API GET opened in a browser (Accept: text/html), as each persona: DRF's browsable page answers as
the JSON does (200, 400, 403, 404, 405; 401 for anonymous), never 500, under the same strict CSP, and shows
nobody what the JSON would not (issue 16, item 5).

The routes and personas are the permission matrix's, so a new endpoint is walked the day it is added.
"""

from __future__ import annotations

import html
import json
import re
from typing import Any

import pytest
from django.test import Client
from django.urls import get_resolver

from annotations.models import Label, Pair, Project, Role
from releases.services.audit import adjudication_request_send
from tests.factories import JudgmentFactory, MembershipFactory, PairFactory, UserFactory
from tests.test_permission_matrix import _expected, _routes, _url
from tests.test_permission_matrix import world as _matrix_world
from tests.test_security_headers import INLINE, _assert_strict

pytestmark = pytest.mark.django_db
world = _matrix_world  # projects x and y, the personas, and one object of every kind

# What Chromium sends when a person opens a URL: HTML first, then anything.
BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8"
# Answers that are not DRF's HTML page: the schema (YAML) and a release archive.
NOT_HTML = {(None, "api-schema"), ("releases-api", "release-download")}
# DRF's page hands its CSRF settings to its scripts as JSON: data the browser never runs, which the CSP allows.
DATA_BLOCK = re.compile(r'<script type="application/json" id="drf_csrf">[^<]*</script>')

MODEL, JUDGE = "hidden-model-name", "hidden-judge-name"  # in x: curators only
CRITERION = "Prefer the greener image."  # written in x by the annotator: x's members only
RATIONALE, VOTER = "rationale-of-another-annotator", "another-annotator"  # another annotator's vote in x
ELSEWHERE = "model-of-project-y"  # a pair of project y: y's curator (the outsider here) and staff only


@pytest.fixture
def browsed(world):
    users, kwargs = world
    pair = Pair.objects.get(pk=kwargs["pair_id"])
    voter = MembershipFactory(project=pair.project, role=Role.ANNOTATOR, user=UserFactory(username=VOTER)).user
    JudgmentFactory(
        pair=pair, annotator=voter, label=Label.RESPONSE2, shown_order="21", time_spent_ms=1, rationale=RATIONALE
    )
    PairFactory(project=Project.objects.get(slug="y"), model1=ELSEWHERE)
    return users, kwargs


def _hidden_from(persona: str) -> set[str]:
    """The strings a persona's pages must never hold, whatever the route and whatever the status."""
    if persona == "staff":
        return set()
    of_x = {MODEL, JUDGE, RATIONALE, VOTER, CRITERION}
    if persona == "curator":
        return {ELSEWHERE}
    if persona == "annotator":
        return of_x - {CRITERION} | {ELSEWHERE}
    if persona == "outsider":
        return of_x
    return of_x | {ELSEWHERE}


def _api_routes() -> list[tuple[str | None, str | None, str]]:
    routes = [r for r in _routes(get_resolver().url_patterns) if r[0] != "admin" and r[1]]
    return [r for r in routes if r[2].startswith("api/")]


def _body(response) -> str:
    return (b"".join(response.streaming_content) if response.streaming else response.content).decode(errors="replace")


def test_every_api_page_opened_in_a_browser_answers_as_the_json_does(browsed):
    users, kwargs = browsed
    routes = _api_routes()
    assert len(routes) > 40
    # A crash is a 500 in the list of failures, not an exception that hides the routes after it.
    clients = {"anonymous": Client(raise_request_exception=False, HTTP_ACCEPT=BROWSER)}
    for persona, user in users.items():
        clients[persona] = Client(raise_request_exception=False, HTTP_ACCEPT=BROWSER)
        clients[persona].force_login(user)
    failures, seen = [], {persona: "" for persona in clients}
    for ns, name, pattern in routes:
        url = _url(ns, name, pattern, kwargs)
        for persona, client in clients.items():
            response = client.get(url)
            where = f"GET {url} as {persona}: {response.status_code}"
            allowed = _expected(ns, name, persona, api=True)
            if response.status_code not in allowed:
                failures.append(f"{where}, expected one of {sorted(allowed)}")
                continue
            _assert_strict(response)
            if (ns, name) in NOT_HTML:
                continue
            if not response["Content-Type"].startswith("text/html"):
                failures.append(f"{where}: {response['Content-Type']}, not the browsable page")
                continue
            body = _body(response)
            seen[persona] += body
            leaked = [secret for secret in _hidden_from(persona) if secret in body]
            if leaked:
                failures.append(f"{where} shows {leaked}")
            inline = [what for what, pattern in INLINE.items() if pattern.search(DATA_BLOCK.sub("", body))]
            if inline:  # the CSP would block it: a broken page in the browser
                failures.append(f"{where} holds inline code: {inline}")
    assert not failures, "\n".join(failures)
    # The pages do show these strings to those who may see them: their absence above means something.
    assert all(secret in seen["curator"] for secret in _hidden_from("outsider")), seen["curator"][-2000:]
    assert ELSEWHERE in _body(clients["staff"].get("/api/projects/y/pairs/"))


def test_the_list_pages_of_the_issue_show_in_a_browser_what_the_json_holds(browsed):
    """The six list pages of the issue, and the audit's, which answered 500 in a browser: a curator sees the
    rows of the JSON answer on the page."""
    users, kwargs = browsed
    pair = Pair.objects.get(pk=kwargs["pair_id"])
    Pair.objects.filter(pk=pair.pk).update(reference_label=Label.RESPONSE2)  # the voters said response1
    adjudication_request_send(project=pair.project, user=users["curator"], pair_ids=[pair.pk])
    client = Client()
    client.force_login(users["curator"])
    slug, judge = kwargs["slug"], kwargs["judge_id"]
    lists = ("adjudication", "comparisons", "judges", f"judges/{judge}/runs", "releases", "audit/disagreements")
    pages = ["/api/projects/", *(f"/api/projects/{slug}/{name}/" for name in lists)]
    for url in pages:
        data = client.get(url, HTTP_ACCEPT="application/json").json()
        assert data["count"] >= 1, url
        page = client.get(url, HTTP_ACCEPT=BROWSER)
        assert page.status_code == 200 and page["Content-Type"].startswith("text/html"), (url, page.status_code)
        assert _shown(page) == data, url


def _shown(page) -> Any:
    """The answer DRF's page prints under its headers (escaped, its URLs made links), read back."""
    printed = re.search(r'class="response-info".*?<pre[^>]*>(.*?)</pre>', page.content.decode(), re.S)
    assert printed, "no response on the page"
    text = html.unescape(re.sub(r"<[^>]+>", "", printed.group(1)))
    return json.loads(text[text.index("{") :])
