"""The docker-compose stack, run without Docker: the processes docker-compose.yml declares, on this machine.

The commands, the environment and the health checks come from docker-compose.yml itself (and the
Dockerfile's ENV), with the compose host names swapped for the real local services: the test's
PostgreSQL database, its Redis and a SeaweedFS server. Two web instances (the web service's gunicorn
command, on two ports), the three workers with their queues and pools, and beat. Then, through HTTP only:
a curator imports a small release through web 1, its media are processed, three annotators vote through
both instances alternately (some votes sent twice, once to each), a release is published through web 2,
built, and downloaded through web 1. Every vote is in the database once and in the archive's labels;
no instance wrote anything to its local disk.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import secrets
import shlex
import socket
import subprocess
import sys
import zipfile
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import boto3
import pytest
import requests
import yaml
from django.conf import settings
from django.db import connection
from rest_framework.authtoken.models import Token

from annotations.models import Judgment, Role
from tests.factories import MembershipFactory, ProjectFactory, UserFactory
from tests.http_flow import Process, api, free_port, poll_json, small_release, stop_processes, vote_all, wait_until
from tests.services import ROOT, S3Server, seaweed_s3, unavailable

pytestmark = [pytest.mark.real_worker, pytest.mark.s3, pytest.mark.django_db(transaction=True)]

WORKERS = ("worker-media", "worker-jobs", "worker-judge")
SLUG = "stack"
# Variables of this machine's environment that the compose environment alone must decide.
_OURS = re.compile(r"^(DJANGO_|S3_|OMNI_|CELERY_|DATABASE_URL$|CACHE_URL$|JOB_|[A-Z]+_LEASE_SECONDS$)")
_VARIABLE = re.compile(r"\$\{(\w+)(?:(:?[-?])([^}]*))?\}")


def _interpolate(value: str, variables: Mapping[str, str]) -> str:
    """Compose's ${NAME}, ${NAME:-default} and ${NAME:?error} substitution, and $$ for a literal $."""

    def one(match: re.Match[str]) -> str:
        name, operator, argument = match.groups()
        given = variables.get(name, "")
        if operator and operator.endswith("?") and not given:
            raise AssertionError(f"docker-compose.yml requires {name}: {argument}")
        if operator and operator.endswith("-") and not given:
            return argument
        return given

    return _VARIABLE.sub(one, value).replace("$$", "$")


def _dockerfile_env() -> dict[str, str]:
    """The image's ENV lines, with its /app folder being this checkout."""
    env: dict[str, str] = {}
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        if line.startswith("ENV "):
            for item in shlex.split(line[4:]):
                name, _, value = item.partition("=")
                env[name] = value.replace("/app", str(ROOT))
    return env


class Stack:
    """The compose services started as local processes, each in its own empty data and temp folders."""

    def __init__(self, tmp_path: Path, compose: dict, variables: Mapping[str, str], local: Mapping[str, str]):
        self.tmp_path, self.compose, self.variables, self.local = tmp_path, compose, variables, local
        self.processes: dict[str, Process] = {}
        self.folders: dict[str, Path] = {}

    def service(self, name: str) -> dict:
        return self.compose["services"][name]

    def environment(self, service: str, instance: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not _OURS.match(k)}
        env.update(_dockerfile_env())
        for name, raw in self.service(service)["environment"].items():
            value = _interpolate(str(raw), self.variables)
            host = urlsplit(value).hostname if "://" in value else None
            # A compose host name (postgres, redis) becomes the local service standing in for it.
            env[name] = self.local[host] if host in self.compose["services"] else value
        folder = self.tmp_path / instance
        (folder / "data").mkdir(parents=True)
        (folder / "tmp").mkdir()
        self.folders[instance] = folder
        env.update(
            PATH=f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}",  # celery, gunicorn, python
            HOSTNAME=socket.gethostname(),  # as in a container: what %h and $HOSTNAME both name
            OMNI_DATA_DIR=str(folder / "data"),
            TMPDIR=str(folder / "tmp"),
        )
        return env

    def command(self, text: str, instance: str) -> list[str]:
        # Compose's absolute /tmp paths go to the instance's own temp folder.
        return shlex.split(_interpolate(text, self.variables).replace("/tmp/", f"{self.folders[instance]}/tmp/"))

    def start(self, service: str, instance: str, **extra_env: str) -> Process:
        env = {**self.environment(service, instance), **extra_env}
        log = self.tmp_path / f"{instance}.log"
        with open(log, "wb") as out:
            popen = subprocess.Popen(
                self.command(self.service(service)["command"], instance),
                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        proc = self.processes[instance] = Process(instance, popen, log, env)
        return proc

    def run_once(self, service: str) -> subprocess.CompletedProcess[str]:
        env = self.environment(service, service)
        argv = self.command(self.service(service)["command"], service)
        return subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)

    def health(self, service: str, instance: str, *, port: int | None = None) -> subprocess.Popen[str]:
        """The service's compose health check, run as Docker would run it inside the instance's container."""
        test = [_interpolate(part, self.variables) for part in self.service(service)["healthcheck"]["test"]]
        if port is not None:
            test = [part.replace("127.0.0.1:8000", f"127.0.0.1:{port}") for part in test]
        test = [part.replace("/tmp/", f"{self.folders[instance]}/tmp/") for part in test]
        argv = ["sh", "-c", test[1]] if test[0] == "CMD-SHELL" else test[1:]
        env = self.processes[instance].env
        return subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def stop(self) -> None:
        stop_processes(list(self.processes.values()))


# --- the release the curator imports ------------------------------------------------------------


# --- the test --------------------------------------------------------------------------------


@contextmanager
def _s3(tmp_path: Path, bucket: str) -> Iterator[S3Server]:
    (tmp_path / "weed").mkdir()
    with seaweed_s3(tmp_path / "weed") as server:
        client = boto3.client(
            "s3", endpoint_url=server.endpoint, aws_access_key_id=server.access_key,
            aws_secret_access_key=server.secret_key, region_name="us-east-1",
        )  # fmt: skip
        client.create_bucket(Bucket=bucket)  # the compose file's bucket, which its s3 service creates
        yield server


def _wait_ready(web: Process, port: int) -> None:
    def ready() -> bool:
        try:
            return requests.get(f"http://127.0.0.1:{port}/health/ready", timeout=10).status_code == 200
        except requests.RequestException:  # not listening yet, or too busy starting
            return False

    wait_until(ready, 90, f"{web.name} to be ready", web)


def _passes(probe: subprocess.Popen[str], proc: Process) -> None:
    output, _ = probe.communicate(timeout=60)
    assert probe.returncode == 0, f"{proc.name}: its compose health check failed: {output}\n{proc.tail()}"


def test_the_compose_stack_imports_annotates_and_releases_through_two_web_instances(tmp_path):
    if settings.EMBEDDED_BROKER:
        unavailable("CELERY_BROKER_URL is not set; the stack's workers need Redis")
    if connection.vendor != "postgresql":
        unavailable("the stack shares the test database, which needs PostgreSQL (DATABASE_URL)")
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    db = connection.settings_dict
    host = f"{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}"
    local = {
        "postgres": f"postgres://{db['USER'] or 'postgres'}@{host}/{db['NAME']}",
        "redis": settings.CELERY_BROKER_URL,
    }
    bucket = _interpolate(str(compose["services"]["web"]["environment"]["S3_BUCKET"]), {})

    project = ProjectFactory(slug=SLUG, name="Stack")
    curator = MembershipFactory(project=project, role=Role.CURATOR, user=UserFactory(username="cora")).user
    annotators = [
        MembershipFactory(project=project, role=Role.ANNOTATOR, user=UserFactory(username=f"ann{n}")).user
        for n in range(3)
    ]
    tokens = {user.username: Token.objects.create(user=user).key for user in [curator, *annotators]}
    data, media, rows = small_release(tmp_path)

    with ExitStack() as stack:
        server = stack.enter_context(_s3(tmp_path, bucket))
        variables = {
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(32),
            "POSTGRES_PASSWORD": "unused-the-local-database-stands-in",
            "S3_ENDPOINT_URL": server.endpoint,
            "S3_ACCESS_KEY_ID": server.access_key,
            "S3_SECRET_ACCESS_KEY": server.secret_key,
            "JOB_SWEEP_SECONDS": "2",  # so the test sees beat's sweep go through the default queue
            "WEB_CONCURRENCY": "1",  # two instances of one process each: two processes to start, not six
        }
        services = Stack(tmp_path, compose, variables, local)
        stack.callback(services.stop)

        migrated = services.run_once("migrate")
        assert migrated.returncode == 0, migrated.stdout + migrated.stderr

        ports = (free_port(), free_port())
        webs = [
            services.start("web", f"web-{n + 1}", GUNICORN_BIND=f"127.0.0.1:{port}") for n, port in enumerate(ports)
        ]
        workers = {name: services.start(name, name) for name in WORKERS}
        beat = services.start("beat", "beat")
        for worker in workers.values():
            wait_until(lambda w=worker: b" ready." in w.log.read_bytes(), 90, f"{worker.name} to start", worker)
        wait_until(lambda: b"beat: Starting" in beat.log.read_bytes(), 60, "beat to start", beat)
        # Both at once: a gunicorn worker loads the URLconf on its first request, which takes seconds.
        with ThreadPoolExecutor(max_workers=2) as pool:
            list(pool.map(_wait_ready, webs, ports))

        # Every service's own compose health check passes, run as Docker would run it.
        # The web probes first, on their own: with the workers' probes (each a Celery client) starting
        # at the same moment on two cores, a web probe could outwait its own timeout.
        for web, port in zip(webs, ports, strict=True):
            _passes(services.health("web", web.name, port=port), services.processes[web.name])
        probes = {name: services.health(name, name) for name in (*WORKERS, "beat")}
        for name, probe in probes.items():
            _passes(probe, services.processes[name])

        everything = (*webs, *workers.values(), beat)
        curator_1, base_1 = api(ports[0], tokens["cora"], SLUG)
        curator_2, base_2 = api(ports[1], tokens["cora"], SLUG)

        # Import through web 1, followed through web 2; media ready, followed through web 1.
        with open(data, "rb") as pairs, open(media, "rb") as files:
            started = curator_1.post(f"{base_1}/imports/", files={"data_file": pairs, "media_file": files}, timeout=60)
        assert started.status_code == 202, started.text
        job = poll_json(
            curator_2, f"{base_2}/imports/{started.json()['id']}/",
            lambda body: body["status"] in ("succeeded", "failed"), 90, *everything,
        )  # fmt: skip
        assert job["status"] == "succeeded", job
        overview = poll_json(
            curator_1, f"{base_1}/media/", lambda body: not body["busy"] and body["waiting_pairs"] == 0, 90, *everything
        )
        assert overview["counts"]["ready"] == overview["total"] == 6, overview  # 4 images, an audio, a video
        assert not overview["failures"]

        # Three annotators at once, each alternating between the instances.
        with ThreadPoolExecutor(max_workers=3) as pool:
            futures = {
                user.username: pool.submit(vote_all, tokens[user.username], SLUG, rows, ports) for user in annotators
            }
            acked = {
                (username, pair): vote for username, future in futures.items() for pair, vote in future.result().items()
            }
        assert len(acked) == 3 * len(rows)
        stored = list(
            Judgment.objects.filter(pair__project=project, retracted_at__isnull=True).values_list(
                "annotator__username", "pair_id", "label", "submission_id"
            )
        )
        assert len(stored) == len({(user, pair) for user, pair, _, _ in stored}), "a vote was stored twice"
        assert {(user, pair): (label, str(sub)) for user, pair, label, sub in stored} == acked, "votes lost"

        # The statistics answer at once and queue the per-annotator table; worker-jobs computes it.
        asked = curator_1.get(f"{base_1}/statistics/?bootstrap=0", timeout=60).json()["annotator_stats"]
        assert asked["job"]["status"] in ("queued", "running", "ready"), asked
        done = poll_json(
            curator_2, f"{base_2}/statistics/?bootstrap=0",
            lambda body: body["annotator_stats"]["job"]["state"] == "ready", 60, *everything,
        )  # fmt: skip
        assert {a["username"] for a in done["annotators"]} == {user.username for user in annotators}
        assert done["annotator_stats"]["votes"] == len(acked) and not done["annotator_stats"]["changed"]

        # Publish through web 2, follow the build and download through web 1.
        version = curator_2.get(f"{base_2}/releases/preview/", timeout=60).json()["next_version"]
        published = curator_2.post(
            f"{base_2}/releases/", json={"notes": "compose stack", "version": version}, timeout=60
        )
        assert published.status_code == 201, published.text
        release = poll_json(
            curator_1, f"{base_1}/releases/{version}/", lambda body: body["status"] != "building", 90, *everything
        )
        assert release["status"] == "ready", release
        download = curator_1.get(f"{base_1}/releases/{version}/download/", allow_redirects=False, timeout=60)
        assert download.status_code == 302, download.text  # to a presigned URL on S3, as a browser follows it
        assert download.headers["Location"].startswith(server.endpoint)
        archive = requests.get(download.headers["Location"], timeout=60)
        assert archive.status_code == 200
        assert hashlib.sha256(archive.content).hexdigest() == release["archive_sha256"]
        with zipfile.ZipFile(io.BytesIO(archive.content)) as zf:
            manifest = json.loads(zf.read("manifest.json"))
        assert {entry["id"]: entry["label"] for entry in manifest["pairs"]} == {
            row.id: row.label for row in rows.values()
        }

        # Each job ran on the worker whose queues the compose file gives it; beat's sweep reached a worker.
        def succeeded(task: str, proc: Process) -> bool:
            return re.search(rf"{re.escape(task)}\[[0-9a-f-]+\] succeeded", proc.log.read_text()) is not None

        assert succeeded("media_pipeline.process_asset", workers["worker-media"])
        assert succeeded("annotations.import_job_run", workers["worker-jobs"])
        assert succeeded("releases.build", workers["worker-jobs"])
        assert succeeded("releases.annotator_stats", workers["worker-jobs"])
        assert not succeeded("media_pipeline.process_asset", workers["worker-jobs"])
        assert not succeeded("releases.build", workers["worker-media"])
        assert not any(
            succeeded(task, workers["worker-judge"])
            for task in ("process_asset", "import_job_run", "build", "annotator_stats")
        )
        wait_until(
            lambda: any(succeeded("core.sweep_jobs", w) for w in (workers["worker-media"], workers["worker-jobs"])),
            30, "beat's sweep to run on a worker", beat, *workers.values(),
        )  # fmt: skip
        stored_keys = boto3.client(
            "s3", endpoint_url=server.endpoint, aws_access_key_id=server.access_key,
            aws_secret_access_key=server.secret_key, region_name="us-east-1",
        ).list_objects_v2(Bucket=bucket)["KeyCount"]  # fmt: skip
        assert stored_keys > overview["total"]  # originals, renditions and the archive all went to S3

    # Nothing on any instance's local disk: no media, no release, no job leftovers in its temp folder.
    for instance, folder in services.folders.items():
        written = [p for p in (folder / "data").rglob("*") if p.is_file()]
        assert written == [], f"{instance} wrote to its local disk: {written}"
        leftovers = [p.name for p in (folder / "tmp").iterdir() if p.name.startswith("omni-")]
        assert leftovers == [], f"{instance} left temp folders: {leftovers}"
