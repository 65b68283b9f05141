"""Request validation and response shapes for the annotations API; no decisions are made here.

Two audiences, two sets of shapes. Curators get everything a pair carries (model names, imported
and gold labels, file names). Annotators get the queue shapes only (`Queue*`, `Shown*`, `Own*`):
a pair's task, prompt, criterion and its two sides in the order the server chose for them, with
media as permission-checked URLs. Those shapes have no field that could carry a model name, a
file name, a label other than the annotator's own choice, or anyone else's vote.

Status and kind fields of media are plain strings on purpose: the same property names carry other
choice sets elsewhere in the API, and one enum per name keeps the OpenAPI schema unambiguous.
"""

from __future__ import annotations

import math
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.fields import IdField
from core.serializers import LeasedJobFields
from media_pipeline.models import AssetStatus, MediaAsset, MediaKind, Rendition, RenditionRole
from releases.api import GateSettingsSerializer
from releases.models import GateRule, TiePolicy

from ..models import (
    TASK_SPECS,
    ImportJob,
    Judgment,
    Label,
    Membership,
    Pair,
    PairSkip,
    Role,
    SkipKind,
    SkipReason,
    Task,
    TieKind,
    task_spec,
)
from ..services.queue import CHOICES, shown_choice

_MAX_TIME_MS = 24 * 3600 * 1000
_GATE_DEFAULT = GateRule()  # unsaved: the default rule


def _absolute(context: dict[str, Any], name: str, *args: Any) -> str:
    path = reverse(name, args=args)
    request = context.get("request")
    return request.build_absolute_uri(path) if request is not None else path


def _task_code(value: str) -> str:
    """A task code (T2I) or release config name (text_to_image) as its code; '' for no filter."""
    if not value:
        return ""
    spec = task_spec(value)
    if spec is None:
        raise serializers.ValidationError(
            f"Unknown task {value[:50]!r}: expected one of {', '.join(TASK_SPECS)} or a release config name."
        )
    return spec.task.value


# Projects


class ProjectSummarySerializer(serializers.Serializer):
    """One row of the project list (a `selectors.ProjectRow`)."""

    slug = serializers.SlugField(source="project.slug")
    name = serializers.CharField(source="project.name")
    description = serializers.CharField(source="project.description")
    role = serializers.CharField(help_text="curator or annotator (staff are curators everywhere).")
    pair_count = serializers.IntegerField()


class TaskCountSerializer(serializers.Serializer):
    task = serializers.CharField()
    config = serializers.CharField()
    pairs = serializers.IntegerField()
    labelled = serializers.IntegerField(help_text="Pairs imported with a reference label.")
    comparisons = serializers.IntegerField(help_text="Comparisons waiting for criteria to be written.")


class LabellingSerializer(serializers.Serializer):
    judgments = serializers.IntegerField(help_text="Live judgments.")
    complete_pairs = serializers.IntegerField(help_text="Pairs with the project's votes_per_pair live judgments.")
    skips = serializers.IntegerField()
    flag_count = serializers.IntegerField(help_text="Pairs flagged for broken media.")


class CuratorProjectSerializer(serializers.Serializer):
    gold_share = serializers.FloatField()
    tasks = TaskCountSerializer(many=True)
    media = serializers.DictField(child=serializers.IntegerField(), help_text="Media files per kind.")
    labelling = LabellingSerializer()


class ProjectDetailSerializer(serializers.Serializer):
    slug = serializers.SlugField(source="project.slug")
    name = serializers.CharField(source="project.name")
    description = serializers.CharField(source="project.description")
    role = serializers.CharField()
    pair_count = serializers.IntegerField()
    votes_per_pair = serializers.IntegerField(source="project.votes_per_pair")
    reservation_minutes = serializers.IntegerField(source="project.reservation_minutes")
    must_view_share = serializers.FloatField(source="project.must_view_share", allow_null=True)
    criteria_per_comparison = serializers.IntegerField(source="project.criteria_per_comparison")
    writing_guidance = serializers.CharField(source="project.writing_guidance")
    tasks = serializers.ListField(
        child=serializers.CharField(), source="project.tasks", help_text="Empty: any of the nine tasks."
    )
    tie_kinds = serializers.BooleanField(
        source="project.tie_kinds", help_text="A tie vote must say its kind (`tie_kind`: both_good or both_bad)."
    )
    created_at = serializers.DateTimeField(source="project.created_at")
    curator = CuratorProjectSerializer(allow_null=True, help_text="Curators only; null for annotators.")


class ProjectSettingsSerializer(serializers.Serializer):
    """Every field optional on PATCH; the ranges are checked by the service, which names the field."""

    name = serializers.CharField(required=False, max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)
    votes_per_pair = serializers.IntegerField(required=False, help_text="Overlap k, 1 to 50.")
    reservation_minutes = serializers.IntegerField(required=False, help_text="1 to 1,440.")
    gold_share = serializers.FloatField(required=False, help_text="0 to 1.")
    must_view_share = serializers.FloatField(required=False, allow_null=True, help_text="0.01 to 1; null: off.")
    criteria_per_comparison = serializers.IntegerField(required=False, help_text="1 to 20.")
    writing_guidance = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)
    tasks = serializers.ListField(
        child=serializers.ChoiceField(choices=Task.choices),
        required=False,
        help_text="The tasks the benchmark holds; imports refuse rows of other tasks. Empty: any of the nine.",
    )
    tie_kinds = serializers.BooleanField(
        required=False,
        help_text="A tie also says whether both responses are good or both bad; releases add a tie_kind column. "
        "Default false.",
    )


class ProjectGateSerializer(GateSettingsSerializer):
    """The gate a new project starts with; what is left out takes the default rule's value."""

    min_votes = serializers.IntegerField(
        required=False, allow_null=True, default=None, max_value=1000, help_text="null or left out: the votes per pair."
    )
    min_majority_share = serializers.FloatField(
        required=False, default=round(_GATE_DEFAULT.min_majority_share, 4), help_text="Above 0.5 and at most 1."
    )
    tie_policy = serializers.ChoiceField(choices=TiePolicy.choices, required=False, default=_GATE_DEFAULT.tie_policy)


GATE_FIELDS = tuple(ProjectGateSerializer().fields)


class ProjectCreateSerializer(ProjectSettingsSerializer):
    """A new project: name required, the rest optional with the model's defaults; the service checks ranges."""

    name = serializers.CharField(max_length=200)
    slug = serializers.CharField(
        required=False, allow_blank=True, max_length=80, help_text="Letters, digits, hyphens; empty: from the name."
    )
    gate = ProjectGateSerializer(required=False, help_text="The agreement gate; left out: the default rule.")


# Members


class MemberSerializer(serializers.ModelSerializer[Membership]):
    username = serializers.CharField(source="user.username", read_only=True)
    joined = serializers.DateTimeField(source="created_at", read_only=True)

    class Meta:
        model = Membership
        fields = ("username", "role", "joined")


class MemberRoleSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=Role.choices)


class MemberWriteSerializer(MemberRoleSerializer):
    username = serializers.CharField(max_length=150)

    def validate_username(self, value: str) -> User:
        user = get_user_model().objects.filter(username=value).first()
        if user is None:
            raise serializers.ValidationError(f"No user named {value[:150]!r}.")
        return user


# Pairs (curators)


class PairFilterSerializer(serializers.Serializer):
    task = serializers.CharField(required=False, allow_blank=True, default="", help_text="Task code or config.")
    q = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=200, help_text="Text in id, prompt or criterion."
    )

    def validate_task(self, value: str) -> str:
        return _task_code(value)


_LABEL_HELP = f"{', '.join(Label.values)}; null: none."


class PairRowSerializer(serializers.ModelSerializer[Pair]):
    reference_label = serializers.CharField(allow_null=True, read_only=True, help_text=_LABEL_HELP)

    class Meta:
        model = Pair
        fields = ("id", "external_id", "task", "prompt", "criterion", "kind", "reference_label", "model1", "model2")


class RenditionSerializer(serializers.ModelSerializer[Rendition]):
    role = serializers.CharField(help_text=", ".join(RenditionRole.values))
    url = serializers.SerializerMethodField()

    class Meta:
        model = Rendition
        fields = ("role", "index", "content_type", "width", "height", "size_bytes", "url")

    def get_url(self, rendition: Rendition) -> str:
        if rendition.role == RenditionRole.FRAME:
            return _absolute(self.context, "media_pipeline:asset_frame", rendition.asset_id, rendition.index)
        return _absolute(self.context, "media_pipeline:asset_rendition", rendition.asset_id, rendition.role)


class CuratorMediaSerializer(serializers.ModelSerializer[MediaAsset]):
    kind = serializers.CharField(help_text=", ".join(MediaKind.values))
    status = serializers.CharField(help_text=", ".join(AssetStatus.values))
    url = serializers.SerializerMethodField(help_text="Browser-ready file; the original until processed.")
    original_url = serializers.SerializerMethodField()
    renditions = RenditionSerializer(many=True, read_only=True)

    class Meta:
        model = MediaAsset
        fields = (
            "id",
            "kind",
            "extension",
            "status",
            "error",
            "original_name",
            "size_bytes",
            "sha256",
            "url",
            "original_url",
            "renditions",
        )

    def get_url(self, asset: MediaAsset) -> str:
        return _absolute(self.context, "media_pipeline:asset_file", asset.id)

    def get_original_url(self, asset: MediaAsset) -> str:
        return _absolute(self.context, "media_pipeline:asset_rendition", asset.id, "original")


class PairDetailSerializer(serializers.ModelSerializer[Pair]):
    input_media = CuratorMediaSerializer(allow_null=True, read_only=True)
    response1_media = CuratorMediaSerializer(allow_null=True, read_only=True)
    response1_mesh = CuratorMediaSerializer(allow_null=True, read_only=True)
    response2_media = CuratorMediaSerializer(allow_null=True, read_only=True)
    response2_mesh = CuratorMediaSerializer(allow_null=True, read_only=True)
    import_job = serializers.UUIDField(source="import_job_id", allow_null=True, read_only=True)
    reference_label = serializers.CharField(allow_null=True, read_only=True, help_text=_LABEL_HELP)
    gold_label = serializers.CharField(allow_null=True, read_only=True, help_text=_LABEL_HELP)

    class Meta:
        model = Pair
        fields = (
            "id",
            "external_id",
            "task",
            "prompt",
            "criterion",
            "kind",
            "comparison",
            "input_media",
            "response1_text",
            "response1_media",
            "response1_mesh",
            "response2_text",
            "response2_media",
            "response2_mesh",
            "model1",
            "model2",
            "source",
            "reference_label",
            "gold_label",
            "media_ready",
            "claimed",
            "import_job",
            "created_at",
        )


# Imports (curators)


@extend_schema_field(OpenApiTypes.BINARY)
class UploadField(serializers.FileField):
    """A file upload, documented as the file part a request sends. drf-spectacular documents a plain
    FileField as it reads back (a URL), which told clients (and the fuzzer) to send a URL string."""


class ImportCreateSerializer(serializers.Serializer):
    data_file = UploadField(help_text="A release zip, a .jsonl or a .parquet file.")
    media_file = UploadField(required=False, allow_null=True, help_text="Zip of media for JSONL rows.")
    default_task = serializers.CharField(
        required=False, allow_blank=True, default="", help_text="Task for rows without one."
    )


class ImportJobSerializer(LeasedJobFields, serializers.ModelSerializer[ImportJob]):
    created_by = serializers.CharField(source="created_by.username", allow_null=True, read_only=True)
    default_task = serializers.CharField(read_only=True, help_text="Task for rows without one; blank: none.")
    job_action_name = "resume"

    class Meta:
        model = ImportJob
        fields: tuple[str, ...] = (
            "id",
            "status",
            *LeasedJobFields.job_fields,
            "data_name",
            "media_name",
            "default_task",
            "message",
            "summary",
            "problem_count",
            "created_by",
            "created_at",
            "started_at",
            "finished_at",
        )

    def job_action(self, job: ImportJob) -> tuple[str, dict[str, Any] | None]:
        return reverse("annotations-api:import-resume", args=[job.project.slug, job.id]), None


class ImportProgressSerializer(serializers.Serializer):
    phase = serializers.CharField()
    percent = serializers.IntegerField()
    done = serializers.IntegerField(required=False)
    total = serializers.IntegerField(required=False)


class ImportJobDetailSerializer(ImportJobSerializer):
    progress = serializers.SerializerMethodField()

    class Meta(ImportJobSerializer.Meta):
        fields = (*ImportJobSerializer.Meta.fields, "problems", "progress")

    @extend_schema_field(ImportProgressSerializer)
    def get_progress(self, job: ImportJob) -> dict[str, Any]:
        return self.context["progress"]


# Media pipeline (curators)


class FailedAssetSerializer(serializers.ModelSerializer[MediaAsset]):
    kind = serializers.CharField()

    class Meta:
        model = MediaAsset
        fields = ("id", "kind", "error", "attempts")


class RunningAssetSerializer(LeasedJobFields, serializers.ModelSerializer[MediaAsset]):
    kind = serializers.CharField()
    job_action_name = "retry"

    class Meta:
        model = MediaAsset
        fields = ("id", "kind", *LeasedJobFields.job_fields, "lease_until")

    def job_action(self, asset: MediaAsset) -> tuple[str, dict[str, Any] | None]:
        return reverse("annotations-api:media-retry", args=[self.context["project"].slug]), {"asset": asset.pk}


class MediaOverviewSerializer(serializers.Serializer):
    counts = serializers.DictField(
        child=serializers.IntegerField(), help_text=f"Media files per state: {', '.join(AssetStatus.values)}."
    )
    total = serializers.IntegerField()
    busy = serializers.BooleanField(help_text="Files are queued or being processed.")
    waiting_pairs = serializers.IntegerField(help_text="Pairs held out of the queue until their media are ready.")
    failures = FailedAssetSerializer(many=True, help_text="The first 50.")
    running = RunningAssetSerializer(many=True, help_text="The first 50.")


class RetryRequestSerializer(serializers.Serializer):
    asset = IdField(required=False, help_text="One asset; omit to retry all.")


class RetryResultSerializer(serializers.Serializer):
    queued = serializers.IntegerField()


# The annotator queue


class ShownMediaSerializer(serializers.Serializer):
    """A media file as an annotator gets it: its kind and permission-checked URLs, never a file name."""

    kind = serializers.CharField(help_text=", ".join(MediaKind.values))
    url = serializers.SerializerMethodField(help_text="The browser-ready rendition (needs a browser session).")
    poster = serializers.SerializerMethodField(help_text="Video: a poster frame.")
    peaks = serializers.SerializerMethodField(help_text="Audio: waveform peaks (JSON).")

    def get_url(self, asset: MediaAsset) -> str:
        return _absolute(self.context, "media_pipeline:asset_file", asset.id)

    def get_poster(self, asset: MediaAsset) -> str | None:
        if asset.kind != MediaKind.VIDEO or asset.status != AssetStatus.READY:
            return None
        return _absolute(self.context, "media_pipeline:asset_rendition", asset.id, RenditionRole.POSTER.value)

    def get_peaks(self, asset: MediaAsset) -> str | None:
        if asset.kind != MediaKind.AUDIO or asset.status != AssetStatus.READY:
            return None
        return _absolute(self.context, "media_pipeline:asset_rendition", asset.id, RenditionRole.PEAKS.value)


class ShownSideSerializer(serializers.Serializer):
    letter = serializers.CharField(help_text="A (left) or B (right): what `choice` refers to.")
    text = serializers.CharField(allow_null=True)
    media = ShownMediaSerializer(allow_null=True)
    mesh = ShownMediaSerializer(allow_null=True, help_text="3D: the mesh behind a rendered response.")


class QueuePairSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="pair.id")
    task = serializers.CharField(source="pair.task")
    task_label = serializers.CharField(source="pair.get_task_display")
    prompt = serializers.CharField(source="pair.prompt", help_text="Markdown.")
    criterion = serializers.CharField(source="pair.criterion", help_text="Judge by this.")
    input_media = ShownMediaSerializer(source="pair.input_media", allow_null=True)
    viewer = serializers.CharField(help_text="text, image, video, audio, mesh or mixed.")
    must_view_share = serializers.FloatField(
        allow_null=True,
        help_text="Set when votes are gated: send `coverage` with at least this share played (or orbited) per side.",
    )
    sides = ShownSideSerializer(many=True, help_text="A then B, in the order chosen for this annotator.")
    tie_kinds = serializers.BooleanField(help_text="A tie on this project must send its `tie_kind`.")


class QueueProgressSerializer(serializers.Serializer):
    done = serializers.IntegerField(help_text="Your live judgments.")
    remaining = serializers.IntegerField(help_text="Pairs still open to you, the one shown included.")
    more = serializers.BooleanField(help_text="More than `remaining` are left (counting stops at 500).")
    total = serializers.IntegerField()


class QueueTurnSerializer(serializers.Serializer):
    done = serializers.BooleanField(help_text="True: nothing is open to you now (`pair` is null).")
    pair = QueuePairSerializer(source="shown", allow_null=True)
    submission_id = serializers.UUIDField(allow_null=True, help_text="Send it with the vote on this pair.")
    progress = QueueProgressSerializer()
    waiting_for_media = serializers.IntegerField(help_text="Pairs that arrive once their media are processed.")


class ShareField(serializers.FloatField):
    """A share from 0 to 1. FloatField reads the string "nan" as NaN, which passes both bounds (every
    comparison with NaN is false) and then fails in the database: jsonb has no NaN (a 500 on PostgreSQL)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(min_value=0, max_value=1, **kwargs)

    def to_internal_value(self, data: Any) -> float:
        value = super().to_internal_value(data)
        if math.isnan(value):
            self.fail("invalid")
        return value


def tie_kind_field(**kwargs: Any) -> serializers.ChoiceField:
    """A tie's kind; empty for A/B and for ties on projects without tie kinds."""
    return serializers.ChoiceField(choices=TieKind.choices, allow_blank=True, **kwargs)


class QueueVoteSerializer(serializers.Serializer):
    pair = IdField()
    choice = serializers.ChoiceField(choices=CHOICES, help_text="The side you prefer as shown: A, B or tie.")
    tie_kind = tie_kind_field(
        required=False,
        default="",
        help_text="With a tie on a project with tie kinds (required there): both_good or both_bad. "
        "Refused (400) on A or B and on projects without tie kinds.",
    )
    submission_id = serializers.UUIDField(help_text="From the turn; a repeated request with it stores once.")
    rationale = serializers.CharField(required=False, allow_blank=True, default="", max_length=5000)
    elapsed_ms = serializers.IntegerField(required=False, allow_null=True, min_value=0, max_value=_MAX_TIME_MS)
    coverage = serializers.DictField(
        child=ShareField(),
        required=False,
        help_text='Gated projects: share played or orbited per side, like {"A": 1.0, "B": 0.95}.',
    )

    def validate_coverage(self, value: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(value) - {"A", "B"})
        if unknown:
            raise serializers.ValidationError(f"Unknown side {unknown[0][:10]!r}: coverage is per side, A and B.")
        return {side: round(share, 4) for side, share in value.items()}


class OwnJudgmentSerializer(serializers.ModelSerializer[Judgment]):
    """The annotator's own judgment, as they cast it: the side they chose, not the stored label."""

    pair = serializers.IntegerField(source="pair_id", read_only=True)
    choice = serializers.SerializerMethodField()
    tie_kind = tie_kind_field(read_only=True, help_text="A tie's kind; empty otherwise.")

    class Meta:
        model = Judgment
        fields = (
            "pair", "choice", "tie_kind", "rationale", "time_spent_ms", "submission_id", "created_at", "retracted_at",
        )  # fmt: skip

    @extend_schema_field(serializers.ChoiceField(choices=CHOICES))
    def get_choice(self, judgment: Judgment) -> str:
        return shown_choice(judgment.label, judgment.shown_order)


class QueueVoteResultSerializer(serializers.Serializer):
    judgment = OwnJudgmentSerializer()
    created = serializers.BooleanField(help_text="False: this repeated a vote already stored.")
    next = QueueTurnSerializer()


class QueueSkipSerializer(serializers.Serializer):
    pair = IdField()
    kind = serializers.ChoiceField(choices=SkipKind.choices, default=SkipKind.SKIP)
    reason = serializers.ChoiceField(
        choices=SkipReason.choices, required=False, help_text="Required to skip; a flag is for broken_media."
    )
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=500)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        reason = attrs.get("reason")
        if attrs["kind"] == SkipKind.FLAG:
            if reason not in (None, SkipReason.BROKEN_MEDIA):
                raise serializers.ValidationError({"reason": "A flag reports broken media: omit the reason."})
            attrs["reason"] = SkipReason.BROKEN_MEDIA
        elif reason is None:
            raise serializers.ValidationError({"reason": "Say why you skip this pair."})
        elif reason == SkipReason.BROKEN_MEDIA:
            raise serializers.ValidationError({"kind": "Broken media is reported with kind flag."})
        return attrs


class OwnSkipSerializer(serializers.ModelSerializer[PairSkip]):
    pair = serializers.IntegerField(source="pair_id", read_only=True)
    kind = serializers.CharField(read_only=True, help_text="skip, or flag for broken media.")

    class Meta:
        model = PairSkip
        fields = ("pair", "kind", "reason", "note", "created_at")


class QueueSkipResultSerializer(serializers.Serializer):
    skip = OwnSkipSerializer()
    next = QueueTurnSerializer()


class QueueUndoResultSerializer(serializers.Serializer):
    undone = OwnJudgmentSerializer(help_text="The withdrawn judgment; its pair is shown again first.")
    next = QueueTurnSerializer()


# Judgments (curators)


class JudgmentFilterSerializer(serializers.Serializer):
    pair = IdField(required=False, help_text="Pair id.")
    annotator = serializers.CharField(required=False, max_length=150, help_text="Username.")
    task = serializers.CharField(required=False, allow_blank=True, default="", help_text="Task code or config.")

    def validate_task(self, value: str) -> str:
        return _task_code(value)


class JudgmentSerializer(serializers.ModelSerializer[Judgment]):
    pair = serializers.IntegerField(source="pair_id", read_only=True)
    pair_external_id = serializers.CharField(source="pair.external_id", read_only=True)
    task = serializers.CharField(source="pair.task", read_only=True)
    annotator = serializers.CharField(source="annotator.username", read_only=True)
    choice = serializers.SerializerMethodField(help_text="The side the annotator pressed, as they saw it.")
    tie_kind = tie_kind_field(read_only=True, help_text="A tie's kind; empty otherwise.")

    class Meta:
        model = Judgment
        fields = (
            "id",
            "pair",
            "pair_external_id",
            "task",
            "annotator",
            "label",
            "shown_order",
            "choice",
            "tie_kind",
            "time_spent_ms",
            "rationale",
            "view_coverage",
            "created_at",
        )

    @extend_schema_field(serializers.ChoiceField(choices=CHOICES))
    def get_choice(self, judgment: Judgment) -> str:
        return shown_choice(judgment.label, judgment.shown_order)
