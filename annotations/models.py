from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, ClassVar

from django.conf import settings
from django.db import models
from django.db.models import F, Q, Value
from django.db.models.functions import Coalesce

from core.models import LeasedJob
from media_pipeline.models import MediaAsset, MediaKind


class Task(models.TextChoices):
    T2T = "T2T", "Text to text"
    TI2T = "TI2T", "Text + image to text"
    TV2T = "TV2T", "Text + video to text"
    TA2T = "TA2T", "Text + audio to text"
    T2I = "T2I", "Text to image"
    T2V = "T2V", "Text to video"
    T2A = "T2A", "Text to audio"
    T23D = "T23D", "Text to 3D"
    TI2I = "TI2I", "Text + image to image"


@dataclass(frozen=True)
class TaskSpec:
    task: Task
    config: str
    input_field: str | None
    input_kind: MediaKind | None
    response_kinds: tuple[MediaKind, ...]  # empty: text responses

    @property
    def media_responses(self) -> bool:
        return bool(self.response_kinds)


TASK_SPECS: dict[str, TaskSpec] = {
    spec.task.value: spec
    for spec in (
        TaskSpec(Task.T2T, "text_to_text", None, None, ()),
        TaskSpec(Task.TI2T, "text_image_to_text", "image", MediaKind.IMAGE, ()),
        TaskSpec(Task.TV2T, "text_video_to_text", "video", MediaKind.VIDEO, ()),
        TaskSpec(Task.TA2T, "text_audio_to_text", "audio", MediaKind.AUDIO, ()),
        TaskSpec(Task.T2I, "text_to_image", None, None, (MediaKind.IMAGE,)),
        TaskSpec(Task.T2V, "text_to_video", None, None, (MediaKind.VIDEO,)),
        TaskSpec(Task.T2A, "text_to_audio", None, None, (MediaKind.AUDIO,)),
        # The release ships multi-view renders; real meshes are accepted too.
        TaskSpec(Task.T23D, "text_to_3D", None, None, (MediaKind.IMAGE, MediaKind.MESH)),
        TaskSpec(Task.TI2I, "text_image_to_image", "image", MediaKind.IMAGE, (MediaKind.IMAGE,)),
    )
}
TASK_BY_CONFIG: dict[str, TaskSpec] = {spec.config.lower(): spec for spec in TASK_SPECS.values()}


def task_spec(name: str) -> TaskSpec | None:
    """Accept a task code (``TI2T``) or a release config name (``text_image_to_text``)."""
    cleaned = name.strip()
    return TASK_SPECS.get(cleaned.upper()) or TASK_BY_CONFIG.get(cleaned.lower())


class Label(models.TextChoices):
    RESPONSE1 = "response1", "Response 1"
    RESPONSE2 = "response2", "Response 2"
    TIE = "tie", "Tie"


class TieKind(models.TextChoices):
    """What a tie says on projects that ask (`Project.tie_kinds`): both responses meet the criterion, or both
    fail it."""

    BOTH_GOOD = "both_good", "Both good"
    BOTH_BAD = "both_bad", "Both bad"


class Project(models.Model):
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=80, unique=True)
    description = models.TextField(blank=True)
    votes_per_pair = models.PositiveSmallIntegerField(
        default=3, help_text="How many annotators should judge each pair (overlap k)."
    )
    reservation_minutes = models.PositiveSmallIntegerField(
        default=15, help_text="How long a pair handed to an annotator stays reserved for them."
    )
    gold_share = models.FloatField(
        default=0.1, help_text="Share of queue turns that serve an unjudged gold pair when one is left (0 to 1)."
    )
    must_view_share = models.FloatField(
        null=True,
        blank=True,
        help_text="Must-view gating: votes unlock only after both videos/audios played this share (0 to 1) "
        "and 3D models were orbited. Empty turns gating off.",
    )
    criteria_per_comparison = models.PositiveSmallIntegerField(
        default=2, help_text="Accepted criteria a comparison needs before its writing is done."
    )
    writing_guidance = models.TextField(
        blank=True, help_text="Shown to criterion writers above every comparison (plain text)."
    )
    tasks = models.JSONField(
        default=list,
        blank=True,
        help_text="The tasks this benchmark holds (codes such as T2I); imports refuse rows of other tasks. "
        "Empty: any of the nine.",
    )
    tie_kinds = models.BooleanField(
        default=False,
        db_default=False,
        help_text="A tie also says whether both responses are good or both bad (a second key after 3); "
        "releases add a tie_kind column and the Agreement page shows the both-bad share per task.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        # Granted in the admin (users or groups); staff and superusers hold it implicitly.
        permissions = [("create_project", "Can create projects (and becomes their curator)")]
        constraints = [
            models.CheckConstraint(condition=Q(votes_per_pair__gte=1), name="project_votes_per_pair_positive"),
            models.CheckConstraint(condition=Q(reservation_minutes__gte=1), name="project_reservation_positive"),
            models.CheckConstraint(
                condition=Q(criteria_per_comparison__gte=1), name="project_criteria_per_comparison_positive"
            ),
            models.CheckConstraint(condition=Q(gold_share__gte=0, gold_share__lte=1), name="project_gold_share_range"),
            models.CheckConstraint(
                condition=Q(must_view_share__isnull=True) | Q(must_view_share__gt=0, must_view_share__lte=1),
                name="project_must_view_share_range",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Role(models.TextChoices):
    CURATOR = "curator", "Curator"
    ANNOTATOR = "annotator", "Annotator"


class Membership(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "user"], name="membership_one_per_user_project"),
            models.CheckConstraint(condition=Q(role__in=Role.values), name="membership_role_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.user} ({self.role}) in {self.project}"


class ImportStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class ImportJob(LeasedJob):
    """A curator's import: the uploaded files, what happened, and the summary or the problems.

    A leased job (core.jobs): pairs are written in one transaction at the end and media under
    content-addressed keys, so a run that takes over from a dead one imports the same files again
    without duplicating anything.
    """

    job_kind = "import"
    job_task = "annotations.celery_tasks.import_job_run_task"
    job_queued = ImportStatus.QUEUED
    job_running = ImportStatus.RUNNING
    job_failed = ImportStatus.FAILED
    job_message_field = "message"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="import_jobs")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL)
    status = models.CharField(max_length=16, choices=ImportStatus.choices, default=ImportStatus.QUEUED)
    data_file = models.FileField(
        max_length=300, blank=True, help_text="Uploaded release zip, JSONL or parquet; removed once imported."
    )
    data_name = models.CharField(max_length=255, help_text="Name of the upload as the curator sent it.")
    media_file = models.FileField(max_length=300, blank=True, help_text="Optional zip of media for JSONL.")
    media_name = models.CharField(max_length=255, blank=True)
    default_task = models.CharField(max_length=8, choices=Task.choices, blank=True)
    summary = models.JSONField(default=dict, blank=True)
    problems = models.JSONField(default=list, blank=True, help_text="At most the first 1,000 problems.")
    problem_count = models.PositiveIntegerField(default=0)
    message = models.TextField(blank=True, help_text="Why the job failed, in a sentence.")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=ImportStatus.values), name="importjob_status_valid"),
            models.CheckConstraint(
                condition=Q(default_task="") | Q(default_task__in=Task.values), name="importjob_default_task_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"import {self.data_name} into {self.project} ({self.status})"

    @property
    def finished(self) -> bool:
        return self.status in (ImportStatus.SUCCEEDED, ImportStatus.FAILED)

    @classmethod
    def job_claim_fields(cls, now: Any) -> dict[str, Any]:
        return {"started_at": Coalesce(F("started_at"), Value(now))}


# What a pair shows, apart from its criterion: a comparison hands these on to the pairs made from it.
PAIR_CONTENT_FIELDS = (
    "task", "prompt", "input_media_id", "response1_text", "response1_media_id", "response1_mesh_id",
    "response2_text", "response2_media_id", "response2_mesh_id", "model1", "model2", "source", "media_ready",
)  # fmt: skip


class PairKind(models.TextChoices):
    PAIR = "pair", "Pair (labelled under its criterion)"
    COMPARISON = "comparison", "Comparison (criteria to be written)"


class PairQuerySet(models.QuerySet["Pair"]):
    """The one door to pairs by kind: what annotators label, and comparisons waiting for criteria."""

    def labelling(self) -> PairQuerySet:
        return self.filter(kind=PairKind.PAIR)

    def comparisons(self) -> PairQuerySet:
        return self.filter(kind=PairKind.COMPARISON)


def labelling_q(path: str = "") -> Q:
    """Pairs annotators label, seen through a relation (`path`, e.g. "pairs__" or "pair__")."""
    return Q(**{f"{path}kind": PairKind.PAIR})


def comparisons_q(path: str = "") -> Q:
    return Q(**{f"{path}kind": PairKind.COMPARISON})


# Every media reference a pair has, in the order releases write them (Pair.MEDIA_FIELDS).
_MEDIA_FIELDS = ("input_media", "response1_media", "response1_mesh", "response2_media", "response2_mesh")
_SPARSE_REFERENCES = ("comparison", "written_by", "accepted_by", *_MEDIA_FIELDS)


class Pair(models.Model):
    """A prompt, two responses and a free-form criterion: the unit a human labels A, B or tie."""

    MEDIA_FIELDS: ClassVar[tuple[str, ...]] = _MEDIA_FIELDS

    # Indexed by the composite indexes below, which all lead with the project.
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="pairs", db_index=False)
    external_id = models.CharField(max_length=200, help_text="The `id` of the pair in its source data.")
    task = models.CharField(max_length=8, choices=Task.choices)
    prompt = models.TextField()
    criterion = models.TextField(
        blank=True, help_text="Free-form criterion the judgment must follow; empty on a comparison."
    )
    kind = models.CharField(
        max_length=16,
        choices=PairKind.choices,
        default=PairKind.PAIR,
        db_default=PairKind.PAIR,  # the importer inserts with COPY and plain SQL
        help_text="A comparison has no criterion yet: writers write criteria for it, each becomes a pair.",
    )
    comparison = models.ForeignKey(
        "self",
        null=True,
        db_index=False,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="criterion_pairs",
        help_text="The comparison this pair was made from, with one of its written criteria.",
    )
    # Who saw the expected answer of the criterion behind this pair: they never label it.
    written_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        db_index=False,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Who wrote this pair's criterion; they never label it.",
    )
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        db_index=False,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The curator who accepted this pair's criterion (and saw its expected answer); never labels it.",
    )
    input_media = models.ForeignKey(
        MediaAsset,
        null=True,
        db_index=False,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="TI2T/TV2T/TA2T/TI2I.",
    )
    # NULL (not "") marks a media response; the text-xor-media check constraint relies on it.
    response1_text = models.TextField(null=True, blank=True)  # noqa: DJ001
    response1_media = models.ForeignKey(
        MediaAsset, null=True, db_index=False, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    response1_mesh = models.ForeignKey(
        MediaAsset,
        null=True,
        db_index=False,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="T23D: the mesh behind a rendered response, found beside the render.",
    )
    response2_text = models.TextField(null=True, blank=True)  # noqa: DJ001
    response2_media = models.ForeignKey(
        MediaAsset, null=True, db_index=False, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    response2_mesh = models.ForeignKey(
        MediaAsset, null=True, db_index=False, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    model1 = models.CharField(max_length=200, blank=True, help_text="Never shown to annotators.")
    model2 = models.CharField(max_length=200, blank=True, help_text="Never shown to annotators.")
    source = models.CharField(max_length=200, blank=True)
    reference_label = models.CharField(  # noqa: DJ001 -- NULL means "no label imported"
        max_length=16, choices=Label.choices, null=True, blank=True, help_text="Label as imported, if any."
    )
    gold_label = models.CharField(  # noqa: DJ001 -- NULL means "not a gold pair"
        max_length=16,
        choices=Label.choices,
        null=True,
        blank=True,
        help_text="Known answer: makes this a gold pair, served to every annotator unannounced.",
    )
    import_job = models.ForeignKey(ImportJob, null=True, blank=True, on_delete=models.SET_NULL, related_name="pairs")
    created_at = models.DateTimeField(auto_now_add=True)
    claimed = models.PositiveIntegerField(
        default=0,
        db_default=0,  # the importer inserts with COPY and plain SQL
        editable=False,
        help_text="Live judgments plus reservations (until released): the queue's slot count, kept by its services.",
    )

    media_ready = models.BooleanField(
        default=True,
        db_default=True,
        editable=False,
        help_text="Every asset the pair shows is processed; until then the pair stays out of annotation queues.",
    )

    objects = PairQuerySet.as_manager()

    class Meta:
        ordering = ["task", "external_id"]
        indexes = [
            # The project page lists pairs in this order, a page at a time, without sorting them all.
            models.Index(fields=["project", "task", "external_id"], name="pair_project_task_external_id"),
            # The queue's candidate scan: fullest open pairs first, so pairs complete instead of idling at k-1.
            # Pairs waiting for media are left out, so a large import being transcoded costs nothing here.
            models.Index(
                fields=["project", "-claimed", "id"],
                condition=Q(gold_label__isnull=True, media_ready=True, kind=PairKind.PAIR),
                name="pair_queue_open",
            ),
            # The curator pages count a project's pairs per task and kind, and those with an imported
            # label, from this index alone (PostgreSQL; SQLite ignores `include`).
            models.Index(
                fields=["project", "kind", "task"], include=["reference_label"], name="pair_project_kind_task"
            ),
            # Gold pairs: the queue's gold turn (which adds media_ready) and the gate's gold answers.
            models.Index(fields=["project", "id"], condition=Q(gold_label__isnull=False), name="pair_gold"),
            # Most pairs are text, and an imported pair sets none of these: partial indexes leave the NULLs
            # out, which a plain index adds on every insert (eight of them were the largest cost of a
            # 317K-pair import after the rows themselves). Lookups by a value still use them.
            *(
                models.Index(fields=[name], condition=Q(**{f"{name}__isnull": False}), name=f"pair_{name}_set")
                for name in _SPARSE_REFERENCES
            ),
        ]
        constraints = [
            models.UniqueConstraint(fields=["project", "external_id"], name="pair_unique_external_id"),
            models.CheckConstraint(condition=Q(task__in=Task.values), name="pair_task_valid"),
            models.CheckConstraint(
                condition=Q(reference_label__isnull=True) | Q(reference_label__in=Label.values),
                name="pair_reference_label_valid",
            ),
            models.CheckConstraint(
                condition=Q(gold_label__isnull=True) | Q(gold_label__in=Label.values), name="pair_gold_label_valid"
            ),
            models.CheckConstraint(condition=Q(kind__in=PairKind.values), name="pair_kind_valid"),
            # A pair is labelled under its criterion; a comparison has none until criteria are written.
            models.CheckConstraint(
                condition=Q(kind=PairKind.PAIR) & ~Q(criterion="") | Q(kind=PairKind.COMPARISON, criterion=""),
                name="pair_criterion_iff_pair",
            ),
            models.CheckConstraint(
                condition=Q(comparison__isnull=True) | Q(kind=PairKind.PAIR), name="pair_comparison_only_on_pairs"
            ),
            models.CheckConstraint(
                condition=Q(gold_label__isnull=True) | Q(kind=PairKind.PAIR), name="pair_gold_only_on_pairs"
            ),
            models.CheckConstraint(condition=~Q(external_id=""), name="pair_external_id_not_empty"),
            # Each response is exactly one of: text, or a media asset.
            models.CheckConstraint(
                condition=Q(response1_text__isnull=True, response1_media__isnull=False)
                | Q(response1_text__isnull=False, response1_media__isnull=True),
                name="pair_response1_text_xor_media",
            ),
            models.CheckConstraint(
                condition=Q(response2_text__isnull=True, response2_media__isnull=False)
                | Q(response2_text__isnull=False, response2_media__isnull=True),
                name="pair_response2_text_xor_media",
            ),
            models.CheckConstraint(
                condition=Q(response1_mesh__isnull=True, response2_mesh__isnull=True) | Q(task=Task.T23D),
                name="pair_mesh_only_for_3d",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.task} {self.external_id}"


class ShownOrder(models.TextChoices):
    RESPONSE1_LEFT = "12", "Response 1 shown as A (left)"
    RESPONSE2_LEFT = "21", "Response 2 shown as A (left)"


class Judgment(models.Model):
    """One annotator's A/B/tie, stored canonically with the side order they saw."""

    pair = models.ForeignKey(Pair, on_delete=models.CASCADE, related_name="judgments")
    annotator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="judgments")
    label = models.CharField(max_length=16, choices=Label.choices)
    shown_order = models.CharField(max_length=2, choices=ShownOrder.choices)
    # Both kinds are symmetric in the two responses, so the side order plays no part in storing them.
    tie_kind = models.CharField(
        max_length=10,
        choices=TieKind.choices,
        blank=True,
        default="",
        db_default="",  # the benches insert judgments with COPY
        help_text="A tie on a project with tie kinds: both good or both bad. Empty for A/B, and for ties on "
        "projects without kinds.",
    )
    time_spent_ms = models.PositiveIntegerField(help_text="Time from the pair appearing to the vote.")
    rationale = models.TextField(blank=True)
    submission_id = models.UUIDField(
        null=True, blank=True, unique=True, help_text="Sent with the vote; a retried or doubled request stores once."
    )
    view_coverage = models.JSONField(
        default=dict, blank=True, help_text="Must-view gating: share played / orbited per side when the vote was cast."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    retracted_at = models.DateTimeField(
        null=True, blank=True, help_text="Set when the annotator undid this judgment; retracted ones are history."
    )

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["pair", "annotator"],
                condition=Q(retracted_at__isnull=True),
                name="judgment_one_live_per_annotator_pair",
            ),
            models.CheckConstraint(condition=Q(label__in=Label.values), name="judgment_label_valid"),
            models.CheckConstraint(condition=Q(shown_order__in=ShownOrder.values), name="judgment_shown_order_valid"),
            models.CheckConstraint(
                condition=Q(tie_kind="") | Q(tie_kind__in=TieKind.values, label=Label.TIE),
                name="judgment_tie_kind_only_on_ties",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.annotator} on {self.pair}: {self.label}"


class PairTally(models.Model):
    """A pair's live votes per label, kept in the transaction of every vote and undo (`services.tallies`).

    Curator pages decide the gate and compute agreement from these counts instead of reading every
    vote: a narrow row per voted pair is ~50 bytes where a pair is ~1.4 KB. A pair without a row has
    no vote. `manage.py recount` rebuilds the rows from the judgments and reports any difference.
    """

    pair = models.OneToOneField(Pair, primary_key=True, on_delete=models.CASCADE, related_name="tally")
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+", db_index=False)
    task = models.CharField(max_length=8, choices=Task.choices, help_text="The pair's task (it never changes).")
    response1 = models.PositiveIntegerField(default=0)
    response2 = models.PositiveIntegerField(default=0)
    tie = models.PositiveIntegerField(default=0)
    left = models.PositiveIntegerField(default=0, help_text="Votes that picked the response shown on the left.")
    # Of those votes, the ones cast by annotators the gate's quality bar leaves uncounted (GoldStanding).
    uncounted_response1 = models.PositiveIntegerField(default=0)
    uncounted_response2 = models.PositiveIntegerField(default=0)
    uncounted_tie = models.PositiveIntegerField(default=0)
    # Tie votes by kind (projects with tie kinds; a tie without a kind is in neither), and of those the
    # uncounted ones: a released tie takes the kind most of its counted tie votes name.
    tie_good = models.PositiveIntegerField(default=0, db_default=0)
    tie_bad = models.PositiveIntegerField(default=0, db_default=0)
    uncounted_tie_good = models.PositiveIntegerField(default=0, db_default=0)
    uncounted_tie_bad = models.PositiveIntegerField(default=0, db_default=0)

    class Meta:
        indexes = [models.Index(fields=["project", "pair"], name="pairtally_project")]

    def __str__(self) -> str:
        return f"{self.pair_id}: {self.response1}/{self.response2}/{self.tie}"


class GoldStanding(models.Model):
    """An annotator's record on a project's gold pairs, and whether the gate's quality bar (its gold
    accuracy rule) leaves their votes uncounted. Kept with the tallies (`services.tallies`)."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    annotator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    judged = models.PositiveIntegerField(default=0, help_text="Live judgments of gold pairs.")
    correct = models.PositiveIntegerField(default=0, help_text="Of those, the ones that match the gold answer.")
    below_bar = models.BooleanField(default=False, help_text="The quality bar leaves this annotator's votes uncounted.")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "annotator"], name="goldstanding_unique")]

    def __str__(self) -> str:
        return f"{self.annotator_id} in {self.project_id}: {self.correct}/{self.judged} gold"


class Reservation(models.Model):
    """A pair handed to one annotator: it counts against the pair's open slots until it expires."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    pair = models.ForeignKey(Pair, on_delete=models.CASCADE, related_name="reservations")
    annotator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="reservations")
    shown_order = models.CharField(max_length=2, choices=ShownOrder.choices)
    created_at = models.DateTimeField(help_text="When the annotator was handed the pair (the vote timer's start).")
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["pair", "annotator"], name="reservation_one_per_annotator_pair"),
            models.CheckConstraint(condition=Q(shown_order__in=ShownOrder.values), name="reservation_order_valid"),
        ]
        indexes = [models.Index(fields=["annotator", "project", "expires_at"], name="reservation_mine")]

    def __str__(self) -> str:
        return f"{self.pair} reserved for {self.annotator} until {self.expires_at:%H:%M}"


class SkipKind(models.TextChoices):
    SKIP = "skip", "Skipped"
    FLAG = "flag", "Flagged: broken media"


class SkipReason(models.TextChoices):
    UNSURE = "unsure", "I cannot judge this criterion"
    EXPERTISE = "expertise", "Needs expertise I do not have"
    CRITERION = "criterion", "The criterion is unclear"
    BROKEN_MEDIA = "broken_media", "Media does not load or play"
    OTHER = "other", "Other"


class PairSkip(models.Model):
    """An annotator passed on a pair, or flagged its media as broken; curators see both."""

    pair = models.ForeignKey(Pair, on_delete=models.CASCADE, related_name="skips")
    annotator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="skips")
    kind = models.CharField(max_length=8, choices=SkipKind.choices)
    reason = models.CharField(max_length=16, choices=SkipReason.choices)
    note = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["pair", "annotator"], name="skip_one_per_annotator_pair"),
            models.CheckConstraint(condition=Q(kind__in=SkipKind.values), name="skip_kind_valid"),
            models.CheckConstraint(condition=Q(reason__in=SkipReason.values), name="skip_reason_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.annotator} {self.get_kind_display().lower()} {self.pair}"
