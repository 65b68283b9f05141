"""Publishing and building one release of a large project that exists already, on PostgreSQL (issue 17, item 6).

Run it against the database `bench/curator_bench.py --scale large --keep` leaves (317,000 text pairs x 3
votes, project "curator-large"): it does not build anything itself. Each run, in a fresh child process
so that each peak is its own:

1. publish: `release_publish` of the next version, committed (as the curator's POST does; the build's
   message goes to a throwaway file broker in a temp folder, no worker takes it);
2. build: `release_build` of that release, in-process (as the worker does), the zip saved to local
   storage in the same temp folder;
3. the release is deleted again (its frozen pairs with it), so the database is as it was.

Printed per run: seconds and peak RSS (VmHWM) of each step, the process's RSS before it started, the
pairs and the archive's size. Target (the issue): publish + build under 60 s, each under 500 MB.

    .venv/bin/python bench/release_bench.py --database-url postgres://postgres@127.0.0.1:5432/omni_h1_curator
        [--slug curator-large] [--runs 2] [--step publish|build|both]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TARGET_SECONDS = 60.0
TARGET_MB = 500.0


def _vm_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def _child(step: str, slug: str, release_id: int | None) -> dict[str, Any]:
    """One step in this process; what it measured."""
    import django

    django.setup()
    from django.contrib.auth import get_user_model

    from annotations.models import Project
    from releases.models import Release
    from releases.services.publish import release_build, release_publish

    project = Project.objects.get(slug=slug)
    user = get_user_model().objects.filter(username="bench-curator").first()
    Release.objects.exists()  # the connection is open before the clock starts
    rss_before = _vm_mb("VmRSS")
    began = time.perf_counter()
    if step == "publish":
        release = release_publish(project=project, user=user, notes="release bench")
        found: dict[str, Any] = {"release_id": release.pk, "pairs": release.summary["pairs"]}
    else:
        assert release_id is not None
        status = release_build(release_id)
        release = Release.objects.get(pk=release_id)
        if status != "ready":
            raise SystemExit(f"build of release {release_id}: {status}: {release.error}")
        found = {"archive_mb": round((release.archive_bytes or 0) / 1e6, 1)}
    seconds = time.perf_counter() - began
    return {**found, "seconds": round(seconds, 2), "peak_mb": round(_vm_mb("VmHWM"), 1), "rss_before_mb": rss_before}


def _run_child(step: str, args: argparse.Namespace, release_id: int | None = None) -> dict[str, Any]:
    command = [sys.executable, __file__, "--child", step, "--slug", args.slug]
    if release_id is not None:
        command += ["--release-id", str(release_id)]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"{step} failed:\n{done.stderr[-3000:]}{done.stdout[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _drop_release(database_url: str, release_id: int) -> None:
    where = f"release_id = {int(release_id)}"
    sql = f"DELETE FROM releases_releasepair WHERE {where}; DELETE FROM releases_release WHERE id = {int(release_id)};"  # noqa: S608
    subprocess.run(["psql", database_url, "-qc", sql], check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/omni_curator")
    parser.add_argument("--slug", default="curator-large")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--step", choices=("publish", "both"), default="both")
    parser.add_argument("--child", choices=("publish", "build"), help=argparse.SUPPRESS)
    parser.add_argument("--release-id", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        sys.path.insert(0, str(ROOT))
        print(json.dumps(_child(args.child, args.slug, args.release_id)))
        return
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr] -- progress shows when piped to a log
    all_met = True
    with tempfile.TemporaryDirectory(prefix="omni-release-bench-") as data_dir:
        os.environ.update(
            {
                "DATABASE_URL": args.database_url,
                "DJANGO_SETTINGS_MODULE": "omni_annotate.settings",
                "DJANGO_DEBUG": "false",
                "DJANGO_SECRET_KEY": f"bench-{uuid.uuid4()}",
                "LOG_LEVEL": "WARNING",
                # Storage (the archive) and the file broker (the build's message, never taken) live here.
                "OMNI_DATA_DIR": data_dir,
                "OMNI_JOBS_EAGER": "false",
                "CELERY_BROKER_URL": "",
                "CACHE_URL": "",
            }
        )
        os.chdir(ROOT)
        for run in range(1, args.runs + 1):
            published = _run_child("publish", args)
            release_id = published["release_id"]
            try:
                line = f"run {run}: publish {published['pairs']} pairs {published['seconds']} s"
                line += f", peak {published['peak_mb']} MB (RSS {published['rss_before_mb']:.0f} MB before it)"
                total = published["seconds"]
                peaks = [published["peak_mb"]]
                if args.step != "publish":
                    built = _run_child("build", args, release_id)
                    line += f"; build {built['seconds']} s, peak {built['peak_mb']} MB"
                    line += f" (RSS {built['rss_before_mb']:.0f} MB before it), zip {built['archive_mb']} MB"
                    total += built["seconds"]
                    peaks.append(built["peak_mb"])
                met = total < TARGET_SECONDS and max(peaks) < TARGET_MB
                all_met &= met
                print(f"{line}; together {total:.1f} s ({'met' if met else 'NOT met'})")
            finally:
                _drop_release(args.database_url, release_id)
    print(f"machine: {os.cpu_count()} cores; Python {sys.version.split()[0]}")
    if not all_met:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
