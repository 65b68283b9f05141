"""Judge runs on real Celery workers over Redis, against a slow endpoint served by this test: a whole
worker killed mid-run, and a judge worker that keeps media jobs waiting on nobody (its own queue)."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import time
from collections.abc import Callable, Iterator

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from PIL import Image

from judges.models import Judge, JudgeKind, ModelVote, RunStatus, VoteStatus
from judges.services.runs import judge_run_start
from media_pipeline import pipeline
from media_pipeline.models import AssetStatus, MediaAsset
from tests.factories import PairFactory
from tests.judges.test_client import FakeJudge, completion
from tests.services import (
    WorkerSpec,
    celery_workers,
    job_worker_env,
    kill_holder_and_wait_takeover,
    two_workers_and_beat,
    wait_finished,
    wait_for,
    wait_nothing_left,
    worker_env,
)

pytestmark = [pytest.mark.real_worker, pytest.mark.django_db(transaction=True)]

LEASE = 4


@pytest.fixture
def slow_endpoint() -> Iterator[Callable[[float], FakeJudge]]:
    """A /v1/chat/completions server in this process that answers [[A]] after `seconds`; setting its
    `released` event answers every waiting request at once."""
    started: list[FakeJudge] = []

    def start(seconds: float) -> FakeJudge:
        answer = dataclasses.replace(completion("The first is better. [[A]]"), delay_s=seconds)
        started.append(FakeJudge(lambda _index: answer))
        return started[-1]

    yield start
    for endpoint in started:
        endpoint.close()


def _endpoint_judge(project, endpoint: FakeJudge, *, concurrency: int) -> Judge:
    return Judge.objects.create(project=project, name="slow-judge", kind=JudgeKind.ENDPOINT, base_url=endpoint.url,
                                model="judge-model", concurrency=concurrency, retries=0, timeout_s=60)  # fmt: skip


def test_a_judge_run_whose_whole_worker_is_killed_is_taken_over_and_asks_each_question_once(
    project, slow_endpoint, tmp_path
):
    questions = 16  # two batches of 8, each 2 s at 4 requests in flight
    pairs = {PairFactory(project=project).pk for _ in range(questions)}
    endpoint = slow_endpoint(1.0)
    judge = _endpoint_judge(project, endpoint, concurrency=4)
    temp_dir = tmp_path / "jobtmp"
    # Judge workers are I/O-bound: the threads pool, where the lease owner is the worker process itself.
    with two_workers_and_beat(job_worker_env(tmp_path, lease=LEASE), tmp_path, pool="threads") as workers:
        workers.wait_ready()
        run = judge_run_start(judge=judge, user=None, tasks=["T2T"], with_tie=True)

        def first_batch_stored() -> bool:
            run.refresh_from_db()
            return run.status == RunStatus.RUNNING and run.done >= 8

        wait_for(first_batch_stored, 60, "the first batch of answers", workers)
        before = set(ModelVote.objects.filter(judge=judge).values_list("pk", flat=True))

        def nothing_new() -> None:  # answers are stored a whole batch at a time; the dead run's batch never
            assert set(ModelVote.objects.filter(judge=judge).values_list("pk", flat=True)) == before

        takeover = kill_holder_and_wait_takeover(run, workers, temp_dir=temp_dir, lease=LEASE, while_dead=nothing_new)
        wait_finished(run, workers, 120)
        wait_for(lambda: workers.ran(takeover.survivor, "judges.run"), 30, "the task to return", workers)
        wait_nothing_left(run, temp_dir)
    assert run.status == RunStatus.DONE, run.error
    assert (run.attempts, run.total, run.done, run.failed) == (2, questions, questions, 0)
    assert workers.ran(takeover.killed, "judges.run") == 0
    votes = ModelVote.objects.filter(judge=judge)
    assert sorted(votes.values_list("pair_id", flat=True)) == sorted(pairs)  # one answer per question
    assert set(votes.values_list("status", flat=True)) == {VoteStatus.OK}
    assert before <= set(votes.values_list("pk", flat=True))  # the answers stored before the kill stand
    # The run went on where the dead one stopped: besides every question once, the endpoint was asked
    # again at most the batch the dead run had in flight (none, when the kill fell between two batches).
    assert questions <= len(endpoint.requests) <= questions + 8


def _image(colour: tuple[int, int, int]) -> MediaAsset:
    buffer = io.BytesIO()
    Image.new("RGB", (320, 240), colour).save(buffer, "PNG")
    data = buffer.getvalue()
    sha = hashlib.sha256(data).hexdigest()
    key = default_storage.save(MediaAsset.storage_key(sha, "png"), ContentFile(data))
    return MediaAsset.objects.create(sha256=sha, kind="image", extension="png", file=key, size_bytes=len(data))


def test_media_jobs_finish_on_their_own_worker_while_a_slow_judge_run_holds_the_judge_worker(
    project, slow_endpoint, tmp_path
):
    """Issue 15 item 8: a queue per job kind, so a judge run waiting on a slow endpoint delays no media job."""
    PairFactory(project=project)
    PairFactory(project=project)
    endpoint = slow_endpoint(30.0)
    judge = _endpoint_judge(project, endpoint, concurrency=1)
    judge_worker = WorkerSpec("judge", queues=["judge"], pool="threads", concurrency=4)
    media_worker = WorkerSpec("media", queues=["media"], pool="prefork", concurrency=2)
    with celery_workers(worker_env(tmp_path), tmp_path, judge_worker, media_worker) as workers:
        assets = [_image(colour) for colour in [(200, 30, 30), (30, 200, 30), (30, 30, 200)]]
        workers.wait_ready()
        run = judge_run_start(judge=judge, user=None, tasks=["T2T"], with_tie=True)
        wait_for(lambda: endpoint.requests, 60, "the judge to ask the endpoint", workers)
        sent = time.monotonic()
        pipeline.enqueue([asset.pk for asset in assets])

        def media_done() -> bool:
            run.refresh_from_db()
            assert run.status == RunStatus.RUNNING and run.done == 0, f"the judge run is {run.status}"
            return not MediaAsset.objects.exclude(status=AssetStatus.READY).filter(pk__in=[a.pk for a in assets])

        wait_for(media_done, 25, "the media jobs, while the judge run waits on its endpoint", workers, poll=0.1)
        print(f"3 media jobs done in {time.monotonic() - sent:.1f} s while the judge run waited")
        endpoint.released.set()  # the endpoint answers now; the run finishes
        wait_finished(run, workers, 60)
        wait_for(lambda: workers.ran("judge", "judges.run"), 30, "the judge task to return", workers)
    assert run.status == RunStatus.DONE and run.done == 2, run.error
    # Routed by name: each worker saw only its own queue's tasks.
    assert workers.ran("media", "media_pipeline.process_asset") == 3
    assert workers.received("media", "judges.run") == 0
    assert workers.received("judge", "media_pipeline.process_asset") == 0
