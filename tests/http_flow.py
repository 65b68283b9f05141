"""The app driven through HTTP only, as its users' browsers and scripts drive it, against running processes.

Shared by the tests that start the app's real processes: the compose stack (tests/test_compose_stack.py)
and the embedded default (tests/test_embedded_default.py).
"""

from __future__ import annotations

import io
import os
import signal
import socket
import subprocess
import time
import zipfile
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import requests
from PIL import Image

from annotations.demo.synth import lavfi


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Process:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path
    env: dict[str, str]

    def tail(self) -> str:
        return f"--- {self.name} ({self.log}) ---\n{self.log.read_text(errors='replace')[-3000:]}"


def wait_until(predicate: Callable[[], bool], timeout: float, what: str, *logs: Process) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        for proc in logs:
            assert proc.popen.poll() is None, f"{proc.name} exited while waiting for {what}\n{proc.tail()}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}\n" + "\n".join(p.tail() for p in logs)
        time.sleep(0.25)


def stop_processes(processes: list[Process]) -> None:
    """SIGTERM each main process, as `docker stop` does, then SIGKILL whatever is left of each process group."""
    for proc in processes:
        if proc.popen.poll() is None:
            proc.popen.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 20
    for proc in processes:
        with suppress(subprocess.TimeoutExpired):
            proc.popen.wait(timeout=max(0.1, deadline - time.monotonic()))
        with suppress(ProcessLookupError):  # the group is gone: nothing was left behind
            os.killpg(proc.popen.pid, signal.SIGKILL)
        proc.popen.wait()


@dataclass(frozen=True)
class Row:
    id: str
    task: str
    label: str  # what the annotators will agree on
    responses: tuple[str, str] | None  # text responses; None: media responses (voted a tie)


def small_release(folder: Path) -> tuple[Path, Path, dict[str, Row]]:
    """pairs.jsonl and media.zip: 20 text pairs, two image pairs, one audio and one video prompt."""
    rows: dict[str, Row] = {}
    lines = []
    labels = ("response1", "response2", "tie")
    for n in range(20):
        rows[f"Prompt t2t-{n}"] = Row(f"t2t-{n}", "T2T", labels[n % 3], (f"First answer {n}", f"Second answer {n}"))
    for n in range(2):
        rows[f"Prompt t2i-{n}"] = Row(f"t2i-{n}", "T2I", "tie", None)
    rows["Prompt ta2t-0"] = Row("ta2t-0", "TA2T", "response2", ("It is a tone.", "It is a 440 Hz sine tone."))
    rows["Prompt tv2t-0"] = Row("tv2t-0", "TV2T", "response1", ("A test pattern.", "A cat."))
    media = folder / "media.zip"
    with zipfile.ZipFile(media, "w") as zf:
        for prompt, row in rows.items():
            line: dict[str, Any] = {
                "id": row.id, "task": row.task, "prompt": prompt, "criteria": "Prefer the better answer.",
                "criteria_preference": row.label, "model1": "model-a", "model2": "model-b",
            }  # fmt: skip
            if row.responses:
                line["response1"], line["response2"] = row.responses
            else:
                shade = 100 * int(row.id[-1])  # every image differs: media are stored once per content hash
                for side, colour in (("response1", (200, shade, 0)), ("response2", (0, shade, 200))):
                    buf = io.BytesIO()
                    Image.new("RGB", (64, 48), colour).save(buf, "PNG")
                    zf.writestr(f"media_data/{row.id}-{side}.png", buf.getvalue())
                    line[side] = f"{row.id}-{side}.png"
            lines.append(line)
        audio, video = folder / "tone.wav", folder / "pattern.mp4"
        lavfi(audio, ["sine=frequency=440:duration=1"], [])
        lavfi(video, ["testsrc=size=160x120:rate=10:duration=1"], ["-pix_fmt", "yuv420p"])
        zf.write(audio, "media_data/tone.wav")
        zf.write(video, "media_data/pattern.mp4")
    lines[-2]["audio"], lines[-1]["video"] = "tone.wav", "pattern.mp4"
    data = folder / "pairs.jsonl"
    data.write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in lines))
    return data, media, rows


def api(port: int, token: str, slug: str) -> tuple[requests.Session, str]:
    session = requests.Session()
    session.headers["Authorization"] = f"Token {token}"
    return session, f"http://127.0.0.1:{port}/api/projects/{slug}"


def vote_all(token: str, slug: str, rows: dict[str, Row], ports: tuple[int, int]) -> dict[int, tuple[str, str]]:
    """One annotator: every pair, votes alternating between the instances; every third sent to both."""
    apis = [api(port, token, slug) for port in ports]
    acked: dict[int, tuple[str, str]] = {}
    session, base = apis[0]
    turn = session.get(f"{base}/queue/next/", timeout=30).json()
    n = 0
    while not turn["done"]:
        pair = turn["pair"]
        row = rows[pair["prompt"]]
        choice = "tie"
        if row.label != "tie":
            wanted = row.responses[0 if row.label == "response1" else 1]  # type: ignore[index]
            choice = next(side["letter"] for side in pair["sides"] if side["text"] == wanted)
        body = {"pair": pair["id"], "choice": choice, "submission_id": turn["submission_id"], "elapsed_ms": 1500}
        session, base = apis[n % 2]
        answer = session.post(f"{base}/queue/vote/", json=body, timeout=30)
        assert answer.status_code == 201, answer.text
        acked[pair["id"]] = (row.label, body["submission_id"])
        if n % 3 == 0:  # a retried request that lands on the other instance stores nothing more
            other, other_base = apis[(n + 1) % 2]
            again = other.post(f"{other_base}/queue/vote/", json=body, timeout=30)
            assert again.status_code == 200 and again.json()["created"] is False, again.text
        turn = answer.json()["next"]
        n += 1
    return acked


def poll_json(
    session: requests.Session, url: str, done: Callable[[dict], bool], timeout: float, *logs: Process
) -> dict:
    answers: list[dict] = [{}]

    def check() -> bool:
        answers.append(session.get(url, timeout=30).json())
        return done(answers[-1])

    try:
        wait_until(check, timeout, url, *logs)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\nlast answer from {url}: {answers[-1]}") from None
    return answers[-1]
