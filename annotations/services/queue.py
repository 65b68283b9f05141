"""The annotator's queue: which pair comes next, who holds it, and what a vote, skip or undo stores.

A pair is open to an annotator while they have not judged or skipped it and its live votes plus other
annotators' unexpired reservations are fewer than the project's overlap k. Handing a pair out
creates a reservation, so two annotators never race for the last slot: candidates are locked with
``SELECT ... FOR UPDATE SKIP LOCKED`` (PostgreSQL) and the slot count is read again under the lock.
Gold pairs have no cap: every annotator gets them, mixed in at the project's ``gold_share``.
"""

from __future__ import annotations

import hashlib
import hmac
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.db.models import Count, Exists, F, IntegerField, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce, Mod
from django.utils import timezone

from ..models import Judgment, Label, Pair, PairSkip, Project, Reservation, ShownOrder, SkipKind, SkipReason

_CANDIDATE_BATCH = 8
_LOCK_RETRIES = 20
_MAX_TIME_MS = 24 * 3600 * 1000
UNDO_WINDOW = timedelta(minutes=30)
# The buttons say A, B, Tie; what is stored depends on which response was shown as A.
CHOICES = ("A", "B", "tie")


class QueueError(Exception):
    """A request the queue refuses, with a sentence for the annotator."""


def shown_order_for(user_id: int, pair_id: int) -> str:
    """Left/right for this annotator and pair: random across pairs and people, the same on every reload."""
    digest = hmac.new(settings.SECRET_KEY.encode(), f"side:{user_id}:{pair_id}".encode(), hashlib.sha256).digest()
    return ShownOrder.RESPONSE1_LEFT if digest[0] & 1 == 0 else ShownOrder.RESPONSE2_LEFT


def canonical_label(choice: str, shown_order: str) -> str:
    """Map the button pressed (A = left) to response1 / response2 / tie."""
    if choice == "tie":
        return Label.TIE
    left, right = (
        (Label.RESPONSE1, Label.RESPONSE2)
        if shown_order == ShownOrder.RESPONSE1_LEFT
        else (Label.RESPONSE2, Label.RESPONSE1)
    )
    if choice == "A":
        return left
    if choice == "B":
        return right
    raise QueueError(f"Unknown choice {choice!r}: expected A, B or tie.")


def shown_choice(label: str, shown_order: str) -> str:
    """The button (A, B or tie) that stores `label` under `shown_order`: the inverse of canonical_label."""
    return next(choice for choice in CHOICES if canonical_label(choice, shown_order) == label)


# What the page shows the two responses with; must-view gating watches the time-based and 3D ones.
GATED_VIEWERS = frozenset({"video", "audio", "mesh"})


def response_viewer(pair: Pair) -> str:
    """text, image, video, audio or mesh when both responses are alike; mixed otherwise."""
    if pair.response1_mesh_id and pair.response2_mesh_id:
        return "mesh"
    one, two = pair.response1_media, pair.response2_media
    if one is not None and two is not None and one.kind == two.kind:
        return one.kind
    return "text" if pair.response1_text is not None and pair.response2_text is not None else "mixed"


def _live_votes() -> Subquery:
    return Subquery(
        Judgment.objects.filter(pair=OuterRef("pk"), retracted_at__isnull=True)
        .order_by()
        .values("pair")
        .annotate(n=Count("id"))
        .values("n"),
        output_field=IntegerField(),
    )


def _held_by_others(user: User, now: Any) -> Subquery:
    return Subquery(
        Reservation.objects.filter(pair=OuterRef("pk"), expires_at__gt=now)
        .exclude(annotator=user)
        .order_by()
        .values("pair")
        .annotate(n=Count("id"))
        .values("n"),
        output_field=IntegerField(),
    )


def _judged_or_skipped(user: User, pair: OuterRef) -> Q:
    """The annotator has a live judgment on, or skipped, the pair `pair` refers to."""
    judged = Judgment.objects.filter(pair=pair, annotator=user, retracted_at__isnull=True)
    return Q(Exists(judged)) | Q(Exists(PairSkip.objects.filter(pair=pair, annotator=user)))


def _open_to(project: Project, user: User) -> QuerySet[Pair]:
    """Pairs this annotator has neither judged (live) nor skipped."""
    return Pair.objects.filter(project=project).exclude(_judged_or_skipped(user, OuterRef("pk")))


def _needing_votes(project: Project, user: User, now: Any) -> QuerySet[Pair]:
    taken = Coalesce(_live_votes(), Value(0)) + Coalesce(_held_by_others(user, now), Value(0))
    return (
        _open_to(project, user)
        .annotate(taken=taken)
        .filter(Q(gold_label__isnull=False) | Q(taken__lt=project.votes_per_pair))
    )


def _slot_open(pair: Pair, user: User, project: Project, now: Any) -> bool:
    """Re-read under the row lock: the candidate query's snapshot may predate another annotator's commit."""
    if pair.gold_label:
        return True
    votes = Judgment.objects.filter(pair=pair, retracted_at__isnull=True).count()
    held = Reservation.objects.filter(pair=pair, expires_at__gt=now).exclude(annotator=user).count()
    return votes + held < project.votes_per_pair


def _gold_turn(project: Project, user: User, done: int) -> bool:
    if project.gold_share <= 0:
        return False
    digest = hashlib.sha256(f"gold:{project.pk}:{user.pk}:{done}".encode()).digest()
    return int.from_bytes(digest[:4], "big") / 2**32 < project.gold_share


@dataclass(frozen=True)
class Assignment:
    pair: Pair
    reservation: Reservation

    @property
    def shown_order(self) -> str:
        return self.reservation.shown_order

    @property
    def swapped(self) -> bool:
        return self.reservation.shown_order == ShownOrder.RESPONSE2_LEFT


def _current(project: Project, user: User, now: Any) -> Reservation | None:
    """The pair this annotator already holds (the newest, so an undone pair comes back first)."""
    return (
        Reservation.objects.filter(project=project, annotator=user, expires_at__gt=now)
        .exclude(_judged_or_skipped(user, OuterRef("pair")))
        .select_related("pair")
        .order_by("-created_at", "-id")
        .first()
    )


def _reserve(project: Project, user: User, pair: Pair, now: Any, shown_order: str | None = None) -> Reservation:
    reservation, _ = Reservation.objects.update_or_create(
        pair=pair,
        annotator=user,
        defaults={
            "project": project,
            "shown_order": shown_order or shown_order_for(user.pk, pair.pk),
            "created_at": now,
            "expires_at": now + timedelta(minutes=project.reservation_minutes),
        },
    )
    return reservation


def _done(project: Project, user: User) -> int:
    return Judgment.objects.filter(pair__project=project, annotator=user, retracted_at__isnull=True).count()


def next_assignment(project: Project, user: User, *, done: int | None = None) -> Assignment | None:
    """The pair to show this annotator now, reserved for them; None when their queue is empty.

    `done` is the annotator's live judgment count in the project, if the caller already has it.
    """
    for attempt in range(_LOCK_RETRIES):
        outcome = _try_assign(project, user, done)
        if not isinstance(outcome, _Busy):
            return outcome
        # Every open pair was locked by annotators being served this instant; their transactions
        # last milliseconds, so look again rather than report an empty queue.
        time.sleep(0.005 * (attempt + 1))
    return None


class _Busy:
    """Open pairs exist, but other annotators hold their row locks right now."""


def _try_assign(project: Project, user: User, done: int | None) -> Assignment | None | _Busy:
    now = timezone.now()
    with transaction.atomic():
        held = _current(project, user, now)
        if held is not None:
            return Assignment(held.pair, held)
        if done is None:
            done = _done(project, user)
        # A per-annotator order spreads annotators over different pairs (fewer lock collisions) while
        # pairs that already have votes come first, so pairs complete rather than all sitting at k-1.
        spread = Mod(F("id") * 7919 + Value(user.pk * 104729), Value(1_000_003))
        base = _needing_votes(project, user, now).annotate(spread=spread)
        gold, regular = base.filter(gold_label__isnull=False), base.filter(gold_label__isnull=True)
        # Gold pairs come in unannounced on a share of turns, and fill in once nothing else is left.
        pools = [gold, regular] if _gold_turn(project, user, done) else [regular, gold]
        tried: set[int] = set()
        for pool in pools:
            while True:
                batch = list(
                    pool.exclude(id__in=tried)
                    .order_by("-taken", "spread")
                    .select_for_update(skip_locked=True, of=("self",))[:_CANDIDATE_BATCH]
                )
                if not batch:
                    break
                for pair in batch:
                    tried.add(pair.pk)
                    if _slot_open(pair, user, project, now):
                        return Assignment(pair, _reserve(project, user, pair, now))
        if base.exclude(id__in=tried).exists():
            return _Busy()
    return None


@dataclass(frozen=True)
class Vote:
    pair_id: int
    choice: str
    submission_id: uuid.UUID
    elapsed_ms: int | None = None
    rationale: str = ""
    coverage: dict[str, Any] | None = None


@dataclass(frozen=True)
class VoteResult:
    judgment: Judgment
    created: bool  # False: this request repeated one already stored


def _coverage_ok(project: Project, coverage: dict[str, Any], pair: Pair) -> bool:
    share = project.must_view_share
    if share is None or response_viewer(pair) not in GATED_VIEWERS:
        return True
    try:
        return all(float(coverage[side]) >= share - 1e-6 for side in ("A", "B"))
    except (KeyError, TypeError, ValueError):
        return False


def record_vote(project: Project, user: User, vote: Vote) -> VoteResult:
    """Store the vote once. A repeated submission (same id, or the same pair again) returns the first."""
    if vote.choice not in CHOICES:
        raise QueueError(f"Unknown choice {vote.choice!r}: expected A, B or tie.")
    earlier = Judgment.objects.filter(submission_id=vote.submission_id).first()
    if earlier is not None:
        if earlier.annotator_id != user.pk or earlier.pair_id != vote.pair_id:
            raise QueueError("This submission id was already used for another vote.")
        return VoteResult(earlier, created=False)
    now = timezone.now()
    with transaction.atomic():
        reservation = (
            Reservation.objects.select_for_update(of=("self",))
            .select_related("pair", "pair__response1_media", "pair__response2_media")
            .filter(project=project, annotator=user, pair_id=vote.pair_id)
            .first()
        )
        live = Judgment.objects.filter(pair_id=vote.pair_id, annotator=user, retracted_at__isnull=True).first()
        if live is not None:
            return VoteResult(live, created=False)
        if reservation is None:
            # Never handed out to this annotator (or it was skipped and cleared): refuse rather than guess the sides.
            raise QueueError("This pair is not in your queue any more. The next pair is shown instead.")
        coverage = vote.coverage or {}
        if not _coverage_ok(project, coverage, reservation.pair):
            raise QueueError("Play both responses (and orbit 3D models) before voting on this project.")
        server_ms = int((now - reservation.created_at).total_seconds() * 1000)
        elapsed = vote.elapsed_ms if vote.elapsed_ms is not None and 0 <= vote.elapsed_ms <= server_ms + 5000 else None
        try:
            with transaction.atomic():
                judgment = Judgment.objects.create(
                    pair_id=vote.pair_id,
                    annotator=user,
                    label=canonical_label(vote.choice, reservation.shown_order),
                    shown_order=reservation.shown_order,
                    time_spent_ms=min(elapsed if elapsed is not None else server_ms, _MAX_TIME_MS),
                    rationale=vote.rationale.strip()[:5000],
                    submission_id=vote.submission_id,
                    view_coverage=coverage,
                )
        except IntegrityError:
            # A concurrent twin of this request won the race; return what it stored.
            twin = Judgment.objects.filter(
                Q(submission_id=vote.submission_id) | Q(pair_id=vote.pair_id, annotator=user, retracted_at__isnull=True)
            ).first()
            if twin is None:
                raise
            return VoteResult(twin, created=False)
        reservation.delete()
    return VoteResult(judgment, created=True)


def record_skip(project: Project, user: User, *, pair_id: int, reason: str, note: str = "") -> PairSkip:
    """Pass on a pair; the broken-media reason makes it a flag the curators look at."""
    if reason not in SkipReason.values:
        raise QueueError(f"Unknown skip reason {reason!r}: choose one of {', '.join(SkipReason.values)}.")
    kind = SkipKind.FLAG if reason == SkipReason.BROKEN_MEDIA else SkipKind.SKIP
    with transaction.atomic():
        if not Reservation.objects.filter(project=project, annotator=user, pair_id=pair_id).exists():
            raise QueueError("This pair is not in your queue any more.")
        skip, _ = PairSkip.objects.get_or_create(
            pair_id=pair_id, annotator=user, defaults={"kind": kind, "reason": reason, "note": note.strip()[:500]}
        )
        Reservation.objects.filter(pair_id=pair_id, annotator=user).delete()
    return skip


def undo_last(project: Project, user: User) -> Judgment:
    """Retract the annotator's newest live judgment in the project and hand its pair back to them."""
    now = timezone.now()
    with transaction.atomic():
        last = (
            Judgment.objects.select_for_update()
            .filter(pair__project=project, annotator=user, retracted_at__isnull=True, created_at__gte=now - UNDO_WINDOW)
            .select_related("pair")
            .order_by("-created_at", "-id")
            .first()
        )
        if last is None:
            raise QueueError("Nothing to undo: undo reaches back 30 minutes.")
        last.retracted_at = now
        last.save(update_fields=["retracted_at"])
        _reserve(project, user, last.pair, now, shown_order=last.shown_order)
    return last


@dataclass(frozen=True)
class Progress:
    done: int
    remaining: int

    @property
    def total(self) -> int:
        return self.done + self.remaining


def progress_for(project: Project, user: User) -> Progress:
    now = timezone.now()
    done = _done(project, user)
    return Progress(done=done, remaining=_needing_votes(project, user, now).count())
