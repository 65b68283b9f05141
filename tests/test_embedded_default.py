"""The embedded default as a newcomer runs it: no configuration at all, `scripts/serve.sh` (what `make demo`
ends with) serving the web app and its background worker on SQLite, local files and the file-system broker.

Through HTTP only: an upload answers at once with a queued job, a large import shows progress that moves
while the worker writes, a release's media are processed, three annotators vote, a release is published,
built and downloaded. Nothing runs inside a request. Ctrl-C stops the web server and the worker alike.
"""

from __future__ import annotations

import io
import json
import os
import re
import signal
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import orjson
import pytest
import requests

from tests.http_flow import Process, api, free_port, poll_json, small_release, vote_all, wait_until
from tests.services import ROOT

# This machine's configuration must not leak in: the test is what a fresh clone with no settings gets.
_CONFIG = re.compile(r"^(DJANGO_|S3_|OMNI_|CELERY_|DATABASE_URL$|CACHE_URL$|JOB_|[A-Z]+_LEASE_SECONDS$)")

_USERS = """
from annotations.models import Membership, Project, Role
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token
import json
User = get_user_model()
tokens = {}
for slug in ("flow", "big"):
    project = Project.objects.create(slug=slug, name=slug.title())
    for name in ("cora", "ann0", "ann1", "ann2"):
        role = Role.CURATOR if name == "cora" else Role.ANNOTATOR
        user, _ = User.objects.get_or_create(username=name)
        Membership.objects.create(project=project, user=user, role=role)
        tokens[name] = Token.objects.get_or_create(user=user)[0].key
print(json.dumps(tokens))
"""


@pytest.fixture
def embedded(tmp_path: Path) -> Iterator[tuple[Process, int, dict[str, str]]]:
    env = {k: v for k, v in os.environ.items() if not _CONFIG.match(k)}
    port = free_port()
    env.update(OMNI_DATA_DIR=str(tmp_path / "data"), OMNI_ADDR=f"127.0.0.1:{port}", PYTHONUNBUFFERED="1")
    manage = [sys.executable, str(ROOT / "manage.py")]
    migrated = subprocess.run([*manage, "migrate", "-v0"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert migrated.returncode == 0, migrated.stderr
    made = subprocess.run([*manage, "shell", "-c", _USERS], cwd=ROOT, env=env, capture_output=True, text=True)
    assert made.returncode == 0, made.stderr
    tokens = json.loads(made.stdout.strip().splitlines()[-1])
    log = tmp_path / "serve.log"
    with open(log, "wb") as out:
        popen = subprocess.Popen(
            [str(ROOT / "scripts" / "serve.sh")], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    serve = Process("serve.sh", popen, log, env)
    try:
        yield serve, port, tokens
    finally:
        if popen.poll() is None:
            os.killpg(popen.pid, signal.SIGKILL)
            popen.wait()


def _answers(port: int) -> bool:
    try:
        return requests.get(f"http://127.0.0.1:{port}/health/ready", timeout=10).status_code == 200
    except requests.RequestException:
        return False


def _group(pgid: int) -> str:
    ps = subprocess.run(["ps", "-o", "pid,stat,args", "-g", str(pgid)], capture_output=True, text=True)
    return ps.stdout


def _group_gone(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    return False


def _text_release(path: Path, rows: int) -> Path:
    with open(path, "wb") as out:
        for n in range(rows):
            row = {"id": f"t-{n}", "task": "T2T", "prompt": f"Question {n}", "response1": f"Short {n}"}
            row |= {"response2": f"Long answer {n}", "criteria": "Prefer the shorter answer."}
            row |= {"criteria_preference": "response1", "model1": "m-a", "model2": "m-b"}
            out.write(orjson.dumps(row) + b"\n")
    return path


def test_the_embedded_default_runs_every_job_in_its_background_worker(embedded, tmp_path):
    serve, port, tokens = embedded
    wait_until(lambda: _answers(port), 90, "the app to answer", serve)
    curator, flow = api(port, tokens["cora"], "flow")
    _, big = api(port, tokens["cora"], "big")

    # A large import: the upload answers with a queued job, and its progress moves while the worker runs it.
    with open(_text_release(tmp_path / "big.jsonl", 30_000), "rb") as big_file:
        started = curator.post(f"{big}/imports/", files={"data_file": big_file}, timeout=60)
    assert started.status_code == 202, started.text
    assert started.json()["status"] == "queued", started.json()
    seen: list[tuple[str, int]] = []

    def big_done() -> bool:
        body = curator.get(f"{big}/imports/{started.json()['id']}/", timeout=30).json()
        seen.append((body["status"], body["progress"]["percent"]))
        return body["status"] in ("succeeded", "failed")

    wait_until(big_done, 180, "the large import", serve)
    assert seen[-1] == ("succeeded", 100), seen
    running = sorted({percent for status, percent in seen if status == "running"})
    assert len(running) >= 2 and any(0 < percent < 100 for percent in running), f"no progress while running: {seen}"

    # Import with media, processed by the worker.
    data, media, rows = small_release(tmp_path)
    with open(data, "rb") as pairs, open(media, "rb") as files:
        started = curator.post(f"{flow}/imports/", files={"data_file": pairs, "media_file": files}, timeout=60)
    assert started.status_code == 202 and started.json()["status"] == "queued", started.text
    job = poll_json(
        curator, f"{flow}/imports/{started.json()['id']}/",
        lambda body: body["status"] in ("succeeded", "failed"), 120, serve,
    )  # fmt: skip
    assert job["status"] == "succeeded", job
    overview = poll_json(
        curator, f"{flow}/media/", lambda body: not body["busy"] and body["waiting_pairs"] == 0, 180, serve
    )
    assert overview["counts"]["ready"] == overview["total"] == 6, overview
    assert not overview["failures"]

    # Three annotators label every pair.
    with ThreadPoolExecutor(max_workers=3) as pool:
        futures = [pool.submit(vote_all, tokens[f"ann{n}"], "flow", rows, (port, port)) for n in range(3)]
        assert all(len(future.result()) == len(rows) for future in futures)

    # The per-annotator table: the statistics answer at once and queue it; the worker computes it.
    asked = curator.get(f"{flow}/statistics/?bootstrap=0", timeout=60).json()["annotator_stats"]
    assert asked["job"]["status"] in ("queued", "running", "ready"), asked
    done = poll_json(
        curator, f"{flow}/statistics/?bootstrap=0",
        lambda body: body["annotator_stats"]["job"]["state"] == "ready", 60, serve,
    )  # fmt: skip
    assert [a["username"] for a in done["annotators"]] == ["ann0", "ann1", "ann2"]

    # A release: published, built by the worker, downloaded.
    version = curator.get(f"{flow}/releases/preview/", timeout=60).json()["next_version"]
    published = curator.post(f"{flow}/releases/", json={"notes": "embedded", "version": version}, timeout=60)
    assert published.status_code == 201, published.text
    assert published.json()["status"] == "building"
    release = poll_json(curator, f"{flow}/releases/{version}/", lambda body: body["status"] != "building", 120, serve)
    assert release["status"] == "ready", release
    archive = curator.get(f"{flow}/releases/{version}/download/", timeout=60)
    assert archive.status_code == 200, archive.text[:500]
    with zipfile.ZipFile(io.BytesIO(archive.content)) as zf:
        manifest = json.loads(zf.read("manifest.json"))
    assert {entry["id"]: entry["label"] for entry in manifest["pairs"]} == {row.id: row.label for row in rows.values()}

    # Ctrl-C (SIGINT to the terminal's process group) stops the web server and the worker, leaving no process.
    os.killpg(serve.popen.pid, signal.SIGINT)
    serve.popen.wait(timeout=60)
    wait_until(lambda: _group_gone(serve.popen.pid), 30, f"every process to stop: {_group(serve.popen.pid)}")
    # The terminal is not flooded with a line per job: those went to the worker's log.
    printed = serve.log.read_text()
    assert "succeeded in" not in printed and "process_asset" not in printed, printed[-3000:]
    assert (Path(serve.env["OMNI_DATA_DIR"]) / "worker.log").exists()
