"""Import throughput and peak memory on PostgreSQL.

1. 3,725 pairs over the nine tasks (the size of Omni-RewardBench), media tasks pointing at a
   pool of generated media files;
2. 317,000 text pairs (the size of OmniRewardData) as one generated JSONL file.

Each import runs in a fresh child process (`import_pairs` through the same service the web job
uses) so its peak RSS is its own. Prints pairs/second and peak memory. As in production, the
import sends one media-pipeline job per new file to a broker (Redis db 13 here, with no worker),
so what is timed is the import and not the transcoding, which bench/transcode_bench.py measures.

The database is recreated at the start and dropped at the end unless --keep-db; the keys the run
adds to the broker's Redis database and the temporary folder go too, also after a failure or Ctrl-C.

    .venv/bin/python bench/import_bench.py [--database-url postgres://postgres@127.0.0.1:5432/omni_bench]
        [--text-pairs 317000] [--broker-url redis://127.0.0.1:6379/13] [--keep-db]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import wave
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.scratch import redis_keys_removed, scratch_database  # noqa: E402 -- the path above first

TASK_SIZES = {
    "T2T": 500,
    "TI2T": 500,
    "TV2T": 300,
    "TA2T": 300,
    "T2I": 500,
    "T2V": 400,
    "T2A": 400,
    "T23D": 300,
    "TI2I": 525,
}
assert sum(TASK_SIZES.values()) == 3725
LONG_TEXT = "This answer walks through the question step by step, naming the mechanism and an example. " * 6


def _make_media(media: Path) -> dict[str, list[str]]:
    import trimesh
    from PIL import Image

    from annotations.demo import synth

    media.mkdir(parents=True)
    pool: dict[str, list[str]] = {"image": [], "audio": [], "video": [], "mesh": []}
    for i in range(60):
        rel = f"img/{i}.png"
        (media / "img").mkdir(exist_ok=True)
        Image.new("RGB", (256, 256), (i * 4 % 256, 90, 200 - i)).save(media / rel)
        pool["image"].append(rel)
    (media / "aud").mkdir()
    for i in range(20):
        rel = f"aud/{i}.wav"
        with wave.open(str(media / rel), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(16000)
            w.writeframes(bytes([i % 256, 0]) * 16000)
        pool["audio"].append(rel)
    (media / "vid").mkdir()
    for i in range(4):
        rel = f"vid/{i}.mp4"
        source = f"testsrc2=size=160x120:rate=12:duration={i + 1}"
        synth.lavfi(media / rel, [source], ["-pix_fmt", "yuv420p"])
        pool["video"].append(rel)
    (media / "mesh").mkdir()
    for i, shape in enumerate([trimesh.creation.box(), trimesh.creation.icosphere(), trimesh.creation.cone(0.5, 1)]):
        rel = f"mesh/{i}.glb"
        shape.export(media / rel)
        pool["mesh"].append(rel)
    return pool


def _benchmark_rows(pool: dict[str, list[str]]):
    n = 0
    for task, size in TASK_SIZES.items():
        for i in range(size):
            n += 1
            row = {
                "id": f"bench-{n}",
                "task": task,
                "prompt": f"Prompt {n} for {task}",
                "criteria": "Prefer the response that follows the instruction most closely.",
                "criteria_preference": ("response1", "response2", "tie")[n % 3],
                "model1": "model-a",
                "model2": "model-b",
            }
            pick = lambda kind, k=i: pool[kind][k % len(pool[kind])]  # noqa: E731
            if task in ("T2T", "TI2T", "TV2T", "TA2T"):
                row["response1"], row["response2"] = f"Short answer {n}.", LONG_TEXT
            if task in ("TI2T", "TI2I"):
                row["image_path"] = pick("image")
            if task == "TV2T":
                row["video"] = pick("video")
            if task == "TA2T":
                row["audio_path"] = pick("audio")
            kind = {"T2I": "image", "TI2I": "image", "T2V": "video", "T2A": "audio", "T23D": "mesh"}.get(task)
            if kind:
                row["response1"], row["response2"] = pick(kind), pool[kind][(i + 1) % len(pool[kind])]
            yield row


def _text_rows(count: int):
    for n in range(count):
        yield {
            "id": f"text-{n}",
            "task": "T2T",
            "prompt": f"Question {n}: explain the trade-offs of approach {n % 97} in two paragraphs.",
            "response1": f"Answer {n}, version one. " + LONG_TEXT,
            "response2": f"Answer {n}, version two, more concise.",
            "criteria": "Prefer the answer that is accurate and complete." if n % 2 else "Prefer brevity.",
            "criteria_preference": ("response1", "response2", "tie")[n % 3],
            "model1": "model-a",
            "model2": "model-b",
        }


def _write_jsonl(path: Path, rows) -> int:
    count = 0
    with open(path, "wb") as fh:
        for row in rows:
            fh.write(orjson.dumps(row) + b"\n")
            count += 1
    return count


def child(project: str, data: Path, media: Path | None) -> None:
    """Runs in its own process: one import, then report time and peak RSS."""
    import resource

    import django

    django.setup()
    from annotations.models import Project
    from annotations.services.pair_import import pair_import

    project_obj, _ = Project.objects.get_or_create(slug=project, defaults={"name": project})
    start = time.perf_counter()
    result = pair_import(project=project_obj, data_path=data, media_path=media)
    elapsed = time.perf_counter() - start
    if not result.ok:
        raise SystemExit(f"import failed: {[str(p) for p in result.problems[:5]]}")
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"pairs": result.summary["new_pairs"], "seconds": elapsed, "peak_rss_mb": peak_kb / 1024}))


def _run_child(env: dict[str, str], project: str, data: Path, media: Path | None) -> dict:
    cmd = [sys.executable, __file__, "--child", project, str(data)] + ([str(media)] if media else [])
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(done.stderr[-3000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def _report(what: str, run: dict) -> None:
    rate = run["pairs"] / run["seconds"]
    print(f"{what}: {run['seconds']:.2f} s, {rate:,.0f} pairs/s, peak RSS {run['peak_rss_mb']:.0f} MB")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/omni_bench")
    parser.add_argument("--text-pairs", type=int, default=317_000)

    parser.add_argument("--broker-url", default="redis://127.0.0.1:6379/13", help="where media jobs are queued")
    parser.add_argument("--keep-db", action="store_true", help="leave the database for a look afterwards")
    args = parser.parse_args()

    env = {
        **os.environ,
        "DATABASE_URL": args.database_url,
        "DJANGO_SETTINGS_MODULE": "omni_annotate.settings",
        "CELERY_BROKER_URL": args.broker_url,
    }
    # Whatever happens (a failed import, Ctrl-C), the database, the broker keys and the files go.
    with (
        tempfile.TemporaryDirectory(prefix="omni-bench-") as tmp,
        redis_keys_removed(args.broker_url),
        scratch_database(args.database_url, keep=args.keep_db),
    ):
        work = Path(tmp)
        env["OMNI_MEDIA_ROOT"] = str(work / "stored-media")
        env["OMNI_DATA_DIR"] = str(work / "data")
        _purge(env)
        subprocess.run([sys.executable, str(ROOT / "manage.py"), "migrate", "-v0"], env=env, check=True)
        pool = _make_media(work / "media")
        bench_file = work / "bench.jsonl"
        n_bench = _write_jsonl(bench_file, _benchmark_rows(pool))
        text_file = work / "text.jsonl"
        n_text = _write_jsonl(text_file, _text_rows(args.text_pairs))
        size_mb = text_file.stat().st_size / 1e6

        first = _run_child(env, "bench-3725", bench_file, work / "media")
        _report(f"{n_bench:,} pairs (nine tasks, {sum(len(v) for v in pool.values())} media files)", first)
        second = _run_child(env, "bench-317k", text_file, None)
        _report(f"{n_text:,} text pairs ({size_mb:,.0f} MB JSONL)", second)
        again = _run_child(env, "bench-317k", text_file, None)
        print(f"re-import of the same {n_text:,} (adds {again['pairs']}): {again['seconds']:.2f} s")


def _purge(env: dict[str, str]) -> None:
    """Drop media jobs an earlier run left queued: no worker listens on this broker."""
    cmd = [sys.executable, "-m", "celery", "-A", "omni_annotate", "purge", "-f"]
    subprocess.run(cmd, env=env, cwd=ROOT, check=True, capture_output=True)


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        os.chdir(ROOT)
        child(sys.argv[2], Path(sys.argv[3]), Path(sys.argv[4]) if len(sys.argv) > 4 else None)
    else:
        main()
