"""A newcomer's first start, timed: `make demo` in a fresh clone, then an upload through the running app.

Clones this repository's HEAD into a temporary folder, runs `make demo` there with no cache for uv (as on a
fresh machine; system packages such as ffmpeg are what this machine has) and prints:

- the time of each step `make demo` reports (install, migrate, seed) and until the first page answers;
- how long uploading a release zip to the running demo takes to answer (the import itself runs in the
  background worker), and how long until the import and the media it brought are done.

The zip is the shared fixture release (../shared/fixtures/omnirewardbench_mini) when present, else the
release tests/fixture_release.py generates.

The clone, the demo's server and worker, and everything they wrote (TMPDIR points into the bench's
folder) are stopped and removed at the end unless --keep, also after a failure or Ctrl-C.

    .venv/bin/python bench/first_start_bench.py [--keep]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "fixtures" / "omnirewardbench_mini"
_STEP = re.compile(r"^==> (.+) \((\d+) s\)$")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _release_zip(work: Path) -> Path:
    source = SHARED
    if not source.is_dir():
        sys.path.insert(0, str(ROOT))
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "omni_annotate.settings")
        from tests.fixture_release import release_write

        source = release_write(work / "generated").root
    archive = work / "release.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(source.rglob("*")):
            if path.is_file():
                zf.write(path, Path("release") / path.relative_to(source))
    return archive


def _wait(what: str, check, timeout: float) -> float:
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > timeout:
            raise SystemExit(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.1)
    return time.monotonic() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keep", action="store_true", help="keep the clone (its path is printed)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="omni-first-start-"))
    demo: subprocess.Popen[bytes] | None = None
    try:
        clone = work / "clone"
        subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
        port = _free_port()
        env = {
            k: v
            for k, v in os.environ.items()
            if not re.match(r"^(DJANGO_|S3_|OMNI_|CELERY_|DATABASE_URL|CACHE_URL)", k)
        }
        # TMPDIR: the worker's job folders and the installers' scratch land in `work` and go with it.
        (work / "tmp").mkdir()
        env.update(UV_NO_CACHE="1", OMNI_ADDR=f"127.0.0.1:{port}", TMPDIR=str(work / "tmp"))
        log = work / "demo.log"
        with open(log, "wb") as out:
            demo = subprocess.Popen(["make", "demo"], cwd=clone, env=env, stdout=out, stderr=subprocess.STDOUT,
                                    start_new_session=True)  # fmt: skip

        def answers() -> bool:
            assert demo is not None and demo.poll() is None, log.read_text()[-3000:]
            try:
                return requests.get(f"http://127.0.0.1:{port}/accounts/login/", timeout=5).status_code == 200
            except requests.RequestException:
                return False

        first_page = _wait("the first page", answers, 600)
        for line in log.read_text().splitlines():
            if match := _STEP.match(line):
                print(f"{match[1]}: {match[2]} s")
        print(f"first page answered after {first_page:.1f} s (make demo started)")

        token = subprocess.run(
            [str(clone / ".venv/bin/python"), "manage.py", "drf_create_token", "curator"],
            cwd=clone, env=env, capture_output=True, text=True, check=True,
        ).stdout.split()[2]  # fmt: skip
        session = requests.Session()
        session.headers["Authorization"] = f"Token {token}"
        base = f"http://127.0.0.1:{port}/api/projects/omni-demo"
        archive = _release_zip(work)
        size = archive.stat().st_size / 1e6
        sent = time.monotonic()
        with open(archive, "rb") as fh:
            answer = session.post(f"{base}/imports/", files={"data_file": fh}, timeout=120)
        upload = time.monotonic() - sent
        assert answer.status_code == 202, answer.text
        print(f"upload of a {size:.1f} MB release zip answered in {upload:.2f} s (status {answer.json()['status']})")
        job_url = f"{base}/imports/{answer.json()['id']}/"
        percents: list[int] = []

        def imported() -> bool:
            body = session.get(job_url, timeout=30).json()
            percents.append(body["progress"]["percent"])
            return body["status"] in ("succeeded", "failed")

        took = _wait("the import", imported, 600)
        print(f"import done {took:.1f} s after the answer; progress seen: {sorted(set(percents))}")

        def media_done() -> bool:
            body = session.get(f"{base}/media/", timeout=30).json()
            return not body["busy"] and body["waiting_pairs"] == 0

        print(f"all media (the demo's and the release's) processed {_wait('the media', media_done, 900):.1f} s later")
    finally:
        if demo is not None:
            _stop(demo)
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def _stop(demo: subprocess.Popen[bytes]) -> None:
    """Ctrl-C to `make demo` and all it started (its own session): serve.sh stops its server and worker."""
    try:
        os.killpg(demo.pid, signal.SIGINT)
        demo.wait(timeout=60)
    except ProcessLookupError:  # it ended by itself (a failed step); nothing of it is left to stop
        return
    except subprocess.TimeoutExpired:
        os.killpg(demo.pid, signal.SIGKILL)
        demo.wait()


if __name__ == "__main__":
    main()
