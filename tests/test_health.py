"""Health endpoints as an orchestrator sees them: no sign-in, a status code to act on, the failing check named."""

from __future__ import annotations

import socket

import pytest
from django.core.files.storage import FileSystemStorage
from django.test import Client

from tests.services import unavailable


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_liveness_answers_without_a_sign_in_or_any_dependency():
    # No `db` fixture: any database access here would fail the test.
    response = Client().get("/health/live")
    assert response.status_code == 200
    assert response.json() == {"status": "alive"}
    assert "no-cache" in response["Cache-Control"]


@pytest.mark.django_db
def test_readiness_answers_200_when_database_broker_and_storage_answer(settings):
    if not settings.CELERY_BROKER_URL:
        unavailable("CELERY_BROKER_URL is not set; readiness checks the broker only when there is one")
    response = Client().get("/health/ready")
    assert response.status_code == 200, response.content
    assert response.json() == {"Database(alias='default')": "OK", "Broker": "OK", "Storage(alias='default')": "OK"}
    assert "no-cache" in response["Cache-Control"]
    # The storage probe cleans up after itself: the media folder holds no probe file.
    assert not [p for p in settings.MEDIA_ROOT.rglob("*") if p.is_file()]


@pytest.mark.django_db
def test_readiness_answers_503_naming_the_broker_when_it_is_down(settings):
    port = _closed_port()
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{port}/0"
    response = Client().get("/health/ready")
    assert response.status_code == 503
    report = response.json()
    assert report["Broker"].startswith("Unavailable")
    assert report["Database(alias='default')"] == "OK" and report["Storage(alias='default')"] == "OK"
    # Nothing about where the broker lives.
    assert str(port) not in response.content.decode() and "127.0.0.1" not in response.content.decode()


@pytest.mark.django_db
def test_readiness_answers_503_naming_storage_when_it_fails(settings, monkeypatch):
    settings.CELERY_BROKER_URL = ""  # the embedded default: no broker to ping, so only storage can fail

    def disk_full(self, name, content):
        raise OSError(28, "No space left on device", "/srv/secret-volume/media")

    monkeypatch.setattr(FileSystemStorage, "_save", disk_full)
    response = Client().get("/health/ready", HTTP_ACCEPT="application/json")
    assert response.status_code == 503
    report = response.json()
    assert report["Database(alias='default')"] == "OK"
    assert report["Storage(alias='default')"] != "OK"
    assert "Broker" not in report
    assert "secret-volume" not in response.content.decode()


@pytest.mark.django_db
def test_readiness_reports_plain_text_for_command_line_probes(settings):
    settings.CELERY_BROKER_URL = ""
    response = Client().get("/health/ready", HTTP_ACCEPT="text/plain")
    assert response.status_code == 200
    assert response.content.decode().splitlines() == ["Database(alias='default'): OK", "Storage(alias='default'): OK"]
