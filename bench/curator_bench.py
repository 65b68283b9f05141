"""Curator pages at 3,725 pairs x 5 votes and at 317,000 pairs x 3 votes, on PostgreSQL: server time, warm.

1. Creates its own PostgreSQL database (refusing one that exists), migrates it and collects static
   files; the database is dropped at the end, also after a failure or Ctrl-C, unless --keep.
2. Builds each scale as one project, through the services a curator's actions go through where
   they are cheap, and with COPY where rows come by the hundred thousand:
   - small: the 3,725 pairs of bench/import_bench.py over the nine tasks (87 generated media files,
     imported and processed), 20 annotators, 5 votes per pair; k = 5;
   - large: 317,000 text pairs (bench/import_bench.py's JSONL, imported with `pair_import`),
     300 annotators, 3 votes per pair; k = 3.
   Then, at both: 2% of each task's pairs made gold from their imported labels (`gold_sample_draw`);
   the votes (each annotator right with a probability between 0.6 and 0.95, the truth being the
   imported label), written with COPY and counted into every pair's slot count (`Pair.claimed` =
   live judgments, no reservations: the queue's invariant, checked before timing); a gate rule with
   a quality bar (gold accuracy 0.65); 10 judges (7 endpoint models, 3 baselines), each with one
   finished run and one model vote per pair (with-tie question for half of them, no-tie for the
   other half), 1% unparseable; release v1; a curator's adjudications on disputed pairs and one
   pair sent to the queue with a reason; release v2. Planted, so that each page has a figure to
   show: 20 unanimous pairs every judge gets wrong (hard pairs), and the pair sent to the queue.
   Small-scale releases are built (jobs run in-process); large-scale ones are published (their
   pairs frozen) but their archives left to a worker that never comes.
3. Times each curator page in-process: django.test.Client (DEBUG off, static files from the manifest,
   a curator force-logged-in, persistent database connection as in a gunicorn worker), with
   time.perf_counter() around the request. That is Django's whole request (middleware, view,
   template), without gunicorn or the network. One warm-up request (its SQL statements counted and
   timed), then the median of 5. Every answer must be 200 and show the figure it should (votes,
   pairs, judges, the planted pairs), so a broken page is never timed as a fast one. A request over
   --timeout (60 s) is cut short and printed as a timeout.
4. --profile N: cProfile of one request of the N slowest pages of each scale, top functions by own
   time and by cumulative time.

Targets (issue 17): under 200 ms each at the small scale, under 1 s at the large one.

    .venv/bin/python bench/curator_bench.py [--scale small|large|both] [--profile 2] [--keep]
        [--database-url postgres://postgres@127.0.0.1:5432/omni_curator]
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import re
import signal
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import import_bench  # noqa: E402 -- needs the repository on the path first
from bench.scratch import scratch_database  # noqa: E402

LABELS = ("response1", "response2", "tie")
TARGET_MS = {"small": 200.0, "large": 1000.0}
RUNS = 5
PLANTED_HARD = 20


@dataclass(frozen=True)
class Scale:
    name: str
    pairs: int
    votes: int
    annotators: int
    adjudications: int


SCALES = {
    "small": Scale("small", sum(import_bench.TASK_SIZES.values()), 5, 20, 20),
    "large": Scale("large", 317_000, 3, 300, 300),
}
JUDGES = [
    *(("endpoint", name) for name in ("gpt-4o", "claude-3-5-sonnet", "gemini-1.5-pro", "qwen2.5-vl-72b",
                                      "llava-onevision-72b", "internvl2.5-78b", "minicpm-o-2.6")),
    ("random", "baseline-random"), ("first", "baseline-first"), ("longer", "baseline-longer"),
]  # fmt: skip


@dataclass
class Built:
    """What was written, so each page can be checked for the figure it should show."""

    slug: str
    live_votes: int
    pairs: int
    judges: list[str]
    release_pairs: int
    hard_pair: str  # external id of a planted hard pair
    sent_pair: str  # external id of the pair sent to the queue
    sent_reason: str


# --- building ---------------------------------------------------------------------------------


@contextmanager
def _step(what: str) -> Iterator[None]:
    began = time.perf_counter()
    yield
    print(f"  {what}: {time.perf_counter() - began:.1f} s", flush=True)


def _copy(sql: str, lines: Iterator[str]) -> None:
    from django.db import connection

    with connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
        batch: list[str] = []
        for line in lines:
            batch.append(line)
            if len(batch) == 100_000:
                copy.write("\n".join(batch) + "\n")
                batch = []
        if batch:
            copy.write("\n".join(batch) + "\n")


def _distinct_voters(rng: np.random.Generator, n: int, k: int, annotators: int) -> np.ndarray:
    """k different annotators per pair: draw, then draw again the rows that repeat someone."""
    who = rng.integers(annotators, size=(n, k))
    while True:
        ordered = np.sort(who, axis=1)
        again = (ordered[:, 1:] == ordered[:, :-1]).any(axis=1)
        if not again.any():
            return who
        who[again] = rng.integers(annotators, size=(int(again.sum()), k))


def _import(project: Any, scale: Scale, work: Path) -> None:
    from annotations.services.pair_import import pair_import

    data = work / "pairs.jsonl"
    media = None
    if scale.name == "small":
        media = work / "media"
        rows = import_bench._benchmark_rows(import_bench._make_media(media))
    else:
        rows = import_bench._text_rows(scale.pairs)
    import_bench._write_jsonl(data, rows)
    result = pair_import(project=project, data_path=data, media_path=media)
    if not result.ok or result.summary["new_pairs"] != scale.pairs:
        raise SystemExit(f"import failed: {result.summary or [str(p) for p in result.problems[:5]]}")
    data.unlink()


def _votes(project: Any, scale: Scale, truth: np.ndarray, pair_ids: np.ndarray, planted: np.ndarray, rng: Any) -> int:
    """Simulated annotators' votes with COPY, then every pair's slot count; returns the live votes."""
    from django.contrib.auth import get_user_model
    from django.db import connection

    from annotations.models import Membership, Role
    from annotations.services.tallies import tally_recount

    User = get_user_model()
    users = User.objects.bulk_create(
        [User(username=f"{scale.name}-annotator-{i:03d}") for i in range(scale.annotators)]
    )
    Membership.objects.bulk_create([Membership(project=project, user=u, role=Role.ANNOTATOR) for u in users])
    user_ids = np.array([u.pk for u in users])
    skills = rng.uniform(0.6, 0.95, size=scale.annotators)
    n, k = len(pair_ids), scale.votes
    who = _distinct_voters(rng, n, k, scale.annotators)
    # The planted hard pairs get unanimous votes from the best annotators, whom the quality bar keeps:
    # accepted, with a firm label.
    best = np.argsort(skills)[-max(k, 10) :]
    for row in planted:
        who[row] = rng.choice(best, size=k, replace=False)
    right = rng.random((n, k)) < skills[who]
    right[planted] = True
    label = np.where(right, truth[:, None], (truth[:, None] + rng.integers(1, 3, size=(n, k))) % 3)
    order = np.where(rng.random((n, k)) < 0.5, "12", "21")
    spent = rng.lognormal(9, 0.5, size=(n, k)).astype(np.int64)
    lines = (
        f"{p}\t{a}\t{LABELS[c]}\t{o}\t{ms}\t\t{{}}\tnow"
        for p, a, c, o, ms in zip(
            np.repeat(pair_ids, k).tolist(),
            user_ids[who].ravel().tolist(),
            label.ravel().tolist(),
            order.ravel().tolist(),
            spent.ravel().tolist(),
            strict=True,
        )
    )
    _copy(
        "COPY annotations_judgment (pair_id, annotator_id, label, shown_order, time_spent_ms, rationale, "
        "view_coverage, created_at) FROM STDIN",
        lines,
    )
    with connection.cursor() as cursor:
        # The queue's slot count: live judgments plus reservations (none here), as its services keep it.
        cursor.execute(
            "UPDATE annotations_pair p SET claimed = j.n FROM (SELECT pair_id, count(*) AS n FROM annotations_judgment"
            " WHERE retracted_at IS NULL GROUP BY pair_id) j WHERE p.id = j.pair_id AND p.project_id = %s",
            [project.pk],
        )
    tally_recount(project=project)  # the per-pair tallies the curator pages read, as the queue keeps them
    return n * k


# What a model vote's verdict, label, status and raw answer columns hold, by answer (3: no verdict found).
_ANSWERS = [
    *(
        f"{v}\t{label}\tok\tResponse {v} follows the criterion more closely. [[{v}]]"
        for v, label in zip("ABC", LABELS, strict=True)
    ),
    "\t\\N\tunparseable\tBoth responses have merits; I cannot tell.",
]


def _judges(project: Any, curator: Any, truth: np.ndarray, pair_ids: np.ndarray, planted: np.ndarray, rng: Any) -> None:
    """10 judges, each with one finished run and a model vote per pair, as a run stores them (and, as a run
    leaves them, with current answer sheets)."""
    from judges.models import Judge, JudgeRun, RunStatus
    from judges.sheets import answer_sheets_refresh

    n = len(pair_ids)
    tasks = sorted(project.pairs.values_list("task", flat=True).distinct())
    for i, (kind, name) in enumerate(JUDGES):
        endpoint = {"base_url": "http://judge.invalid/v1", "model": name} if kind == "endpoint" else {}
        judge = Judge.objects.create(project=project, name=name, kind=kind, created_by=curator, **endpoint)
        with_tie = i % 2 == 0
        answer = np.where(rng.random(n) < rng.uniform(0.55, 0.8), truth, (truth + rng.integers(1, 3, size=n)) % 3)
        if not with_tie:  # the no-tie question has two answers
            answer = np.where(answer == 2, rng.integers(0, 2, size=n), answer)
        answer[planted] = 1 - truth[planted]  # every judge wrong on the planted pairs (none is a tie)
        unparsed = rng.random(n) < 0.01
        unparsed[planted] = False
        answer[unparsed] = 3
        run = JudgeRun.objects.create(
            judge=judge, tasks=tasks, with_tie=with_tie, status=RunStatus.DONE, total=n, done=n,
            failed=int(unparsed.sum()), created_by=curator,
        )  # fmt: skip
        latency = rng.lognormal(7, 0.4, size=n).astype(np.int64)
        head = f"{judge.pk}\t{{}}\t{run.pk}\t{'t' if with_tie else 'f'}\t12\t"
        lines = (
            f"{head.format(p)}{_ANSWERS[a]}\t\t{ms}\t{900 + ms % 400}\t{40 + ms % 60}\t1\tnow"
            for p, a, ms in zip(pair_ids.tolist(), answer.tolist(), latency.tolist(), strict=True)
        )
        _copy(
            'COPY judges_modelvote (judge_id, pair_id, run_id, with_tie, "order", verdict, label, status, '
            "raw_response, error, latency_ms, prompt_tokens, completion_tokens, attempts, created_at) FROM STDIN",
            lines,
        )
        answer_sheets_refresh(judge_ids=[judge.pk])


def _adjudicate(project: Any, curator: Any, scale: Scale, rng: np.random.Generator, first: Any) -> str:
    """A curator's decisions on the first disputed pairs, and one pair sent to the queue; returns the reason."""
    from annotations.models import Pair
    from releases import selectors
    from releases.gate import PairState
    from releases.services.audit import adjudication_request_send
    from releases.services.quality import adjudication_decide

    votes, outcome = selectors.gate_outcome(project)
    disputed = [int(p) for p in votes.pair_ids[outcome.state == PairState.DISPUTED] if p != first.pk]
    decisions = [*LABELS, "exclude"]
    for pair in Pair.objects.filter(id__in=disputed[: scale.adjudications]):
        adjudication_decide(pair=pair, user=curator, decision=decisions[int(rng.integers(4))], note="bench")
    reason = f"curator bench {scale.name}: the imported label disagrees with the votes"
    adjudication_request_send(project=project, user=curator, pair_ids=[first.pk], reason=reason)
    return reason


def _publish(project: Any, curator: Any, *, build: bool) -> Any:
    from omni_annotate.celery import app
    from releases.services.publish import release_publish

    # Small releases are built as the publish commits (jobs in-process); a large one's build is left
    # queued (to the bench's throwaway file broker), so its archive is not part of this bench.
    app.conf.task_always_eager = build
    try:
        return release_publish(project=project, user=curator, notes="curator bench")
    finally:
        app.conf.task_always_eager = True


def build(scale: Scale, curator: Any, work: Path) -> Built:
    from django.db import connection

    from annotations.models import Pair
    from annotations.services.projects import project_create
    from releases.gate import LABEL_CODE
    from releases.services.audit import SampleSize, gold_sample_draw

    rng = np.random.default_rng(17 if scale.name == "small" else 317)
    print(f"\nbuilding {scale.name}: {scale.pairs:,} pairs x {scale.votes} votes, {scale.annotators} annotators")
    gate = {"min_votes": scale.votes - 1, "min_majority_share": 2 / 3, "tie_policy": "label",
            "min_gold_accuracy": 0.65, "min_gold_judged": 5}  # fmt: skip
    project = project_create(
        user=curator, name=f"Curator bench {scale.name}", slug=f"curator-{scale.name}",
        settings={"votes_per_pair": scale.votes}, gate=gate,
    )  # fmt: skip
    with _step("import (pair_import)"):
        _import(project, scale, work)
    with _step("gold, 2% per task (gold_sample_draw)"):
        tasks = project.pairs.values_list("task", flat=True).distinct()
        gold_sample_draw(project=project, sizes={t: SampleSize(share=0.02) for t in tasks}, seed=17)
    # The pair sent to the queue: the queue's first row (by task and external id; only gold pairs come before it).
    first = project.pairs.filter(gold_label__isnull=True).order_by("task", "external_id").first()
    assert first is not None
    rows = list(project.pairs.order_by("id").values_list("id", "reference_label", "gold_label"))
    pair_ids = np.array([r[0] for r in rows], dtype=np.int64)
    truth = np.array([LABEL_CODE[r[1]] for r in rows], dtype=np.int64)
    gold = np.array([r[2] is not None for r in rows])
    planted = np.flatnonzero((truth != 2) & ~gold & (pair_ids != first.pk))[:PLANTED_HARD]
    with _step("votes (COPY) and slot counts"):
        live = _votes(project, scale, truth, pair_ids, planted, rng)
    with _step(f"{len(JUDGES)} judges, a model vote per pair each (COPY)"):
        _judges(project, curator, truth, pair_ids, planted, rng)
    with _step("release v1 (release_publish)"):
        _publish(project, curator, build=scale.name == "small")
    with _step(f"{scale.adjudications} adjudications, 1 pair sent to the queue"):
        reason = _adjudicate(project, curator, scale, rng, first)
    with _step("release v2 (release_publish)"):
        v2 = _publish(project, curator, build=scale.name == "small")
    with _step("VACUUM ANALYZE"), connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    _check_queue(project)
    hard = Pair.objects.get(pk=pair_ids[planted[0]])
    return Built(
        slug=project.slug, live_votes=live, pairs=scale.pairs, judges=[name for _, name in JUDGES],
        release_pairs=v2.summary["pairs"], hard_pair=hard.external_id, sent_pair=first.external_id,
        sent_reason=reason,
    )  # fmt: skip


def _check_queue(project: Any) -> None:
    """The queue's invariant, over the whole project: slot count = live judgments + reservations; and the
    vote tallies equal the live judgments."""
    from django.db import connection

    from annotations.services.tallies import tally_recount

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM annotations_pair p WHERE p.project_id = %s AND p.claimed <> "
            "(SELECT count(*) FROM annotations_judgment j WHERE j.pair_id = p.id AND j.retracted_at IS NULL)"
            " + (SELECT count(*) FROM annotations_reservation r WHERE r.pair_id = p.id)",
            [project.pk],
        )
        wrong = cursor.fetchone()[0]
    if wrong:
        raise SystemExit(f"{wrong} pairs whose slot count is not live judgments + reservations")
    differing = tally_recount(project=project).differing
    if differing:
        raise SystemExit(f"{len(differing)} pairs whose vote tally is not their live judgments")


# --- timing -----------------------------------------------------------------------------------


class PageTimeout(BaseException):
    """Raised by the alarm; a BaseException, so Django does not turn it into a 500 page."""


@dataclass(frozen=True)
class Page:
    name: str
    path: str
    expect: Callable[[Any], list[str]]  # what the answer must contain, given the Built


def pages(built: Built) -> list[Page]:
    s = built.slug

    def alpha(body: str) -> bool:  # overall alpha with its bootstrap interval
        return re.search(r'data-alpha><span class="est">[-0-9.]+</span> <span class="muted small">\[', body) is not None

    def preview(body: str) -> bool:
        data = json.loads(body)
        alpha = data["statistics"]["overall"]["alpha"]
        return data["summary"]["pairs"] == built.release_pairs and alpha["low"] is not None

    return [
        Page("project page", f"/projects/{s}/", lambda b: [f"{b.pairs:,} pairs", f"Labelling: {b.live_votes:,} votes"]),
        Page("Agreement (intervals)", f"/projects/{s}/quality/",
             lambda b: [f'data-judgments><span class="code">Votes</span><span class="count">{b.live_votes:,}<', alpha]),
        Page("leaderboard (intervals)", f"/projects/{s}/leaderboard/",
             lambda b: [*(f'data-model="{name}"' for name in b.judges), "data-interval"]),
        Page("release list (+ preview)", f"/projects/{s}/releases/",
             lambda b: ['data-version="2"', f"data-admitted><strong>{b.release_pairs:,}</strong>"]),
        Page("release preview (API)", f"/api/projects/{s}/releases/preview/", lambda b: [preview]),
        Page("adjudication queue", f"/projects/{s}/adjudication/",
             lambda b: [f'data-pair="{b.sent_pair}"', b.sent_reason]),
        Page("hard pairs", f"/projects/{s}/leaderboard/hard-pairs/", lambda b: [f'data-pair="{b.hard_pair}"']),
    ]  # fmt: skip


def _on_alarm(signum: int, frame: Any) -> None:
    raise PageTimeout


def _get(client: Any, path: str, timeout: float) -> tuple[float, Any]:
    signal.signal(signal.SIGALRM, _on_alarm)
    signal.setitimer(signal.ITIMER_REAL, timeout)
    began = time.perf_counter()
    try:
        response = client.get(path)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    return (time.perf_counter() - began) * 1000, response


def _problems(page: Page, built: Built, response: Any) -> list[str]:
    if response.status_code != 200:
        return [f"HTTP {response.status_code}"]
    body = response.content.decode()
    return [
        (want.__name__ if callable(want) else repr(want[:60]))
        for want in page.expect(built)
        if not (want(body) if callable(want) else want in body)
    ]


@dataclass
class Timed:
    page: Page
    median_ms: float | None = None  # None: timed out or broken
    spread: tuple[float, float] = (0.0, 0.0)
    queries: int = 0
    sql_ms: float = 0.0
    note: str = ""


def time_page(client: Any, page: Page, built: Built, timeout: float) -> Timed:
    from django.db import connection, connections
    from django.test.utils import CaptureQueriesContext

    result = Timed(page)
    try:
        with CaptureQueriesContext(connection) as captured:
            warm_ms, response = _get(client, page.path, timeout)
        result.queries = len(captured.captured_queries)
        result.sql_ms = sum(float(q["time"]) for q in captured.captured_queries) * 1000
        if problems := _problems(page, built, response):
            result.note = "BROKEN: " + "; ".join(problems)
            return result
        times = [_get(client, page.path, timeout)[0] for _ in range(RUNS)]
    except PageTimeout:
        connections.close_all()  # the request was cut short mid-way: start the next on a clean connection
        result.note = f"timeout (> {timeout:.0f} s)"
        return result
    result.median_ms = statistics.median(times)
    result.spread = (min(times), max(times))
    result.note = f"warm-up {warm_ms:,.0f} ms"
    return result


def profile(client: Any, page: Page, top: int = 20) -> None:
    profiler = cProfile.Profile()
    profiler.enable()
    client.get(page.path)
    profiler.disable()
    stats = pstats.Stats(profiler)
    total = max(stats.total_tt, 1e-9)  # type: ignore[attr-defined]
    print(f"\n  profile of {page.name} ({page.path}): {total:.2f} s in one request")
    # Own time over everything; cumulative over the project's code only (Django's wrappers would fill it).
    for key, title, ours in (("tottime", "own time", False), ("cumulative", "cumulative, project code", True)):
        stats.sort_stats(key)
        print(f"  top {top} by {title}:   own s   cum s    calls  function")
        shown = [f for f in stats.fcn_list if not ours or _ours(f[0])][:top]  # type: ignore[attr-defined]
        for func in shown:
            calls, _, own, cum, _ = stats.stats[func]  # type: ignore[attr-defined]
            filename, line, name = func
            where = filename.replace(str(ROOT) + "/", "").split("site-packages/")[-1]
            print(f"    {own:7.3f} {cum:7.3f} {calls:8d}  {where}:{line}({name})")


def _ours(filename: str) -> bool:
    return filename.startswith(str(ROOT)) and "/.venv/" not in filename and "/bench/" not in filename


# --- main -------------------------------------------------------------------------------------


def statistics_job(slug: str) -> None:
    """What a worker does after the project's votes: the per-annotator table and the prompt groups of the
    Agreement page (jobs run in this process). Timed apart, so the page is timed as a curator sees it."""
    from annotations.models import Project
    from releases.models import AnnotatorStatsReport, AnnotatorStatsStatus
    from releases.services.annotator_stats import annotator_stats_request

    with _step("statistics job (per-annotator table, prompt groups)"):
        annotator_stats_request(project=Project.objects.get(slug=slug), force=True)
    report = AnnotatorStatsReport.objects.get(project__slug=slug)
    if report.status != AnnotatorStatsStatus.READY:
        raise SystemExit(f"the statistics job ended {report.status}: {report.error}")
    print(f"  {report.prompt_group_count:,} prompt groups")


def measure(scale: Scale, built: Built, curator: Any, timeout: float, profile_top: int) -> list[Timed]:
    from django.test import Client

    statistics_job(built.slug)

    client = Client()
    client.force_login(curator)
    print(f"\n{scale.name}: {scale.pairs:,} pairs x {scale.votes} votes ({built.live_votes:,} live), "
          f"{len(built.judges)} judges, release v2 of {built.release_pairs:,} pairs; median of {RUNS} warm "
          "requests, in-process")  # fmt: skip
    print(f"  {'page':<26} {'median ms':>10} {'min-max ms':>15} {'queries':>8} {'SQL ms':>8}  note")
    results = []
    for page in pages(built):
        timed = time_page(client, page, built, timeout)
        results.append(timed)
        median = f"{timed.median_ms:,.0f}" if timed.median_ms is not None else "—"
        spread = f"{timed.spread[0]:,.0f}-{timed.spread[1]:,.0f}" if timed.median_ms is not None else ""
        print(f"  {page.name:<26} {median:>10} {spread:>15} {timed.queries:>8} {timed.sql_ms:>8,.0f}  {timed.note}",
              flush=True)  # fmt: skip
    if profile_top:
        timed_ok = [t for t in results if t.median_ms is not None]
        for slow in sorted(timed_ok, key=lambda t: -(t.median_ms or 0))[:profile_top]:
            profile(client, slow.page)
    return results


def summary(found: dict[str, list[Timed]]) -> bool:
    """The table for docs/benchmarks.md; True when every page met its target."""
    names = [t.page.name for t in next(iter(found.values()))]
    print(f"\n| page | {' | '.join(f'{s} ms' for s in found)} | target | met |")
    print(f"|---|{'---|' * len(found)}---|---|")
    all_met = True
    for i, name in enumerate(names):
        cells, met = [], []
        for scale, timed in found.items():
            t = timed[i]
            cells.append(f"{t.median_ms:,.0f}" if t.median_ms is not None else t.note)
            met.append(t.median_ms is not None and t.median_ms < TARGET_MS[scale])
        targets = " / ".join(f"< {TARGET_MS[s]:,.0f} ms {s}" for s in found)
        verdict = " / ".join(("met" if m else "**not met**") for m in met)
        all_met &= all(met)
        print(f"| {name} | {' | '.join(cells)} | {targets} | {verdict} |")
    return all_met


def _bench(args: argparse.Namespace) -> bool:
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    call_command("collectstatic", interactive=False, verbosity=0)
    curator = get_user_model().objects.create_user("bench-curator")
    found: dict[str, list[Timed]] = {}
    for name in ("small", "large") if args.scale == "both" else (args.scale,):
        scale = SCALES[name]
        with tempfile.TemporaryDirectory(prefix=f"omni-curator-{name}-") as work:
            began = time.perf_counter()
            built = build(scale, curator, Path(work))
            print(f"  built in {time.perf_counter() - began:.0f} s")
        found[name] = measure(scale, built, curator, args.timeout, args.profile)
    return summary(found)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", choices=("small", "large", "both"), default="both")
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/omni_curator")
    parser.add_argument("--keep", action="store_true", help="leave the database for a look afterwards")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds before a request counts as timed out")
    parser.add_argument("--profile", type=int, default=0, metavar="N", help="cProfile the N slowest pages per scale")
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr] -- progress shows when piped to a log
    with tempfile.TemporaryDirectory(prefix="omni-curator-bench-") as data_dir:
        os.environ.update(
            {
                "DATABASE_URL": args.database_url,
                "DJANGO_SETTINGS_MODULE": "omni_annotate.settings",
                "DJANGO_DEBUG": "false",
                "DJANGO_SECRET_KEY": f"bench-{uuid.uuid4()}",
                "DJANGO_ALLOWED_HOSTS": "testserver",
                "DJANGO_SECURE_COOKIES": "false",
                "LOG_LEVEL": "WARNING",
                # Jobs (media processing, release builds) run in this process; any message that is sent
                # instead goes to a file broker in this temporary folder, removed with it.
                "OMNI_DATA_DIR": data_dir,
                "OMNI_JOBS_EAGER": "true",
                "CELERY_BROKER_URL": "",
                "CACHE_URL": "",
            }
        )
        os.chdir(ROOT)
        # Never one that exists (a --keep run, or someone else's): only what this run created is dropped.
        with scratch_database(args.database_url, keep=args.keep, replace=False):
            import django

            django.setup()
            try:
                all_met = _bench(args)
            finally:
                from django.db import connections

                connections.close_all()
    print(f"\nmachine: {os.cpu_count()} cores; Python {sys.version.split()[0]}")
    if not all_met:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
