"""Judge runs end to end: offline baselines, and an endpoint judge against a real HTTP server."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import trimesh
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from PIL import Image

from annotations.models import Task
from judges.models import Judge, JudgeKind, JudgeRun, ModelVote, RunStatus, VoteStatus
from judges.services.runs import judge_run_cancel, judge_run_execute, judge_run_resume, judge_run_start
from media_pipeline import pipeline
from media_pipeline.models import MediaAsset
from tests.factories import PairFactory

pytestmark = pytest.mark.django_db


def _run(judge, capture, **kwargs) -> JudgeRun:
    with capture(execute=True):  # the job runs eagerly as the run commits
        run = judge_run_start(judge=judge, user=None, **{"tasks": ["T2T"], "with_tie": True} | kwargs)
    run.refresh_from_db()
    return run


def test_offline_baselines_answer_every_question_in_canonical_terms(project, django_capture_on_commit_callbacks):
    short, long = "Short.", "A much longer answer that goes on and on."
    for i in range(6):
        PairFactory(project=project, external_id=f"p{i}", response1_text=short if i % 2 else long,
                    response2_text=long if i % 2 else short)  # fmt: skip
    first = Judge.objects.create(project=project, name="always-first", kind=JudgeKind.FIRST)
    run = _run(first, django_capture_on_commit_callbacks, both_orders=True)

    assert (run.status, run.total, run.done, run.failed) == (RunStatus.DONE, 12, 12, 0)
    labels = dict(ModelVote.objects.filter(judge=first).values_list("order", "label").distinct())
    assert labels == {"12": "response1", "21": "response2"}  # "A" means whichever response was shown first

    longer = Judge.objects.create(project=project, name="longer", kind=JudgeKind.LONGER)
    _run(longer, django_capture_on_commit_callbacks)
    for vote in ModelVote.objects.filter(judge=longer).select_related("pair"):
        longest = "response1" if len(vote.pair.response1_text) > len(vote.pair.response2_text) else "response2"
        assert vote.label == longest

    coin = Judge.objects.create(project=project, name="coin", kind=JudgeKind.RANDOM)
    _run(coin, django_capture_on_commit_callbacks)
    first_answers = dict(ModelVote.objects.filter(judge=coin).values_list("pair_id", "label"))
    ModelVote.objects.filter(judge=coin).delete()
    _run(coin, django_capture_on_commit_callbacks)
    assert dict(ModelVote.objects.filter(judge=coin).values_list("pair_id", "label")) == first_answers  # seeded


def test_the_embedding_judge_uses_a_model_shipped_in_its_wheel(project, django_capture_on_commit_callbacks):
    PairFactory(project=project, prompt="What do rabbits eat?", criterion="Prefer the answer about carrots.",
                response1_text="Stock prices fell sharply on Tuesday.",
                response2_text="Rabbits love to eat fresh carrots and hay.")  # fmt: skip
    PairFactory(project=project, task="T2I", response1_text=None, response2_text=None,
                response1_media=_image("red"), response2_media=_image("blue"))  # fmt: skip
    judge = Judge.objects.create(project=project, name="wordllama", kind=JudgeKind.EMBEDDING)
    run = _run(judge, django_capture_on_commit_callbacks, tasks=["T2T", "T2I"], with_tie=False)

    assert run.total == 1  # text tasks only: the T2I pair is not in its selection
    vote = ModelVote.objects.get(judge=judge)
    assert (vote.label, vote.status) == ("response2", VoteStatus.OK)
    assert "similarity" in vote.raw_response


def test_a_run_resumes_where_it_stopped_and_cancels_between_batches(project, django_capture_on_commit_callbacks):
    pairs = [PairFactory(project=project) for _ in range(20)]
    judge = Judge.objects.create(project=project, name="first", kind=JudgeKind.FIRST)
    run = JudgeRun.objects.create(judge=judge, tasks=["T2T"], with_tie=True, cancel_requested=True)
    assert judge_run_execute(run.pk) == RunStatus.CANCELLED
    run.refresh_from_db()
    assert (run.status, run.done, run.total) == (RunStatus.CANCELLED, 0, 20)

    # Someone answered five questions before; resuming asks only the rest.
    for pair in pairs[:5]:
        ModelVote.objects.create(judge=judge, pair=pair, with_tie=True, order="12", verdict="B", label="response2",
                                 status=VoteStatus.OK)  # fmt: skip
    with django_capture_on_commit_callbacks(execute=True):
        assert judge_run_resume(run=run)
    run.refresh_from_db()
    assert (run.status, run.done, run.total) == (RunStatus.DONE, 20, 20)
    assert ModelVote.objects.filter(judge=judge, run=run).count() == 15
    assert ModelVote.objects.filter(judge=judge, label="response2").count() == 5  # earlier answers kept
    assert judge_run_execute(run.pk) is None  # a duplicate delivery does nothing
    assert not judge_run_cancel(run=run)  # finished


def test_runs_validate_their_selection(project):
    judge = Judge.objects.create(project=project, name="first", kind=JudgeKind.FIRST)
    imported = Judge.objects.create(project=project, name="gpt", kind=JudgeKind.IMPORTED)
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError, match="Unknown task"):
        judge_run_start(judge=judge, user=None, tasks=["T9X"], with_tie=True)
    with pytest.raises(ValidationError, match="at least one task"):
        judge_run_start(judge=judge, user=None, tasks=[], with_tie=True)
    with pytest.raises(ValidationError, match="imported results"):
        judge_run_start(judge=imported, user=None, tasks=["T2T"], with_tie=True)


# --- an endpoint judge against a real server ------------------------------------------------------


class _Server:
    def __init__(self, answer: str) -> None:
        self.requests: list[dict] = []
        self.headers: list[dict] = []
        self.answer = answer


@pytest.fixture
def chat_server() -> Iterator[tuple[str, _Server]]:
    state = _Server("The criterion favours the first. [[A]]")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            state.requests.append(body)
            state.headers.append({"Authorization": self.headers.get("Authorization")})
            reply = {
                "id": "x", "object": "chat.completion", "created": 0, "model": body["model"],
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": state.answer}}],
                "usage": {"prompt_tokens": 321, "completion_tokens": 12, "total_tokens": 333},
            }  # fmt: skip
            data = json.dumps(reply).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1", state
    server.shutdown()
    server.server_close()


def _stored(data: bytes, kind: str, extension: str) -> MediaAsset:
    sha = hashlib.sha256(data).hexdigest()
    key = default_storage.save(MediaAsset.storage_key(sha, extension), ContentFile(data))
    asset = MediaAsset.objects.create(sha256=sha, kind=kind, extension=extension, file=key, size_bytes=len(data))
    assert pipeline.run(asset.pk) == "ready"
    asset.refresh_from_db()
    return asset


def _image(colour: str) -> MediaAsset:
    buffer = io.BytesIO()
    Image.new("RGBA", (64, 48), colour).save(buffer, "PNG")
    return _stored(buffer.getvalue(), "image", "png")


def _video(tmp_path: Path, colour: str) -> MediaAsset:
    path = tmp_path / f"{colour}.mp4"
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i",
                    f"color=c={colour}:size=160x120:rate=10:duration=2", "-pix_fmt", "yuv420p", str(path)],
                   check=True)  # fmt: skip
    return _stored(path.read_bytes(), "video", "mp4")


def _images_in(request: dict) -> list[Image.Image]:
    parts = [p for m in request["messages"] for p in (m["content"] if isinstance(m["content"], list) else [])]
    urls = [p["image_url"]["url"] for p in parts if p.get("type") == "image_url"]
    assert all(u.startswith("data:image/jpeg;base64,") for u in urls)
    return [Image.open(io.BytesIO(base64.b64decode(u.split(",", 1)[1]))) for u in urls]


def _text_of(request: dict) -> str:
    texts = []
    for message in request["messages"]:
        content = message["content"]
        texts += [content] if isinstance(content, str) else [p["text"] for p in content if p.get("type") == "text"]
    return "\n".join(texts)


def test_an_endpoint_judge_sends_the_criterion_images_and_frames(
    project, chat_server, tmp_path, monkeypatch, django_capture_on_commit_callbacks
):
    url, server = chat_server
    t2i = PairFactory(project=project, task=Task.T2I, criterion="Prefer the red picture.", response1_text=None,
                      response2_text=None, response1_media=_image("red"), response2_media=_image("blue"))  # fmt: skip
    t2v = PairFactory(project=project, task=Task.T2V, criterion="Prefer the green clip.", response1_text=None,
                      response2_text=None, response1_media=_video(tmp_path, "green"),
                      response2_media=_video(tmp_path, "black"))  # fmt: skip
    monkeypatch.setenv("OMNI_JUDGE_TEST_KEY", "sk-test-123")
    judge = Judge.objects.create(project=project, name="served", kind=JudgeKind.ENDPOINT, base_url=url,
                                 model="judge-7b", api_key_env="OMNI_JUDGE_TEST_KEY", timeout_s=10)  # fmt: skip
    run = _run(judge, django_capture_on_commit_callbacks, tasks=["T2I", "T2V"], both_orders=True)

    assert (run.status, run.done, run.failed) == (RunStatus.DONE, 4, 0)
    assert len(server.requests) == 4
    assert all(h["Authorization"] == "Bearer sk-test-123" for h in server.headers)
    by_criterion = {}
    for request in server.requests:
        assert request["model"] == "judge-7b"
        system = request["messages"][0]
        assert system["role"] == "system" and "[[C]]" in system["content"]  # the with-tie question
        criterion = "Prefer the red picture." if "red picture" in system["content"] else "Prefer the green clip."
        assert criterion in system["content"]
        by_criterion.setdefault(criterion, []).append(request)
    for request in by_criterion["Prefer the red picture."]:
        images = _images_in(request)
        # The pipeline's web renditions, the same size for both sides, 4:3 like the originals.
        assert len(images) == 2 and all(im.format == "JPEG" for im in images)
        assert images[0].size == images[1].size and images[0].size[0] * 3 == images[0].size[1] * 4
        assert t2i.prompt in _text_of(request)
    for request in by_criterion["Prefer the green clip."]:
        assert len(_images_in(request)) == 10  # 5 frames per video, as the paper sends them
    # The first-shown side: red first in one order, blue first in the other.
    firsts = {
        _images_in(r)[0].convert("RGB").getpixel((5, 5))[0] > 200 for r in by_criterion["Prefer the red picture."]
    }
    assert firsts == {True, False}

    votes = {(v.pair_id, v.order): v for v in ModelVote.objects.filter(judge=judge)}
    assert votes[(t2v.pk, "12")].label == "response1" and votes[(t2v.pk, "21")].label == "response2"
    vote = votes[(t2i.pk, "12")]
    assert (vote.status, vote.verdict, vote.prompt_tokens, vote.completion_tokens) == ("ok", "A", 321, 12)
    assert vote.raw_response.endswith("[[A]]") and vote.latency_ms is not None
    assert "sk-test-123" not in json.dumps(list(Judge.objects.values()), default=str)


def _mesh(colour: tuple[int, int, int]) -> MediaAsset:
    body = trimesh.creation.box(extents=(1, 0.6, 0.2))
    body.visual.face_colors = (*colour, 255)
    return _stored(body.export(file_type="glb"), "mesh", "glb")


def test_a_3d_pair_is_judged_from_the_views_annotators_see_without_webgl(
    project, chat_server, monkeypatch, django_capture_on_commit_callbacks
):
    """Both responses as the pipeline's four renders (front, side, back, top), red ones for the red mesh."""
    url, server = chat_server
    red, blue = _mesh((210, 30, 30)), _mesh((30, 40, 210))
    PairFactory(project=project, task=Task.T23D, criterion="Prefer the red object.", response1_text=None,
                response2_text=None, response1_media=red, response2_media=blue)  # fmt: skip
    # A release's render beside each mesh: annotators orbit the meshes, so judges get the meshes' views too.
    PairFactory(project=project, task=Task.T23D, criterion="Prefer the blue object.", response1_text=None,
                response2_text=None, response1_media=_image("white"), response2_media=_image("black"),
                response1_mesh=blue, response2_mesh=red)  # fmt: skip
    monkeypatch.setenv("OMNI_JUDGE_TEST_KEY", "sk-test-123")
    judge = Judge.objects.create(project=project, name="served", kind=JudgeKind.ENDPOINT, base_url=url,
                                 model="judge-7b", api_key_env="OMNI_JUDGE_TEST_KEY", timeout_s=10)  # fmt: skip
    run = _run(judge, django_capture_on_commit_callbacks, tasks=["T23D"])
    assert (run.status, run.done, run.failed) == (RunStatus.DONE, 2, 0)

    def reddish(image: Image.Image) -> bool:
        r, _, b = image.convert("RGB").resize((1, 1), Image.Resampling.BOX).getpixel((0, 0))
        return r > b

    for request in server.requests:
        images = _images_in(request)
        assert len(images) == 8 and {im.size for im in images} == {(512, 512)}
        assert "<3D object: 4 rendered views>" in _text_of(request)
        first_red = "red object" in request["messages"][0]["content"]
        assert [reddish(im) for im in images] == [first_red] * 4 + [not first_red] * 4


def test_a_judge_without_its_api_key_fails_the_run_with_a_message(project, django_capture_on_commit_callbacks):
    PairFactory(project=project)
    judge = Judge.objects.create(
        project=project, name="keyless", kind=JudgeKind.ENDPOINT, base_url="http://127.0.0.1:9/v1", model="m",
        api_key_env="OMNI_JUDGE_MISSING_KEY_XYZ",
    )  # fmt: skip
    run = _run(judge, django_capture_on_commit_callbacks)
    assert run.status == RunStatus.FAILED
    assert run.error == "The worker has no OMNI_JUDGE_MISSING_KEY_XYZ environment variable; set it and resume."


@pytest.fixture
def broken_server() -> Iterator[tuple[str, list[int]]]:
    """Answers 500 to every request, telling the client to retry at once."""
    seen: list[int] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            seen.append(1)
            body = b'{"error": {"message": "model overloaded"}}'
            self.send_response(500)
            self.send_header("Content-Type", "application/json")
            self.send_header("retry-after-ms", "10")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1", seen
    server.shutdown()
    server.server_close()


def test_a_failing_endpoint_is_retried_then_recorded_and_the_run_finishes(
    project, broken_server, django_capture_on_commit_callbacks
):
    url, seen = broken_server
    for _ in range(3):
        PairFactory(project=project)
    judge = Judge.objects.create(project=project, name="overloaded", kind=JudgeKind.ENDPOINT, base_url=url,
                                 model="m", retries=2, timeout_s=5)  # fmt: skip
    run = _run(judge, django_capture_on_commit_callbacks)

    assert (run.status, run.done, run.failed) == (RunStatus.DONE, 3, 3)
    assert len(seen) == 3 * 3  # each question: the first try and two retries
    for vote in ModelVote.objects.filter(judge=judge):
        assert vote.status == VoteStatus.FAILED and vote.label is None
        assert "500" in vote.error


def test_a_judge_may_read_only_judge_keys_from_the_worker(project, django_capture_on_commit_callbacks):
    from judges.forms import JudgeForm

    form = JudgeForm({"name": "thief", "kind": "endpoint", "base_url": "http://evil.example/v1", "model": "m",
                      "api_key_env": "DJANGO_SECRET_KEY", "concurrency": 1, "timeout_s": 5, "retries": 0})  # fmt: skip
    assert not form.is_valid()
    assert "DJANGO_SECRET_KEY is not an allowed key variable: use names starting with OMNI_JUDGE_" in str(form.errors)
    # A judge stored some other way still never sends the variable.
    PairFactory(project=project)
    judge = Judge.objects.create(project=project, name="thief", kind=JudgeKind.ENDPOINT,
                                 base_url="http://127.0.0.1:9/v1", model="m", api_key_env="DATABASE_URL")  # fmt: skip
    run = _run(judge, django_capture_on_commit_callbacks)
    assert run.status == RunStatus.FAILED and "DATABASE_URL is not an allowed key variable" in run.error


def test_an_error_inside_a_batch_fails_the_run_visibly_and_resume_goes_on(
    project, monkeypatch, django_capture_on_commit_callbacks
):
    from judges import baselines

    for _ in range(3):
        PairFactory(project=project)
    judge = Judge.objects.create(project=project, name="first", kind=JudgeKind.FIRST)
    real = baselines.answer
    monkeypatch.setattr(baselines, "answer", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("storage is down")))
    run = _run(judge, django_capture_on_commit_callbacks)
    assert run.status == RunStatus.FAILED
    assert run.error == "The run stopped: RuntimeError: storage is down. Resume to go on."

    monkeypatch.setattr(baselines, "answer", real)
    with django_capture_on_commit_callbacks(execute=True):
        assert judge_run_resume(run=run)
    run.refresh_from_db()
    assert (run.status, run.done, run.failed, run.error) == (RunStatus.DONE, 3, 0, "")


def test_resume_asks_failed_questions_again_and_counts_each_once(project, django_capture_on_commit_callbacks):
    pairs = [PairFactory(project=project) for _ in range(4)]
    judge = Judge.objects.create(project=project, name="first", kind=JudgeKind.FIRST)
    for pair in pairs[:2]:  # an outage earlier: two failed calls
        ModelVote.objects.create(judge=judge, pair=pair, with_tie=True, order="12", status=VoteStatus.FAILED,
                                 error="HTTP 503")  # fmt: skip
    run = _run(judge, django_capture_on_commit_callbacks)
    assert (run.status, run.total, run.done, run.failed) == (RunStatus.DONE, 4, 4, 0)
    assert ModelVote.objects.filter(judge=judge).count() == 4
    assert not ModelVote.objects.filter(judge=judge, status=VoteStatus.FAILED).exists()


def test_a_run_whose_worker_died_can_be_cancelled(project):
    from django.utils import timezone

    judge = Judge.objects.create(project=project, name="first", kind=JudgeKind.FIRST)
    run = JudgeRun.objects.create(judge=judge, tasks=["T2T"], with_tie=True, status=RunStatus.RUNNING, attempts=1,
                                  lease_until=timezone.now() - timezone.timedelta(seconds=5))  # fmt: skip
    assert judge_run_cancel(run=run)
    run.refresh_from_db()
    assert run.status == RunStatus.CANCELLED
