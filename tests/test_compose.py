"""docker-compose.yml is valid and production-shaped, checked with `docker-compose config` (no Docker engine needed).

Debian's docker-compose package (scripts/install.sh) validates and interpolates the file exactly as
`docker-compose up` would read it; the test then reads the resolved configuration.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess

import pytest
import yaml
from django.conf import settings

from tests.services import ROOT, unavailable

APP_SERVICES = {"web", "worker-media", "worker-jobs", "worker-judge", "beat"}
SERVICES = APP_SERVICES | {"migrate", "postgres", "redis", "s3"}
REQUIRED = {
    "DJANGO_SECRET_KEY": "compose-test-secret",
    "POSTGRES_PASSWORD": "compose-test-db-password",
    "S3_SECRET_ACCESS_KEY": "compose-test-s3-secret",
    "S3_ENDPOINT_URL": "http://media.example.com:8333",
}


def _compose_config(**variables: str) -> subprocess.CompletedProcess[str]:
    tool = shutil.which("docker-compose")
    if tool is None:
        unavailable("docker-compose is not installed (scripts/install.sh installs Debian's package)")
    # Only the variables given here: nothing from the developer's shell or a .env leaks into the check.
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"), **variables}
    return subprocess.run(
        [str(tool), "--project-directory", str(ROOT), "-f", str(ROOT / "docker-compose.yml"), "config"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


@pytest.fixture(scope="module")
def config() -> dict:
    done = _compose_config(**REQUIRED)
    assert done.returncode == 0, done.stderr
    return yaml.safe_load(done.stdout)


def _argv(service: dict) -> list[str]:
    command = service["command"]
    return shlex.split(command) if isinstance(command, str) else list(command)


def _option(argv: list[str], name: str) -> str | None:
    return argv[argv.index(name) + 1] if name in argv else None


def test_the_stack_declares_every_service(config):
    assert set(config["services"]) == SERVICES


def test_app_services_run_with_debug_off_and_the_secret_from_the_environment(config):
    for name in APP_SERVICES | {"migrate"}:
        env = config["services"][name]["environment"]
        assert env["DJANGO_DEBUG"] == "false", name
        assert env["DJANGO_SECRET_KEY"] == REQUIRED["DJANGO_SECRET_KEY"], name
        assert env["S3_SECRET_ACCESS_KEY"] == REQUIRED["S3_SECRET_ACCESS_KEY"], name
        assert REQUIRED["POSTGRES_PASSWORD"] in env["DATABASE_URL"], name
        assert env["S3_ENDPOINT_URL"] == REQUIRED["S3_ENDPOINT_URL"], name
        assert env["DJANGO_SECURE_COOKIES"] == "true", name
        assert "127.0.0.1" in env["DJANGO_ALLOWED_HOSTS"].split(","), name  # the web health probe's host


@pytest.mark.parametrize("missing", sorted(REQUIRED))
def test_a_missing_secret_stops_the_stack_naming_it(missing):
    done = _compose_config(**{k: v for k, v in REQUIRED.items() if k != missing})
    assert done.returncode != 0
    assert missing in done.stderr


def test_every_service_restarts_and_reports_its_health(config):
    for name, service in config["services"].items():
        if name == "migrate":
            # A one-shot: retried when it fails, never restarted after it succeeded.
            assert service["restart"] == "on-failure"
            continue
        assert service["restart"] == "unless-stopped", name
        assert service["healthcheck"]["test"], name
    web_probe = " ".join(config["services"]["web"]["healthcheck"]["test"])
    assert "/health/ready" in web_probe


def test_app_services_wait_for_the_migration_and_healthy_backends(config):
    for name in APP_SERVICES:
        depends = config["services"][name]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully", name
        for backend in ("postgres", "redis", "s3"):
            assert depends[backend]["condition"] == "service_healthy", (name, backend)
    assert config["services"]["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_workers_split_the_queues_and_every_queue_has_a_worker(config):
    services = config["services"]
    consumed: dict[str, set[str]] = {}
    for name in ("worker-media", "worker-jobs", "worker-judge"):
        argv = _argv(services[name])
        assert argv[:4] == ["celery", "-A", "omni_annotate", "worker"], name
        consumed[name] = set((_option(argv, "-Q") or "").split(","))
        # The worker's health check pings the worker's own node name.
        node = _option(argv, "--hostname")
        assert node and node.endswith("@%h"), name
        assert f"-d {node.replace('%h', '$$HOSTNAME')}" in services[name]["healthcheck"]["test"][-1], name
    assert consumed["worker-media"] == {"media", "default"}
    assert consumed["worker-jobs"] == {"import", "release", "stats", "default"}
    assert consumed["worker-judge"] == {"judge"}
    assert _option(_argv(services["worker-media"]), "--pool") == "prefork"
    assert _option(_argv(services["worker-judge"]), "--pool") == "threads"
    declared = {queue.name for queue in settings.CELERY_TASK_QUEUES}
    assert declared == set().union(*consumed.values())


def test_beat_runs_once_with_its_schedule_in_a_writable_place(config):
    argv = _argv(config["services"]["beat"])
    assert argv[:4] == ["celery", "-A", "omni_annotate", "beat"]
    assert _option(argv, "--schedule") == "/tmp/celerybeat-schedule"
    assert "deploy" not in config["services"]["beat"]  # no replicas: two beats would send every sweep twice


def test_web_runs_gunicorn_and_migrations_run_once_before_it(config):
    assert _argv(config["services"]["web"])[0] == "gunicorn"
    assert _argv(config["services"]["migrate"]) == ["python", "manage.py", "migrate", "--noinput"]
