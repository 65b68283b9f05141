"""Annotator workspace under load: concurrent annotators voting through htmx against gunicorn.

1. Recreates a PostgreSQL database, migrates, and seeds one project (overlap k = 3) with 1,000 T2T
   pairs whose responses are 1-2 KB of markdown, and 16 annotators with memberships.
2. Collects static files and starts gunicorn on a free port with DEBUG off, as in production
   (gunicorn.conf.py: sync workers, one per core plus one).
3. 16 annotator threads, each with its own `requests.Session`, sign in through /accounts/login/
   (CSRF first), open the workspace, then together make 2,000 submissions. Each submission is one
   POST to .../annotate/vote/ with `HX-Request: true` that stores the vote and returns the next
   pair's `#workspace` fragment; the next pair id and submission id are read out of it. Latency is
   measured client-side per request (gunicorn's own request time is printed beside it).
4. Two loads by default (--think-ms 0 --think-ms 250): annotators voting back to back with no think
   time, which saturates the machine and measures throughput; then each annotator pausing 250 ms
   between seeing a pair and voting (a human takes seconds), which measures latency when the server
   is not saturated. With no think time, 16 clients keep 16 requests queued, so latency there is
   16 / throughput by construction and says nothing about a request's own cost.
5. Checks the database after each load: live judgments == successful submissions, no pair over k
   live judgments, no (pair, annotator) twice, every pair's slot count = live judgments + reservations.
6. Page weight of the workspace for a text pair: the HTML of GET .../annotate/ plus every
   stylesheet and script it references on first load (not modules imported lazily), each gzipped.

Targets (the issue): >= 90 submissions/s (10x Label Studio's ~9/s), judged on the load without
think time; p95 < 50 ms, judged on the loads with think time; page < 150 KB gzipped. Each is printed
as met or missed. Each load runs on a clean queue (judgments and reservations truncated, slot
counts zeroed). Gunicorn is stopped, the database dropped (unless --keep-db) and the temp folder and a
static folder the run collected removed at the end, also after a failure or Ctrl-C.

    .venv/bin/python bench/annotate_bench.py [--database-url postgres://postgres@127.0.0.1:5432/omni_bench_annotate]
        [--server sync:3 --server gthread:2x4 ...] [--think-ms 0 --think-ms 250 ...] [--keep-db]
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import itertools
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.scratch import scratch_database  # noqa: E402 -- the path above first

SLUG = "bench-annotate"
PASSWORD = "bench-annotate-pass"  # noqa: S105 -- throwaway users in a throwaway database
DEFAULT_SERVER = f"sync:{(os.cpu_count() or 1) + 1}"  # as gunicorn.conf.py
TARGET_P95_MS, TARGET_RATE, TARGET_PAGE_KB = 50, 90, 150

_PAIR = re.compile(r'name="pair" value="(\d+)"')
_SUBMISSION = re.compile(r'name="submission_id" value="([0-9a-f-]+)"')
_CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
_STYLESHEET = re.compile(r'<link\b[^>]*\brel="stylesheet"[^>]*\bhref="([^"]+)"')
_SCRIPT = re.compile(r'<script\b[^>]*\bsrc="([^"]+)"')

_WORDS = (
    "latency", "throughput", "cache", "index", "query", "planner", "tuple", "vacuum", "replica", "shard",
    "partition", "commit", "rollback", "snapshot", "isolation", "lock", "contention", "scheduler", "thread",
    "process", "worker", "queue", "buffer", "page", "memory", "disk", "network", "packet", "retry",
    "timeout", "backoff", "gradient", "model", "reward", "preference", "annotator", "criterion", "response",
)  # fmt: skip


# --- data -----------------------------------------------------------------------------------


def _sentence(rng: random.Random, words: int) -> str:
    text = " ".join(rng.choice(_WORDS) for _ in range(words))
    return text[0].upper() + text[1:] + "."


def _markdown_response(rng: random.Random, n: int) -> str:
    """1-2 KB of the markdown a chat model writes: heading, paragraphs, a list, code, maybe a table."""
    parts = [f"## Approach {n % 97}", " ".join(_sentence(rng, rng.randint(8, 16)) for _ in range(3))]
    parts.append("\n".join(f"- **{rng.choice(_WORDS)}**: {_sentence(rng, rng.randint(6, 12))}" for _ in range(4)))
    parts.append(f"```python\ndef step_{n}(x):\n    # {_sentence(rng, 6)}\n    return x * {rng.randint(2, 9)}\n```")
    if rng.random() < 0.5:
        rows = "\n".join(f"| {rng.choice(_WORDS)} | {rng.randint(1, 999)} ms |" for _ in range(4))
        parts.append(f"| setting | cost |\n|---|---|\n{rows}")
    parts.append(" ".join(_sentence(rng, rng.randint(8, 16)) for _ in range(rng.randint(2, 5))))
    return "\n\n".join(parts)


def _seed(pairs: int, annotators: int) -> list[str]:
    """Project, pairs, annotators and memberships, through the ORM. Returns the usernames."""
    from django.contrib.auth.hashers import make_password
    from django.contrib.auth.models import User
    from django.db import connection

    from annotations.models import Membership, Pair, Project, Role, Task

    project = Project.objects.create(name="Annotate bench", slug=SLUG, votes_per_pair=3)
    rng = random.Random(20261122)
    Pair.objects.bulk_create(
        [
            Pair(
                project=project,
                external_id=f"t2t-{n}",
                task=Task.T2T,
                prompt=f"Question {n}: explain the trade-offs of approach {n % 97}, with a short example.",
                criterion="Prefer the answer that is accurate and complete; penalise padding.",
                response1_text=_markdown_response(rng, n),
                response2_text=_markdown_response(rng, n + 1),
                model1="model-a",
                model2="model-b",
            )
            for n in range(pairs)
        ],
        batch_size=500,
    )
    hashed = make_password(PASSWORD)  # hashing once: 16 PBKDF2 runs would only slow the setup
    names = [f"bench-annotator-{i:02d}" for i in range(1, annotators + 1)]
    users = User.objects.bulk_create([User(username=name, password=hashed) for name in names])
    Membership.objects.bulk_create([Membership(project=project, user=u, role=Role.ANNOTATOR) for u in users])
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return names


def _reset_queue() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE annotations_judgment, annotations_reservation, annotations_pairskip, annotations_pairtally,"
            " annotations_goldstanding, django_session"
        )
        cursor.execute("UPDATE annotations_pair SET claimed = 0")  # the queue's slot counts, with what they count
        cursor.execute("ANALYZE")


def _verify(successes: int, votes_per_pair: int = 3) -> list[str]:
    from django.db.models import Count, Q

    from annotations.models import Judgment, Pair, Project
    from annotations.services.tallies import tally_recount

    live = Judgment.objects.filter(retracted_at__isnull=True)
    problems = []
    count = live.count()
    if count != successes:
        problems.append(f"{count} live judgments for {successes} successful submissions")
    over = live.values("pair").annotate(n=Count("id")).filter(n__gt=votes_per_pair).count()
    if over:
        problems.append(f"{over} pairs with more than {votes_per_pair} live judgments")
    twice = Judgment.objects.values("pair", "annotator").annotate(n=Count("id")).filter(n__gt=1).count()
    if twice:
        problems.append(f"{twice} (pair, annotator) with more than one judgment")
    counted = Pair.objects.annotate(
        live=Count("judgments", filter=Q(judgments__retracted_at__isnull=True), distinct=True),
        held=Count("reservations", distinct=True),
    )
    wrong = sum(1 for pair in counted if pair.claimed != pair.live + pair.held)
    if wrong:
        problems.append(f"{wrong} pairs whose slot count is not live judgments + reservations")
    for project in Project.objects.all():
        if drift := tally_recount(project=project).differing:
            problems.append(f"{len(drift)} pairs whose vote tally is not their live judgments")
    return problems


# --- server ---------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    spec: str
    env: dict[str, str]
    log_dir: Path
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def access_log(self) -> Path:
        return self.log_dir / f"access-{self.spec.replace(':', '-')}.log"

    def args(self) -> list[str]:
        kind, _, size = self.spec.partition(":")
        workers, _, threads = size.partition("x")
        if kind not in ("sync", "gthread") or not workers.isdigit() or (threads and not threads.isdigit()):
            raise SystemExit(f"--server {self.spec!r}: expected sync:<workers> or gthread:<workers>x<threads>")
        extra = ["--worker-class", kind, "--workers", workers]
        if kind == "gthread":
            extra += ["--threads", threads or "4"]
        return extra

    def start(self) -> None:
        self.port = _free_port()
        cmd = [
            str(ROOT / ".venv" / "bin" / "gunicorn"),
            "omni_annotate.wsgi",
            "--bind",
            f"127.0.0.1:{self.port}",
            *self.args(),
            "--backlog",
            "256",
            "--access-logfile",
            str(self.access_log),
            # request line, status, request time in microseconds
            "--access-logformat",
            '"%(r)s" %(s)s %(D)s',
            "--error-logfile",
            str(self.log_dir / "gunicorn-error.log"),
        ]
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=self.env, start_new_session=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"gunicorn exited with {self.proc.returncode}; see {self.log_dir}/gunicorn-error.log")
            try:  # the socket accepts before the workers have loaded Django, so a first request may wait
                if requests.get(f"{self.base}/accounts/login/", timeout=10).status_code == 200:
                    time.sleep(1)  # let the remaining workers finish booting before the clock starts
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise SystemExit("gunicorn did not answer within 60 s")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)  # the arbiter and its workers only: their own session
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def server_ms(self, path_part: str) -> list[float]:
        """Gunicorn's request time for the requests whose line contains path_part."""
        out = []
        for line in self.access_log.read_text().splitlines():
            if path_part in line:
                out.append(int(line.rsplit(" ", 1)[1]) / 1000)
        return out


# --- clients --------------------------------------------------------------------------------


def _login(base: str, username: str) -> requests.Session:
    session = requests.Session()
    page = session.get(f"{base}/accounts/login/", timeout=30)
    token = _CSRF.search(page.text)
    if page.status_code != 200 or token is None:
        raise SystemExit(f"login page: HTTP {page.status_code}, CSRF token found: {token is not None}")
    done = session.post(
        f"{base}/accounts/login/",
        data={"username": username, "password": PASSWORD, "csrfmiddlewaretoken": token.group(1)},
        headers={"Referer": f"{base}/accounts/login/"},
        allow_redirects=False,
        timeout=30,
    )
    if done.status_code != 302 or "sessionid" not in session.cookies:
        raise SystemExit(f"{username} could not sign in: HTTP {done.status_code}")
    session.close()  # drop the connection: it would sit idle past gunicorn's keep-alive while the others sign in
    return session


@dataclass
class Shown:
    pair: int
    submission_id: str
    csrf: str
    at: float = field(default_factory=time.perf_counter)


def _shown(html: str) -> Shown | None:
    pair, submission, csrf = _PAIR.search(html), _SUBMISSION.search(html), _CSRF.search(html)
    if not (pair and submission and csrf):
        return None
    return Shown(int(pair.group(1)), submission.group(1), csrf.group(1))


@dataclass
class Run:
    latencies_ms: list[float] = field(default_factory=list)
    successes: int = 0
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _annotator(
    base: str,
    session: requests.Session,
    tickets: itertools.count[int],
    total: int,
    think_s: float,
    start: threading.Barrier,
    run: Run,
) -> None:
    annotate = f"{base}/projects/{SLUG}/annotate/"
    vote = f"{annotate}vote/"
    rng = random.Random()

    def fail(why: str) -> None:
        with run.lock:
            run.errors.append(why)

    def workspace() -> Shown | None:
        try:
            shown = _shown(session.get(annotate, timeout=30).text)
        except requests.RequestException as exc:
            fail(f"GET workspace: {type(exc).__name__}")
            return None
        if shown is None:
            fail("GET workspace: no pair to vote on (queue empty?)")
        return shown

    shown = workspace()
    start.wait()
    while next(tickets) < total:
        if shown is None and (shown := workspace()) is None:
            continue
        if think_s:
            time.sleep(max(0.0, think_s - (time.perf_counter() - shown.at)))
        data = {
            "pair": shown.pair,
            "choice": rng.choice(("A", "B", "tie")),
            "submission_id": shown.submission_id,
            "elapsed_ms": int((time.perf_counter() - shown.at) * 1000),
            "csrfmiddlewaretoken": shown.csrf,
        }
        began = time.perf_counter()
        try:
            response = session.post(vote, data=data, headers={"HX-Request": "true", "Referer": annotate}, timeout=30)
            html = response.text
        except requests.RequestException as exc:
            fail(f"POST vote: {type(exc).__name__}")
            shown = None
            continue
        elapsed_ms = (time.perf_counter() - began) * 1000
        alert = 'role="alert"' in html
        shown = _shown(html) if response.status_code == 200 else None
        with run.lock:
            run.latencies_ms.append(elapsed_ms)
            if response.status_code == 200 and not alert and shown is not None:
                run.successes += 1
            else:
                run.errors.append(f"POST vote: HTTP {response.status_code}{', error notice' if alert else ''}")


class CpuMeter:
    """CPU seconds used by the gunicorn workers and by this database's PostgreSQL backends, and machine-wide.

    Backends come and go (connections are recycled after DATABASE_CONN_MAX_AGE), so they are sampled
    through the run: each backend counts from its first sight (0 if it started during the run) to its last.
    """

    def __init__(self, server: Server, db_name: str) -> None:
        self.server, self.db_name = server, db_name
        self.first: dict[int, float] = {}
        self.last: dict[int, float] = {}
        self.kind: dict[int, str] = {}
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def _sample(self) -> None:
        assert self.server.proc is not None
        arbiter = psutil.Process(self.server.proc.pid)
        procs = [(p, "gunicorn") for p in [arbiter, *arbiter.children(recursive=True)]]
        for proc in psutil.process_iter(["cmdline"]):
            cmdline = " ".join(proc.info["cmdline"] or [])
            if cmdline.startswith("postgres:") and f" {self.db_name} " in cmdline:
                procs.append((proc, "postgres"))
        for proc, kind in procs:
            with contextlib.suppress(psutil.Error):
                used = sum(proc.cpu_times()[:2])
                self.first.setdefault(proc.pid, used if not self.thread.is_alive() else 0.0)
                self.last[proc.pid], self.kind[proc.pid] = used, kind

    def _loop(self) -> None:
        while not self.stopping.wait(0.2):
            self._sample()

    def start(self) -> None:
        self._sample()
        machine = psutil.cpu_times()
        self.machine = sum(machine) - machine.idle - getattr(machine, "iowait", 0.0)
        self.thread.start()

    def stop(self) -> dict[str, float]:
        self.stopping.set()
        self.thread.join()
        self._sample()
        machine = psutil.cpu_times()
        out = {"gunicorn": 0.0, "postgres": 0.0}
        out["machine"] = sum(machine) - machine.idle - getattr(machine, "iowait", 0.0) - self.machine
        for pid, used in self.last.items():
            out[self.kind[pid]] += used - self.first[pid]
        return out


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


def _load(server: Server, db_name: str, users: list[str], total: int, think_ms: float) -> Run:
    sessions = [_login(server.base, name) for name in users]
    run = Run()
    tickets = itertools.count()
    start = threading.Barrier(len(users) + 1)
    # Daemons: after Ctrl-C (gunicorn stopped, a thread perhaps still at the barrier) they must not
    # keep the process alive.
    threads = [
        threading.Thread(
            target=_annotator, args=(server.base, s, tickets, total, think_ms / 1000, start, run), daemon=True
        )
        for s in sessions
    ]
    for thread in threads:
        thread.start()
    meter = CpuMeter(server, db_name)
    meter.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - began
    used = meter.stop()
    for session in sessions:
        session.close()
    attempts = len(run.latencies_ms)
    print(f"  submissions: {attempts:,} made, {run.successes:,} stored, {len(run.errors)} errors")
    if run.errors:
        print(f"  first errors: {sorted(set(run.errors))[:5]}")
    print(f"  wall time: {wall:.2f} s, throughput: {run.successes / wall:,.1f} submissions/s")
    lat = run.latencies_ms
    if not lat:
        return run
    print(
        f"  submit-and-get-next latency (client): p50 {_pct(lat, 50):.1f} ms, p95 {_pct(lat, 95):.1f} ms, "
        f"p99 {_pct(lat, 99):.1f} ms, max {max(lat):.1f} ms"
    )
    time.sleep(0.5)  # let the workers flush their access log
    srv = server.server_ms("/annotate/vote/")
    if srv:
        print(f"  same, gunicorn's request time: p50 {_pct(srv, 50):.1f} ms, p95 {_pct(srv, 95):.1f} ms")
    print(
        f"  CPU per submission: gunicorn {used['gunicorn'] / attempts * 1000:.1f} ms, PostgreSQL "
        f"{used['postgres'] / attempts * 1000:.1f} ms; machine busy {used['machine'] / wall:.2f} "
        f"of {os.cpu_count()} cores"
    )
    p95, rate = _pct(lat, 95), run.successes / wall
    if think_ms:
        print(f"  target: p95 < {TARGET_P95_MS} ms {_verdict(p95 < TARGET_P95_MS)} ({p95:.0f} ms)")
    else:
        print(f"  target: >= {TARGET_RATE} submissions/s {_verdict(rate >= TARGET_RATE)} ({rate:.1f}/s)")
    return run


def _verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


# --- page weight ----------------------------------------------------------------------------


def _page_weight(base: str, username: str) -> None:
    session = _login(base, username)
    page = session.get(f"{base}/projects/{SLUG}/annotate/", timeout=30)
    if page.status_code != 200 or 'data-viewer="text"' not in page.text:
        raise SystemExit(f"workspace page: HTTP {page.status_code}, text pair shown: {'data-viewer' in page.text}")
    rows = [("HTML  /projects/…/annotate/", page.content, len(page.content))]
    for url in [*_STYLESHEET.findall(page.text), *_SCRIPT.findall(page.text)]:
        asset = session.get(f"{base}{url}", headers={"Accept-Encoding": "gzip"}, stream=True, timeout=30)
        wire = asset.raw.read(decode_content=False)
        if asset.status_code != 200:
            raise SystemExit(f"{url}: HTTP {asset.status_code}")
        body = gzip.decompress(wire) if asset.headers.get("Content-Encoding") == "gzip" else wire
        rows.append((url, body, len(wire)))
    session.close()
    print(f"  {'resource':<52} {'raw KB':>8} {'gzip-6 KB':>10} {'served KB':>10}")
    total_raw = total_gz = total_wire = 0
    for name, body, wire in rows:
        gz = len(gzip.compress(body, compresslevel=6))
        total_raw, total_gz, total_wire = total_raw + len(body), total_gz + gz, total_wire + wire
        print(f"  {name:<52} {len(body) / 1024:8.1f} {gz / 1024:10.1f} {wire / 1024:10.1f}")
    print(f"  {'total':<52} {total_raw / 1024:8.1f} {total_gz / 1024:10.1f} {total_wire / 1024:10.1f}")
    print(f"  target: < {TARGET_PAGE_KB} KB gzipped {_verdict(total_gz / 1024 < TARGET_PAGE_KB)}")
    print("  (served: bytes on the wire; whitenoise sends static files pre-gzipped, Django sends the HTML as is)")


# --- main -----------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/omni_bench_annotate")
    parser.add_argument("--pairs", type=int, default=1000)
    parser.add_argument("--annotators", type=int, default=16)
    parser.add_argument("--submissions", type=int, default=2000)
    parser.add_argument(
        "--server",
        action="append",
        help=f"gunicorn workers: sync:<workers> or gthread:<workers>x<threads>; repeat to compare "
        f"(default {DEFAULT_SERVER})",
    )
    parser.add_argument(
        "--think-ms",
        type=float,
        action="append",
        help="per annotator, from a pair shown to its vote; repeat for several loads (default 0 and 250)",
    )
    parser.add_argument("--keep-db", action="store_true", help="leave the database for a look afterwards")
    args = parser.parse_args()

    env = {
        **os.environ,
        "DATABASE_URL": args.database_url,
        "DJANGO_SETTINGS_MODULE": "omni_annotate.settings",
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": f"bench-{uuid.uuid4()}",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DJANGO_SECURE_COOKIES": "false",  # plain http on loopback
        "LOG_LEVEL": "WARNING",
    }
    # Whatever happens (a failed check, Ctrl-C), gunicorn stops and the database and files go.
    with (
        tempfile.TemporaryDirectory(prefix="omni-annotate-bench-") as tmp,
        scratch_database(args.database_url, keep=args.keep_db) as db_name,
        _static_files_removed_if_new(),
    ):
        env["OMNI_DATA_DIR"] = str(Path(tmp) / "data")  # any cache or broker files: not the checkout's data/
        manage = [sys.executable, str(ROOT / "manage.py")]
        subprocess.run([*manage, "migrate", "-v0"], env=env, check=True)
        subprocess.run([*manage, "collectstatic", "--noinput", "-v0"], env=env, check=True)

        os.environ.update(env)
        os.chdir(ROOT)
        import django

        django.setup()
        from django.db import connections

        try:
            failed = _bench(args, env, db_name, Path(tmp))
        finally:
            connections.close_all()
    if failed:
        raise SystemExit(1)


@contextlib.contextmanager
def _static_files_removed_if_new() -> Iterator[None]:
    """collectstatic fills the checkout's STATIC_ROOT (gunicorn serves the page's assets from it with
    DEBUG off); a folder the bench made is removed again, one that was there is left as it was."""
    static_root = ROOT / "staticfiles"  # settings.STATIC_ROOT, which no variable moves
    existed = static_root.exists()
    try:
        yield
    finally:
        if not existed:
            shutil.rmtree(static_root, ignore_errors=True)


def _bench(args: argparse.Namespace, env: dict[str, str], db_name: str, log_dir: Path) -> bool:
    """Seed, then one load run per --server; True when anything failed."""
    began = time.perf_counter()
    users = _seed(args.pairs, args.annotators)
    print(
        f"seeded {args.pairs:,} T2T pairs (1-2 KB markdown responses), k = 3, {len(users)} annotators "
        f"in {time.perf_counter() - began:.1f} s"
    )
    failed, first = False, True
    for spec in args.server or [DEFAULT_SERVER]:
        server = Server(spec, env, log_dir)
        try:
            server.start()
            for think_ms in args.think_ms or [0.0, 250.0]:
                if not first:
                    _reset_queue()
                pace = f", think time {think_ms:.0f} ms" if think_ms else ", no think time"
                print(f"gunicorn {spec}: {len(users)} annotators, {args.submissions:,} submissions{pace}")
                run = _load(server, db_name, users, args.submissions, think_ms)
                problems = _verify(run.successes)
                failed |= bool(problems) or bool(run.errors)
                print(f"  database check: {'; '.join(problems) if problems else 'OK'}")
                if first:
                    print("page weight of the workspace, text pair, first load:")
                    _page_weight(server.base, users[0])
                first = False
        finally:
            server.stop()
    return failed


if __name__ == "__main__":
    main()
