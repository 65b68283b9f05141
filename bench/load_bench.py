"""Load and faults: concurrent annotators voting through the REST API while PostgreSQL restarts.

1. Starts a private PostgreSQL cluster (initdb into a temp dir, its own port, the machine's own
   PostgreSQL binaries), so that it can be stopped and started without touching anyone else's
   databases. Migrates, and seeds one project (overlap k = 3), --pairs T2T pairs and --annotators
   annotators, each with an API token.
2. Starts gunicorn as in production (gunicorn.conf.py: sync workers, one per core plus one; DEBUG
   off; persistent connections with health checks).
3. Each annotator is a thread with its own `requests.Session` and a log of its own. It asks
   queue/next/ for a pair, thinks (--think-ms, uniform 0..2x), and votes with the turn's submission
   id. On top of that it misbehaves: with --retry-rate it sends an acknowledged vote again (a retry
   after a response that got lost); with --double-rate it sends the vote twice at the same moment
   from two threads (a double click). Any error or timeout is retried with the same submission id
   until the server answers; every acknowledged vote goes into the client's log.
4. With --restart-after-votes N, PostgreSQL is stopped (fast shutdown) once N votes are
   acknowledged, kept down --outage seconds, and started again; the last --after-recovery votes
   wait until it has been back for --grace seconds, so that however fast the machine, the load goes
   on after the outage. Every failed request is recorded with its time.
5. Checks, from the database against the clients' logs: no acknowledged vote is missing (lost),
   no judgment exists that no client was told about, and no (pair, annotator) has two judgments
   (duplicated); every failed request was under way during the outage (from the stop until --grace
   seconds after the start); after the outage, votes were stored again (the app recovered without a restart).

Prints requests, concurrency, errors, latency percentiles (overall and outside the outage) and the
checks; --json FILE writes the same figures for tests/test_load_and_faults.py. Exit status 1 when
a check fails. The cluster, gunicorn and the temp folder are stopped and removed at the end, also after a
failure or Ctrl-C.

    .venv/bin/python bench/load_bench.py [--annotators 32] [--submissions 3000] [--restart-after-votes 1000]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.annotate_bench import Server, _free_port  # noqa: E402 -- the path above first

SLUG = "load-bench"
DEFAULT_SERVER = f"sync:{(os.cpu_count() or 1) + 1}"  # as gunicorn.conf.py


# --- a PostgreSQL of our own ----------------------------------------------------------------


def _pg_bindir() -> Path:
    try:
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=True).stdout.strip()
        if (Path(out) / "initdb").exists():
            return Path(out)
    except (OSError, subprocess.CalledProcessError):
        pass
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if not found:
        raise SystemExit("PostgreSQL server binaries (initdb, pg_ctl) not found: apt-get install postgresql")
    return found[-1].parent


class Cluster:
    """A throwaway PostgreSQL cluster; as root it runs as the `postgres` user (initdb refuses root)."""

    def __init__(self, workdir: Path) -> None:
        self.bindir = _pg_bindir()
        self.data = workdir / "pgdata"
        self.log = workdir / "postgres.log"
        self.port = _free_port()
        self.as_root = os.geteuid() == 0

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/load_bench"

    def _run(self, *args: str) -> None:
        cmd = [str(self.bindir / args[0]), *args[1:]]
        if self.as_root:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)

    def init(self) -> None:
        self.data.mkdir(parents=True)
        self.log.touch()
        if self.as_root:
            shutil.chown(self.data.parent, "postgres")
            shutil.chown(self.data, "postgres")
            shutil.chown(self.log, "postgres")
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")

    def start(self) -> None:
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.data} -c max_connections=200 -c fsync=off"
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "-t", "60", "start")

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "-t", "60", "stop")

    def create_database(self) -> None:
        admin = self.url.rsplit("/", 1)[0] + "/postgres"
        subprocess.run(["psql", admin, "-qc", "CREATE DATABASE load_bench"], check=True)


@contextmanager
def cluster(workdir: Path) -> Iterator[Cluster]:
    pg = Cluster(workdir)
    pg.init()
    try:
        pg.start()  # inside: a start that times out may still leave a postmaster running
        pg.create_database()
        yield pg
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):  # already down: nothing to stop
            pg.stop()


# --- data -----------------------------------------------------------------------------------


def _seed(pairs: int, annotators: int) -> dict[str, str]:
    """Project, pairs, annotators with memberships and tokens, through the ORM: {username: token}."""
    from django.contrib.auth.models import User
    from rest_framework.authtoken.models import Token

    from annotations.models import Membership, Pair, Project, Role, Task

    project = Project.objects.create(name="Load bench", slug=SLUG, votes_per_pair=3)
    Pair.objects.bulk_create(
        [
            Pair(
                project=project,
                external_id=f"t2t-{n}",
                task=Task.T2T,
                prompt=f"Question {n}: which answer explains approach {n % 97} better?",
                criterion="Prefer the answer that is accurate and complete.",
                response1_text=f"Answer {n}: a short, correct explanation.",
                response2_text=f"Answer {n}: a longer explanation with a mistake.",
                model1="model-a",
                model2="model-b",
            )
            for n in range(pairs)
        ],
        batch_size=500,
    )
    users = User.objects.bulk_create([User(username=f"load-{i:02d}") for i in range(1, annotators + 1)])
    Membership.objects.bulk_create([Membership(project=project, user=u, role=Role.ANNOTATOR) for u in users])
    tokens = Token.objects.bulk_create([Token(user=u, key=uuid.uuid4().hex + uuid.uuid4().hex[:8]) for u in users])
    return {t.user.username: t.key for t in tokens}


# --- clients --------------------------------------------------------------------------------


@dataclass
class Failure:
    at: float  # seconds since the load began, when the request was sent
    until: float  # when it failed (a request may wait in gunicorn's backlog, then meet the outage)
    what: str


@dataclass
class Client:
    """One annotator: what it was told was stored, and everything that went wrong."""

    username: str
    acked: dict[int, tuple[str, str]] = field(default_factory=dict)  # pair -> (choice, submission id)
    latencies_ms: list[tuple[float, float]] = field(default_factory=list)  # (at, ms)
    failures: list[Failure] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    retries: int = 0
    doubles: int = 0
    requests: int = 0


class Load:
    def __init__(self, base: str, tokens: dict[str, str], args: argparse.Namespace) -> None:
        self.base, self.tokens, self.args = base, tokens, args
        self.tickets = iter(range(args.submissions))
        self.tickets_lock = threading.Lock()
        self.began = 0.0
        self.clients = [Client(name) for name in tokens]
        self.acknowledged = 0
        self.outage_due = threading.Event()  # --restart-after-votes votes are acknowledged (or the load is ending)
        self.resumed = threading.Event()  # PostgreSQL has been back for --grace seconds (or there is no restart)
        if not args.restart_after_votes:
            self.resumed.set()
        self.held_from = args.submissions - args.after_recovery  # tickets from here on wait for `resumed`

    def now(self) -> float:
        return time.monotonic() - self.began

    def ticket(self) -> bool:
        with self.tickets_lock:
            number = next(self.tickets, None)
        if number is None:
            return False
        if number >= self.held_from:
            self.resumed.wait()
        return True

    def release(self) -> None:
        """The load is ending early: nothing may wait for the outage any more."""
        self.outage_due.set()
        self.resumed.set()

    def _call(self, client: Client, session: requests.Session, method: str, path: str, body: dict | None) -> dict:
        """One request, repeated until the server answers it (not 5xx, no network error)."""
        delay = 0.1
        while True:
            at = self.now()
            client.requests += 1
            try:
                response = session.request(method, f"{self.base}{path}", json=body, timeout=self.args.timeout)
            except requests.RequestException as exc:
                what = f"{method} {path.rsplit('/', 2)[-2]}: {type(exc).__name__}"
                client.failures.append(Failure(at, self.now(), what))
            else:
                client.latencies_ms.append((at, response.elapsed.total_seconds() * 1000))
                if response.status_code < 500:
                    return {"status": response.status_code, **response.json()}
                what = f"{method} {path.rsplit('/', 2)[-2]}: HTTP {response.status_code}"
                client.failures.append(Failure(at, self.now(), what))
            time.sleep(delay)
            delay = min(delay * 2, 2.0)

    def _vote(self, client: Client, session: requests.Session, body: dict) -> dict:
        answer = self._call(client, session, "POST", f"/api/projects/{SLUG}/queue/vote/", body)
        if answer["status"] in (200, 201):
            judgment = answer["judgment"]
            if judgment["pair"] != body["pair"] or judgment["choice"] != body["choice"]:
                raise AssertionError(f"{client.username}: vote {body} answered with {judgment}")
            client.acked[body["pair"]] = (body["choice"], body["submission_id"])
            with self.tickets_lock:
                self.acknowledged += 1
                if self.acknowledged >= self.args.restart_after_votes:
                    self.outage_due.set()
        else:
            client.conflicts.append(f"HTTP {answer['status']}: {answer.get('detail', answer)}")
        return answer

    def annotator(self, client: Client, start: threading.Barrier) -> None:
        rng = random.Random(client.username)
        session = requests.Session()
        session.headers["Authorization"] = f"Token {self.tokens[client.username]}"
        twin = requests.Session()  # the second click of a double submit comes on its own connection
        twin.headers.update(session.headers)
        start.wait()
        turn = self._call(client, session, "GET", f"/api/projects/{SLUG}/queue/next/", None)
        while not turn.get("done") and self.ticket():
            time.sleep(rng.uniform(0, 2 * self.args.think_ms / 1000))
            body = {
                "pair": turn["pair"]["id"],
                "choice": rng.choice(["A", "B", "tie"]),
                "submission_id": turn["submission_id"],
                "elapsed_ms": rng.randint(2000, 20000),
            }
            if rng.random() < self.args.double_rate:
                client.doubles += 1
                other = threading.Thread(target=self._vote, args=(client, twin, body), daemon=True)
                other.start()
                answer = self._vote(client, session, body)
                other.join()
            else:
                answer = self._vote(client, session, body)
            if answer["status"] in (200, 201) and rng.random() < self.args.retry_rate:
                client.retries += 1
                again = self._vote(client, session, body)
                if again["status"] != 200 or again["created"]:
                    raise AssertionError(f"{client.username}: a repeated vote answered {again}")
            turn = answer.get("next") or self._call(client, session, "GET", f"/api/projects/{SLUG}/queue/next/", None)
        session.close()
        twin.close()

    def run(self) -> float:
        start = threading.Barrier(len(self.clients) + 1)
        # Daemons: a client retries until the server answers, so after Ctrl-C (gunicorn stopped) they
        # would keep the process alive forever.
        threads = [threading.Thread(target=self.annotator, args=(c, start), daemon=True) for c in self.clients]
        for thread in threads:
            thread.start()
        self.began = time.monotonic()
        start.wait()
        for thread in threads:
            thread.join()
        return self.now()


# --- the run --------------------------------------------------------------------------------


def _pct(values: list[float], p: float) -> float:
    if not values:
        return 0.0
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[min(98, max(0, round(p) - 1))]


def _stored() -> tuple[dict[tuple[str, int], str], int]:
    """Live judgments {(username, pair): submission id}, and (pair, annotator) with more than one judgment."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT u.username, j.pair_id, j.submission_id FROM annotations_judgment j "
            "JOIN auth_user u ON u.id = j.annotator_id WHERE j.retracted_at IS NULL"
        )
        rows = cursor.fetchall()
        cursor.execute(
            "SELECT count(*) FROM (SELECT pair_id, annotator_id FROM annotations_judgment "
            "GROUP BY pair_id, annotator_id HAVING count(*) > 1) twice"
        )
        twice = cursor.fetchone()[0]
    return {(name, pair): str(sid) for name, pair, sid in rows}, twice


def report(load: Load, wall: float, outage: tuple[float, float] | None, grace: float) -> dict:
    stored, twice = _stored()
    acked = {(c.username, pair): sid for c in load.clients for pair, (_, sid) in c.acked.items()}
    lost = sorted(k for k in acked if k not in stored)
    unknown = sorted(k for k in stored if k not in acked)  # stored, but no client was told
    mismatched = sorted(k for k in acked if k in stored and stored[k] != acked[k])
    failures = [f for c in load.clients for f in c.failures]
    latencies = [ms for c in load.clients for _, ms in c.latencies_ms]
    if outage is None:
        outside, stray, after = latencies, failures, 0
    else:
        down, up = outage
        outside = [ms for c in load.clients for at, ms in c.latencies_ms if not down <= at <= up + grace]
        stray = [f for f in failures if f.until < down or f.at > up + grace]  # no overlap with the outage
        after = sum(1 for c in load.clients for at, _ in c.latencies_ms if at > up + grace)
    figures = {
        "annotators": len(load.clients),
        "requests": sum(c.requests for c in load.clients),
        "votes_acknowledged": len(acked),
        "judgments_stored": len(stored),
        "retries_sent": sum(c.retries for c in load.clients),
        "double_submits_sent": sum(c.doubles for c in load.clients),
        "conflicts": sum(len(c.conflicts) for c in load.clients),
        "conflict_examples": sorted({x for c in load.clients for x in c.conflicts})[:5],
        "errors": len(failures),
        "error_kinds": dict(Counter(f.what for f in failures).most_common()),
        "errors_outside_outage": [asdict(f) for f in stray][:10],
        "lost": len(lost),
        "lost_examples": lost[:5],
        "duplicated": twice + len(unknown) + len(mismatched),
        "unknown_examples": unknown[:5],
        "wall_s": round(wall, 2),
        "throughput_per_s": round(len(acked) / wall, 1) if wall else 0.0,
        "p50_ms": round(_pct(latencies, 50), 1),
        "p95_ms": round(_pct(latencies, 95), 1),
        "p99_ms": round(_pct(latencies, 99), 1),
        "p95_outside_outage_ms": round(_pct(outside, 95), 1),
        "outage": None if outage is None else {"down_s": round(outage[0], 2), "up_s": round(outage[1], 2)},
        "requests_after_recovery": after,
    }
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--annotators", type=int, default=32)
    parser.add_argument("--pairs", type=int, default=1500)
    parser.add_argument("--submissions", type=int, default=3000)
    parser.add_argument("--think-ms", type=float, default=100, help="mean pause before each vote (uniform 0..2x)")
    parser.add_argument("--retry-rate", type=float, default=0.1, help="share of stored votes sent again")
    parser.add_argument("--double-rate", type=float, default=0.05, help="share of votes sent twice at once")
    parser.add_argument(
        "--restart-after-votes", type=int, default=1000, help="acknowledged votes before the restart; 0: no restart"
    )
    parser.add_argument(
        "--after-recovery", type=int, default=300, help="votes kept for after PostgreSQL has been back --grace seconds"
    )
    parser.add_argument("--outage", type=float, default=3.0, help="seconds PostgreSQL stays down")
    parser.add_argument("--grace", type=float, default=3.0, help="seconds after the start that errors may still come")
    parser.add_argument("--timeout", type=float, default=15.0, help="client timeout per request, seconds")
    parser.add_argument("--server", default=DEFAULT_SERVER, help="gunicorn workers: sync:<n> or gthread:<n>x<t>")
    parser.add_argument("--json", type=Path, help="write the figures here too")
    args = parser.parse_args()
    if args.restart_after_votes and args.restart_after_votes + args.annotators > args.submissions - args.after_recovery:
        # Each annotator may hold one vote through the outage: the restart must come before the held votes.
        parser.error("--restart-after-votes plus --annotators must be at most --submissions minus --after-recovery")

    with tempfile.TemporaryDirectory(prefix="omni-load-bench-") as tmp, cluster(Path(tmp)) as pg:
        env = {
            **os.environ,
            "DATABASE_URL": pg.url,
            "CELERY_BROKER_URL": "",
            "CACHE_URL": "",
            "DJANGO_SETTINGS_MODULE": "omni_annotate.settings",
            "DJANGO_DEBUG": "false",
            "DJANGO_SECRET_KEY": f"bench-{uuid.uuid4()}",
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
            "DJANGO_SECURE_COOKIES": "false",
            "OMNI_DATA_DIR": str(Path(tmp) / "data"),
            "PYTHONWARNINGS": "ignore::UserWarning",  # whitenoise: no collected static files, none needed
            "LOG_LEVEL": os.environ.get("LOG_LEVEL", "CRITICAL"),  # the outage's 503s are counted, not printed
        }
        manage = [sys.executable, str(ROOT / "manage.py")]
        subprocess.run([*manage, "migrate", "-v0"], env=env, check=True)
        os.environ.update(env)
        os.chdir(ROOT)
        import django

        django.setup()
        from django.db import connections

        tokens = _seed(args.pairs, args.annotators)
        connections.close_all()
        print(
            f"seeded {args.pairs:,} T2T pairs (k = 3) and {len(tokens)} annotators with tokens "
            f"on a private PostgreSQL at port {pg.port}"
        )
        server = Server(args.server, env, Path(tmp))
        outage: tuple[float, float] | None = None
        # Set when the load ends early (Ctrl-C, a crash): the restarter must not start PostgreSQL again
        # once the cluster is being stopped and its folder removed.
        stopping = threading.Event()
        restarter = None
        load: Load | None = None
        try:
            server.start()  # inside: gunicorn runs in its own session, out of Ctrl-C's reach
            load = Load(server.base, tokens, args)
            if args.restart_after_votes:

                def restart() -> None:
                    nonlocal outage
                    load.outage_due.wait()
                    if stopping.is_set():
                        return
                    down = load.now()
                    pg.stop()
                    if stopping.wait(args.outage):
                        return
                    pg.start()
                    outage = (down, load.now())
                    stopping.wait(args.grace)
                    load.resumed.set()

                restarter = threading.Thread(target=restart)
                restarter.start()
            wall = load.run()
        except BaseException:
            stopping.set()
            raise
        finally:
            if load is not None:
                load.release()  # the restarter may still wait for votes that will not come
            if restarter is not None:
                restarter.join()
            server.stop()
        figures = report(load, wall, outage, args.grace)
        connections.close_all()
    _print(figures, args)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    problems = _problems(figures, restarted=bool(args.restart_after_votes))
    for problem in problems:
        print(f"FAILED: {problem}")
    if problems:
        raise SystemExit(1)


def _problems(f: dict, *, restarted: bool) -> list[str]:
    problems = []
    if f["lost"]:
        problems.append(f"{f['lost']} acknowledged votes are not stored: {f['lost_examples']}")
    if f["duplicated"]:
        problems.append(f"{f['duplicated']} judgments duplicated or unknown to the clients: {f['unknown_examples']}")
    if f["errors_outside_outage"]:
        problems.append(f"errors outside the outage: {f['errors_outside_outage']}")
    if restarted and (f["outage"] is None or not f["requests_after_recovery"]):
        problems.append("no request was answered after PostgreSQL came back")
    return problems


def _print(f: dict, args: argparse.Namespace) -> None:
    print(
        f"{f['annotators']} annotators, gunicorn {args.server}, think time {args.think_ms:.0f} ms mean: "
        f"{f['requests']:,} requests in {f['wall_s']} s"
    )
    print(
        f"  votes acknowledged {f['votes_acknowledged']:,}, judgments stored {f['judgments_stored']:,}; "
        f"retries sent {f['retries_sent']}, double submits sent {f['double_submits_sent']}, "
        f"conflicts {f['conflicts']} {f['conflict_examples']}"
    )
    if f["outage"]:
        o = f["outage"]
        print(f"  PostgreSQL down from {o['down_s']} s to {o['up_s']} s into the load")
    print(f"  errors: {f['errors']} {f['error_kinds']}; outside the outage: {len(f['errors_outside_outage'])}")
    print(f"  requests answered after recovery: {f['requests_after_recovery']:,}")
    print(
        f"  latency (client): p50 {f['p50_ms']} ms, p95 {f['p95_ms']} ms, p99 {f['p99_ms']} ms; "
        f"p95 outside the outage {f['p95_outside_outage_ms']} ms; {f['throughput_per_s']} votes/s"
    )
    print(f"  lost: {f['lost']}, duplicated: {f['duplicated']}")


if __name__ == "__main__":
    main()
