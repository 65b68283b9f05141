"""Media pipeline against bare ffmpeg: what Celery, PostgreSQL and storage add to the same work.

1. Generates the inputs once into a temporary directory, from fixed parameters (no randomness that
   is not seeded): 20 videos (ffmpeg lavfi test sources, 320x240 to 1920x1080, 8 to 60 frames/s,
   H.264/MP4, VP9/WebM and MPEG-4/AVI, 3-6 s, every other one with a sine sound track), 20 audio
   clips (sine and coloured noise at different volumes, rates and channel counts; WAV, FLAC, MP3,
   Ogg Vorbis; 3-10 s), 50 images (Pillow: gradients, noise and both, 256 to 2048 px a side, JPEG
   and PNG, some PNGs RGBA) and 10 meshes (trimesh primitives, 12 to 20,480 triangles, as GLB, PLY,
   OBJ and STL).
2. Bare: the same work with no Celery, no database and no storage, in a pool of two fresh
   (spawned) processes, one per core, fed in input order. For video and audio the job is exactly
   the ffmpeg command lists `video_commands` / `audio_commands` return, run through `run_ffmpeg`;
   the ffprobe those lists are built from runs beforehand, off the clock (its cost is printed, and
   the total overhead is also printed as if it were bare work). Images and meshes involve no
   ffmpeg: the job is `processing.process` itself.
3. Pipeline: recreates the PostgreSQL database, migrates, stores every input as a queued MediaAsset
   (original copied into MEDIA_ROOT under `MediaAsset.storage_key`), starts a real `celery worker`
   (prefork, --concurrency=2, as tests/services.py) over a Redis database of its own, waits for
   "ready.", then per kind starts the clock, sends `media_pipeline.process_asset` for each asset
   and stops the clock at the last asset's `processed_at` (the database is polled every 0.25 s, so
   polling does not compete for the two cores). Every asset must end ready after one attempt.

Each kind is one timed phase, on both sides in the same order (video, audio, image, mesh), after
an `os.sync()` so no earlier writeback lands in the window. --rounds (default 3) alternates a bare
and a pipeline run over the same warm pool and worker (assets reset to queued, renditions deleted
between rounds); the table shows per-kind medians, the total is their sum, and each round's total
is printed too. Overhead is pipeline / bare - 1. Target (the issue): at most 10% over bare ffmpeg
with the workers using both cores, judged on the total (met or MISSED); per kind the overhead is
printed for reading, since a fixed cost per job weighs heavily on jobs of 15 ms (meshes). Beside the wall clock the sums
of per-job times are printed (bare: the job in the pool; pipeline: Celery's "succeeded in", the
task's own run time), so cost inside the task can be told from dispatch and idle cores. The worker
is stopped, the keys the run added to the bench's Redis database deleted and the database dropped
(unless --keep-db) at the end, also after a failure or Ctrl-C.
Exits 1 if an asset did not end ready after one attempt (a missed target is printed, not an error).

    .venv/bin/python bench/transcode_bench.py [--videos 20 --audio 20 --images 50 --meshes 10]
        [--database-url postgres://postgres@127.0.0.1:5432/omni_bench_transcode]
        [--rounds 3] [--broker-url redis://127.0.0.1:6379/14] [--keep-db]
"""

from __future__ import annotations

import argparse
import hashlib
import multiprocessing
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from statistics import median

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.scratch import redis_keys_removed, scratch_database  # noqa: E402 -- the path above first
from media_pipeline import processing  # noqa: E402 -- pure functions: no Django needed

TARGET_OVERHEAD = 0.10
KINDS = ("video", "audio", "image", "mesh")
WORKERS = 2  # the issue: Celery workers using both cores; the bare pool gets the same
SEED = 20261123
_SUCCEEDED = re.compile(r"Task media_pipeline\.process_asset\[([0-9a-f-]+)\] succeeded in ([0-9.]+)s")


@dataclass(frozen=True)
class Input:
    kind: str
    path: Path
    note: str


@dataclass
class Phase:
    wall: float = 0.0
    job_seconds: list[float] = field(default_factory=list)


# --- inputs ---------------------------------------------------------------------------------


def _ffmpeg(args: list[str]) -> None:
    cmd = ["ffmpeg", "-nostdin", "-hide_banner", "-v", "error", "-y", *args]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"generating {args[-1]} failed: {done.stderr.strip()[-800:]}")


_SIZES = [(320, 240), (480, 360), (640, 360), (640, 480), (854, 480), (960, 540), (1280, 720), (1920, 1080)]
_RATES = [8, 12, 15, 24, 25, 30, 50, 60]
_SOURCES = ["testsrc2", "testsrc", "smptehdbars"]
# codec -> (container extension, video options, sound options)
_VP9 = ["-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "1M"]
_VIDEO_CODECS = {
    "h264": ("mp4", ["-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p"], ["-c:a", "aac"]),
    "vp9": ("webm", _VP9, ["-c:a", "libopus"]),
    "mpeg4": ("avi", ["-c:v", "mpeg4", "-q:v", "4"], ["-c:a", "libmp3lame"]),
}


def _video_specs(folder: Path, count: int) -> list[tuple[Input, list[str]]]:
    specs = []
    for i in range(count):
        width, height = _SIZES[i % len(_SIZES)]
        rate = _RATES[(i * 3) % len(_RATES)]
        codec = ("h264", "vp9", "mpeg4")[i % 3]
        seconds = 3 + i % 4
        sound = i % 2 == 0
        ext, video_opts, sound_opts = _VIDEO_CODECS[codec]
        source = f"{_SOURCES[i % len(_SOURCES)]}=size={width}x{height}:rate={rate}"
        if i % 4 < 2:  # grain, so the encoders have real work
            source += ",noise=alls=12:allf=t+u"
        path = folder / f"video-{i:02d}.{ext}"
        args = ["-f", "lavfi", "-i", source]
        if sound:
            args += ["-f", "lavfi", "-i", f"sine=frequency={220 + 40 * i}:sample_rate=44100"]
        args += ["-t", str(seconds), *video_opts]
        args += [*sound_opts, "-ac", "2"] if sound else ["-an"]
        note = f"{width}x{height} {rate} fps {codec} {seconds} s{' +sound' if sound else ''}"
        specs.append((Input("video", path, note), [*args, str(path)]))
    return specs


_AUDIO_FORMATS = {
    "wav": ["-c:a", "pcm_s16le"],
    "flac": ["-c:a", "flac"],
    "mp3": ["-c:a", "libmp3lame", "-b:a", "160k"],
    "ogg": ["-c:a", "libvorbis", "-q:a", "4"],
}


def _audio_specs(folder: Path, count: int) -> list[tuple[Input, list[str]]]:
    specs = []
    for i in range(count):
        ext = ("wav", "flac", "mp3", "ogg")[i % 4]
        rate = (22_050, 44_100, 48_000)[i % 3]
        channels = 1 + i % 2
        seconds = 3 + (i * 3) % 8
        gain_db = (-30, -18, -6, 0, 4)[i % 5]
        if i % 2 == 0:
            source = f"sine=frequency={110 * (1 + i % 7)}:sample_rate={rate}"
        else:
            colour = ("white", "pink", "brown")[i % 3]
            source = f"anoisesrc=color={colour}:amplitude=0.5:seed={SEED + i}:sample_rate={rate}"
        path = folder / f"audio-{i:02d}.{ext}"
        args = ["-f", "lavfi", "-i", source, "-t", str(seconds), "-af", f"volume={gain_db}dB"]
        args += ["-ac", str(channels), *_AUDIO_FORMATS[ext], str(path)]
        note = f"{source.split('=')[0]} {gain_db:+d} dB {rate} Hz {channels} ch {ext} {seconds} s"
        specs.append((Input("audio", path, note), args))
    return specs


def _make_images(folder: Path, count: int) -> list[Input]:
    import numpy as np
    from PIL import Image

    rng = random.Random(SEED)
    made = []
    for i in range(count):
        width, height = rng.randint(256, 2048), rng.randint(256, 2048)
        pattern = ("gradient", "noise", "gradient+noise")[i % 3]
        alpha = i % 5 == 4
        ext = "png" if alpha or i % 2 else "jpg"
        gen = np.random.default_rng(SEED + i)
        x = np.linspace(0.0, 1.0, width)[None, :]
        y = np.linspace(0.0, 1.0, height)[:, None]
        pixels = np.stack(
            [255 * x * np.ones_like(y), 255 * y * np.ones_like(x), 255 * (1 - x * y)],
            axis=2,
        )
        if pattern == "noise":
            pixels = gen.integers(0, 256, (height, width, 3)).astype(float)
        elif pattern == "gradient+noise":
            pixels = pixels + gen.normal(0, 24, (height, width, 3))
        if alpha:
            pixels = np.concatenate([pixels, 255 * (x * np.ones_like(y))[:, :, None]], axis=2)
        image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))  # RGB or RGBA, from the shape
        path = folder / f"image-{i:02d}.{ext}"
        if ext == "jpg":
            image.save(path, quality=90)
        else:
            image.save(path)
        made.append(Input("image", path, f"{width}x{height} {pattern} {image.mode} {ext}"))
    return made


def _make_meshes(folder: Path, count: int) -> list[Input]:
    import trimesh

    c = trimesh.creation
    shapes = [
        ("icosphere/4", lambda: c.icosphere(subdivisions=4)),
        ("box", lambda: c.box(extents=(2.0, 1.0, 0.5))),
        ("cylinder/64", lambda: c.cylinder(radius=0.5, height=2.0, sections=64)),
        ("torus/64x32", lambda: c.torus(major_radius=1.0, minor_radius=0.3, major_sections=64, minor_sections=32)),
        ("capsule", lambda: c.capsule(height=1.5, radius=0.4, count=[32, 32])),
        ("cone/48", lambda: c.cone(radius=0.6, height=1.2, sections=48)),
        ("uv_sphere/64", lambda: c.uv_sphere(radius=1.0, count=[64, 64])),
        ("annulus/64", lambda: c.annulus(r_min=0.5, r_max=1.0, height=0.3, sections=64)),
        ("icosphere/5", lambda: c.icosphere(subdivisions=5)),
        ("icosahedron", lambda: c.icosahedron()),
    ]
    made = []
    for i in range(count):
        name, build = shapes[i % len(shapes)]
        mesh = build()
        mesh.apply_translation((0.1 * i, -0.05 * i, 0.2))  # off-centre, so normalising has work to do
        ext = ("glb", "ply", "obj", "stl")[i % 4]
        path = folder / f"mesh-{i:02d}.{ext}"
        mesh.export(str(path), file_type=ext)
        made.append(Input("mesh", path, f"{name} {len(mesh.faces):,} triangles {ext}"))
    return made


def make_inputs(folder: Path, counts: dict[str, int]) -> list[Input]:
    folder.mkdir(parents=True)
    renders = _video_specs(folder, counts["video"]) + _audio_specs(folder, counts["audio"])
    with ProcessPoolExecutor(WORKERS) as pool:  # ffmpeg renders, two at a time
        list(pool.map(_ffmpeg, [args for _, args in renders]))
    inputs = [spec for spec, _ in renders]
    inputs += _make_images(folder, counts["image"])
    inputs += _make_meshes(folder, counts["mesh"])
    return inputs


# --- bare -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class BareJob:
    kind: str
    source: Path
    workdir: Path
    commands: list[list[str]]  # empty: call processing.process


def _warm() -> int:
    time.sleep(0.5)
    return os.getpid()


def bare_job(job: BareJob) -> float:
    """One file's work in a pool process; returns its seconds (the clean-up after is off this timer)."""
    job.workdir.mkdir(parents=True)
    began = time.perf_counter()
    if job.commands:
        for args in job.commands:
            processing.run_ffmpeg(args, f"bare {job.kind}")
    else:
        processing.process(job.kind, job.source, job.workdir)
    elapsed = time.perf_counter() - began
    shutil.rmtree(job.workdir)
    return elapsed


def plan_bare(inputs: list[Input], scratch: Path) -> tuple[list[BareJob], dict[str, float]]:
    """The jobs, with the ffmpeg commands built from an ffprobe of each input (timed, off the clock)."""
    jobs, probe_s = [], dict.fromkeys(KINDS, 0.0)
    for n, item in enumerate(inputs):
        workdir = scratch / f"{n:03d}"
        commands: list[list[str]] = []
        if item.kind in ("video", "audio"):
            began = time.perf_counter()
            probe = processing.ffprobe(item.path)
            probe_s[item.kind] += time.perf_counter() - began
            build = processing.video_commands if item.kind == "video" else processing.audio_commands
            commands = build(item.path, workdir, probe)
        jobs.append(BareJob(item.kind, item.path, workdir, commands))
    return jobs, probe_s


def start_pool() -> ProcessPoolExecutor:
    """Fresh interpreters (spawn), not forks of this process: they import what a Celery pool process
    imports at start (processing: numpy, Pillow) and nothing this process loaded to make the inputs."""
    pool = ProcessPoolExecutor(WORKERS, mp_context=multiprocessing.get_context("spawn"))
    pids: set[int] = set()
    for _ in range(20):
        pids |= {future.result() for future in [pool.submit(_warm) for _ in range(WORKERS)]}
        if len(pids) >= WORKERS:
            break
    return pool


def run_bare(pool: ProcessPoolExecutor, jobs: list[BareJob]) -> dict[str, Phase]:
    phases = {}
    for kind in KINDS:
        batch = [job for job in jobs if job.kind == kind]
        if not batch:
            continue
        os.sync()  # no writeback of earlier files inside the timed window
        began = time.perf_counter()
        futures = [pool.submit(bare_job, job) for job in batch]
        seconds = [future.result() for future in futures]
        phases[kind] = Phase(time.perf_counter() - began, seconds)
    return phases


# --- pipeline -------------------------------------------------------------------------------


def _psql(admin_url: str, sql: str) -> None:
    subprocess.run(["psql", admin_url, "-qc", sql], check=True)


def store_assets(inputs: list[Input]) -> dict[str, list[int]]:
    """Each input as a queued MediaAsset, its original in storage; asset ids per kind, in input order."""
    from django.conf import settings

    from media_pipeline.models import MediaAsset

    ids: dict[str, list[int]] = {kind: [] for kind in KINDS}
    for item in inputs:
        data = item.path.read_bytes()
        sha = hashlib.sha256(data).hexdigest()
        ext = item.path.suffix.lstrip(".")
        key = MediaAsset.storage_key(sha, ext)
        target = Path(settings.MEDIA_ROOT) / key
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(item.path, target)
        asset = MediaAsset.objects.create(
            sha256=sha, kind=item.kind, extension=ext, file=key, size_bytes=len(data), original_name=item.path.name
        )
        ids[item.kind].append(asset.pk)
    return ids


def reset_assets() -> None:
    """Back to queued with no renditions, rows or files, for the next round."""
    from django.conf import settings

    from media_pipeline.models import AssetStatus, MediaAsset, Rendition

    Rendition.objects.all().delete()
    MediaAsset.objects.update(
        status=AssetStatus.QUEUED, attempts=0, lease_until=None, processed_at=None, error="", probe={}
    )
    shutil.rmtree(Path(settings.MEDIA_ROOT) / "renditions", ignore_errors=True)


def start_worker(env: dict[str, str], logfile: Path) -> subprocess.Popen[bytes]:
    """A real `celery worker` as tests/services.py starts one; returns once it logs "ready."."""
    cmd = [
        sys.executable, "-m", "celery", "-A", "omni_annotate", "worker",
        "--loglevel=INFO", f"--concurrency={WORKERS}", "--pool=prefork", "--without-gossip", "--without-mingle",
        "--purge", "--hostname", f"bench-transcode-{os.getpid()}@%h",
    ]  # fmt: skip
    with open(logfile, "wb") as log:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while b"ready." not in logfile.read_bytes():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"celery worker did not start:\n{logfile.read_text()[-3000:]}")
            time.sleep(0.2)
        time.sleep(1.0)  # let the pool processes settle before the first clock starts
    except BaseException:
        # Ctrl-C does not reach it (its own session), and the caller never got its handle to stop it.
        stop_worker(proc)
        raise
    return proc


def stop_worker(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)  # the worker and its pool processes: their own session
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def run_pipeline(ids: dict[str, list[int]], logfile: Path) -> tuple[dict[str, Phase], list[str]]:
    """Per kind: send every asset's job, wait until all are done; wall time and Celery's run times."""
    from django.db.models import Max

    from media_pipeline.celery_tasks import process_asset_task
    from media_pipeline.models import AssetStatus, MediaAsset

    done_statuses = (AssetStatus.READY, AssetStatus.FAILED)
    phases, task_ids = {}, {}
    for kind in KINDS:
        batch = ids[kind]
        if not batch:
            continue
        os.sync()  # no writeback of earlier files inside the timed window
        began = time.time()  # wall clock: the end is the database's processed_at, stamped by the worker
        for asset_id in batch:
            task_ids[process_asset_task.delay(asset_id).id] = kind
        assets = MediaAsset.objects.filter(pk__in=batch)
        deadline = time.monotonic() + 1800
        while assets.filter(status__in=done_statuses).count() < len(batch):
            if time.monotonic() > deadline:
                raise SystemExit(f"{kind}: not every job finished within 30 minutes; see {logfile}")
            time.sleep(0.25)
        last = assets.aggregate(last=Max("processed_at"))["last"]
        phases[kind] = Phase(last.timestamp() - began)
    time.sleep(1.0)  # the worker logs "succeeded" just after the status is committed
    for task_id, seconds in _SUCCEEDED.findall(logfile.read_text()):
        if task_id in task_ids:
            phases[task_ids[task_id]].job_seconds.append(float(seconds))
    problems = [
        f"{a.kind} {a.original_name}: {a.status} after {a.attempts} attempt(s) {a.error}".strip()
        for a in MediaAsset.objects.order_by("pk")
        if a.status != AssetStatus.READY or a.attempts != 1
    ]
    return phases, problems


# --- report ---------------------------------------------------------------------------------


def _verdict(overhead: float) -> str:
    return "met" if overhead <= TARGET_OVERHEAD else "MISSED"


def _median(rounds: list[dict[str, Phase]], kind: str) -> tuple[float, float]:
    """Median wall seconds and median sum of per-job seconds of one kind over the rounds."""
    return median(r[kind].wall for r in rounds), median(sum(r[kind].job_seconds) for r in rounds)


def report(
    bare: list[dict[str, Phase]], pipe: list[dict[str, Phase]], counts: dict[str, int], probe_s: dict[str, float]
) -> None:
    kinds = [kind for kind in KINDS if kind in bare[0]]
    for n, (b_round, p_round) in enumerate(zip(bare, pipe, strict=True), 1):
        bt, pt = sum(b_round[k].wall for k in kinds), sum(p_round[k].wall for k in kinds)
        per_kind = ", ".join(f"{k} {p_round[k].wall / b_round[k].wall - 1:+.0%}" for k in kinds)
        print(f"round {n}: bare {bt:.2f} s, pipeline {pt:.2f} s, overhead {pt / bt - 1:+.1%} ({per_kind})")
    print()
    print(f"median of {len(bare)} round(s), wall clock per phase:")
    print(f"{'kind':<7} {'files':>5} {'bare s':>8} {'pipeline s':>10} {'overhead':>9}")
    bare_total = pipe_total = 0.0
    for kind in kinds:
        b, p = _median(bare, kind)[0], _median(pipe, kind)[0]
        bare_total, pipe_total = bare_total + b, pipe_total + p
        print(f"{kind:<7} {counts[kind]:>5} {b:>8.2f} {p:>10.2f} {p / b - 1:>+9.1%}")
    total_over = pipe_total / bare_total - 1
    print(
        f"{'total':<7} {sum(counts[k] for k in kinds):>5} {bare_total:>8.2f} {pipe_total:>10.2f} "
        f"{total_over:>+9.1%}  target <= 10%: {_verdict(total_over)}   (pipeline/bare = {pipe_total / bare_total:.3f})"
    )
    probed = bare_total + sum(probe_s.values()) / WORKERS
    print(
        f"(were one ffprobe per input counted as bare work, ~{sum(probe_s.values()) / WORKERS:.2f} s on "
        f"{WORKERS} cores: overhead {pipe_total / probed - 1:+.1%})"
    )
    print()
    print("sum of per-job seconds, median (bare: the job in the pool; pipeline: Celery's 'succeeded in'):")
    print(f"{'kind':<7} {'bare':>8} {'pipeline':>9} {'per job +ms':>11} {'ffprobe s':>10}")
    for kind in kinds:
        b, p = _median(bare, kind)[1], _median(pipe, kind)[1]
        probe = f"{probe_s[kind]:.2f}" if kind in ("video", "audio") else "-"
        print(f"{kind:<7} {b:>8.2f} {p:>9.2f} {(p - b) / counts[kind] * 1000:>11.0f} {probe:>10}")
        found = min(len(r[kind].job_seconds) for r in pipe)
        if found != counts[kind]:
            print(f"  (only {found} of {counts[kind]} run times found in the worker log)")
    print("(ffprobe s: one probe of each input, off the bare clock; the pipeline's jobs probe each input,")
    print(" and each made video once more)")


# --- main -----------------------------------------------------------------------------------


def _measure(
    args: argparse.Namespace,
    counts: dict[str, int],
    inputs: list[Input],
    jobs: list[BareJob],
    probe_s: dict[str, float],
    env: dict[str, str],
    work: Path,
) -> bool:
    """Rounds of bare and pipeline runs, then the report; True when an asset did not end ready."""
    from omni_annotate.celery import app

    failed = False
    ids = store_assets(inputs)
    app.control.purge()
    pool = start_pool()
    worker = None
    bare_rounds, pipe_rounds = [], []
    try:
        worker = start_worker(env, work / "worker.log")
        for n in range(1, args.rounds + 1):
            print(f"round {n}: bare ...", end=" ", flush=True)
            bare_rounds.append(run_bare(pool, jobs))
            if n > 1:
                reset_assets()
            print("pipeline ...", end=" ", flush=True)
            phases, problems = run_pipeline(ids, work / "worker.log")
            pipe_rounds.append(phases)
            if problems:
                failed = True
                print(f"{len(problems)} assets not ready after one attempt:")
                for line in problems[:20]:
                    print(f"  {line}")
            else:
                print(f"all {len(inputs)} assets ready after one attempt each")
    finally:
        if worker is not None:
            stop_worker(worker)
        pool.shutdown()
    print()
    report(bare_rounds, pipe_rounds, counts, probe_s)
    return failed


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--videos", type=int, default=20)
    parser.add_argument("--audio", type=int, default=20)
    parser.add_argument("--images", type=int, default=50)
    parser.add_argument("--meshes", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3, help="bare and pipeline, alternately; medians reported")
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/omni_bench_transcode")
    parser.add_argument("--broker-url", default="redis://127.0.0.1:6379/14", help="a Redis database for the bench")
    parser.add_argument("--keep-db", action="store_true", help="leave the database for a look afterwards")
    args = parser.parse_args()
    counts = {"video": args.videos, "audio": args.audio, "image": args.images, "mesh": args.meshes}
    if min(counts.values()) < 1 or args.rounds < 1:
        parser.error("every count and --rounds must be at least 1")

    cores = len(os.sched_getaffinity(0))
    print(f"machine: {os.cpu_count()} cores ({cores} usable by this process), {_cpu_model()}")
    print(f"workers: {WORKERS} on both sides (bare: a process pool; pipeline: celery prefork --concurrency={WORKERS})")

    with tempfile.TemporaryDirectory(prefix="omni-transcode-bench-") as tmp:
        work = Path(tmp)
        began = time.perf_counter()
        inputs = make_inputs(work / "inputs", counts)
        print(f"generated {len(inputs)} inputs in {time.perf_counter() - began:.1f} s:")
        for kind in KINDS:
            items = [item for item in inputs if item.kind == kind]
            size = sum(item.path.stat().st_size for item in items) / 1e6
            print(f"  {len(items)} {kind}, {size:.1f} MB: " + "; ".join(item.note for item in items[:4]) + " ...")
        jobs, probe_s = plan_bare(inputs, work / "bare")

        env = {
            **os.environ,
            "DATABASE_URL": args.database_url,
            "CELERY_BROKER_URL": args.broker_url,
            "OMNI_MEDIA_ROOT": str(work / "media-root"),
            "OMNI_DATA_DIR": str(work / "data"),
            "DJANGO_SETTINGS_MODULE": "omni_annotate.settings",
            "DJANGO_DEBUG": "false",
            "DJANGO_SECRET_KEY": f"bench-{uuid.uuid4()}",
        }
        # Whatever happens (an asset not ready, a crash, Ctrl-C), the worker and the pool stop and the
        # database and the keys the run added to the bench's Redis database go.
        with redis_keys_removed(args.broker_url), scratch_database(args.database_url, keep=args.keep_db):
            subprocess.run([sys.executable, str(ROOT / "manage.py"), "migrate", "-v0"], env=env, check=True)
            os.environ.update(env)
            os.chdir(ROOT)
            import django

            django.setup()
            from django.db import connections

            try:
                failed = _measure(args, counts, inputs, jobs, probe_s, env, work)
            finally:
                connections.close_all()
    if failed:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
