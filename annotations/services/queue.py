"""The annotator's queue: which pair comes next, who holds it, and what a vote, skip or undo stores.

A pair is open to an annotator while they have not judged or skipped it and its slot count
(``Pair.claimed``: live judgments plus reservations) is under the project's overlap k. The count is
kept by the functions here, in the same transaction as the rows it counts, so the next pair comes
from an index scan whatever the project's size. Handing a pair out takes a slot and creates a
reservation, so two annotators never race for the last slot: the candidate row is locked with
``SELECT ... FOR NO KEY UPDATE SKIP LOCKED`` (PostgreSQL) and the slot is taken with a conditional
``UPDATE``. Reservations that run out keep their slot until ``release_expired`` gives it back, which
happens before anyone is told their queue is empty; their holder gets them renewed if they return
first. Gold pairs have no cap: every annotator gets them, mixed in at the project's ``gold_share``.
"""

from __future__ import annotations

import hashlib
import hmac
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, timedelta
from functools import cache
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

from media_pipeline.models import MediaAsset

from ..models import (
    Judgment,
    Label,
    Pair,
    PairKind,
    PairSkip,
    Project,
    Reservation,
    ShownOrder,
    SkipKind,
    SkipReason,
    TieKind,
)
from .tallies import hold_votes, tally_vote

_CANDIDATE_BATCH = 8
_LOCK_RETRIES = 20
_MAX_TIME_MS = 24 * 3600 * 1000
UNDO_WINDOW = timedelta(minutes=30)
# The buttons say A, B, Tie; what is stored depends on which response was shown as A.
CHOICES = ("A", "B", "tie")


class QueueError(Exception):
    """A request the queue refuses, with a sentence for the annotator."""


class AlreadyJudged(QueueError):
    """A new vote on a pair this annotator has a live vote on (cast in another tab or window): the
    first one stands, and the sentence says which it was."""

    def __init__(self, judgment: Judgment) -> None:
        self.judgment = judgment
        kept = button_name(judgment.label, judgment.shown_order, judgment.tie_kind)
        super().__init__(
            f"You had already voted on this pair in another tab or window: that vote, {kept}, was kept "
            "and this one was not stored. Use Undo to change it."
        )


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


def button_name(label: str, shown_order: str, tie_kind: str = "") -> str:
    """The button that stores `label` under `shown_order`, as its page names it: A, B or Tie (with its kind)."""
    name = shown_choice(label, shown_order).replace("tie", "Tie")
    return f"{name} ({TieKind(tie_kind).label.lower()})" if tie_kind else name


def tie_kind_error(project: Project, choice: str, tie_kind: str) -> str | None:
    """Why this tie kind cannot go with this choice on this project; None when it can.

    A project with tie kinds requires one on every tie: a tie without one would release as a tie of
    no kind, which is what the curator turned the setting on to avoid. A project without them takes none.
    """
    if tie_kind and tie_kind not in TieKind.values:
        return f"Unknown tie kind {tie_kind[:20]!r}: expected {' or '.join(TieKind.values)}."
    if tie_kind and choice != "tie":
        return f"A tie kind goes with a tie only; this vote is {choice}."
    if tie_kind and not project.tie_kinds:
        return "This project does not ask what kind a tie is: send the tie without a tie kind."
    if choice == "tie" and project.tie_kinds and not tie_kind:
        return "This project asks what kind of tie it is: both good or both bad (3, then 1 or 2)."
    return None


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


# The queue's hot statements, written in SQL because they run on every vote and the ORM spent more
# time building them than the database spent running them (docs/benchmarks.md). They run unchanged
# on PostgreSQL and SQLite: `p` is the pair; %(user)s, %(project)s and %(k)s are bound parameters;
# {names} are filled in once with table names and fixed fragments.
_NOT_DONE = (
    "NOT EXISTS (SELECT 1 FROM {judgment} j WHERE j.pair_id = p.id AND j.annotator_id = %(user)s"
    " AND j.retracted_at IS NULL)"
    " AND NOT EXISTS (SELECT 1 FROM {skip} s WHERE s.pair_id = p.id AND s.annotator_id = %(user)s)"
    # Nobody labels a pair made from a criterion they wrote, or accepted having seen its expected answer.
    " AND (p.written_by_id IS NULL OR p.written_by_id <> %(user)s)"
    " AND (p.accepted_by_id IS NULL OR p.accepted_by_id <> %(user)s)"
)
# Take a slot in the next pair. Pairs whose media is still being processed wait (media_ready), and
# comparisons (no criterion yet) are never labelled. Regular pairs need a slot under k and come
# fullest first, so pairs complete rather than all idling at k-1 (index pair_queue_open); gold pairs
# have no cap. The annotator's own reservations are served before a claim is tried, so none can
# turn up here.
_CLAIM = (
    "UPDATE {pair} SET claimed = claimed + 1 WHERE id = ("
    " SELECT p.id FROM {pair} p WHERE p.project_id = %(project)s AND {open} AND {not_done}"
    " ORDER BY {order} LIMIT 1 {lock}"
    ") RETURNING id"
)
# Only pairs are labelled, never comparisons: the kind is written into the SQL (not bound) so the
# planner matches it against the partial index pair_queue_open.
_LABELLING = f"p.kind = '{PairKind.PAIR.value}'"
_OPEN = {
    False: "p.gold_label IS NULL AND p.claimed < %(k)s AND p.media_ready AND {labelling}",
    True: "p.gold_label IS NOT NULL AND p.media_ready",
}
_ORDER = {False: "p.claimed DESC, p.id", True: "p.id"}
_ANY_OPEN = (
    "SELECT EXISTS (SELECT 1 FROM {pair} p WHERE p.project_id = %(project)s"
    " AND (p.gold_label IS NOT NULL OR p.claimed < %(k)s) AND p.media_ready AND {labelling} AND {not_done})"
)
# What is left for the annotator: open pairs they have not done (counted up to a cap, so the cost
# does not grow with the project) plus pairs they hold that are full only because of their own hold.
_PROGRESS = (
    "SELECT"
    " (SELECT COUNT(*) FROM {judgment} j JOIN {pair} p ON p.id = j.pair_id"
    "  WHERE p.project_id = %(project)s AND j.annotator_id = %(user)s AND j.retracted_at IS NULL),"
    " (SELECT COUNT(*) FROM (SELECT 1 FROM {pair} p WHERE p.project_id = %(project)s"
    "  AND (p.gold_label IS NOT NULL OR p.claimed < %(k)s) AND p.media_ready AND {labelling} AND {not_done}"
    "  LIMIT %(cap)s) AS open_pairs),"
    " (SELECT COUNT(*) FROM {reservation} r JOIN {pair} p ON p.id = r.pair_id"
    "  WHERE r.project_id = %(project)s AND r.annotator_id = %(user)s AND p.gold_label IS NULL"
    "  AND p.claimed >= %(k)s)"
)
# "100+ left" tells an annotator as much as "500+": counting open pairs costs the database one probe
# per pair counted (reading 500 wide rows was 1.2 ms of its CPU per vote, docs/benchmarks.md).
REMAINING_CAP = 100


@cache
def _sql(template: str, vendor: str, gold: bool = False) -> str:
    """`template` with its {names} filled in for this database vendor."""
    # PostgreSQL: lock the candidate row, skipping rows other annotators are being handed right now.
    # SQLite has no row locks; its IMMEDIATE transactions serialise writers instead.
    lock = connection.ops.for_update_sql(skip_locked=True, no_key=True) if vendor == "postgresql" else ""
    names = {
        "pair": Pair._meta.db_table,
        "judgment": Judgment._meta.db_table,
        "skip": PairSkip._meta.db_table,
        "reservation": Reservation._meta.db_table,
        "labelling": _LABELLING,
    }
    names["not_done"] = _NOT_DONE.format(**names)
    return template.format(open=_OPEN[gold].format(**names), order=_ORDER[gold], lock=lock, **names)


def _run(template: str, project: Project, user: User, *, gold: bool = False) -> tuple[Any, ...] | None:
    """Run one of the statements above; its first row."""
    params = {"project": project.pk, "user": user.pk, "k": project.votes_per_pair, "cap": REMAINING_CAP}
    with connection.cursor() as cursor:
        cursor.execute(_sql(template, connection.vendor, gold), params)
        return cursor.fetchone()


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


def _pair_for_view(pair_id: int) -> Pair:
    """The pair with the media rows the page shows. A text pair costs one plain query: building
    select_related's five joins cost the web process more than the database spent running them."""
    pair = Pair.objects.get(pk=pair_id)
    ids = {getattr(pair, f"{name}_id") for name in Pair.MEDIA_FIELDS} - {None}
    if ids:
        assets = MediaAsset.objects.in_bulk(ids)
        for name in Pair.MEDIA_FIELDS:
            asset_id = getattr(pair, f"{name}_id")
            if asset_id is not None:
                setattr(pair, name, assets[asset_id])
    return pair


# Asked on every turn and usually empty; raw() skips the ORM's query building (as _CLAIM does).
_HELD = (
    "SELECT * FROM {reservation} WHERE project_id = %s AND annotator_id = %s ORDER BY created_at DESC, id DESC LIMIT 1"
)


def _current(project: Project, user: User, now: Any) -> Reservation | None:
    """The pair this annotator already holds (the newest, so an undone pair comes back first).

    A reservation that ran out but was not yet released is still theirs: it is renewed, so an annotator
    back from a break finds the pair they left.
    """
    sql = _HELD.format(reservation=Reservation._meta.db_table)
    held = next(iter(Reservation.objects.raw(sql, [project.pk, user.pk])), None)
    if held is None:
        return None
    if held.expires_at <= now:
        renewed = now + timedelta(minutes=project.reservation_minutes)
        if not Reservation.objects.filter(pk=held.pk).update(expires_at=renewed):
            return None  # released a moment ago
        held.expires_at = renewed
    held.pair = _pair_for_view(held.pair_id)
    return held


def release_expired(project: Project, now: Any | None = None) -> int:
    """Give the slots of reservations that ran out back to their pairs; returns how many were released."""
    now = now or timezone.now()
    with transaction.atomic():
        expired = list(
            Reservation.objects.filter(project=project, expires_at__lte=now)
            .select_for_update(skip_locked=True)
            .values_list("pk", "pair_id")
        )
        if not expired:
            return 0
        Reservation.objects.filter(pk__in=[pk for pk, _ in expired]).delete()
        per_pair = Counter(pair_id for _, pair_id in expired)
        for released in sorted(set(per_pair.values())):
            ids = sorted(pair_id for pair_id, n in per_pair.items() if n == released)
            Pair.objects.filter(pk__in=ids).update(claimed=F("claimed") - released)
    return len(expired)


def next_assignment(project: Project, user: User, *, done: int | None = None) -> Assignment | None:
    """The pair to show this annotator now, reserved for them; None when their queue is empty.

    `done` is the annotator's live judgment count in the project, if the caller already has it.
    """
    released = False
    for attempt in range(_LOCK_RETRIES):
        outcome = _try_assign(project, user, done)
        if isinstance(outcome, Assignment):
            return outcome
        if outcome is _EMPTY:
            # Slots held by reservations that ran out come back before the queue is reported empty.
            if released or not release_expired(project):
                return None
            released = True
            continue
        # Open pairs exist, but annotators being served this instant hold their row locks; those
        # transactions last milliseconds, so look again rather than report an empty queue.
        time.sleep(0.005 * (attempt + 1))
    return None


_EMPTY = object()  # nothing open to the annotator
_BUSY = object()  # open pairs exist, but other annotators hold their row locks right now


def _try_assign(project: Project, user: User, done: int | None) -> Assignment | object:
    try:
        return _assign(project, user, done)
    except IntegrityError:
        return _BUSY  # the same annotator's other tab took that pair this instant; look again


def _assign(project: Project, user: User, done: int | None) -> Assignment | object:
    now = timezone.now()
    with transaction.atomic():
        held = _current(project, user, now)
        if held is not None:
            return Assignment(held.pair, held)
        if done is None:
            done = progress_for(project, user).done
        # Gold pairs come in unannounced on a share of turns, and fill in once nothing else is left.
        for gold in (True, False) if _gold_turn(project, user, done) else (False, True):
            claimed = _run(_CLAIM, project, user, gold=gold)
            if claimed is not None:
                return _reserve(project, user, claimed[0], now)
        # Nothing was free: either nothing is open, or what is open is locked by annotators being served.
        any_open = _run(_ANY_OPEN, project, user)
        return _BUSY if any_open and any_open[0] else _EMPTY


_RESERVE = (
    "INSERT INTO {reservation} (project_id, pair_id, annotator_id, shown_order, created_at, expires_at)"
    " VALUES (%(project)s, %(pair)s, %(user)s, %(order)s, %(now)s, %(until)s) RETURNING id"
)


def _reserve(project: Project, user: User, pair_id: int, now: Any) -> Assignment:
    """The reservation for a slot just taken. A second tab of the same annotator reserving the same
    pair at the same instant makes the insert fail, which rolls back the whole attempt, slot included.
    """
    reservation = _insert_reservation(project, user, pair_id, shown_order_for(user.pk, pair_id), now)
    return Assignment(_pair_for_view(pair_id), reservation)


def _insert_reservation(project: Project, user: User, pair_id: int, shown_order: str, now: Any) -> Reservation:
    """Store a reservation of the pair for the annotator, running out after the project's reservation time."""
    reservation = Reservation(
        project=project,
        pair_id=pair_id,
        annotator=user,
        shown_order=shown_order,
        created_at=now,
        expires_at=now + timedelta(minutes=project.reservation_minutes),
    )
    adapt = connection.ops.adapt_datetimefield_value
    params: dict[str, Any] = {
        "project": project.pk,
        "pair": pair_id,
        "user": user.pk,
        "order": shown_order,
        "now": adapt(reservation.created_at),
        "until": adapt(reservation.expires_at),
    }
    with connection.cursor() as cursor:
        cursor.execute(_RESERVE.format(reservation=Reservation._meta.db_table), params)
        (reservation.pk,) = cursor.fetchone()
    return reservation


@dataclass(frozen=True)
class Vote:
    pair_id: int
    choice: str
    submission_id: uuid.UUID
    elapsed_ms: int | None = None
    rationale: str = ""
    coverage: dict[str, Any] | None = None
    tie_kind: str = ""  # both_good / both_bad: a tie on a project with tie kinds


@dataclass(frozen=True)
class VoteResult:
    judgment: Judgment
    created: bool  # False: this request repeated one already stored (the same submission id)


def _coverage_ok(project: Project, coverage: dict[str, Any], pair_id: int) -> bool:
    share = project.must_view_share
    if share is None:
        return True
    pair = Pair.objects.select_related("response1_media", "response2_media").get(pk=pair_id)
    if response_viewer(pair) not in GATED_VIEWERS:
        return True
    try:
        return all(float(coverage[side]) >= share - 1e-6 for side in ("A", "B"))
    except (KeyError, TypeError, ValueError):
        return False


# A vote turns the annotator's reservation of the pair into a judgment: the reservation is deleted
# first, which locks it against a second copy of the same vote, and says which side was shown on the
# left, when the pair was handed out and the pair's gold answer (a gold vote may move its annotator
# across the quality bar).
_TAKE = (
    "DELETE FROM {reservation} WHERE project_id = %(project)s AND annotator_id = %(user)s AND pair_id = %(pair)s"
    " RETURNING shown_order, created_at, (SELECT gold_label FROM {pair} WHERE id = %(pair)s)"
)


def _take_reservation(project: Project, user: User, pair_id: int) -> tuple[str, Any, str | None] | None:
    """Delete the annotator's reservation of the pair: (shown order, reserved at, gold label), or None."""
    sql = _TAKE.format(reservation=Reservation._meta.db_table, pair=Pair._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(sql, {"project": project.pk, "user": user.pk, "pair": pair_id})
        row = cursor.fetchone()
    if row is None:
        return None
    shown_order, created_at, gold = row
    if timezone.is_naive(created_at):  # SQLite's datetimes come back naive, in UTC
        created_at = timezone.make_aware(created_at, UTC)
    return shown_order, created_at, gold


def record_vote(project: Project, user: User, vote: Vote) -> VoteResult:
    """Store the vote once. A repeated submission (the same id) returns the stored vote; another vote on
    a pair this annotator has judged (a second tab) raises AlreadyJudged, naming the vote kept.

    The reservation becomes the judgment, so the pair's slot count does not change. A tie kind the
    project does not take, or a tie without the kind it requires, is a ValidationError on `tie_kind`.
    """
    if vote.choice not in CHOICES:
        raise QueueError(f"Unknown choice {vote.choice!r}: expected A, B or tie.")
    if error := tie_kind_error(project, vote.choice, vote.tie_kind):
        raise ValidationError({"tie_kind": error})
    now = timezone.now()
    try:
        with transaction.atomic():
            taken = _take_reservation(project, user, vote.pair_id)
            if taken is None:
                # Either this request repeats one already stored (the vote used up the reservation), or
                # the pair was never handed to this annotator: refuse rather than guess the sides.
                return VoteResult(_stored_twin(user, vote), created=False)
            shown_order, reserved_at, pair_gold = taken
            coverage = vote.coverage or {}
            if not _coverage_ok(project, coverage, vote.pair_id):
                # Raised inside the transaction: the reservation comes back with its rollback.
                raise QueueError("Play both responses (and orbit 3D models) before voting on this project.")
            if pair_gold is not None:
                hold_votes()
            server_ms = int((now - reserved_at).total_seconds() * 1000)
            claimed = vote.elapsed_ms
            elapsed = claimed if claimed is not None and 0 <= claimed <= server_ms + 5000 else server_ms
            judgment = Judgment.objects.create(
                pair_id=vote.pair_id,
                annotator=user,
                label=canonical_label(vote.choice, shown_order),
                shown_order=shown_order,
                tie_kind=vote.tie_kind,
                time_spent_ms=min(elapsed, _MAX_TIME_MS),
                rationale=vote.rationale.strip()[:5000],
                submission_id=vote.submission_id,
                view_coverage=coverage,
            )
            tally_vote(
                project_id=project.pk,
                annotator_id=user.pk,
                pair_id=vote.pair_id,
                label=judgment.label,
                shown_order=judgment.shown_order,
                tie_kind=judgment.tie_kind,
                delta=1,
            )
    except IntegrityError:
        # The submission id was used before, or a live judgment of this pair exists already: the
        # transaction is rolled back, reservation and all, and the earlier vote stands.
        return VoteResult(_stored_twin(user, vote), created=False)
    return VoteResult(judgment, created=True)


def _stored_twin(user: User, vote: Vote) -> Judgment:
    """The judgment an earlier copy of this vote stored, or a QueueError saying why there is none."""
    earlier = Judgment.objects.filter(submission_id=vote.submission_id).first()
    if earlier is not None:
        if earlier.annotator_id != user.pk or earlier.pair_id != vote.pair_id:
            raise QueueError("This submission id was already used for another vote.")
        return earlier
    live = Judgment.objects.filter(pair_id=vote.pair_id, annotator=user, retracted_at__isnull=True).first()
    if live is None:
        raise QueueError("This pair is not in your queue any more. The next pair is shown instead.")
    raise AlreadyJudged(live)


def record_skip(project: Project, user: User, *, pair_id: int, reason: str, note: str = "") -> PairSkip:
    """Pass on a pair; the broken-media reason makes it a flag the curators look at."""
    if reason not in SkipReason.values:
        raise QueueError(f"Unknown skip reason {reason!r}: choose one of {', '.join(SkipReason.values)}.")
    kind = SkipKind.FLAG if reason == SkipReason.BROKEN_MEDIA else SkipKind.SKIP
    with transaction.atomic():
        released, _ = Reservation.objects.filter(project=project, annotator=user, pair_id=pair_id).delete()
        if not released:
            raise QueueError("This pair is not in your queue any more.")
        Pair.objects.filter(pk=pair_id).update(claimed=F("claimed") - 1)
        skip, _ = PairSkip.objects.get_or_create(
            pair_id=pair_id, annotator=user, defaults={"kind": kind, "reason": reason, "note": note.strip()[:500]}
        )
    return skip


def undo_last(project: Project, user: User) -> Judgment:
    """Retract the annotator's newest live judgment in the project and hand its pair back to them.

    The judgment's slot turns back into a reservation, so the pair's slot count does not change.
    """
    now = timezone.now()
    with transaction.atomic():
        last = (
            Judgment.objects.select_for_update(of=("self",))
            .annotate(pair_gold=F("pair__gold_label"))
            .filter(pair__project=project, annotator=user, retracted_at__isnull=True, created_at__gte=now - UNDO_WINDOW)
            .order_by("-created_at", "-id")
            .first()
        )
        if last is None:
            raise QueueError("Nothing to undo: undo reaches back 30 minutes.")
        if last.pair_gold is not None:
            hold_votes()
        last.retracted_at = now
        last.save(update_fields=["retracted_at"])
        tally_vote(
            project_id=project.pk,
            annotator_id=user.pk,
            pair_id=last.pair_id,
            label=last.label,
            shown_order=last.shown_order,
            tie_kind=last.tie_kind,
            delta=-1,
        )
        _insert_reservation(project, user, last.pair_id, last.shown_order, now)
    return last


def release_user(user: User) -> None:
    """Give back the slots a user's reservations hold (before the user is deleted with them)."""
    with transaction.atomic():
        for pair_id in Reservation.objects.filter(annotator=user).values_list("pair_id", flat=True):
            Pair.objects.filter(pk=pair_id).update(claimed=F("claimed") - 1)
        Reservation.objects.filter(annotator=user).delete()


@dataclass(frozen=True)
class Progress:
    done: int
    remaining: int
    more: bool = False  # there are more than `remaining` left: counting stopped at REMAINING_CAP

    @property
    def total(self) -> int:
        return self.done + self.remaining


def progress_for(project: Project, user: User) -> Progress:
    """Live judgments so far, and the pairs still open to the annotator (the one on screen included).

    One statement. Handing out a pair does not change `remaining` (it moves from open to held), so
    the workspace reads this before asking for the next pair and passes `done` on.
    """
    done, open_pairs, held_full = _run(_PROGRESS, project, user) or (0, 0, 0)
    return Progress(done=done, remaining=open_pairs + held_full, more=open_pairs >= REMAINING_CAP)
