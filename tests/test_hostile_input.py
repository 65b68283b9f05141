"""Hostile input: password guessing is rate limited, cross-site requests are refused, and hostile or
broken uploads are refused through the REST API with a message that says what is wrong and where.

Script payloads in real Chromium are in tests/browser/test_hostile_input.py; the importer's own refusals
(archive paths that escape, symlinks, zip bombs, unreadable parquet) are in tests/annotations/test_import.py
and the page's upload refusals in tests/annotations/test_views.py.
"""

from __future__ import annotations

import html
import io
import os
import re
import stat
import struct
import subprocess
import sys
import zipfile
from datetime import timedelta
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from axes.models import AccessAttempt
from django.apps import apps
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.db.models import F
from django.http import HttpRequest
from django.test import Client
from django.urls import get_resolver, reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from annotations.models import ImportJob, ImportStatus, Pair
from tests.services import ROOT
from tests.test_permission_matrix import _routes, _url
from tests.test_permission_matrix import world as _matrix_world

pytestmark = pytest.mark.django_db
world = _matrix_world  # the permission matrix's projects, personas and one object of every kind, as a fixture here

PASSWORD = "pw-for-tests"  # tests.factories.UserFactory
ATTACKER, PERSON = "203.0.113.5", "198.51.100.7"
LOCKED_TEXT = "Too many failed sign-ins for this account from your address; try again in {} minutes."


# --- Sign-in rate limiting (django-axes) ------------------------------------------------------------------------


def _sign_in(client: Client, username: str, password: str, path: str = "/accounts/login/"):
    return client.post(path, {"username": username, "password": password})


def _page_text(response) -> str:
    return html.unescape(re.sub(r"\s+", " ", response.content.decode()))


def test_five_wrong_passwords_lock_the_account_from_that_address_even_with_the_right_one(annotator):
    client = Client(REMOTE_ADDR=ATTACKER)
    codes = [_sign_in(client, "ann", "guess").status_code for _ in range(5)]
    assert codes == [200, 200, 200, 200, 429]  # the fifth failure already answers with the lock-out

    locked = _sign_in(client, "ann", PASSWORD)

    assert locked.status_code == 429
    assert LOCKED_TEXT.format(15) in _page_text(locked)
    assert '<a class="brand"' in locked.content.decode()  # a page of the site, not a bare error
    assert "_auth_user_id" not in client.session
    assert client.get(reverse("annotations:project_list")).status_code == 302  # still signed out
    # The admin's sign-in form goes through the same backends: no way around the lock there.
    assert _sign_in(client, "ann", PASSWORD, path="/admin/login/").status_code == 429


def test_the_lock_holds_one_account_at_one_address_only(annotator, curator):
    attacker = Client(REMOTE_ADDR=ATTACKER)
    for _ in range(5):
        _sign_in(attacker, "ann", "guess")
    assert _sign_in(attacker, "ann", PASSWORD).status_code == 429

    # Another account from the same address, and the same account from the person's own address, sign in.
    assert _sign_in(Client(REMOTE_ADDR=ATTACKER), "cora", PASSWORD).status_code == 302
    person = Client(REMOTE_ADDR=PERSON)
    assert _sign_in(person, "ann", PASSWORD).status_code == 302
    assert person.get(reverse("annotations:project_list")).status_code == 200


def test_a_successful_sign_in_clears_the_count(annotator):
    client = Client(REMOTE_ADDR=PERSON)
    for _ in range(4):
        _sign_in(client, "ann", "typo")
    assert _sign_in(client, "ann", PASSWORD).status_code == 302
    client.logout()
    assert [_sign_in(client, "ann", "typo").status_code for _ in range(4)] == [200] * 4


def test_the_cool_off_setting_is_honoured(annotator, settings):
    settings.AXES_COOLOFF_TIME = timedelta(minutes=2)
    client = Client(REMOTE_ADDR=ATTACKER)
    for _ in range(5):
        _sign_in(client, "ann", "guess")

    locked = _sign_in(client, "ann", PASSWORD)
    assert locked.status_code == 429 and LOCKED_TEXT.format(2) in _page_text(locked)

    # 90 s later: still inside the two minutes (and this attempt starts them again).
    AccessAttempt.objects.update(attempt_time=F("attempt_time") - timedelta(seconds=90))
    assert _sign_in(client, "ann", PASSWORD).status_code == 429
    # Two minutes after the last attempt the account opens again.
    AccessAttempt.objects.update(attempt_time=F("attempt_time") - timedelta(minutes=2, seconds=1))
    assert _sign_in(client, "ann", PASSWORD).status_code == 302


def test_limit_and_cool_off_come_from_the_environment_and_bad_values_stop_start_up(tmp_path):
    script = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.AXES_FAILURE_LIMIT, int(s.AXES_COOLOFF_TIME.total_seconds()), s.AXES_LOCKOUT_PARAMETERS, "
        "s.AUTHENTICATION_BACKENDS[0], s.MIDDLEWARE[-1])"
    )

    def start(**env: str) -> subprocess.CompletedProcess[str]:
        clean = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "CELERY_", "CACHE_", "S3_"))}
        clean.update(DJANGO_SETTINGS_MODULE="omni_annotate.settings", OMNI_DATA_DIR=str(tmp_path), **env)
        return subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=clean, capture_output=True, text=True)

    done = start(OMNI_LOGIN_FAILURE_LIMIT="3", OMNI_LOGIN_COOLOFF_MINUTES="7")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split(maxsplit=2)[:2] == ["3", "420"]
    assert "[['username', 'ip_address']] axes.backends.AxesStandaloneBackend axes.middleware.AxesMiddleware" in (
        done.stdout
    )
    bad = start(OMNI_LOGIN_COOLOFF_MINUTES="soon")
    assert bad.returncode != 0 and "OMNI_LOGIN_COOLOFF_MINUTES='soon' is not an integer" in bad.stderr


def test_api_tokens_are_not_password_sign_ins(annotator, project):
    for _ in range(5):
        _sign_in(Client(REMOTE_ADDR=ATTACKER), "ann", "guess")
    attempts = list(AccessAttempt.objects.values_list("username", "failures_since_start"))
    assert attempts == [("ann", 5)]

    # A token is its own secret and never reaches authenticate(): the lock on the password does not touch it,
    # and wrong tokens are plain 401s that neither count nor lock.
    api = APIClient(REMOTE_ADDR=ATTACKER)
    api.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=annotator).key}")
    assert api.get(reverse("annotations-api:project-list")).status_code == 200
    stranger = APIClient(REMOTE_ADDR=ATTACKER)
    stranger.credentials(HTTP_AUTHORIZATION="Token " + "0" * 40)
    assert [stranger.get(reverse("annotations-api:project-list")).status_code for _ in range(8)] == [401] * 8
    assert list(AccessAttempt.objects.values_list("username", "failures_since_start")) == attempts


def test_client_login_in_tests_passes_a_request(annotator, client):
    # The documented form with AxesStandaloneBackend: authenticate() needs a request to check the lock.
    assert client.login(request=HttpRequest(), username="ann", password=PASSWORD)
    assert client.get(reverse("annotations:project_list")).status_code == 200


# --- CSRF on every state-changing request ---------------------------------------------------------------------

UNSAFE = ("post", "put", "patch", "delete")


def _snapshot() -> dict[str, list[dict]]:
    """Every row the app owns, plus users and API tokens (sign-in bookkeeping and sessions aside)."""
    models = [m for label in ("annotations", "releases", "judges", "media_pipeline") for m in
              apps.get_app_config(label).get_models()] + [get_user_model(), Token]  # fmt: skip
    return {m._meta.label: list(m.objects.order_by("pk").values()) for m in models}


def _send(client: Client, method: str, url: str, **extra):
    if method == "post":
        return client.post(url, {}, **extra)
    return getattr(client, method)(url, "{}", content_type="application/json", **extra)


def test_every_state_changing_route_refuses_a_session_request_without_the_csrf_token(world):
    users, kwargs = world
    staff = users["staff"]
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff)
    client.get(reverse("login"))  # sets the CSRF cookie, as any page with a form does
    token = client.cookies[django_settings.CSRF_COOKIE_NAME].value

    routes = [r for r in _routes(get_resolver().url_patterns) if r[0] != "admin" and r[1]]
    refused, accepted, failures = 0, set(), []
    for ns, name, pattern in routes:
        url = _url(ns, name, pattern, kwargs)
        before = _snapshot()
        for method in UNSAFE:
            response = _send(client, method, url)
            refused += 1
            # Swagger UI's HTML renderer drops the reason; its control below answers 405, so the 403 was CSRF.
            says_csrf = b"CSRF" in response.content or (ns, name) == (None, "api-docs")
            if response.status_code != 403 or not says_csrf:
                failures.append(f"{method.upper()} {url} without a token: {response.status_code}")
        if _snapshot() != before:
            failures.append(f"{url}: a request without a CSRF token changed the database")
        if client.get(reverse("annotations:project_list")).status_code != 200:
            failures.append(f"{url}: a request without a CSRF token signed the staff user out")

        # Control: the same requests with the token get past the CSRF check (and are rolled back).
        for method in UNSAFE:
            with transaction.atomic():
                response = _send(client, method, url, HTTP_X_CSRFTOKEN=token)
                transaction.set_rollback(True)
            if response.status_code == 403:
                failures.append(f"{method.upper()} {url} with the token: 403 {response.content[:200]!r}")
            elif response.status_code != 405:
                accepted.add((ns, name, method))
        client.force_login(staff)  # the logout control signed us out
    assert not failures, "\n".join(failures)
    assert len(routes) > 60 and refused == 4 * len(routes)
    # The walk reached the writes that matter, pages and API alike.
    assert {
        ("annotations", "vote", "post"), ("annotations", "import_start", "post"), ("releases", "gate_edit", "post"),
        ("releases", "release_publish", "post"), ("judges", "run_start", "post"), (None, "logout", "post"),
        ("annotations-api", "queue-vote", "post"), ("annotations-api", "member-detail", "delete"),
        ("releases-api", "adjudication", "post"), ("judges-api", "judge-detail", "delete"),
        ("annotations", "project_new", "post"), ("annotations-api", "project-list", "post"),
        ("annotations", "member_add", "post"), ("annotations-api", "member-detail", "patch"),
    } <= accepted, sorted(accepted, key=str)  # fmt: skip


def test_sign_in_itself_needs_the_csrf_token(annotator):
    client = Client(enforce_csrf_checks=True)
    response = _sign_in(client, "ann", PASSWORD)
    assert response.status_code == 403 and "_auth_user_id" not in client.session
    assert _sign_in(client, "ann", PASSWORD, path="/admin/login/").status_code == 403


def test_htmx_requests_carry_the_token_from_the_body_and_nothing_else_is_needed(project, annotator):
    client = Client(enforce_csrf_checks=True)
    client.force_login(annotator)
    page = client.get(reverse("annotations:annotate", args=[project.slug])).content.decode()
    match = re.search(r"<body hx-headers='\{\"X-CSRFToken\": \"(\w+)\"\}'>", page)
    assert match, "the base template must put the CSRF token in hx-headers on <body>"

    undo = reverse("annotations:undo", args=[project.slug])
    assert client.post(undo, HTTP_HX_REQUEST="true").status_code == 403
    answered = client.post(undo, HTTP_HX_REQUEST="true", HTTP_X_CSRFTOKEN=match.group(1))
    assert answered.status_code in (200, 409) and b'id="workspace"' in answered.content


def test_token_authenticated_api_writes_need_no_csrf_token(project, curator, annotator):
    api = APIClient(enforce_csrf_checks=True)
    api.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=curator).key}")
    url = reverse("annotations-api:member-detail", args=[project.slug, "ann"])
    response = api.delete(url)
    assert response.status_code == 204, response.content
    assert not project.memberships.filter(user=annotator).exists()

    # The same write over a browser session still needs the token.
    session = APIClient(enforce_csrf_checks=True)
    session.force_login(curator)
    response = session.post(reverse("annotations-api:member-list", args=[project.slug]), {"username": "ann"})
    assert response.status_code == 403 and "CSRF" in response.json()["detail"]


# --- Hostile and broken uploads through the REST API -----------------------------------------------------------


def _row(**overrides) -> dict:
    row = {"id": "h1", "task": "T2T", "prompt": "Say hi.", "criteria": "Prefer the friendlier one.",
           "criteria_preference": "response1", "response1": "Hi!", "response2": "Hello.", "model1": "m1",
           "model2": "m2"}  # fmt: skip
    return {**row, **overrides}


def _jsonl(*rows: dict | bytes) -> bytes:
    return b"".join((row if isinstance(row, bytes) else orjson.dumps(row)) + b"\n" for row in rows)


def _zip(members: dict[str, bytes], *, symlink: str | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("text_to_text/test.jsonl", _jsonl(_row()))
        for name, data in members.items():
            zf.writestr(name, data)
        if symlink:
            info = zipfile.ZipInfo(symlink)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, b"/etc/passwd")
    return buffer.getvalue()


def _damaged(data: bytes, *, crc: bool = False, method: int | None = None, encrypted: bool = False) -> bytes:
    """Corrupt one member's data, or claim a compression method or encryption it does not use."""
    out = bytearray(data)
    if crc:
        at = out.rfind(b"payload-bytes")
        out[at] ^= 0xFF
    for signature, flags_at, method_at in ((b"PK\x03\x04", 6, 8), (b"PK\x01\x02", 8, 10)):
        at = out.find(signature)
        while at != -1:
            if encrypted:
                out[at + flags_at] |= 1
            if method is not None:
                out[at + method_at : at + method_at + 2] = struct.pack("<H", method)
            at = out.find(signature, at + 4)
    return bytes(out)


def _parquet(rows: list[dict]) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows), buffer)
    return buffer.getvalue()


def _api_import(project, curator, name: str, data: bytes, django_capture_on_commit_callbacks, **files):
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=curator)[0].key}")
    body = {"data_file": SimpleUploadedFile(name, data), **files}
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(reverse("annotations-api:import-list", args=[project.slug]), body, format="multipart")
    if response.status_code != 202:
        return response, None
    detail = api.get(reverse("annotations-api:import-detail", args=[project.slug, response.json()["id"]]))
    return response, detail.json()


MEMBER = b"payload-bytes " * 20
# What the API must say about each hostile archive: the job fails, locates the problem and stores nothing.
ARCHIVES = {
    "dot-dot": (_zip({"media_data/../../escape.txt": b"x"}), "entry 'media_data/../../escape.txt' points outside"),
    "absolute": (_zip({"/tmp/escape.txt": b"x"}), "entry '/tmp/escape.txt' points outside the archive folder"),
    "backslash": (_zip({"..\\escape.txt": b"x"}), "points outside the archive folder"),
    "symlink": (_zip({}, symlink="media_data/link"), "entry 'media_data/link' is a symbolic link"),
    "damaged": (_damaged(_zip({"media_data/x.bin": MEMBER}), crc=True), "entry 'media_data/x.bin' is damaged"),
    "encrypted": (_damaged(_zip({}), encrypted=True), "is encrypted; upload an archive without a password"),
    "odd-compression": (_damaged(_zip({}), method=99), "uses a compression method this server cannot read"),
    "truncated": (_zip({"media_data/x.bin": MEMBER})[:150], "is not a readable zip archive (truncated"),
}


@pytest.mark.parametrize("case", list(ARCHIVES))
def test_api_import_refuses_hostile_and_broken_archives(project, curator, case, django_capture_on_commit_callbacks):
    data, expected = ARCHIVES[case]
    created, job = _api_import(project, curator, "release.zip", data, django_capture_on_commit_callbacks)
    assert created.status_code == 202
    assert job["status"] == ImportStatus.FAILED and job["message"].endswith("nothing was imported.")
    [problem] = job["problems"]
    assert problem["file"] == "release.zip" and expected in problem["message"], problem
    assert Pair.objects.count() == 0
    assert not (Path(django_settings.MEDIA_ROOT).parent / "escape.txt").exists()


def test_api_import_refuses_an_oversized_upload_before_storing_it(project, curator, settings):
    settings.OMNI_IMPORT_MAX_UPLOAD_MB = 1
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=curator).key}")
    url = reverse("annotations-api:import-list", args=[project.slug])
    big = SimpleUploadedFile("huge.jsonl", b"x" * (2 * 1024 * 1024))
    response = api.post(url, {"data_file": big}, format="multipart")
    assert response.status_code == 400
    message = response.json()["data_file"][0]
    assert message.startswith("huge.jsonl is 2 MB; uploads may be at most 1 MB.")
    assert "manage.py import_pairs" in message
    media = SimpleUploadedFile("media.zip", b"x" * (2 * 1024 * 1024))
    response = api.post(url, {"data_file": SimpleUploadedFile("p.jsonl", _jsonl(_row())), "media_file": media})
    assert response.status_code == 400 and "media.zip is 2 MB" in response.json()["media_file"][0]
    assert ImportJob.objects.count() == 0


def test_api_import_locates_malformed_jsonl_lines_by_file_line_and_field(
    project, curator, django_capture_on_commit_callbacks
):
    data = _jsonl(_row(id="ok"), b"{not json", _row(id="n", prompt=5), b"[1, 2]", _row(id="c", criteria_preference="A"))
    _, job = _api_import(project, curator, "pairs.jsonl", data, django_capture_on_commit_callbacks)
    assert job["status"] == ImportStatus.FAILED
    found = {(p["file"], p["row"], p["field"]): p["message"] for p in job["problems"]}
    assert found[("pairs.jsonl", 2, None)].startswith("not valid JSON")
    assert found[("pairs.jsonl", 3, "prompt")] == "prompt must be a string."
    assert found[("pairs.jsonl", 4, None)] == "a line must hold a JSON object."
    assert found[("pairs.jsonl", 5, "criteria_preference")].startswith("label 'A' is not one of")
    assert Pair.objects.count() == 0


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"PAR1 this is not parquet", "not a readable parquet file"),
        (_parquet([_row()])[:-40] + b"PAR1", "not a readable parquet file"),
    ],
    ids=["garbage", "truncated"],
)
def test_api_import_refuses_malformed_parquet(project, curator, data, expected, django_capture_on_commit_callbacks):
    _, job = _api_import(project, curator, "pairs.parquet", data, django_capture_on_commit_callbacks)
    assert job["status"] == ImportStatus.FAILED
    [problem] = job["problems"]
    assert problem["file"] == "pairs.parquet" and expected in problem["message"]
    assert Pair.objects.count() == 0


def test_api_import_refuses_an_empty_file_at_once(project, curator, django_capture_on_commit_callbacks):
    response, _ = _api_import(project, curator, "pairs.parquet", b"", django_capture_on_commit_callbacks)
    assert response.status_code == 400 and response.json() == {"data_file": ["The submitted file is empty."]}
    assert ImportJob.objects.count() == 0


def test_api_import_locates_bad_parquet_values_by_row_and_field(project, curator, django_capture_on_commit_callbacks):
    data = _parquet([_row(), _row(id="h2", prompt="x", criteria_preference="both")])
    _, job = _api_import(project, curator, "pairs.parquet", data, django_capture_on_commit_callbacks)
    assert [(p["file"], p["row"], p["field"]) for p in job["problems"]] == [("pairs.parquet", 2, "criteria_preference")]


def test_api_import_refuses_a_media_archive_that_escapes(project, curator, django_capture_on_commit_callbacks):
    rows = _jsonl(_row(task="T2I", response1="a.png", response2="b.png"))
    media = SimpleUploadedFile("media.zip", _zip({"../../escape.png": b"x"}))
    _, job = _api_import(project, curator, "pairs.jsonl", rows, django_capture_on_commit_callbacks, media_file=media)
    assert job["status"] == ImportStatus.FAILED
    assert job["problems"][0]["file"] == "media.zip" and "points outside" in job["problems"][0]["message"]


def test_the_import_page_shows_a_damaged_archive_as_a_located_problem(
    project, curator, django_capture_on_commit_callbacks
):
    client = Client()
    client.force_login(curator)
    data = ARCHIVES["damaged"][0]
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("annotations:import_start", args=[project.slug]),
            {"data_file": SimpleUploadedFile("mine.zip", data)},
        )
    page = _page_text(client.get(response["Location"]))
    assert "nothing was imported" in page and "entry 'media_data/x.bin' is damaged" in page
    assert "internal error" not in page
    assert ImportJob.objects.get().problems[0]["file"] == "mine.zip"
