"""Judge runs: a Celery job that asks one judge about a selection of pairs.

A run is a state machine like the media pipeline's jobs: taken with a conditional UPDATE and a lease
it renews between batches, so a duplicate delivery does nothing and a run whose worker died can be
taken again. Every answer is stored as soon as its batch finishes, and questions already answered
(by this run or an earlier one) are skipped: a run resumes where it stopped. Cancelling sets a flag
the run reads between batches. No database transaction is held while a judge is asked.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from annotations.models import Pair, ShownOrder, Task
from core import jobs

from .. import baselines
from ..client import ChatJudgeClient, JudgeOutcome, judge_pair
from ..models import (
    RUNNABLE,
    Judge,
    JudgeKind,
    JudgeRun,
    ModelVote,
    RunStatus,
    VoteStatus,
    allowed_key_envs_text,
    api_key_env_allowed,
)
from ..presenting import NotPresentable, pair_view, presentable_pairs
from ..sheets import answer_sheets_refresh

log = logging.getLogger(__name__)

_TEXT_TASKS = [Task.T2T, Task.TI2T, Task.TV2T, Task.TA2T]
_CANONICAL = {
    (ShownOrder.RESPONSE1_LEFT, "A"): "response1",
    (ShownOrder.RESPONSE1_LEFT, "B"): "response2",
    (ShownOrder.RESPONSE2_LEFT, "A"): "response2",
    (ShownOrder.RESPONSE2_LEFT, "B"): "response1",
}


def canonical(order: str, verdict: str | None) -> str | None:
    """A judge's A/B/C in the order it saw, as response1/response2/tie."""
    if verdict is None:
        return None
    return "tie" if verdict == "C" else _CANONICAL[(ShownOrder(order), verdict)]


def judge_run_start(
    *, judge: Judge, user: User | None, tasks: Iterable[str], with_tie: bool, both_orders: bool = False
) -> JudgeRun:
    chosen = sorted(set(tasks), key=list(Task.values).index) if set(tasks) <= set(Task.values) else None
    if chosen is None:
        raise ValidationError({"tasks": f"Unknown task in {sorted(tasks)}; tasks are {', '.join(Task.values)}."})
    if not chosen:
        raise ValidationError({"tasks": "Choose at least one task."})
    if judge.kind not in RUNNABLE:
        raise ValidationError(f"{judge.name} holds imported results; it cannot be run.")
    busy = ValidationError(f"{judge.name} already has a run in progress; cancel it or wait for it.")
    if JudgeRun.objects.filter(judge=judge, status__in=[RunStatus.QUEUED, RunStatus.RUNNING]).exists():
        raise busy
    try:
        with transaction.atomic():
            run = JudgeRun.objects.create(
                judge=judge, tasks=chosen, with_tie=with_tie, both_orders=both_orders, created_by=user
            )
            jobs.send_on_commit(JudgeRun, [run.pk])
    except IntegrityError:  # two starts at once: the database lets one through (judgerun_one_active)
        raise busy from None
    return run


def judge_run_cancel(*, run: JudgeRun) -> bool:
    """Ask a run to stop after its current batch; a queued run, or one whose worker died, stops at once."""
    dead = Q(status=RunStatus.QUEUED) | Q(status=RunStatus.RUNNING, lease_until__lt=timezone.now())
    stopped = JudgeRun.objects.filter(dead, pk=run.pk).update(
        status=RunStatus.CANCELLED, cancel_requested=True, finished_at=timezone.now(), lease_until=None
    )
    asked = JudgeRun.objects.filter(pk=run.pk, status=RunStatus.RUNNING).update(cancel_requested=True)
    return bool(stopped or asked)


def judge_run_resume(*, run: JudgeRun) -> bool:
    """Send a cancelled, failed or dead run again; it skips what is already answered."""
    also = Q(status__in=[RunStatus.CANCELLED, RunStatus.FAILED, RunStatus.QUEUED])
    return bool(jobs.requeue(JudgeRun, [run.pk], also=also, cancel_requested=False, error="", finished_at=None))


def selection(run: JudgeRun) -> list[tuple[int, str]]:
    """Every question of the run: (pair id, order), in pair order."""
    tasks = run.tasks
    if run.judge.kind == JudgeKind.EMBEDDING:
        tasks = [t for t in tasks if t in _TEXT_TASKS]  # it reads text responses only
    ids = Pair.objects.labelling().filter(project=run.judge.project_id, task__in=tasks, media_ready=True).order_by("id")
    orders = [ShownOrder.RESPONSE1_LEFT, ShownOrder.RESPONSE2_LEFT] if run.both_orders else [ShownOrder.RESPONSE1_LEFT]
    return [(pair_id, order) for pair_id in ids.values_list("id", flat=True) for order in orders]


def _answered(run: JudgeRun) -> set[tuple[int, str]]:
    """Questions with a final answer: a verdict, or answers that never parsed (the paper counts those wrong).
    Failed calls and skipped pairs are asked again when the run resumes."""
    final = [VoteStatus.OK, VoteStatus.UNPARSEABLE]
    votes = ModelVote.objects.filter(judge=run.judge, with_tie=run.with_tie, status__in=final)
    return set(votes.values_list("pair_id", "order"))


def _count(run: JudgeRun, questions: list[tuple[int, str]]) -> tuple[int, int]:
    """(answered, not OK) among this run's questions."""
    wanted = set(questions)
    rows = ModelVote.objects.filter(judge=run.judge, with_tie=run.with_tie).values_list("pair_id", "order", "status")
    mine = [status for pair_id, order, status in rows if (pair_id, order) in wanted]
    return len(mine), sum(status != VoteStatus.OK for status in mine)


def judge_run_execute(run_id: int) -> str | None:
    """Run (or resume) a judge run; returns its final status, or None if another worker owns it."""
    held = jobs.claim(JudgeRun, run_id)
    if held is None:
        return None
    try:
        with jobs.Heartbeat(held) as heartbeat:
            return _execute(held, heartbeat)
    except Exception as exc:  # storage, database, a model that will not load: visible on the run, resumable
        log.exception("judge run %s failed", run_id)
        _finish(held, RunStatus.FAILED, f"The run stopped: {type(exc).__name__}: {exc}. Resume to go on.")
        return RunStatus.FAILED


def _execute(held: jobs.Claim, heartbeat: jobs.Heartbeat) -> str | None:
    run = JudgeRun.objects.select_related("judge").get(pk=held.pk)
    judge = run.judge
    questions = selection(run)
    answered = _answered(run)
    pending = [q for q in questions if q not in answered]
    done, failed = _count(run, questions)
    held.rows().update(total=len(questions), done=done, failed=failed)
    try:
        ask = _asker(judge, run.with_tie)
    except ValidationError as exc:
        _finish(held, RunStatus.FAILED, " ".join(exc.messages))
        return RunStatus.FAILED
    batch_size = max(judge.concurrency * 2, 8)
    for start in range(0, len(pending), batch_size):
        if JudgeRun.objects.filter(pk=held.pk, cancel_requested=True).exists():
            answer_sheets_refresh(judge_ids=[judge.pk])
            _finish(held, RunStatus.CANCELLED, "")
            return RunStatus.CANCELLED
        if heartbeat.lost.is_set():
            return None  # our lease ran out and another worker took the run over
        batch = pending[start : start + batch_size]
        votes = _ask_batch(judge, run, batch, ask)
        with transaction.atomic():
            # A failed or skipped answer from before is replaced by this one.
            stale = Q()
            for vote in votes:
                stale |= Q(pair_id=vote.pair_id, order=vote.order)
            ModelVote.objects.filter(stale, judge=judge, with_tie=run.with_tie).exclude(
                status__in=[VoteStatus.OK, VoteStatus.UNPARSEABLE]
            ).delete()
            ModelVote.objects.bulk_create(votes, ignore_conflicts=True)  # a duplicate delivery's answers stand
        done, failed = _count(run, questions)
        if not held.rows().update(done=done, failed=failed):
            return None  # our lease ran out and another worker took the run over
    # Each batch made the judge's sheets stale; built once here rather than once per batch, so the first
    # look at the leaderboard after the run does not wait for them.
    answer_sheets_refresh(judge_ids=[judge.pk])
    _finish(held, RunStatus.DONE, "")
    return RunStatus.DONE


def _finish(held: jobs.Claim, status: str, error: str) -> None:
    jobs.finish(held, status, error=error[:2000], finished_at=timezone.now())


Asker = Callable[[Pair, str], JudgeOutcome]


def _asker(judge: Judge, with_tie: bool) -> Asker:
    if judge.kind != JudgeKind.ENDPOINT:

        def offline(pair: Pair, order: str) -> JudgeOutcome:
            reply = baselines.answer(judge.kind, judge_id=judge.pk, pair=pair, order=order, with_tie=with_tie)
            status = VoteStatus.OK if reply.verdict else VoteStatus.FAILED
            return JudgeOutcome(reply.verdict, reply.raw, status, 1, 0, None, None, "" if reply.verdict else reply.raw)  # type: ignore[arg-type]

        return offline
    api_key = None
    if judge.api_key_env:
        if not api_key_env_allowed(judge.api_key_env):
            raise ValidationError(f"{judge.api_key_env} is not an allowed key variable ({allowed_key_envs_text()}).")
        api_key = os.environ.get(judge.api_key_env)
        if not api_key:
            raise ValidationError(f"The worker has no {judge.api_key_env} environment variable; set it and resume.")
    client = ChatJudgeClient(
        base_url=judge.base_url, model=judge.model, api_key=api_key, timeout_s=judge.timeout_s, retries=judge.retries
    )
    gap = 60.0 / judge.requests_per_minute if judge.requests_per_minute else 0.0
    lock = threading.Lock()
    next_start = [time.monotonic()]

    def endpoint(pair: Pair, order: str) -> JudgeOutcome:
        try:
            view = pair_view(pair, order)
        except NotPresentable as exc:  # not the judge's fault: skipped, asked again on resume
            return JudgeOutcome(None, "", VoteStatus.SKIPPED, 0, 0, None, None, str(exc))  # type: ignore[arg-type]
        if gap:  # the rate limit: starts at least `gap` seconds apart, across the run's threads
            with lock:
                wait = next_start[0] - time.monotonic()
                next_start[0] = max(next_start[0], time.monotonic()) + gap
            if wait > 0:
                time.sleep(wait)
        try:
            return judge_pair(client, view, with_tie=with_tie)
        except ValueError as exc:  # protocol.MediaError: a clip or image that could not be sent; not the judge's fault
            return JudgeOutcome(None, "", VoteStatus.SKIPPED, 0, 0, None, None, str(exc))  # type: ignore[arg-type]

    return endpoint


_TOKEN_MAX = 2**31 - 1


def _clean(text: str) -> str:
    return text.replace("\x00", "")  # PostgreSQL text cannot hold NUL; a garbage answer may


def _tokens(value: int | None) -> int | None:
    return value if value is not None and 0 <= value <= _TOKEN_MAX else None


def _ask_batch(judge: Judge, run: JudgeRun, batch: list[tuple[int, str]], ask: Asker) -> list[ModelVote]:
    pairs = {p.pk: p for p in presentable_pairs(sorted({pair_id for pair_id, _ in batch}))}
    items = [(pairs[pair_id], order) for pair_id, order in batch if pair_id in pairs]
    with ThreadPoolExecutor(max_workers=judge.concurrency if judge.kind == JudgeKind.ENDPOINT else 1) as pool:
        outcomes = list(pool.map(lambda item: ask(*item), items))
    votes = []
    for (pair, order), outcome in zip(items, outcomes, strict=True):
        votes.append(
            ModelVote(
                judge=judge,
                pair=pair,
                run=run,
                with_tie=run.with_tie,
                order=order,
                verdict=outcome.verdict or "",
                label=canonical(order, outcome.verdict),
                status=outcome.status,
                raw_response=_clean(outcome.raw),
                error=_clean(outcome.error)[:2000],
                latency_ms=_tokens(outcome.latency_ms),
                prompt_tokens=_tokens(outcome.prompt_tokens),
                completion_tokens=_tokens(outcome.completion_tokens),
                attempts=max(outcome.attempts, 1),
            )
        )
    return votes
