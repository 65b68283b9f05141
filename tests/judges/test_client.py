"""The judge client against a real HTTP server that speaks /v1/chat/completions."""

from __future__ import annotations

import base64
import io
import json
import subprocess
import threading
import wave
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from judges.client import ChatJudgeClient, JudgeCallError, judge_pair
from judges.protocol import PairView

CRITERION = "Which answer is more faithful to the source? Penalise any invented fact, even a small one."
# Without it the SDK backs off for half a second and more between retries.
FAST_RETRY = {"retry-after-ms": "10"}


@dataclass
class Answer:
    status: int = 200
    body: bytes | dict[str, Any] = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0


def completion(text: str, *, prompt_tokens: int = 120, completion_tokens: int = 30) -> Answer:
    return Answer(
        body={
            "id": "chatcmpl-test",
            "object": "chat.completion",
            "created": 0,
            "model": "judge-model",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }
    )


Behaviour = Callable[[int], Answer]


class FakeJudge:
    """Records every request body and answers by a scripted behaviour (given the request's index)."""

    def __init__(self, behaviour: Behaviour) -> None:
        self.behaviour = behaviour
        self.requests: list[dict[str, Any]] = []
        self.paths: list[str] = []
        self.headers: list[dict[str, str]] = []
        self.released = threading.Event()
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    def client(self, *, timeout_s: float = 2.0, retries: int = 0) -> ChatJudgeClient:
        return ChatJudgeClient(
            base_url=self.url, model="judge-model", api_key=None, timeout_s=timeout_s, retries=retries
        )

    def close(self) -> None:
        self.released.set()  # wakes handlers that are stalling on purpose
        self.server.shutdown()
        self.server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        judge = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with judge._lock:
                    index = len(judge.requests)
                    judge.requests.append(json.loads(raw))
                    judge.paths.append(self.path)
                    judge.headers.append({k.lower(): v for k, v in self.headers.items()})
                answer = judge.behaviour(index)
                if answer.delay_s:
                    judge.released.wait(answer.delay_s)
                body = json.dumps(answer.body).encode() if isinstance(answer.body, dict) else answer.body
                headers = {"Content-Type": "application/json", **answer.headers}
                try:
                    self.send_response(answer.status)
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up waiting, which is what the timeout tests want

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


@pytest.fixture
def fake_judge() -> Iterator[Callable[[Behaviour], FakeJudge]]:
    started: list[FakeJudge] = []

    def start(behaviour: Behaviour) -> FakeJudge:
        judge = FakeJudge(behaviour)
        started.append(judge)
        return judge

    yield start
    for judge in started:
        judge.close()


def always(answer: Answer) -> Behaviour:
    return lambda _index: answer


def script(*answers: Answer) -> Behaviour:
    return lambda index: answers[min(index, len(answers) - 1)]


def text_view(task: str = "T2T") -> PairView:
    return PairView(
        task=task,
        prompt="Summarise the article about tides in two sentences.",
        criterion=CRITERION,
        text_a="Tides come from the Moon's pull.",
        text_b="Tides are caused by wind, says NASA.",
    )


def png(width: int, height: int, colour: tuple[int, int, int] = (10, 120, 200)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(buffer, format="PNG")
    return buffer.getvalue()


def user_parts(request: dict[str, Any]) -> list[dict[str, Any]]:
    return request["messages"][1]["content"]


def decoded_images(request: dict[str, Any]) -> list[Image.Image]:
    images = []
    for part in user_parts(request):
        if part["type"] == "image_url":
            header, data = part["image_url"]["url"].split(",", 1)
            assert header == "data:image/jpeg;base64"
            images.append(Image.open(io.BytesIO(base64.b64decode(data))))
    return images


def sine_clip(path: Path, *, seconds: float, rate: int, channels: int) -> bytes:
    subprocess.run(
        ["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
         f"sine=frequency=440:sample_rate={rate}:duration={seconds}", "-ac", str(channels), str(path)],
        check=True,
    )  # fmt: skip
    return path.read_bytes()


def test_reply_carries_text_usage_and_latency(fake_judge: Callable[[Behaviour], FakeJudge]) -> None:
    judge = fake_judge(always(completion("Reasoning. [[A]]", prompt_tokens=321, completion_tokens=45)))

    reply = judge.client().ask([{"role": "user", "content": "hello"}], temperature=0.0, max_tokens=256)

    assert reply.text == "Reasoning. [[A]]"
    assert (reply.prompt_tokens, reply.completion_tokens) == (321, 45)
    assert reply.latency_ms >= 0
    assert judge.paths == ["/v1/chat/completions"]
    sent = judge.requests[0]
    assert (sent["model"], sent["temperature"], sent["max_tokens"]) == ("judge-model", 0.0, 256)
    assert judge.headers[0]["authorization"] == "Bearer not-needed"


def test_text_pair_request_carries_criterion_prompt_and_both_responses(
    fake_judge: Callable[[Behaviour], FakeJudge],
) -> None:
    judge = fake_judge(always(completion("B invents a source. [[A]]")))

    outcome = judge_pair(judge.client(), text_view(), with_tie=True)

    assert (outcome.status, outcome.verdict, outcome.attempts, outcome.error) == ("ok", "A", 1, "")
    assert (outcome.prompt_tokens, outcome.completion_tokens) == (120, 30)
    system, user = judge.requests[0]["messages"]
    assert system["role"] == "system"
    assert CRITERION in system["content"]
    assert "[[C]]" in system["content"]
    text = "".join(part["text"] for part in user["content"] if part["type"] == "text")
    assert "Summarise the article about tides in two sentences." in text
    assert text.index("Tides come from the Moon's pull.") < text.index("Tides are caused by wind, says NASA.")


def test_image_pair_goes_as_jpeg_data_urls_fitted_to_1024(fake_judge: Callable[[Behaviour], FakeJudge]) -> None:
    judge = fake_judge(always(completion("[[B]]")))
    view = PairView(
        task="T2I", prompt="a red fox", criterion=CRITERION, images_a=(png(2048, 1024),), images_b=(png(300, 500),)
    )

    outcome = judge_pair(judge.client(), view, with_tie=False)

    assert outcome.verdict == "B"
    images = decoded_images(judge.requests[0])
    assert [image.format for image in images] == ["JPEG", "JPEG"]
    assert [image.size for image in images] == [(1024, 512), (300, 500)]


def test_video_pair_sends_every_frame_it_is_given(fake_judge: Callable[[Behaviour], FakeJudge]) -> None:
    judge = fake_judge(always(completion("[[A]]")))
    frames = tuple(png(64, 36, (i * 40, 0, 0)) for i in range(5))
    view = PairView(task="T2V", prompt="waves", criterion=CRITERION, images_a=frames, images_b=frames)

    judge_pair(judge.client(), view, with_tie=False)

    assert len(decoded_images(judge.requests[0])) == 10
    text = "".join(part.get("text", "") for part in user_parts(judge.requests[0]))
    assert text.count("<video: 5 frames>") == 2


def test_audio_pair_goes_as_one_joined_16k_wav(fake_judge: Callable[[Behaviour], FakeJudge], tmp_path: Path) -> None:
    judge = fake_judge(always(completion("[[A]]")))
    clip_a = sine_clip(tmp_path / "a.wav", seconds=0.7, rate=44_100, channels=2)
    clip_b = sine_clip(tmp_path / "b.flac", seconds=1.2, rate=22_050, channels=1)
    view = PairView(task="T2A", prompt="a dog barking", criterion=CRITERION, audio_a=clip_a, audio_b=clip_b)

    judge_pair(judge.client(), view, with_tie=False)

    audio_parts = [part for part in user_parts(judge.requests[0]) if part["type"] == "input_audio"]
    assert len(audio_parts) == 1
    assert audio_parts[0]["input_audio"]["format"] == "wav"
    with wave.open(io.BytesIO(base64.b64decode(audio_parts[0]["input_audio"]["data"]))) as joined:
        assert (joined.getframerate(), joined.getnchannels()) == (16_000, 1)
        duration = joined.getnframes() / joined.getframerate()
    assert duration == pytest.approx(0.7 + 1.0 + 1.2, abs=0.05)


def test_timeout_is_retried_then_reported(fake_judge: Callable[[Behaviour], FakeJudge]) -> None:
    judge = fake_judge(always(Answer(body=completion("[[A]]").body, delay_s=5)))

    outcome = judge_pair(judge.client(timeout_s=0.3, retries=2), text_view(), with_tie=False)

    assert outcome.status == "failed"
    assert outcome.verdict is None
    assert outcome.attempts == 1
    assert "timeout" in outcome.error
    assert "3 attempts" in outcome.error
    assert len(judge.requests) == 3


def test_server_error_is_retried_then_reported_with_its_status(fake_judge: Callable[[Behaviour], FakeJudge]) -> None:
    judge = fake_judge(always(Answer(status=500, body={"error": {"message": "GPU fell over"}}, headers=FAST_RETRY)))

    outcome = judge_pair(judge.client(retries=2), text_view(), with_tie=False)

    assert outcome.status == "failed"
    assert "500" in outcome.error
    assert "GPU fell over" in outcome.error
    assert len(judge.requests) == 3


def test_bad_request_is_not_retried(fake_judge: Callable[[Behaviour], FakeJudge]) -> None:
    judge = fake_judge(always(Answer(status=400, body={"error": {"message": "model does not accept images"}})))

    with pytest.raises(JudgeCallError, match="400"):
        judge.client(retries=3).ask([{"role": "user", "content": "hi"}])
    assert len(judge.requests) == 1


def test_transient_error_then_success_is_ok(fake_judge: Callable[[Behaviour], FakeJudge]) -> None:
    judge = fake_judge(script(Answer(status=503, headers=FAST_RETRY), completion("[[B]]")))

    outcome = judge_pair(judge.client(retries=2), text_view(), with_tie=False)

    assert (outcome.status, outcome.verdict, outcome.attempts) == ("ok", "B", 1)
    assert len(judge.requests) == 2


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (Answer(body=b"<html>upstream proxy error</html>", headers={"Content-Type": "text/html"}), "not a chat"),
        (Answer(body=b"{not json at all"), "not valid JSON"),
        (Answer(body={"id": "x", "object": "chat.completion", "choices": []}), "without any choices"),
        (Answer(body={"hello": "world"}), "without any choices"),
        (Answer(body={"choices": [{"index": 0, "message": {"content": None}}]}), "without message"),
    ],
    ids=["html", "broken-json", "no-choices", "other-json", "null-content"],
)
def test_garbage_200_becomes_a_failed_outcome(
    fake_judge: Callable[[Behaviour], FakeJudge], answer: Answer, message: str
) -> None:
    judge = fake_judge(always(answer))

    outcome = judge_pair(judge.client(), text_view(), with_tie=False)

    assert outcome.status == "failed"
    assert message in outcome.error
    assert outcome.error.startswith("The judge at http://127.0.0.1:")


def test_unreachable_endpoint_is_a_failed_outcome() -> None:
    client = ChatJudgeClient(base_url="http://127.0.0.1:9/v1", model="m", api_key="k", timeout_s=0.5, retries=0)

    outcome = judge_pair(client, text_view(), with_tie=False)

    assert outcome.status == "failed"
    assert "could not be reached" in outcome.error


def test_unparseable_then_good_answer_takes_two_attempts(fake_judge: Callable[[Behaviour], FakeJudge]) -> None:
    judge = fake_judge(
        script(completion("Both are fine, hard to say."), completion("On reflection A is faithful. [[A]]"))
    )

    outcome = judge_pair(judge.client(), text_view(), with_tie=False)

    assert (outcome.status, outcome.verdict, outcome.attempts) == ("ok", "A", 2)
    assert outcome.raw == "On reflection A is faithful. [[A]]"
    assert (outcome.prompt_tokens, outcome.completion_tokens) == (240, 60)
    assert judge.requests[0] == judge.requests[1]


def test_always_unparseable_gives_up_after_five_attempts(fake_judge: Callable[[Behaviour], FakeJudge]) -> None:
    judge = fake_judge(always(completion("A is better on facts, B on style: [[A]] and [[B]]")))

    outcome = judge_pair(judge.client(), text_view(), with_tie=False)

    assert (outcome.status, outcome.verdict, outcome.attempts) == ("unparseable", None, 5)
    assert outcome.raw == "A is better on facts, B on style: [[A]] and [[B]]"
    assert outcome.error == ""
    assert len(judge.requests) == 5


def test_a_tie_to_the_no_tie_question_is_kept_as_a_tie(fake_judge: Callable[[Behaviour], FakeJudge]) -> None:
    judge = fake_judge(always(completion("[[C]]")))

    outcome = judge_pair(judge.client(), text_view(), with_tie=False, max_parse_attempts=2)

    # As the paper records it: a tie, which accuracy w/o Tie counts as wrong; not asked again.
    assert (outcome.status, outcome.verdict, outcome.attempts) == ("ok", "C", 1)
