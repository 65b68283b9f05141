"""Gate rules, adjudications and published releases.

A pair's gate state (needs votes, accepted, disputed, excluded) is not stored: it follows from the
live judgments, the project's gate rule and any adjudication, so editing the rule re-decides every
pair at once. A release freezes the outcome: its ReleasePair rows are written in the publishing
transaction and never change afterwards.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from annotations.models import Label, Pair, Project, Task, TieKind
from core.models import LeasedJob


class TiePolicy(models.TextChoices):
    LABEL = "label", "A tie is a label like A and B"
    EXCLUDE = "exclude", "Leave out pairs whose consensus is a tie"
    ABSTAIN = "abstain", "Tie votes abstain: only A and B votes count"


class GateRule(models.Model):
    """Which pairs a release admits. One per project; curators edit it."""

    project = models.OneToOneField(Project, on_delete=models.CASCADE, related_name="gate_rule")
    min_votes = models.PositiveSmallIntegerField(
        default=3, help_text="Counted votes a pair needs before it can be accepted or disputed."
    )
    min_majority_share = models.FloatField(
        default=2 / 3, help_text="Share of counted votes the majority label needs (above 0.5, at most 1)."
    )
    tie_policy = models.CharField(max_length=8, choices=TiePolicy.choices, default=TiePolicy.LABEL)
    min_gold_accuracy = models.FloatField(
        null=True,
        blank=True,
        help_text="Quality bar: votes of annotators below this accuracy on gold pairs are not counted. Empty: no bar.",
    )
    min_gold_judged = models.PositiveSmallIntegerField(
        default=5, help_text="Gold pairs an annotator must have judged before the quality bar applies to them."
    )
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(min_votes__gte=1), name="gate_min_votes_positive"),
            models.CheckConstraint(
                condition=Q(min_majority_share__gt=0.5, min_majority_share__lte=1), name="gate_majority_share_range"
            ),
            models.CheckConstraint(condition=Q(tie_policy__in=TiePolicy.values), name="gate_tie_policy_valid"),
            models.CheckConstraint(
                condition=Q(min_gold_accuracy__isnull=True) | Q(min_gold_accuracy__gte=0, min_gold_accuracy__lte=1),
                name="gate_gold_accuracy_range",
            ),
        ]

    def __str__(self) -> str:
        return f"gate of {self.project}"

    def as_dict(self) -> dict[str, object]:
        return {
            "min_votes": self.min_votes,
            "min_majority_share": round(self.min_majority_share, 4),
            "tie_policy": self.tie_policy,
            "min_gold_accuracy": self.min_gold_accuracy,
            "min_gold_judged": self.min_gold_judged,
        }


class Decision(models.TextChoices):
    RESPONSE1 = Label.RESPONSE1.value, Label.RESPONSE1.label
    RESPONSE2 = Label.RESPONSE2.value, Label.RESPONSE2.label
    TIE = Label.TIE.value, Label.TIE.label
    EXCLUDE = "exclude", "Leave the pair out"


class Adjudication(models.Model):
    """A curator's decision on a disputed pair. The latest one per pair counts; earlier ones are history."""

    pair = models.ForeignKey(Pair, on_delete=models.CASCADE, related_name="adjudications")
    decision = models.CharField(max_length=16, choices=Decision.choices)
    note = models.TextField(blank=True)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    decided_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-decided_at", "-id"]
        indexes = [models.Index(fields=["pair", "-decided_at"], name="adjudication_latest")]
        constraints = [models.CheckConstraint(condition=Q(decision__in=Decision.values), name="adjudication_valid")]

    def __str__(self) -> str:
        return f"{self.pair}: {self.decision} by {self.decided_by}"


class AdjudicationRequest(models.Model):
    """A curator sent a pair to the adjudication queue, with why (e.g. the imported label disagrees).

    The pair stays in the queue until an adjudication is recorded on or after `requested_at`; nothing
    here changes a label, so the decision is always a human's. Kept as history, like Adjudication.
    """

    pair = models.ForeignKey(Pair, on_delete=models.CASCADE, related_name="adjudication_requests")
    reason = models.CharField(max_length=500, help_text="Why the pair needs a curator's decision; shown in the queue.")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    requested_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-requested_at", "-id"]
        indexes = [models.Index(fields=["pair", "-requested_at"], name="adjudication_request_latest")]
        constraints = [models.CheckConstraint(condition=~Q(reason=""), name="adjudication_request_has_reason")]

    def __str__(self) -> str:
        return f"{self.pair} sent to adjudication by {self.requested_by}"


class ReleaseStatus(models.TextChoices):
    BUILDING = "building", "Building"
    READY = "ready", "Ready"
    FAILED = "failed", "Failed"


class Release(LeasedJob):
    """Version N of a project's benchmark: a frozen list of pairs and labels, and the archive built from it.

    Building it is a leased job (core.jobs); "building" with no lease is a build waiting for a worker.
    """

    job_kind = "release"
    job_task = "releases.celery_tasks.release_build_task"
    job_queued = ReleaseStatus.BUILDING
    job_running = ReleaseStatus.BUILDING
    job_failed = ReleaseStatus.FAILED

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="releases")
    version = models.PositiveIntegerField()
    notes = models.TextField(blank=True)
    gate = models.JSONField(help_text="The gate rule the release was published under.")
    statistics = models.JSONField(default=dict, help_text="Agreement statistics at publication.")
    summary = models.JSONField(default=dict, help_text="Pairs and labels per task.")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    status = models.CharField(max_length=10, choices=ReleaseStatus.choices, default=ReleaseStatus.BUILDING)
    error = models.TextField(blank=True)
    archive = models.FileField(max_length=300, blank=True, help_text="The downloadable zip, once built.")
    archive_bytes = models.BigIntegerField(null=True, blank=True)
    archive_sha256 = models.CharField(max_length=64, blank=True)
    built_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["project", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["project", "version"], name="release_unique_version"),
            models.CheckConstraint(condition=Q(version__gte=1), name="release_version_positive"),
            models.CheckConstraint(condition=Q(status__in=ReleaseStatus.values), name="release_status_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.project} v{self.version}"


class LabelSource(models.TextChoices):
    VOTES = "votes", "Majority of votes"
    GOLD = "gold", "Gold answer"
    ADJUDICATION = "adjudication", "Curator adjudication"


class ReleaseTieKind(models.TextChoices):
    """A released tie's kind: the one most of its counted tie votes name (see `services.publish`)."""

    BOTH_GOOD = TieKind.BOTH_GOOD.value, TieKind.BOTH_GOOD.label
    BOTH_BAD = TieKind.BOTH_BAD.value, TieKind.BOTH_BAD.label
    MIXED = "mixed", "Mixed: as many tie votes said both good as both bad"


class ReleasePair(models.Model):
    """One pair as frozen into a release: enough to list, diff and verify it without the live tables."""

    release = models.ForeignKey(Release, on_delete=models.CASCADE, related_name="pairs")
    pair = models.ForeignKey(Pair, null=True, on_delete=models.SET_NULL, related_name="+")
    external_id = models.CharField(max_length=200)
    task = models.CharField(max_length=8, choices=Task.choices)
    label = models.CharField(max_length=16, choices=Label.choices)
    source = models.CharField(max_length=16, choices=LabelSource.choices)
    votes = models.JSONField(help_text="Counted votes per label, e.g. {'response1': 3, 'tie': 1}.")
    majority_share = models.FloatField(null=True)
    media = models.JSONField(default=dict, help_text="SHA-256 of every media file, by column.")
    tie_kind = models.CharField(
        max_length=10,
        choices=ReleaseTieKind.choices,
        blank=True,
        default="",
        db_default="",
        help_text="A tie of a project with tie kinds: the kind most counted tie votes name, mixed when as many "
        "name each; empty for A/B, and for a tie no counted vote gave a kind.",
    )

    class Meta:
        ordering = ["task", "external_id"]
        constraints = [
            models.UniqueConstraint(fields=["release", "external_id"], name="releasepair_unique_external_id"),
            models.CheckConstraint(condition=Q(label__in=Label.values), name="releasepair_label_valid"),
            models.CheckConstraint(
                condition=Q(tie_kind="") | Q(tie_kind__in=ReleaseTieKind.values, label=Label.TIE),
                name="releasepair_tie_kind_only_on_ties",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.external_id} in {self.release}: {self.label}"


class AnnotatorStatsStatus(models.TextChoices):
    QUEUED = "queued", "Waiting for a worker"
    RUNNING = "running", "Computing"
    READY = "ready", "Ready"
    FAILED = "failed", "Failed"


class AnnotatorStatsReport(LeasedJob):
    """The Agreement page's per-annotator table of one project, computed by a background job.

    Agreement with the others (kappa), time, ties and left picks need every vote: ~11 s at 951,000 votes,
    too slow for a request. The job stores the table with what it was computed from, so the page shows
    its age and the votes cast since; the previous table stays shown while the next one is computed.
    Gold accuracy and the quality bar are not stored here: the page reads them live from GoldStanding.
    One row per project, so the lease also means at most one computation per project at a time.
    """

    job_kind = "stats"
    job_task = "releases.celery_tasks.annotator_stats_task"
    job_queued = AnnotatorStatsStatus.QUEUED
    job_running = AnnotatorStatsStatus.RUNNING
    job_failed = AnnotatorStatsStatus.FAILED

    project = models.OneToOneField(Project, on_delete=models.CASCADE, related_name="annotator_stats")
    status = models.CharField(max_length=8, choices=AnnotatorStatsStatus.choices, default=AnnotatorStatsStatus.QUEUED)
    error = models.TextField(blank=True)
    requested_at = models.DateTimeField(default=timezone.now, help_text="When the latest computation was asked for.")
    computed_at = models.DateTimeField(
        null=True, blank=True, help_text="When the shown table's votes were read; empty until the first run."
    )
    votes = models.PositiveIntegerField(default=0, help_text="Live votes the table was computed from.")
    last_judgment_id = models.BigIntegerField(
        default=0, help_text="The highest judgment id (any project) when the votes were read: later ones are new."
    )
    rows = models.JSONField(
        default=list, help_text="One object per annotator with votes: the user id and the vote-based statistics."
    )
    # The Agreement page's prompt groups (the same prompt and responses under several criteria): finding
    # them groups every pair by its text columns, ~6 s at 317,000 pairs. Which pairs form a group changes
    # only when pairs are created, never on a vote, so the job finds them; the page decides the stored
    # pairs' labels and states live.
    prompt_group_count = models.PositiveIntegerField(
        default=0, help_text="Groups of pairs with the same prompt and responses under two criteria or more."
    )
    prompt_groups = models.JSONField(
        default=list, help_text="The first groups in (task, prompt) order: task, prompt and pair ids in id order."
    )
    last_pair_id = models.BigIntegerField(
        default=0, help_text="The highest pair id (any project) when the groups were found: later pairs are new."
    )

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=AnnotatorStatsStatus.values), name="annotator_stats_status_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"annotator statistics of {self.project}"
