"""The Agreement page's per-annotator table as the background job stored it (`AnnotatorStatsReport`),
with its age, the votes cast and undone since, and whether the page should ask for a new one.

Never computed here: kappa against the others needs every vote of the project (see
services/annotator_stats.py). What the quality bar decides is read live instead: gold accuracy and
"not counted" come from GoldStanding, which every gold vote, gold change and rule edit keeps current,
so a row never says "not counted" next to a gold accuracy that no longer holds.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.db.models import F, Sum
from django.utils import timezone

from annotations.models import GoldStanding, Judgment, Pair, PairTally, Project

from .models import AnnotatorStatsReport, AnnotatorStatsStatus
from .stats.annotators import AnnotatorStats, gold_accuracy

# Counting the votes cast since stops here: the page says "10,000+", and the count stays an index range scan.
NEW_VOTES_COUNTED = 10_000


@dataclass(frozen=True)
class AnnotatorRow:
    user: User
    stats: AnnotatorStats
    below_bar: bool


@dataclass(frozen=True)
class AnnotatorTable:
    job: AnnotatorStatsReport | None  # None: never asked for (the project had no votes)
    rows: list[AnnotatorRow]
    live_votes: int  # the project's live votes now
    new_votes: int  # votes cast since the table's votes were read (undone since or not), at most NEW_VOTES_COUNTED
    new_pairs: bool = False  # pairs created since the prompt groups were found

    @property
    def refresh_seconds(self) -> int:
        return int(settings.ANNOTATOR_STATS_REFRESH_SECONDS)

    @property
    def computed(self) -> bool:
        return self.job is not None and self.job.computed_at is not None

    @property
    def votes(self) -> int | None:
        """The live votes the shown table was computed from; None before the first computation."""
        return self.job.votes if self.computed and self.job else None

    @property
    def undone(self) -> int:
        """Votes undone since: the table's votes plus the new ones, less those live now."""
        return max(self.job.votes + self.new_votes - self.live_votes, 0) if self.computed and self.job else 0

    @property
    def changed(self) -> bool:
        """Votes were cast or undone since the table's votes were read. Comparing the live count too
        catches undos and a vote that committed after the read with a lower id than the one recorded."""
        if not self.computed or self.job is None:
            return self.live_votes > 0
        return self.new_votes > 0 or self.live_votes != self.job.votes

    @property
    def age_seconds(self) -> float | None:
        if self.job is None or self.job.computed_at is None:
            return None
        return max((timezone.now() - self.job.computed_at).total_seconds(), 0.0)

    @property
    def busy(self) -> bool:
        """Waiting for a worker or being computed: the page polls until the new table is in."""
        return self.job is not None and self.job.status in (AnnotatorStatsStatus.QUEUED, AnnotatorStatsStatus.RUNNING)

    @property
    def due(self) -> bool:
        """The staleness policy: ask for a new table when there is none yet (and there are votes), or
        when votes changed or pairs were created (the prompt groups) and the shown one is at least
        ANNOTATOR_STATS_REFRESH_SECONDS old. The floor keeps a busy project from costing a full read of
        its votes on every page view. A failed computation waits for a person ("Recompute now"):
        retrying it on every view would loop."""
        if self.job is None:
            return self.live_votes > 0
        if self.job.status != AnnotatorStatsStatus.READY or not (self.changed or self.new_pairs):
            return False
        age = self.age_seconds
        return age is not None and age >= self.refresh_seconds


def live_vote_count(project: Project) -> int:
    """The project's live votes, from the tallies (a narrow row per voted pair)."""
    total = PairTally.objects.filter(project=project).aggregate(n=Sum(F("response1") + F("response2") + F("tie")))
    return int(total["n"] or 0)


def annotator_table(project: Project, *, live_votes: int) -> AnnotatorTable:
    """The stored table, its gold columns and quality-bar marks read live; `live_votes` from the tallies."""
    job = AnnotatorStatsReport.objects.filter(project=project).first()
    if job is None:
        return AnnotatorTable(None, [], live_votes, 0)
    new_votes, new_pairs = 0, False
    if job.computed_at is not None:
        # The primary key's range first: a handful of rows, each checked against its pair's project.
        since = Judgment.objects.filter(id__gt=job.last_judgment_id, pair__project=project).order_by()
        new_votes = since.values("id")[:NEW_VOTES_COUNTED].count()
        # Same idea for pairs: the primary key's range past the highest id when the groups were found.
        new_pairs = Pair.objects.filter(id__gt=job.last_pair_id, project=project).order_by().exists()
    return AnnotatorTable(job, _rows(project, job), live_votes, new_votes, new_pairs)


def _rows(project: Project, job: AnnotatorStatsReport) -> list[AnnotatorRow]:
    users = get_user_model().objects.in_bulk([row["annotator"] for row in job.rows])
    standings = {
        annotator: (judged, correct, below)
        for annotator, judged, correct, below in GoldStanding.objects.filter(project=project).values_list(
            "annotator_id", "judged", "correct", "below_bar"
        )
    }
    rows = []
    for stored in job.rows:
        user = users.get(stored["annotator"])
        if user is None:  # deleted since (their votes went with them)
            continue
        judged, correct, below = standings.get(user.pk, (0, 0, False))
        stats = replace(
            AnnotatorStats.from_json(stored), gold_judged=judged, gold_accuracy=gold_accuracy(correct, judged)
        )
        rows.append(AnnotatorRow(user, stats, below))
    rows.sort(key=lambda row: row.user.get_username())
    return rows
