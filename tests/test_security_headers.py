"""Security headers on every kind of page, HTTPS by environment, templates free of inline code, and
expected refusals logged as one line (issue 15, items 5 and 7)."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.http import HttpRequest, HttpResponse
from django.test import Client
from django.urls import get_resolver, include, path, reverse

from tests.services import ROOT
from tests.test_permission_matrix import _routes, _url
from tests.test_permission_matrix import world as _matrix_world

pytestmark = pytest.mark.django_db
world = _matrix_world  # the permission matrix's projects, personas and one object of every kind


def _boom(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("a real bug")


# For the 500 test (@pytest.mark.urls(__name__)): the app's routes plus one view that breaks.
urlpatterns = [path("boom/", _boom), path("", include("omni_annotate.urls"))]
handler500 = "annotations.errors.server_error"


def _policy(response) -> dict[str, list[str]]:
    header = response.headers.get("Content-Security-Policy")
    assert header, f"no Content-Security-Policy on {response.request['PATH_INFO']} ({response.status_code})"
    directives = {}
    for part in header.split(";"):
        name, *values = part.split()
        directives[name] = values
    return directives


def _assert_strict(response) -> None:
    csp = _policy(response)
    where = f"{response.request['PATH_INFO']} ({response.status_code})"
    assert csp["default-src"] == ["'self'"], where
    assert csp["script-src"] == ["'self'"], where  # no 'unsafe-inline', no 'unsafe-eval', no nonce
    assert "'unsafe-inline'" not in response["Content-Security-Policy"], where
    assert "'unsafe-eval'" not in response["Content-Security-Policy"], where
    assert all(v == "'self'" or v.startswith("'nonce-") for v in csp["style-src"]), where
    assert csp["object-src"] == ["'none'"], where
    assert csp["frame-ancestors"] == ["'none'"], where
    assert csp["base-uri"] == ["'self'"] and csp["form-action"] == ["'self'"], where
    assert csp["worker-src"] == ["'self'"], where
    # data: images only where Swagger UI draws its icons; blob: fetches only for the 3D viewer's textures.
    docs = response.request["PATH_INFO"] == reverse("api-docs")
    assert csp["img-src"] == (["'self'", "data:"] if docs else ["'self'"]), where
    assert csp["media-src"] == ["'self'"] and csp["connect-src"] == ["'self'", "blob:"], where
    assert response.headers["X-Frame-Options"] == "DENY", where
    assert response.headers["X-Content-Type-Options"] == "nosniff", where
    assert response.headers["Referrer-Policy"] == "same-origin", where


# Each kind of page a person opens, by persona: (persona, url name, kwargs keys from the world).
PAGES = [
    ("anonymous", "login", ()),
    ("curator", "annotations:project_list", ()),
    ("curator", "annotations:project_detail", ("slug",)),
    ("curator", "annotations:pair_detail", ("slug", "pair_id")),
    ("annotator", "annotations:annotate", ("slug",)),
    ("curator", "annotations:import_start", ("slug",)),
    ("curator", "annotations:import_detail", ("slug", "job_id")),
    ("curator", "annotations:media_status", ("slug",)),
    ("curator", "annotations:project_settings", ("slug",)),
    ("annotator", "criteria:write", ("slug",)),
    ("curator", "criteria:review", ("slug",)),
    ("curator", "releases:dashboard", ("slug",)),
    ("curator", "releases:gate_edit", ("slug",)),
    ("curator", "releases:label_audit", ("slug",)),
    ("curator", "releases:adjudication_queue", ("slug",)),
    ("curator", "releases:adjudicate", ("slug", "pair_id")),
    ("curator", "releases:release_list", ("slug",)),
    ("curator", "releases:release_detail", ("slug", "version")),
    ("curator", "judges:judge_list", ("slug",)),
    ("curator", "judges:judge_detail", ("slug", "judge_id")),
    ("curator", "judges:leaderboard", ("slug",)),
    ("curator", "judges:hard_pairs", ("slug",)),
    ("curator", "annotations-api:project-list", ()),
    ("curator", "api-docs", ()),
]


def _clients(users) -> dict[str, Client]:
    clients = {"anonymous": Client()}
    for persona, user in users.items():
        clients[persona] = Client()
        clients[persona].force_login(user)
    return clients


def test_every_kind_of_page_sends_a_strict_content_security_policy(world):
    users, kwargs = world
    clients = _clients(users)
    for persona, name, keys in PAGES:
        response = clients[persona].get(reverse(name, kwargs={k: kwargs[k] for k in keys}))
        assert response.status_code == 200, (name, response.status_code)
        _assert_strict(response)
    docs = clients["curator"].get(reverse("api-docs"), {"script": ""})  # the docs page's start-up script
    assert docs.status_code == 200 and docs["Content-Type"].startswith("application/javascript")
    # The admin, refusals and errors are pages too.
    _assert_strict(clients["anonymous"].get("/admin/login/"))
    _assert_strict(clients["staff"].get("/admin/"))
    forbidden = clients["annotator"].get(reverse("annotations:project_settings", args=[kwargs["slug"]]))
    assert forbidden.status_code == 403
    _assert_strict(forbidden)
    missing = clients["curator"].get("/no-such-page/")
    assert missing.status_code == 404
    _assert_strict(missing)
    outsider = clients["outsider"].get(reverse("annotations:project_detail", args=[kwargs["slug"]]))
    assert outsider.status_code == 404
    _assert_strict(outsider)
    api_refused = clients["anonymous"].get(reverse("annotations-api:project-list"))
    assert api_refused.status_code in (401, 403)
    _assert_strict(api_refused)
    no_token = Client(enforce_csrf_checks=True)
    no_token.force_login(users["curator"])
    csrf = no_token.post(reverse("annotations:project_settings", args=[kwargs["slug"]]), {})
    assert csrf.status_code == 403 and b"CSRF verification failed" in csrf.content
    assert b"<style" not in csrf.content and b"/static/css/error.css" in csrf.content  # templates/403_csrf.html
    _assert_strict(csrf)


def test_every_route_answers_with_the_policy_whatever_the_status(world):
    """The header comes from middleware, so no view can forget it: walk every GET route as a curator."""
    users, kwargs = world
    client = _clients(users)["curator"]
    routes = [r for r in _routes(get_resolver().url_patterns) if r[0] != "admin" and r[1] and r[1] != "logout"]
    assert len(routes) > 30
    for ns, name, pattern in routes:
        _assert_strict(client.get(_url(ns, name, pattern, kwargs)))


def test_only_pages_with_the_audio_player_carry_a_style_nonce(world):
    users, kwargs = world
    clients = _clients(users)
    workspace = clients["annotator"].get(reverse("annotations:annotate", args=[kwargs["slug"]]))
    (nonce,) = [v for v in _policy(workspace)["style-src"] if v.startswith("'nonce-")]
    # viewers.js reads it from its own tag and hands it to wavesurfer; a new one on every page load.
    assert f'nonce="{nonce[7:-1]}"' in workspace.content.decode()
    again = clients["annotator"].get(reverse("annotations:annotate", args=[kwargs["slug"]]))
    assert _policy(again)["style-src"] != _policy(workspace)["style-src"]
    dashboard = clients["curator"].get(reverse("releases:dashboard", args=[kwargs["slug"]]))
    assert _policy(dashboard)["style-src"] == ["'self'"]


# --- HTTPS by environment -------------------------------------------------------------------


def test_plain_http_deployments_get_no_hsts_and_no_redirect(client):
    response = client.get("/accounts/login/")
    assert response.status_code == 200
    assert "Strict-Transport-Security" not in response.headers
    assert client.get("/accounts/login/", secure=True).headers.get("Strict-Transport-Security") is None


@pytest.fixture
def behind_tls(settings):
    """What DJANGO_SSL_REDIRECT, DJANGO_HSTS_* and DJANGO_BEHIND_TLS_PROXY set (pytest-django restores them)."""
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_HSTS_SECONDS = 31536000
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    settings.SECURE_HSTS_PRELOAD = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")


def test_behind_tls_plain_http_is_redirected_and_https_gets_hsts(behind_tls, client):
    plain = client.get("/accounts/login/?next=/projects/")
    assert plain.status_code == 301
    assert plain["Location"] == "https://testserver/accounts/login/?next=/projects/"
    via_proxy = client.get("/accounts/login/", headers={"x-forwarded-proto": "https"})
    assert via_proxy.status_code == 200
    assert via_proxy["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    _assert_strict(via_proxy)
    # Health probes come over plain HTTP from inside the deployment: answered, not redirected.
    assert client.get(reverse("health-live")).status_code == 200


def _settings_in(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    code = (
        "import django, json; django.setup(); from django.conf import settings as s; "
        "from django.core.files.storage import default_storage; "
        "d = s.CONTENT_SECURITY_POLICY['DIRECTIVES']; "
        "print(json.dumps({'hsts': [s.SECURE_HSTS_SECONDS, s.SECURE_HSTS_INCLUDE_SUBDOMAINS, s.SECURE_HSTS_PRELOAD], "
        "'redirect': s.SECURE_SSL_REDIRECT, 'proxy': getattr(s, 'SECURE_PROXY_SSL_HEADER', None), "
        "'img': d['img-src'], 'media': d['media-src'], 'connect': d['connect-src'], "
        "'url': default_storage.url('media/a.png') if s.S3_BUCKET else ''}))"
    )
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("S3_", "DJANGO_"))}
    clean.update({"DJANGO_SETTINGS_MODULE": "omni_annotate.settings", "OMNI_DATA_DIR": str(tmp_path), **env})
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=clean, capture_output=True, text=True)


def test_hsts_redirect_and_proxy_come_from_the_environment(tmp_path):
    default = _settings_in(tmp_path)
    assert default.returncode == 0, default.stderr
    seen = json.loads(default.stdout)
    assert (seen["hsts"], seen["redirect"], seen["proxy"]) == ([0, False, False], False, None)
    assert seen["img"] == seen["media"] == ["'self'"]  # local disk: media comes from this origin

    on = _settings_in(
        tmp_path, DJANGO_HSTS_SECONDS="63072000", DJANGO_HSTS_INCLUDE_SUBDOMAINS="true", DJANGO_HSTS_PRELOAD="yes",
        DJANGO_SSL_REDIRECT="1", DJANGO_BEHIND_TLS_PROXY="on",
    )  # fmt: skip
    assert on.returncode == 0, on.stderr
    seen = json.loads(on.stdout)
    assert (seen["hsts"], seen["redirect"], seen["proxy"]) == (
        [63072000, True, True], True, ["HTTP_X_FORWARDED_PROTO", "https"],
    )  # fmt: skip


@pytest.mark.parametrize(
    "env, named",
    [
        ({"DJANGO_HSTS_SECONDS": "a year"}, "DJANGO_HSTS_SECONDS"),
        ({"DJANGO_SSL_REDIRECT": "sometimes"}, "DJANGO_SSL_REDIRECT"),
        ({"DJANGO_BEHIND_TLS_PROXY": "maybe"}, "DJANGO_BEHIND_TLS_PROXY"),
        ({"DJANGO_HSTS_PRELOAD": "true", "DJANGO_HSTS_SECONDS": "3600"}, "DJANGO_HSTS_PRELOAD"),
    ],
)
def test_bad_https_values_stop_start_up_naming_the_variable(tmp_path, env, named):
    done = _settings_in(tmp_path, **env)
    assert done.returncode != 0
    assert "ImproperlyConfigured" in done.stderr and named in done.stderr


S3 = {"S3_BUCKET": "media", "S3_ACCESS_KEY_ID": "k", "S3_SECRET_ACCESS_KEY": "s"}


@pytest.mark.parametrize(
    "env",
    [
        {"S3_ENDPOINT_URL": "http://127.0.0.1:8333"},
        {"S3_ENDPOINT_URL": "https://s3.example.org:9000", "S3_ADDRESSING_STYLE": "virtual"},
        {"S3_ENDPOINT_URL": "http://127.0.0.1:8333", "S3_ADDRESSING_STYLE": "virtual"},
        {},  # AWS, us-east-1
        {"S3_REGION": "eu-west-1"},
        {"S3_REGION": "eu-west-1", "S3_ADDRESSING_STYLE": "virtual"},
    ],
    ids=["seaweed", "virtual-host", "virtual-ip", "aws", "aws-region", "aws-virtual"],
)
def test_the_policy_allows_the_host_that_presigned_media_urls_point_at(tmp_path, env):
    """On S3, /media-files/ redirects to a presigned URL: images, audio/video and fetches must be allowed there."""
    done = _settings_in(tmp_path, **S3, **env)
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    origin = re.match(r"https?://[^/]+", seen["url"]).group(0)
    for directive in ("img", "media", "connect"):
        assert origin in seen[directive], (directive, seen)
        assert seen[directive][0] == "'self'" and len(seen[directive]) <= 4


# --- No inline code in templates ------------------------------------------------------------

TEMPLATES = ROOT / "templates"
INLINE = {
    "inline <script>": re.compile(r"<script\b(?![^>]*\bsrc=)[^>]*>", re.I),
    "on* handler": re.compile(r"<[a-z][^>]*\son[a-z]+\s*=", re.I),
    "hx-on": re.compile(r"\b(hx|data-hx)-on\b", re.I),
    "javascript: URL": re.compile(r"javascript:", re.I),
    "<style> element": re.compile(r"<style\b", re.I),
    "style attribute": re.compile(r"<[a-z][^>]*\sstyle\s*=", re.I),
    "js: value": re.compile(r"\bhx-(vals|vars)\s*=\s*['\"]\s*(js|javascript):", re.I),
}


def test_templates_have_no_inline_scripts_handlers_or_styles():
    files = sorted(TEMPLATES.rglob("*.html"))
    assert len(files) > 30
    found = []
    for file in files:
        text = re.sub(r"{#.*?#}|{% comment %}.*?{% endcomment %}", "", file.read_text(), flags=re.S)
        for what, pattern in INLINE.items():
            found += [f"{file.relative_to(ROOT)}: {what}: {m.group(0)[:80]}" for m in pattern.finditer(text)]
    assert not found, "\n".join(found)


def test_the_guard_finds_what_it_looks_for():
    samples = {
        "inline <script>": "<script>alert(1)</script>",
        "on* handler": '<select name="t" onchange="this.form.submit()">',
        "hx-on": '<button hx-on:click="go()">',
        "javascript: URL": '<a href="javascript:go()">',
        "<style> element": "<style>b{}</style>",
        "style attribute": '<p class="x" style="color:red">',
        "js: value": "<div hx-vals='js:{a: 1}'>",
    }
    for what, sample in samples.items():
        assert INLINE[what].search(sample), what
    assert not INLINE["inline <script>"].search('<script src="/static/js/app.js" defer></script>')
    assert not INLINE["on* handler"].search('<input name="done" data-autosubmit>')


# --- Expected refusals are one log line -----------------------------------------------------


def _refusals(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name.startswith(("django.request", "django.security"))]


def _one_line(caplog, status: int, method: str, path: str, user: object) -> str:
    records = _refusals(caplog)
    assert len(records) == 1, [r.getMessage() for r in records]
    (record,) = records
    assert record.exc_info is None and record.exc_text is None and record.stack_info is None
    message = record.getMessage()
    assert "\n" not in message and "Traceback" not in message
    assert message.startswith(f"{status} {method} {path} user={user}: "), message
    caplog.clear()
    return message


def test_refusals_are_logged_as_one_line_without_a_traceback(world, caplog):
    users, kwargs = world
    clients = _clients(users)
    slug = kwargs["slug"]
    caplog.set_level(logging.INFO)

    settings_page = reverse("annotations:project_settings", args=[slug])
    assert clients["annotator"].get(settings_page).status_code == 403  # PermissionDenied in the view
    message = _one_line(caplog, 403, "GET", settings_page, users["annotator"].pk)
    assert "Forbidden" in message

    project_page = reverse("annotations:project_detail", args=[slug])
    assert clients["outsider"].get(project_page).status_code == 404  # Http404 for another project
    assert "Not Found" in _one_line(caplog, 404, "GET", project_page, users["outsider"].pk)

    assert clients["anonymous"].get("/no-such-page/").status_code == 404  # no route at all
    assert _one_line(caplog, 404, "GET", "/no-such-page/", "-").endswith("Not Found")

    api_settings = reverse("annotations-api:project-settings", args=[slug])
    assert clients["annotator"].get(api_settings).status_code == 403  # DRF's permission check
    _one_line(caplog, 403, "GET", api_settings, users["annotator"].pk)
    api = reverse("annotations-api:project-detail", args=[slug])
    assert clients["outsider"].get(api).status_code == 404  # DRF's own 404
    _one_line(caplog, 404, "GET", api, users["outsider"].pk)

    strict = Client(enforce_csrf_checks=True)
    strict.force_login(users["curator"])
    assert strict.post(settings_page, {}).status_code == 403  # CSRF failure
    assert "CSRF" in _one_line(caplog, 403, "POST", settings_page, users["curator"].pk)

    # A path can carry a newline; the log line stays one line.
    assert clients["anonymous"].get("/nothing%0Ahere/").status_code == 404
    _one_line(caplog, 404, "GET", "/nothing\\nhere/", "-")


def test_a_sign_in_lock_out_is_one_line(annotator, caplog):
    caplog.set_level(logging.INFO)
    client = Client(REMOTE_ADDR="203.0.113.9")
    codes = [client.post("/accounts/login/", {"username": "ann", "password": "guess"}).status_code for _ in range(5)]
    assert codes[-1] == 429
    records = _refusals(caplog)
    assert len(records) == 1 and records[0].exc_info is None
    assert records[0].getMessage().startswith("429 POST /accounts/login/ user=-: ")


@pytest.mark.urls(__name__)
def test_a_server_error_keeps_its_traceback(caplog):
    caplog.set_level(logging.INFO)
    response = Client(raise_request_exception=False).get("/boom/")
    assert response.status_code == 500
    _assert_strict(response)
    assert b'<link rel="stylesheet" href="/static/css/error.css">' in response.content  # no inline <style>
    (record,) = _refusals(caplog)
    assert record.exc_info is not None and "a real bug" in str(record.exc_info[1])
