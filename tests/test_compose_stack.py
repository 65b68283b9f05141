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
import signal
import socket
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
import orjson
import pytest
import requests
import yaml
from django.conf import settings
from django.db import connection
from PIL import Image
from rest_framework.authtoken.models import Token

from annotations.demo.synth import lavfi
from annotations.models import Judgment, Role
from tests.factories import MembershipFactory, ProjectFactory, UserFactory
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


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Process:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path
    env: dict[str, str]

    def tail(self) -> str:
        return f"--- {self.name} ({self.log}) ---\n{self.log.read_text(errors='replace')[-3000:]}"


def _wait(predicate: Callable[[], bool], timeout: float, what: str, *logs: Process) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        for proc in logs:
            assert proc.popen.poll() is None, f"{proc.name} exited while waiting for {what}\n{proc.tail()}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}\n" + "\n".join(p.tail() for p in logs)
        time.sleep(0.25)


def _stop(processes: list[Process]) -> None:
    """SIGTERM each main process, as `docker stop` does, then SIGKILL whatever is left of each process group."""
    for proc in processes:
        if proc.popen.poll() is None:
            proc.popen.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 20
    for proc in processes:
        with suppress(subprocess.TimeoutExpired):
            proc.popen.wait(timeout=max(0.1, deadline - time.monotonic()))
        with suppress(ProcessLookupError):  # the group is gone: nothing was left behind
            os.killpg(proc.popen.pid, signal.SIGKILL)
        proc.popen.wait()


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
        _stop(list(self.processes.values()))


# --- the release the curator imports ------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    id: str
    task: str
    label: str  # what the annotators will agree on
    responses: tuple[str, str] | None  # text responses; None: media responses (voted a tie)


def _small_release(folder: Path) -> tuple[Path, Path, dict[str, Row]]:
    """pairs.jsonl and media.zip: 20 text pairs, two image pairs, one audio and one video prompt."""
    rows: dict[str, Row] = {}
    lines = []
    labels = ("response1", "response2", "tie")
    for n in range(20):
        rows[f"Prompt t2t-{n}"] = Row(f"t2t-{n}", "T2T", labels[n % 3], (f"First answer {n}", f"Second answer {n}"))
    for n in range(2):
        rows[f"Prompt t2i-{n}"] = Row(f"t2i-{n}", "T2I", "tie", None)
    rows["Prompt ta2t-0"] = Row("ta2t-0", "TA2T", "response2", ("It is a tone.", "It is a 440 Hz sine tone."))
    rows["Prompt tv2t-0"] = Row("tv2t-0", "TV2T", "response1", ("A test pattern.", "A cat."))
    media = folder / "media.zip"
    with zipfile.ZipFile(media, "w") as zf:
        for prompt, row in rows.items():
            line: dict[str, Any] = {
                "id": row.id, "task": row.task, "prompt": prompt, "criteria": "Prefer the better answer.",
                "criteria_preference": row.label, "model1": "model-a", "model2": "model-b",
            }  # fmt: skip
            if row.responses:
                line["response1"], line["response2"] = row.responses
            else:
                shade = 100 * int(row.id[-1])  # every image differs: media are stored once per content hash
                for side, colour in (("response1", (200, shade, 0)), ("response2", (0, shade, 200))):
                    buf = io.BytesIO()
                    Image.new("RGB", (64, 48), colour).save(buf, "PNG")
                    zf.writestr(f"media_data/{row.id}-{side}.png", buf.getvalue())
                    line[side] = f"{row.id}-{side}.png"
            lines.append(line)
        audio, video = folder / "tone.wav", folder / "pattern.mp4"
        lavfi(audio, ["sine=frequency=440:duration=1"], [])
        lavfi(video, ["testsrc=size=160x120:rate=10:duration=1"], ["-pix_fmt", "yuv420p"])
        zf.write(audio, "media_data/tone.wav")
        zf.write(video, "media_data/pattern.mp4")
    lines[-2]["audio"], lines[-1]["video"] = "tone.wav", "pattern.mp4"
    data = folder / "pairs.jsonl"
    data.write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in lines))
    return data, media, rows


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


def _api(port: int, token: str) -> tuple[requests.Session, str]:
    session = requests.Session()
    session.headers["Authorization"] = f"Token {token}"
    return session, f"http://127.0.0.1:{port}/api/projects/{SLUG}"


def _vote_all(token: str, rows: dict[str, Row], ports: tuple[int, int]) -> dict[int, tuple[str, str]]:
    """One annotator: every pair, votes alternating between the instances; every third sent to both."""
    apis = [_api(port, token) for port in ports]
    acked: dict[int, tuple[str, str]] = {}
    session, base = apis[0]
    turn = session.get(f"{base}/queue/next/", timeout=30).json()
    n = 0
    while not turn["done"]:
        pair = turn["pair"]
        row = rows[pair["prompt"]]
        choice = "tie"
        if row.label != "tie":
            wanted = row.responses[0 if row.label == "response1" else 1]  # type: ignore[index]
            choice = next(side["letter"] for side in pair["sides"] if side["text"] == wanted)
        body = {"pair": pair["id"], "choice": choice, "submission_id": turn["submission_id"], "elapsed_ms": 1500}
        session, base = apis[n % 2]
        answer = session.post(f"{base}/queue/vote/", json=body, timeout=30)
        assert answer.status_code == 201, answer.text
        acked[pair["id"]] = (row.label, body["submission_id"])
        if n % 3 == 0:  # a retried request that lands on the other instance stores nothing more
            other, other_base = apis[(n + 1) % 2]
            again = other.post(f"{other_base}/queue/vote/", json=body, timeout=30)
            assert again.status_code == 200 and again.json()["created"] is False, again.text
        turn = answer.json()["next"]
        n += 1
    return acked


def _wait_ready(web: Process, port: int) -> None:
    def ready() -> bool:
        try:
            return requests.get(f"http://127.0.0.1:{port}/health/ready", timeout=10).status_code == 200
        except requests.RequestException:  # not listening yet, or too busy starting
            return False

    _wait(ready, 90, f"{web.name} to be ready", web)


def _passes(probe: subprocess.Popen[str], proc: Process) -> None:
    output, _ = probe.communicate(timeout=60)
    assert probe.returncode == 0, f"{proc.name}: its compose health check failed: {output}\n{proc.tail()}"


def _poll_json(
    session: requests.Session, url: str, done: Callable[[dict], bool], timeout: float, *logs: Process
) -> dict:
    answers: list[dict] = [{}]

    def check() -> bool:
        answers.append(session.get(url, timeout=30).json())
        return done(answers[-1])

    try:
        _wait(check, timeout, url, *logs)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\nlast answer from {url}: {answers[-1]}") from None
    return answers[-1]


def test_the_compose_stack_imports_annotates_and_releases_through_two_web_instances(tmp_path):
    if not settings.CELERY_BROKER_URL:
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
    data, media, rows = _small_release(tmp_path)

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

        ports = (_free_port(), _free_port())
        webs = [
            services.start("web", f"web-{n + 1}", GUNICORN_BIND=f"127.0.0.1:{port}") for n, port in enumerate(ports)
        ]
        workers = {name: services.start(name, name) for name in WORKERS}
        beat = services.start("beat", "beat")
        for worker in workers.values():
            _wait(lambda w=worker: b" ready." in w.log.read_bytes(), 90, f"{worker.name} to start", worker)
        _wait(lambda: b"beat: Starting" in beat.log.read_bytes(), 60, "beat to start", beat)
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
        curator_1, base_1 = _api(ports[0], tokens["cora"])
        curator_2, base_2 = _api(ports[1], tokens["cora"])

        # Import through web 1, followed through web 2; media ready, followed through web 1.
        with open(data, "rb") as pairs, open(media, "rb") as files:
            started = curator_1.post(f"{base_1}/imports/", files={"data_file": pairs, "media_file": files}, timeout=60)
        assert started.status_code == 202, started.text
        job = _poll_json(
            curator_2, f"{base_2}/imports/{started.json()['id']}/",
            lambda body: body["status"] in ("succeeded", "failed"), 90, *everything,
        )  # fmt: skip
        assert job["status"] == "succeeded", job
        overview = _poll_json(
            curator_1, f"{base_1}/media/", lambda body: not body["busy"] and body["waiting_pairs"] == 0, 90, *everything
        )
        assert overview["counts"]["ready"] == overview["total"] == 6, overview  # 4 images, an audio, a video
        assert not overview["failures"]

        # Three annotators at once, each alternating between the instances.
        with ThreadPoolExecutor(max_workers=3) as pool:
            futures = {user.username: pool.submit(_vote_all, tokens[user.username], rows, ports) for user in annotators}
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

        # Publish through web 2, follow the build and download through web 1.
        version = curator_2.get(f"{base_2}/releases/preview/", timeout=60).json()["next_version"]
        published = curator_2.post(
            f"{base_2}/releases/", json={"notes": "compose stack", "version": version}, timeout=60
        )
        assert published.status_code == 201, published.text
        release = _poll_json(
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
        assert not succeeded("media_pipeline.process_asset", workers["worker-jobs"])
        assert not succeeded("releases.build", workers["worker-media"])
        assert not any(
            succeeded(task, workers["worker-judge"]) for task in ("process_asset", "import_job_run", "build")
        )
        _wait(
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
