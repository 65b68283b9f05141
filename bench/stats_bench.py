"""Agreement statistics and release building at the paper's scale, on PostgreSQL.

1. Recreates a PostgreSQL database and migrates it. Seeds, with COPY:
   - "bench-3725": 3,725 text pairs spread over the nine tasks, 5 votes each from 20 annotators;
   - "bench-317k": 317,000 text pairs, 3 votes each from 300 annotators.
   Votes are simulated: each pair has a true label (45% A, 45% B, 10% tie), each annotator is
   right with a probability between 0.6 and 0.95, and picks the left side a little more often
   when wrong, so alpha, kappa and the position-bias test have something to find. 2% of pairs
   are gold.
2. Times, for each project, what the curator's dashboard computes: every live vote read from
   PostgreSQL into arrays, the gate decided for every pair, Krippendorff's alpha with a 1,000-replicate
   bootstrap interval, Fleiss' kappa and percent agreement overall and per task, the per-annotator
   table (Cohen's kappa against the leave-one-out majority, gold accuracy, tie rate, binomial
   position-bias test) and the prompt groups. Printed split into reading and computing.
3. Seeds "bench-release": 3,725 T2T pairs with 3 unanimous votes each, and times publishing (freezing
   the admitted pairs) and building the release archive (parquet, without-tie variant, manifest,
   dataset card, zip saved to local storage): all 3,725 pairs are in the release.

Targets (the issue): under 1 s, under 20 s, under 10 s. Printed as met or missed. The database is
dropped at the end unless --keep-db, and the temp folder removed, also after a failure or Ctrl-C.

    .venv/bin/python bench/stats_bench.py [--database-url postgres://postgres@127.0.0.1:5432/omni_bench_stats]
"""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.scratch import scratch_database  # noqa: E402 -- the path above first

TARGETS = {"3725": 1.0, "317k": 20.0, "release": 10.0}
LABELS = ("response1", "response2", "tie")


def _seed(
    name: str,
    pairs: int,
    votes_per_pair: int,
    annotators: int,
    seed: int,
    *,
    text_only: bool = False,
    skill: float | None = None,
) -> int:
    """One project with `pairs` text pairs and simulated votes; returns the project id."""
    from django.contrib.auth import get_user_model
    from django.db import connection

    from annotations.models import Membership, Project, Role, Task
    from annotations.services.tallies import tally_recount

    rng = np.random.default_rng(seed)
    project = Project.objects.create(name=name, slug=name, votes_per_pair=votes_per_pair)
    users = get_user_model().objects.bulk_create([get_user_model()(username=f"{name}-a{i}") for i in range(annotators)])
    Membership.objects.bulk_create([Membership(project=project, user=u, role=Role.ANNOTATOR) for u in users])
    tasks = [Task.T2T.value] * 9 if text_only else [t.value for t in Task]
    truth = rng.choice(3, size=pairs, p=[0.45, 0.45, 0.10])
    gold = rng.random(pairs) < 0.02
    buffer = io.StringIO()
    for i in range(pairs):
        gold_label = LABELS[truth[i]] if gold[i] else "\\N"
        # Every fourth prompt is shared by two criteria, as free-form preference data has it.
        prompt = f"Prompt {i // 2 if i % 4 < 2 else i} about topic {i % 97}"
        buffer.write(
            f"{project.id}\t{name}-{i:07d}\t{tasks[i % 9]}\t{prompt}\tCriterion {i}: prefer the concise answer\t"
            f"Answer one for pair {i}\tA longer second answer for pair {i}\tmodel-x\tmodel-y\t\t{gold_label}\tnow()\n"
        )
    with connection.cursor() as cursor:
        copy_sql = (
            "COPY annotations_pair (project_id, external_id, task, prompt, criterion, response1_text, "
            "response2_text, model1, model2, source, gold_label, created_at) FROM STDIN"
        )
        with cursor.cursor.copy(copy_sql) as copy:
            copy.write(buffer.getvalue())
        cursor.execute("SELECT id FROM annotations_pair WHERE project_id = %s ORDER BY id", [project.id])
        pair_ids = np.array([r[0] for r in cursor.fetchall()])

    skills = rng.uniform(0.6, 0.95, size=annotators) if skill is None else np.full(annotators, skill)
    user_ids = np.array([u.id for u in users])
    buffer = io.StringIO()
    for i, pair_id in enumerate(pair_ids.tolist()):
        who = rng.choice(annotators, size=votes_per_pair, replace=False)
        for a in who.tolist():
            right = rng.random() < skills[a]
            label = truth[i] if right else rng.choice([x for x in range(3) if x != truth[i]])
            left_first = rng.random() < (0.5 if right else 0.6)
            if label == 2:
                order = "12" if rng.random() < 0.5 else "21"
            else:
                order = "12" if (label == 0) == left_first else "21"
            ms = int(rng.lognormal(9, 0.5))
            buffer.write(f"{pair_id}\t{user_ids[a]}\t{LABELS[label]}\t{order}\t{ms}\t\t{{}}\tnow()\n")
    with connection.cursor() as cursor:
        copy_sql = (
            "COPY annotations_judgment (pair_id, annotator_id, label, shown_order, time_spent_ms, rationale, "
            "view_coverage, created_at) FROM STDIN"
        )
        with cursor.cursor.copy(copy_sql) as copy:
            copy.write(buffer.getvalue())
    tally_recount(project=project)  # the per-pair tallies the pages read, as the queue keeps them
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return project.id


def _time_stats(project_id: int) -> tuple[float, float, object]:
    from annotations.models import Project
    from releases import selectors
    from releases.services.annotator_stats import annotator_stats_rows

    project = Project.objects.get(pk=project_id)
    began = time.perf_counter()
    selectors.project_votes(project)
    read = time.perf_counter() - began
    report = selectors.dashboard(project)  # reads again, then computes everything the page shows
    total = time.perf_counter() - began - read
    began = time.perf_counter()
    annotator_stats_rows(project)  # what the background job computes for the per-annotator table
    print(f"  per-annotator table (background job, not in the page): {time.perf_counter() - began:.2f} s")
    return read, total, report


def _bench() -> bool:
    from annotations.models import Project
    from releases.services.publish import release_publish

    process = psutil.Process()
    memory = psutil.virtual_memory().total / 2**30
    print(f"machine: {os.cpu_count()} cores, {memory:.0f} GiB; Python {sys.version.split()[0]}")
    missed = False
    for key, (pairs, k, annotators) in {"3725": (3725, 5, 20), "317k": (317_000, 3, 300)}.items():
        began = time.perf_counter()
        project_id = _seed(f"bench-{key}", pairs, k, annotators, seed=len(key))
        print(f"\nseeded {pairs:,} pairs x {k} votes ({pairs * k:,} judgments) in {time.perf_counter() - began:.1f} s")
        read, total, report = _time_stats(project_id)
        alpha = report.overall.alpha  # type: ignore[attr-defined]
        print(f"  read votes from PostgreSQL: {read:.2f} s")
        print(f"  dashboard (read + gate + agreement per task, bootstrap 1,000 + groups): {total:.2f} s")
        states = report.states  # type: ignore[attr-defined]
        print(f"  alpha {alpha.value:.4f} [{alpha.low:.4f}, {alpha.high:.4f}], states {states}")
        ok = total < TARGETS[key]
        missed |= not ok
        rss = process.memory_info().rss / 2**20
        print(f"  target under {TARGETS[key]:.0f} s: {'met' if ok else 'MISSED'}; RSS {rss:.0f} MB")

    began = time.perf_counter()
    # The release: 3,725 T2T pairs (media tasks need media files), all admitted by the default gate.
    project = Project.objects.get(pk=_seed("bench-release", 3725, 3, 20, seed=3, text_only=True, skill=1.0))
    print(f"\nseeded the release project: 3,725 T2T pairs x 3 votes in {time.perf_counter() - began:.1f} s")
    with tempfile.TemporaryDirectory() as media:
        from django.conf import settings

        settings.MEDIA_ROOT = media
        # No broker here, so Celery runs eagerly: the build job runs as the publishing transaction commits.
        began = time.perf_counter()
        release = release_publish(project=project, user=None, notes="bench")
        total = time.perf_counter() - began
        release.refresh_from_db()
        size = (release.archive_bytes or 0) / 1e6
        print(f"\nrelease of {release.summary['pairs']:,} text pairs, published and built: {total:.2f} s")
        print(f"  status {release.status}, {size:.1f} MB zip {release.error}")
        ok = total < TARGETS["release"] and release.status == "ready"
        missed |= not ok
        print(f"  target under 10 s: {'met' if ok else 'MISSED'}; RSS {process.memory_info().rss / 2**20:.0f} MB")
    return missed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/omni_bench_stats")
    parser.add_argument("--keep-db", action="store_true")
    args = parser.parse_args()
    # Whatever happens (a crash, Ctrl-C), the database and the temp folder go.
    with (
        tempfile.TemporaryDirectory(prefix="omni-stats-bench-") as tmp,
        scratch_database(args.database_url, keep=args.keep_db),
    ):
        env = {
            **os.environ,
            "DATABASE_URL": args.database_url,
            "DJANGO_SETTINGS_MODULE": "omni_annotate.settings",
            "DJANGO_SECRET_KEY": f"bench-{uuid.uuid4()}",
            "LOG_LEVEL": "WARNING",
            # No broker: the release build runs in this process as publishing commits. Without this the
            # embedded broker would queue it as a message file under the data folder, for no worker.
            "CELERY_BROKER_URL": "",
            "CACHE_URL": "",
            "OMNI_JOBS_EAGER": "true",
            "OMNI_DATA_DIR": str(Path(tmp) / "data"),
        }
        subprocess.run([sys.executable, str(ROOT / "manage.py"), "migrate", "-v0"], env=env, check=True)
        os.environ.update(env)
        os.chdir(ROOT)
        import django

        django.setup()
        from django.db import connections

        try:
            missed = _bench()
        finally:
            connections.close_all()
    if missed:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
