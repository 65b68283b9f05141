"""Health endpoints as an orchestrator sees them: no sign-in, a status code to act on, the failing check named."""

from __future__ import annotations

import socket

import pytest
from django.core.files.storage import FileSystemStorage
from django.test import Client

from omni_annotate.broker import broker_options
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
    if settings.EMBEDDED_BROKER:
        unavailable("CELERY_BROKER_URL is not set; this test pings a Redis broker")
    response = Client().get("/health/ready")
    assert response.status_code == 200, response.content
    assert response.json() == {"Database(alias='default')": "OK", "Broker": "OK", "Storage(alias='default')": "OK"}
    assert "no-cache" in response["Cache-Control"]
    # The storage probe cleans up after itself: the media folder holds no probe file.
    assert not [p for p in settings.MEDIA_ROOT.rglob("*") if p.is_file()]


@pytest.mark.django_db
def test_readiness_answers_503_naming_the_broker_when_it_is_down(settings):
    port = _closed_port()
    settings.EMBEDDED_BROKER = False
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{port}/0"
    response = Client().get("/health/ready")
    assert response.status_code == 503
    report = response.json()
    assert report["Broker"].startswith("Unavailable")
    assert report["Database(alias='default')"] == "OK" and report["Storage(alias='default')"] == "OK"
    # Nothing about where the broker lives.
    assert str(port) not in response.content.decode() and "127.0.0.1" not in response.content.decode()


@pytest.mark.django_db
def test_readiness_answers_503_naming_storage_when_it_fails(settings, monkeypatch, tmp_path):
    embedded_broker(settings, tmp_path)  # the embedded default: its job folder is the broker

    def disk_full(self, name, content):
        raise OSError(28, "No space left on device", "/srv/secret-volume/media")

    monkeypatch.setattr(FileSystemStorage, "_save", disk_full)
    response = Client().get("/health/ready", HTTP_ACCEPT="application/json")
    assert response.status_code == 503
    report = response.json()
    assert report["Database(alias='default')"] == "OK"
    assert report["Storage(alias='default')"] != "OK"
    assert report["Broker"] == "OK"
    assert "secret-volume" not in response.content.decode()


@pytest.mark.django_db
def test_readiness_reports_plain_text_for_command_line_probes(settings, tmp_path):
    embedded_broker(settings, tmp_path)
    response = Client().get("/health/ready", HTTP_ACCEPT="text/plain")
    assert response.status_code == 200
    assert response.content.decode().splitlines() == [
        "Database(alias='default'): OK",
        "Broker: OK",
        "Storage(alias='default'): OK",
    ]


@pytest.mark.django_db
def test_readiness_answers_503_when_the_embedded_job_folder_cannot_be_written(settings, tmp_path):
    embedded_broker(settings, tmp_path)
    blocker = tmp_path / "broker"
    blocker.write_text("a file where the broker's folder should be")
    response = Client().get("/health/ready", HTTP_ACCEPT="application/json")
    assert response.status_code == 503
    assert response.json()["Broker"].startswith("Unavailable")
    assert str(tmp_path) not in response.content.decode()


def embedded_broker(settings, tmp_path) -> None:
    """Settings as the embedded default has them, with the job folder under `tmp_path / "broker"`."""
    settings.EMBEDDED_BROKER = True
    settings.CELERY_BROKER_URL = "filesystem://localhost/"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = broker_options(tmp_path / "broker")
