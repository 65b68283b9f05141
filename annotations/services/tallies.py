"""Per-pair vote tallies (`PairTally`) and annotators' gold standing (`GoldStanding`), kept where votes change.

The curator pages decide the gate and compute agreement from these counts instead of reading every
vote. Invariants, each kept in the transaction that could break it:

- a tally's response1/response2/tie/left, and tie_good/tie_bad (ties by kind), count the pair's live
  judgments (`tally_vote`, called by the queue's vote and undo);
- a standing's judged/correct count the annotator's live judgments of gold pairs, and `below_bar` is
  the quality bar's verdict on them (`standing_refresh`, after a gold vote, a gold change or a rule edit);
- a tally's uncounted_* count the live judgments of annotators whose standing is below the bar (the
  vote adds to them when its annotator is below; a standing that flips shifts all their votes).

Bulk writers (the demo seed, a benchmark's COPY) call `tally_recount` afterwards; `manage.py recount`
rebuilds everything from the judgments and reports what differed.

Concurrency (PostgreSQL): a vote reads its annotator's standing inside the statement that counts it,
and a transaction that may flip a standing (a gold vote or undo, a gold change, a rule edit, a recount)
first takes a SHARE ROW EXCLUSIVE lock on the tallies (`hold_votes`), which waits for every vote under
way to commit and holds new ones until it commits. So each vote is shifted by the flip (committed
before it) or counted under the new standing (taken after it), never both or neither; and taking it
first, before any row lock, leaves no lock order to deadlock on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from django.db import connection, transaction
from django.db.models import Count, F, Q

from ..models import GoldStanding, Judgment, Label, Pair, PairTally, Project, ShownOrder, TieKind

COLUMNS = (Label.RESPONSE1, Label.RESPONSE2, Label.TIE)  # the tally's vote columns, in label-code order
_BATCH = 500  # SQLite caps the parameters of one statement

# The quality bar belongs to the gate (releases, a layer above): it registers how to read a project's
# bar when the app loads. (minimum gold accuracy or None for no bar, minimum gold pairs judged)
QualityBar = tuple[float | None, int]
_bar_of: Callable[[int], QualityBar] = lambda project_id: (None, 1)  # noqa: E731


def register_quality_bar(reader: Callable[[int], QualityBar]) -> None:
    global _bar_of
    _bar_of = reader


def is_below(bar: QualityBar, judged: int, correct: int) -> bool:
    """An annotator measured on too few gold pairs is not yet measured: they keep counting."""
    min_accuracy, min_judged = bar
    return min_accuracy is not None and judged >= max(min_judged, 1) and correct / judged < min_accuracy


def _table(model: type) -> str:
    return connection.ops.quote_name(model._meta.db_table)  # type: ignore[attr-defined]


# One statement counts a vote, reading the annotator's standing in the same statement; it returns the
# pair's gold answer, so a gold vote refreshes the standing. The row appears with a pair's first vote.
# (SQLite needs the WHERE to parse ON CONFLICT after a SELECT.)
_BELOW = (
    "(SELECT COUNT(*) FROM {standing} s WHERE s.project_id = %(project)s AND s.annotator_id = %(annotator)s"
    " AND s.below_bar)"
)
_ADD = """
INSERT INTO {tally} (pair_id, project_id, task, response1, response2, tie, "left",
                     uncounted_response1, uncounted_response2, uncounted_tie,
                     tie_good, tie_bad, uncounted_tie_good, uncounted_tie_bad)
SELECT p.id, p.project_id, p.task, %(r1)s, %(r2)s, %(tie)s, %(left)s, %(r1)s * b.n, %(r2)s * b.n, %(tie)s * b.n,
       %(good)s, %(bad)s, %(good)s * b.n, %(bad)s * b.n
FROM {pair} p, (SELECT {below} AS n) b
WHERE p.id = %(pair)s
ON CONFLICT (pair_id) DO UPDATE SET
  response1 = {tally}.response1 + excluded.response1, response2 = {tally}.response2 + excluded.response2,
  tie = {tally}.tie + excluded.tie, "left" = {tally}."left" + excluded."left",
  uncounted_response1 = {tally}.uncounted_response1 + excluded.uncounted_response1,
  uncounted_response2 = {tally}.uncounted_response2 + excluded.uncounted_response2,
  uncounted_tie = {tally}.uncounted_tie + excluded.uncounted_tie,
  tie_good = {tally}.tie_good + excluded.tie_good, tie_bad = {tally}.tie_bad + excluded.tie_bad,
  uncounted_tie_good = {tally}.uncounted_tie_good + excluded.uncounted_tie_good,
  uncounted_tie_bad = {tally}.uncounted_tie_bad + excluded.uncounted_tie_bad
RETURNING (SELECT gold_label FROM {pair} WHERE id = %(pair)s)
""".strip()
# An undo finds the row its vote made. (A negative count cannot go through the INSERT above: PostgreSQL
# checks the proposed row's constraints before it finds the conflict.)
_TAKE_BACK = """
UPDATE {tally} SET
  response1 = response1 + %(r1)s, response2 = response2 + %(r2)s, tie = tie + %(tie)s, "left" = "left" + %(left)s,
  uncounted_response1 = uncounted_response1 + %(r1)s * {below},
  uncounted_response2 = uncounted_response2 + %(r2)s * {below},
  uncounted_tie = uncounted_tie + %(tie)s * {below},
  tie_good = tie_good + %(good)s, tie_bad = tie_bad + %(bad)s,
  uncounted_tie_good = uncounted_tie_good + %(good)s * {below},
  uncounted_tie_bad = uncounted_tie_bad + %(bad)s * {below}
WHERE pair_id = %(pair)s
RETURNING (SELECT gold_label FROM {pair} WHERE id = %(pair)s)
""".strip()


# A vote that picked the response shown on the left (position bias is measured on these).
_LEFT_PICKS = ((Label.RESPONSE1, ShownOrder.RESPONSE1_LEFT), (Label.RESPONSE2, ShownOrder.RESPONSE2_LEFT))
LEFT_PICK = Q(label=_LEFT_PICKS[0][0], shown_order=_LEFT_PICKS[0][1]) | Q(
    label=_LEFT_PICKS[1][0], shown_order=_LEFT_PICKS[1][1]
)  # the same, as a filter on judgments


def picked_left(label: str, shown_order: str) -> bool:
    return (label, shown_order) in _LEFT_PICKS


def tally_vote(
    *, project_id: int, annotator_id: int, pair_id: int, label: str, shown_order: str, tie_kind: str = "", delta: int
) -> None:
    """Count a vote (delta 1) or take a retracted one back (delta -1). Call inside the vote's transaction."""
    below = _BELOW.format(standing=_table(GoldStanding))
    sql = (_ADD if delta > 0 else _TAKE_BACK).format(tally=_table(PairTally), pair=_table(Pair), below=below)
    r1, r2, tie = (delta if label == column else 0 for column in COLUMNS)
    params = {
        "r1": r1,
        "r2": r2,
        "tie": tie,
        "left": delta if picked_left(label, shown_order) else 0,
        "good": delta if tie_kind == TieKind.BOTH_GOOD else 0,
        "bad": delta if tie_kind == TieKind.BOTH_BAD else 0,
        "project": project_id,
        "annotator": annotator_id,
        "pair": pair_id,
    }
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        (gold,) = cursor.fetchone()
    if gold is not None:
        standing_refresh(project_id=project_id, annotator_ids=[annotator_id])


def _gold_records(project_id: int, annotator_ids: list[int] | None) -> dict[int, tuple[int, int]]:
    judgments = Judgment.objects.filter(
        pair__project_id=project_id, pair__gold_label__isnull=False, retracted_at__isnull=True
    )
    if annotator_ids is not None:
        judgments = judgments.filter(annotator_id__in=annotator_ids)
    rows = (
        judgments.order_by()
        .values("annotator_id")
        .annotate(judged=Count("id"), correct=Count("id", filter=Q(label=F("pair__gold_label"))))
        .values_list("annotator_id", "judged", "correct")
    )
    return {annotator: (judged, correct) for annotator, judged, correct in rows}


def standing_refresh(*, project_id: int, annotator_ids: Iterable[int] | None = None) -> list[int]:
    """Recount the gold records of these annotators (default: everyone with gold votes or a standing) and
    apply the quality bar; an annotator who crosses it has all their votes shifted in or out of the
    uncounted tallies. Returns the annotators whose standing flipped."""
    ids = None if annotator_ids is None else sorted(set(annotator_ids))
    bar = _bar_of(project_id)
    with transaction.atomic():
        hold_votes()  # before any standing is locked: see the module doc
        standings = GoldStanding.objects.filter(project_id=project_id)
        if ids is not None:
            standings = standings.filter(annotator_id__in=ids)
        # Lock before counting, so two refreshes of one annotator see each other's work.
        locked = {s.annotator_id: s for s in standings.select_for_update().order_by("annotator_id")}
        records = _gold_records(project_id, ids)
        missing = [a for a in sorted(records) if a not in locked]
        if missing:
            GoldStanding.objects.bulk_create(
                [GoldStanding(project_id=project_id, annotator_id=a) for a in missing], ignore_conflicts=True
            )
            fresh = GoldStanding.objects.filter(project_id=project_id, annotator_id__in=missing)
            locked |= {s.annotator_id: s for s in fresh.select_for_update().order_by("annotator_id")}
            records = _gold_records(project_id, ids)
        flipped = []
        changed = []
        for annotator, standing in sorted(locked.items()):
            judged, correct = records.get(annotator, (0, 0))
            below = is_below(bar, judged, correct)
            if below != standing.below_bar:
                flipped.append(annotator)
            if (judged, correct, below) != (standing.judged, standing.correct, standing.below_bar):
                standing.judged, standing.correct, standing.below_bar = judged, correct, below
                changed.append(standing)
        for annotator in flipped:
            _shift(project_id, annotator, 1 if locked[annotator].below_bar else -1)
        GoldStanding.objects.bulk_update(changed, ["judged", "correct", "below_bar"], batch_size=_BATCH)
    return flipped


def hold_votes() -> None:
    """Wait for the votes under way and hold new ones until this transaction commits (see the module doc).

    Every transaction that may move an annotator across the bar takes it first, before it holds any row a
    vote could wait for: a gold vote or undo, a gold change, a rule edit, a recount."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"LOCK TABLE {_table(PairTally)} IN SHARE ROW EXCLUSIVE MODE")


_SHIFT = """
UPDATE {tally} SET
  uncounted_response1 = uncounted_response1 + %(sign)s * v.r1,
  uncounted_response2 = uncounted_response2 + %(sign)s * v.r2,
  uncounted_tie = uncounted_tie + %(sign)s * v.tie,
  uncounted_tie_good = uncounted_tie_good + %(sign)s * v.good,
  uncounted_tie_bad = uncounted_tie_bad + %(sign)s * v.bad
FROM (
  SELECT j.pair_id AS pair_id,
         SUM(CASE WHEN j.label = 'response1' THEN 1 ELSE 0 END) AS r1,
         SUM(CASE WHEN j.label = 'response2' THEN 1 ELSE 0 END) AS r2,
         SUM(CASE WHEN j.label = 'tie' THEN 1 ELSE 0 END) AS tie,
         SUM(CASE WHEN j.tie_kind = 'both_good' THEN 1 ELSE 0 END) AS good,
         SUM(CASE WHEN j.tie_kind = 'both_bad' THEN 1 ELSE 0 END) AS bad
  FROM {judgment} j JOIN {tally} t ON t.pair_id = j.pair_id
  WHERE t.project_id = %(project)s AND j.annotator_id = %(annotator)s AND j.retracted_at IS NULL
  GROUP BY j.pair_id
) v
WHERE {tally}.pair_id = v.pair_id
""".strip()


def _shift(project_id: int, annotator_id: int, sign: int) -> None:
    """Move all of an annotator's live votes in the project into (1) or out of (-1) the uncounted tallies."""
    sql = _SHIFT.format(tally=_table(PairTally), judgment=_table(Judgment))
    with connection.cursor() as cursor:
        cursor.execute(sql, {"sign": sign, "project": project_id, "annotator": annotator_id})


# --- rebuilding ------------------------------------------------------------------------------------

TALLY_FIELDS = (
    "response1", "response2", "tie", "left", "uncounted_response1", "uncounted_response2", "uncounted_tie",
    "tie_good", "tie_bad", "uncounted_tie_good", "uncounted_tie_bad",
)  # fmt: skip
_FIELDS = TALLY_FIELDS  # the vote counts of a PairTally, in the order recounts and curator reads use
Counts = tuple[int, ...]


@dataclass(frozen=True)
class Recount:
    pairs: int  # pairs with live votes
    differing: list[int]  # pair ids whose stored tally differed from their votes (now corrected)
    standings: list[int]  # annotators whose stored gold standing differed (now corrected)


def _live_counts(project: Project, below: set[int]) -> dict[int, Counts]:
    # (An IN over no ids would make Django drop the whole query; no annotator has id 0.)
    uncounted = Q(annotator_id__in=sorted(below)) if below else Q(annotator_id=0)
    rows = (
        Judgment.objects.filter(pair__project=project, retracted_at__isnull=True)
        .order_by()
        .values("pair_id")
        .annotate(
            r1=Count("id", filter=Q(label=Label.RESPONSE1)),
            r2=Count("id", filter=Q(label=Label.RESPONSE2)),
            tie=Count("id", filter=Q(label=Label.TIE)),
            left=Count("id", filter=LEFT_PICK),
            u1=Count("id", filter=Q(label=Label.RESPONSE1) & uncounted),
            u2=Count("id", filter=Q(label=Label.RESPONSE2) & uncounted),
            ut=Count("id", filter=Q(label=Label.TIE) & uncounted),
            good=Count("id", filter=Q(tie_kind=TieKind.BOTH_GOOD)),
            bad=Count("id", filter=Q(tie_kind=TieKind.BOTH_BAD)),
            ugood=Count("id", filter=Q(tie_kind=TieKind.BOTH_GOOD) & uncounted),
            ubad=Count("id", filter=Q(tie_kind=TieKind.BOTH_BAD) & uncounted),
        )
        .values_list("pair_id", "r1", "r2", "tie", "left", "u1", "u2", "ut", "good", "bad", "ugood", "ubad")
    )
    return {pair_id: tuple(counts) for pair_id, *counts in rows}  # type: ignore[misc]


def tally_recount(*, project: Project) -> Recount:
    """Rebuild the project's gold standings and tallies from its live judgments; what differed.

    Votes are held meanwhile (PostgreSQL: a table lock that lets reads through; SQLite has one writer
    anyway), so a vote is counted either in the recount or by its own statement, never both or neither.
    """
    bar = _bar_of(project.pk)
    with transaction.atomic():
        hold_votes()
        records = _gold_records(project.pk, None)
        stored_standings = {s.annotator_id: s for s in GoldStanding.objects.filter(project=project)}
        wrong_standings = []
        for annotator in sorted(records.keys() | stored_standings.keys()):
            judged, correct = records.get(annotator, (0, 0))
            want = (judged, correct, is_below(bar, judged, correct))
            have = stored_standings.get(annotator)
            if have is None or (have.judged, have.correct, have.below_bar) != want:
                wrong_standings.append(annotator)
                GoldStanding.objects.update_or_create(
                    project=project,
                    annotator_id=annotator,
                    defaults=dict(zip(("judged", "correct", "below_bar"), want, strict=True)),
                )
        below = {a for a, (judged, correct) in records.items() if is_below(bar, judged, correct)}
        live = _live_counts(project, below)
        stored = {
            pair_id: tuple(counts)
            for pair_id, *counts in PairTally.objects.filter(project=project).values_list("pair_id", *_FIELDS)
        }
        zero = (0,) * len(_FIELDS)
        differing = sorted(p for p in live.keys() | stored.keys() if live.get(p, zero) != stored.get(p, zero))
        for start in range(0, len(differing), _BATCH):
            batch = differing[start : start + _BATCH]
            PairTally.objects.filter(pair_id__in=[p for p in batch if p not in live]).delete()
            tasks = dict(Pair.objects.filter(id__in=[p for p in batch if p in live]).values_list("id", "task"))
            PairTally.objects.bulk_create(
                [
                    PairTally(pair_id=p, project=project, task=tasks[p], **dict(zip(_FIELDS, live[p], strict=True)))
                    for p in batch
                    if p in live
                ],
                update_conflicts=True,
                unique_fields=["pair"],
                update_fields=list(_FIELDS),
            )
    return Recount(pairs=len(live), differing=differing, standings=wrong_standings)
