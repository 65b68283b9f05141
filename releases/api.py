"""The curators' API for label quality and releases: the same access check, selectors and services as the
htmx pages in views.py. Serializers validate requests and shape answers; the services decide.

`curator`, `refused` and `Conflict` are shared with judges/api.py.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Max, QuerySet
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import generics, serializers, status
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotations.access import get_project_for_curator
from annotations.models import Pair, Project, Task
from core.api import Conflict, request_user
from core.fields import IdField
from core.serializers import LeasedJobFields

from . import selectors
from .gate import LABELS, PairState
from .models import AnnotatorStatsReport, Decision, Release, ReleaseStatus, TiePolicy
from .selectors_annotators import AnnotatorTable, annotator_table, live_vote_count
from .services.annotator_stats import annotator_stats_refresh, annotator_stats_request
from .services.publish import (
    admitted,
    agreement_json,
    release_publish,
    release_rebuild,
    release_statistics,
    release_summary,
)
from .services.quality import adjudication_decide, gate_rule_update, pair_gold_set
from .views import archive_response

# --- shared with judges/api.py -------------------------------------------------------------------


def curator(request: Request, slug: str) -> tuple[Project, User]:
    """The access check every endpoint starts with: 404 for outsiders, 403 for annotators."""
    user = request_user(request)
    return get_project_for_curator(user, slug), user


class CuratorView(APIView):
    """Base of every view here: a method the view lacks is refused only after the access check, so an
    outsider gets 404 and an annotator 403 whatever the method, and a 405 tells only curators anything."""

    # DRF hands its own Request here; the stubs keep Django's HttpRequest signature.
    def http_method_not_allowed(self, request: Request, *args: Any, **kwargs: Any) -> Response:  # type: ignore[override]
        curator(request, kwargs["slug"])
        return super().http_method_not_allowed(request, *args, **kwargs)


def refused(exc: DjangoValidationError) -> serializers.ValidationError:
    """A service's refusal as a 400: messages under the field they name, the rest under non_field_errors."""
    return serializers.ValidationError(serializers.as_serializer_error(exc))


def valid(serializer_class: type[serializers.Serializer], data: Any) -> dict[str, Any]:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


# --- agreement -----------------------------------------------------------------------------------


class LabelCountsSerializer(serializers.Serializer):
    response1 = serializers.IntegerField()
    response2 = serializers.IntegerField()
    tie = serializers.IntegerField()


@extend_schema_field(LabelCountsSerializer)
class LabelCountsField(serializers.Field):
    """Counts in label order (response1, response2, tie) as an object."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(read_only=True, **kwargs)

    def to_representation(self, value: Any) -> dict[str, int]:
        return dict(zip(LABELS, (int(n) for n in value), strict=True))


class EstimateSerializer(serializers.Serializer):
    value = serializers.FloatField(allow_null=True, help_text="None when undefined; `note` says why.")
    low = serializers.FloatField(allow_null=True, help_text="95% bootstrap interval, when computed.")
    high = serializers.FloatField(allow_null=True)
    note = serializers.CharField(allow_blank=True)


class AgreementSerializer(serializers.Serializer):
    pairs = serializers.IntegerField()
    pairs_with_overlap = serializers.IntegerField()
    votes = serializers.IntegerField()
    alpha = EstimateSerializer(help_text="Krippendorff's alpha (nominal).")
    fleiss_kappa = EstimateSerializer()
    percent_agreement = EstimateSerializer()
    vote_labels = LabelCountsSerializer()


@extend_schema_field(AgreementSerializer)
class AgreementField(serializers.Field):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(read_only=True, **kwargs)

    def to_representation(self, value: Any) -> dict[str, Any]:
        return agreement_json(value)


class StatesSerializer(serializers.Serializer):
    needs_votes = serializers.IntegerField()
    accepted = serializers.IntegerField()
    disputed = serializers.IntegerField()
    excluded = serializers.IntegerField()


# --- the gate rule -------------------------------------------------------------------------------


class GateSettingsSerializer(serializers.Serializer):
    """Types only: the ranges are gate_rule_update's to decide (and to explain)."""

    min_votes = serializers.IntegerField(max_value=1000)
    min_majority_share = serializers.FloatField(help_text="Above 0.5 and at most 1 (0.6667 for two of three).")
    tie_policy = serializers.ChoiceField(choices=TiePolicy.choices)
    min_gold_accuracy = serializers.FloatField(
        allow_null=True, required=False, default=None, help_text="0 to 1; null: no quality bar."
    )
    min_gold_judged = serializers.IntegerField(required=False, default=5, max_value=10000)


class GateRuleSerializer(GateSettingsSerializer):
    updated_at = serializers.DateTimeField(read_only=True, allow_null=True, help_text="null: the default rule.")
    updated_by = serializers.CharField(source="updated_by.username", read_only=True, allow_null=True)


# --- the dashboard -------------------------------------------------------------------------------


class BootstrapQuerySerializer(serializers.Serializer):
    bootstrap = serializers.IntegerField(
        min_value=0, max_value=2000, default=1000, help_text="Bootstrap replicates for the intervals; 0: none."
    )


class TaskReportSerializer(serializers.Serializer):
    task = serializers.CharField()
    name = serializers.CharField()
    pairs = serializers.IntegerField()
    complete = serializers.IntegerField(help_text="Pairs with the project's votes per pair.")
    states = StatesSerializer(help_text="Gate state counts of the task's pairs.")
    released_labels = LabelCountsField(help_text="Accepted pairs per label.")
    agreement = AgreementField()
    both_bad = serializers.IntegerField(
        help_text="Of the accepted ties (released_labels.tie), those whose counted tie votes mostly say both "
        "responses fail the criterion; 0 on projects without tie kinds."
    )


class AnnotatorSerializer(serializers.Serializer):
    username = serializers.CharField(source="user.username")
    judgments = serializers.IntegerField(source="stats.judgments")
    median_time_ms = serializers.FloatField(source="stats.median_time_ms", allow_null=True)
    kappa = EstimateSerializer(
        source="stats.kappa", help_text="Cohen's kappa against the leave-one-out majority of the other votes."
    )
    kappa_compared = serializers.IntegerField(source="stats.compared")
    gold_judged = serializers.IntegerField(source="stats.gold_judged")
    gold_accuracy = EstimateSerializer(source="stats.gold_accuracy")
    tie_rate = serializers.FloatField(source="stats.tie_rate", allow_null=True)
    left_picks = serializers.IntegerField(source="stats.left_picks")
    sided_votes = serializers.IntegerField(source="stats.sided_votes")
    left_rate = serializers.FloatField(source="stats.left_rate", allow_null=True)
    left_p_value = serializers.FloatField(source="stats.left_p_value", allow_null=True)
    below_bar = serializers.BooleanField(help_text="Under the gate's quality bar: the votes are not counted.")


class AnnotatorStatsJobSerializer(LeasedJobFields):
    """The latest computation of the per-annotator table, reported like every background job."""

    status = serializers.CharField(help_text="queued, running, ready or failed; `state` says `stalled` for a dead run.")
    error = serializers.CharField(allow_blank=True)
    requested_at = serializers.DateTimeField()

    job_action_name = "recompute"

    def job_action(self, job: AnnotatorStatsReport) -> tuple[str, dict[str, Any] | None]:
        return reverse("releases-api:annotator-stats", args=[self.context["project"].slug]), None


class AnnotatorTableSerializer(serializers.Serializer):
    """How old the per-annotator table is: a background job computes it from every vote."""

    job = AnnotatorStatsJobSerializer(allow_null=True, help_text="null: never computed (no votes yet).")
    computed_at = serializers.DateTimeField(
        source="job.computed_at", allow_null=True, help_text="When its votes were read; null until the first run."
    )
    age_s = serializers.FloatField(source="age_seconds", allow_null=True)
    votes = serializers.IntegerField(allow_null=True, help_text="Live votes it was computed from.")
    votes_since = serializers.IntegerField(source="new_votes", help_text="Votes cast since (counted up to 10,000).")
    undone_since = serializers.IntegerField(source="undone")
    changed = serializers.BooleanField(help_text="Votes were cast or undone since it was computed.")
    updating = serializers.BooleanField(source="busy", help_text="A new table is waiting for a worker or computing.")
    recompute_url = serializers.SerializerMethodField(help_text="POST here to compute it again now.")

    def get_recompute_url(self, table: AnnotatorTable) -> str:
        path = reverse("releases-api:annotator-stats", args=[self.context["project"].slug])
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request is not None else path


class PooledLeftSerializer(serializers.Serializer):
    left_picks = serializers.IntegerField()
    sided_votes = serializers.IntegerField()
    p_value = serializers.FloatField(allow_null=True)


class CriterionRowSerializer(serializers.Serializer):
    pair_id = serializers.IntegerField()
    external_id = serializers.CharField()
    criterion = serializers.CharField()
    votes = LabelCountsField()
    label = serializers.CharField(allow_null=True, help_text="The accepted label, if any.")  # type: ignore[assignment]
    state = serializers.CharField()


class PromptGroupSerializer(serializers.Serializer):
    task = serializers.CharField()
    prompt = serializers.CharField()
    flips = serializers.BooleanField(help_text="Two criteria settle on opposite responses.")
    agreement = AgreementField()
    criteria = CriterionRowSerializer(many=True)


class DashboardSerializer(serializers.Serializer):
    judgments = serializers.IntegerField()
    gate = GateRuleSerializer(source="rule")
    states = StatesSerializer()
    overall = AgreementField()
    tasks = TaskReportSerializer(many=True)
    annotators = AnnotatorSerializer(
        source="annotators.rows",
        many=True,
        help_text="From the latest background computation (see annotator_stats); gold accuracy and below_bar are live.",
    )
    annotator_stats = AnnotatorTableSerializer(source="annotators")
    pooled_left = serializers.SerializerMethodField()
    prompt_groups = PromptGroupSerializer(many=True)
    prompt_group_count = serializers.IntegerField(help_text="As the statistics job found them (see annotator_stats).")
    prompt_groups_computed_at = serializers.DateTimeField(
        allow_null=True,
        help_text="When the groups' pairs were found; null until the statistics job first ran. Labels are live.",
    )

    @extend_schema_field(PooledLeftSerializer)
    def get_pooled_left(self, report: selectors.Dashboard) -> dict[str, Any]:
        picks, sided, p_value = report.pooled_left
        return {"left_picks": picks, "sided_votes": sided, "p_value": p_value}


# --- adjudication and gold -----------------------------------------------------------------------


class TaskQuerySerializer(serializers.Serializer):
    task = serializers.ChoiceField(choices=Task.choices, required=False, default="")


class DisputedPairSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="pair.id")
    external_id = serializers.CharField(source="pair.external_id")
    task = serializers.CharField(source="pair.task")
    prompt = serializers.CharField(source="pair.prompt")
    criterion = serializers.CharField(source="pair.criterion")
    votes = LabelCountsField(help_text="Votes that count under the gate rule.")


class PairBriefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    external_id = serializers.CharField()
    task = serializers.CharField()
    prompt = serializers.CharField()
    criterion = serializers.CharField()
    gold_label = serializers.CharField(allow_null=True)


class VoteSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    annotator = serializers.CharField(source="annotator.username")
    label = serializers.CharField()  # type: ignore[assignment]
    shown_order = serializers.CharField(help_text="12: response1 shown on the left; 21: response2.")
    time_spent_ms = serializers.IntegerField()
    rationale = serializers.CharField(allow_blank=True)
    created_at = serializers.DateTimeField()
    counted = serializers.SerializerMethodField()

    def get_counted(self, judgment: Any) -> bool:
        return judgment.id not in self.context["uncounted"]


class AdjudicationSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    decision = serializers.ChoiceField(choices=Decision.choices)
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=5000)
    decided_by = serializers.CharField(source="decided_by.username", read_only=True)
    decided_at = serializers.DateTimeField(read_only=True)


class PairVerdictSerializer(serializers.Serializer):
    pair = serializers.SerializerMethodField()
    state = serializers.CharField(source="state.key", help_text="needs_votes, accepted, disputed or excluded.")
    label = serializers.CharField(allow_null=True)  # type: ignore[assignment]
    source = serializers.CharField(help_text="Where the label comes from: none, votes, gold or adjudication.")  # type: ignore[assignment]
    counted = LabelCountsField(help_text="Votes that count under the gate rule.")
    share = serializers.FloatField(allow_null=True)
    why = serializers.CharField(help_text="The state in a sentence: what decided the pair, or what it lacks.")
    votes = VoteSerializer(source="judgments", many=True)
    decisions = AdjudicationSerializer(source="adjudications", many=True, help_text="Latest first; it counts.")

    @extend_schema_field(PairBriefSerializer)
    def get_pair(self, verdict: selectors.PairVerdict) -> dict[str, Any]:
        return dict(PairBriefSerializer(self.context["pair"]).data)


class GoldSerializer(serializers.Serializer):
    gold_label = serializers.CharField(allow_null=True, help_text="response1, response2, tie, or null: not gold.")


# --- releases ------------------------------------------------------------------------------------


def _next_version(project: Project) -> int:
    return (Release.objects.filter(project=project).aggregate(v=Max("version"))["v"] or 0) + 1


class TaskSummarySerializer(serializers.Serializer):
    pairs = serializers.IntegerField()
    labels = LabelCountsSerializer()


class ReleaseSummarySerializer(serializers.Serializer):
    pairs = serializers.IntegerField()
    labels = LabelCountsSerializer()
    tasks = serializers.DictField(child=TaskSummarySerializer(), help_text="By task code.")


class ReleaseStatisticsSerializer(serializers.Serializer):
    overall = AgreementSerializer(help_text="Counted votes of the admitted pairs.")
    tasks = serializers.DictField(child=AgreementSerializer())
    before_gate = AgreementSerializer(help_text="Every live vote of the project, before the gate.")


class ReleaseSerializer(LeasedJobFields):
    version = serializers.IntegerField()
    status = serializers.CharField(help_text="building, ready or failed; `state` says `stalled` for a dead build.")
    notes = serializers.CharField(allow_blank=True)
    pairs = serializers.IntegerField(source="summary.pairs", allow_null=True)
    created_by = serializers.CharField(source="created_by.username", allow_null=True)
    created_at = serializers.DateTimeField()
    built_at = serializers.DateTimeField(allow_null=True)
    url = serializers.SerializerMethodField()

    def get_url(self, release: Release) -> str:
        path = reverse("releases-api:release-detail", args=[release.project.slug, release.version])
        return self.context["request"].build_absolute_uri(path)

    job_action_name = "build again"

    def job_action(self, release: Release) -> tuple[str, dict[str, Any] | None]:
        return reverse("releases-api:release-rebuild", args=[release.project.slug, release.version]), None


class ReleaseDetailSerializer(ReleaseSerializer):
    error = serializers.CharField(allow_blank=True)
    gate = GateSettingsSerializer(help_text="The gate rule it was published under.")
    summary = ReleaseSummarySerializer()
    statistics = ReleaseStatisticsSerializer()
    archive_sha256 = serializers.CharField(allow_blank=True)
    archive_bytes = serializers.IntegerField(allow_null=True)
    download_url = serializers.SerializerMethodField()

    def get_download_url(self, release: Release) -> str | None:
        if release.status != ReleaseStatus.READY or not release.archive:
            return None
        path = reverse("releases-api:release-download", args=[release.project.slug, release.version])
        return self.context["request"].build_absolute_uri(path)


class PreviewSerializer(serializers.Serializer):
    next_version = serializers.IntegerField(help_text="Send it back as `version` to publish.")
    gate = GateSettingsSerializer()
    summary = ReleaseSummarySerializer()
    statistics = ReleaseStatisticsSerializer(allow_null=True, help_text="null while the gate admits no pair.")
    disputed = serializers.IntegerField()
    needs_votes = serializers.IntegerField()
    excluded = serializers.IntegerField()


class PublishSerializer(serializers.Serializer):
    version = IdField(help_text="The next_version the preview offered.")
    notes = serializers.CharField(required=False, allow_blank=True, default="", max_length=5000)
    flips_only = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Only pairs from comparisons whose settled label flips with the criterion (written criteria).",
    )


class CompareQuerySerializer(serializers.Serializer):
    old = IdField()
    new = IdField()


class DiffRowSerializer(serializers.Serializer):
    external_id = serializers.CharField()
    task = serializers.CharField()
    label = serializers.CharField()  # type: ignore[assignment]


class FlippedRowSerializer(DiffRowSerializer):
    old_label = serializers.CharField()


class DiffCountsSerializer(serializers.Serializer):
    added = serializers.IntegerField()
    removed = serializers.IntegerField()
    flipped = serializers.IntegerField()


class ReleaseDiffSerializer(DiffCountsSerializer):
    old = serializers.IntegerField(source="old.version")
    new = serializers.IntegerField(source="new.version")
    unchanged = serializers.IntegerField()
    per_task = serializers.DictField(child=DiffCountsSerializer())
    added_rows = DiffRowSerializer(many=True, help_text="At most 200 rows per list.")
    removed_rows = DiffRowSerializer(many=True)
    flipped_rows = FlippedRowSerializer(many=True)


# --- views ---------------------------------------------------------------------------------------

_REFUSED = OpenApiResponse(description="Invalid: messages by field, or under non_field_errors.")
_CONFLICT = OpenApiResponse(description="Conflict with the current state; `detail` says why.")


@extend_schema(tags=["quality"])
class StatisticsView(CuratorView):
    @extend_schema(
        operation_id="quality_statistics", parameters=[BootstrapQuerySerializer], responses=DashboardSerializer
    )
    def get(self, request: Request, slug: str) -> Response:
        project, _ = curator(request, slug)
        query = valid(BootstrapQuerySerializer, request.query_params)
        report = selectors.dashboard(project, bootstrap=query["bootstrap"])
        report.annotators = annotator_stats_refresh(project=project, table=report.annotators)
        context = {"project": project, "request": request}
        return Response(DashboardSerializer(report, context=context).data)


@extend_schema(tags=["quality"])
class AnnotatorStatsView(CuratorView):
    @extend_schema(
        operation_id="quality_annotator_stats_recompute",
        request=None,
        responses={202: AnnotatorTableSerializer, 409: _CONFLICT},
    )
    def post(self, request: Request, slug: str) -> Response:
        """Compute the per-annotator table again now (in the background); poll the statistics for it."""
        project, _ = curator(request, slug)
        if not annotator_stats_request(project=project, force=True):
            raise Conflict("The annotator table is already being computed.")
        table = annotator_table(project, live_votes=live_vote_count(project))
        context = {"project": project, "request": request}
        return Response(AnnotatorTableSerializer(table, context=context).data, status=status.HTTP_202_ACCEPTED)


@extend_schema(tags=["quality"])
class GateView(CuratorView):
    @extend_schema(operation_id="quality_gate_read", responses=GateRuleSerializer)
    def get(self, request: Request, slug: str) -> Response:
        project, _ = curator(request, slug)
        return Response(GateRuleSerializer(selectors.gate_rule(project)).data)

    @extend_schema(
        operation_id="quality_gate_update",
        request=GateSettingsSerializer,
        responses={200: GateRuleSerializer, 400: _REFUSED},
    )
    def put(self, request: Request, slug: str) -> Response:
        project, user = curator(request, slug)
        data = valid(GateSettingsSerializer, request.data)
        try:
            rule = gate_rule_update(project=project, user=user, **data)
        except DjangoValidationError as exc:
            raise refused(exc) from None
        return Response(GateRuleSerializer(rule).data)


@extend_schema(tags=["quality"])
class AdjudicationQueueView(CuratorView, generics.GenericAPIView):
    serializer_class = DisputedPairSerializer

    @cached_property
    def disputed(self) -> tuple[Project, selectors.QueuePairs]:
        # Computed once a request: the gate's outcome is costly, and the browsable API asks for the queryset again.
        project, _ = curator(self.request, self.kwargs["slug"])
        query = valid(TaskQuerySerializer, self.request.query_params)
        return project, selectors.disputed_pairs(project, task=query["task"])

    def get_queryset(self) -> Any:
        if getattr(self, "swagger_fake_view", False):
            return Pair.objects.none()
        return self.disputed[1]

    @extend_schema(
        operation_id="quality_disputed_list",
        parameters=[TaskQuerySerializer],
        responses=DisputedPairSerializer(many=True),
    )
    def get(self, request: Request, slug: str) -> Response:
        page = self.paginate_queryset(self.get_queryset()) or []
        counted = selectors.counted_votes(self.disputed[0], page)
        rows = [{"pair": pair, "votes": counted[pair.id]} for pair in page]
        return self.get_paginated_response(DisputedPairSerializer(rows, many=True).data)


@extend_schema(tags=["quality"])
class AdjudicationView(CuratorView):
    @extend_schema(operation_id="quality_pair_verdict", responses=PairVerdictSerializer)
    def get(self, request: Request, slug: str, pair_id: int) -> Response:
        project, _ = curator(request, slug)
        pair = get_object_or_404(Pair.objects.labelling(), project=project, id=pair_id)
        verdict = selectors.pair_verdict(project, pair)
        context = {"pair": pair, "uncounted": verdict.uncounted}
        return Response(PairVerdictSerializer(verdict, context=context).data)

    @extend_schema(
        operation_id="quality_pair_decide",
        request=AdjudicationSerializer,
        responses={201: AdjudicationSerializer, 400: _REFUSED},
    )
    def post(self, request: Request, slug: str, pair_id: int) -> Response:
        project, user = curator(request, slug)
        pair = get_object_or_404(Pair.objects.labelling(), project=project, id=pair_id)
        data = valid(AdjudicationSerializer, request.data)
        try:
            decision = adjudication_decide(pair=pair, user=user, decision=data["decision"], note=data["note"])
        except DjangoValidationError as exc:
            raise refused(exc) from None
        return Response(AdjudicationSerializer(decision).data, status=status.HTTP_201_CREATED)


@extend_schema(tags=["quality"])
class PairGoldView(CuratorView):
    @extend_schema(
        operation_id="quality_pair_gold", request=GoldSerializer, responses={200: PairBriefSerializer, 400: _REFUSED}
    )
    def put(self, request: Request, slug: str, pair_id: int) -> Response:
        project, _ = curator(request, slug)
        pair = get_object_or_404(Pair.objects.labelling(), project=project, id=pair_id)
        data = valid(GoldSerializer, request.data)
        try:
            pair = pair_gold_set(pair=pair, label=data["gold_label"])
        except DjangoValidationError as exc:
            raise refused(exc) from None
        return Response(PairBriefSerializer(pair).data)


@extend_schema(tags=["releases"])
class ReleaseListView(CuratorView, generics.GenericAPIView):
    serializer_class = ReleaseSerializer

    def get_serializer_class(self) -> type[serializers.Serializer]:
        # The browsable API draws its POST form from this: a publish takes a version and notes, not a release.
        return PublishSerializer if self.request.method == "POST" else ReleaseSerializer

    def get_queryset(self) -> QuerySet[Release]:
        if getattr(self, "swagger_fake_view", False):
            return Release.objects.none()
        project, _ = curator(self.request, self.kwargs["slug"])
        return selectors.releases(project).select_related("project")

    @extend_schema(operation_id="releases_list", responses=ReleaseSerializer(many=True))
    def get(self, request: Request, slug: str) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(ReleaseSerializer(page, many=True, context={"request": request}).data)

    @extend_schema(
        operation_id="releases_publish",
        request=PublishSerializer,
        responses={201: ReleaseDetailSerializer, 400: _REFUSED, 409: _CONFLICT},
    )
    def post(self, request: Request, slug: str) -> Response:
        project, user = curator(request, slug)
        data = valid(PublishSerializer, request.data)
        try:
            release = release_publish(
                project=project,
                user=user,
                notes=data["notes"],
                expected_version=data["version"],
                flips_only=data["flips_only"],
            )
        except DjangoValidationError as exc:
            # Versions only grow: one that is not the next now was already stale when the service refused it.
            if not hasattr(exc, "error_dict") and data["version"] != _next_version(project):
                raise Conflict(" ".join(exc.messages)) from None
            raise refused(exc) from None
        body = ReleaseDetailSerializer(release, context={"request": request}).data
        return Response(body, status=status.HTTP_201_CREATED)


@extend_schema(tags=["releases"])
class ReleasePreviewView(CuratorView):
    @extend_schema(operation_id="releases_preview", parameters=[BootstrapQuerySerializer], responses=PreviewSerializer)
    def get(self, request: Request, slug: str) -> Response:
        project, _ = curator(request, slug)
        query = valid(BootstrapQuerySerializer, request.query_params)
        votes, outcome = selectors.gate_outcome(project, selectors.vote_patterns(project))
        rows = admitted(outcome)
        statistics = None
        if len(rows):
            statistics = release_statistics(
                votes, outcome, rows, bootstrap=query["bootstrap"], k=project.votes_per_pair
            )
        preview = {
            "next_version": _next_version(project),
            "gate": selectors.gate_rule(project),
            "summary": release_summary(votes, outcome, rows),
            "statistics": statistics,
            **{key: n for key, n in selectors.states_of(votes, outcome).items() if key != PairState.ACCEPTED.key},
        }
        return Response(PreviewSerializer(preview).data)


def _release(request: Request, slug: str, version: int) -> tuple[Release, User]:
    project, user = curator(request, slug)
    return get_object_or_404(selectors.releases(project).select_related("project"), version=version), user


@extend_schema(tags=["releases"])
class ReleaseDetailView(CuratorView):
    @extend_schema(operation_id="releases_read", responses=ReleaseDetailSerializer)
    def get(self, request: Request, slug: str, version: int) -> Response:
        release, _ = _release(request, slug, version)
        return Response(ReleaseDetailSerializer(release, context={"request": request}).data)


@extend_schema(tags=["releases"])
class ReleaseDownloadView(CuratorView):
    def perform_content_negotiation(self, request: Request, force: bool = False) -> tuple[BaseRenderer, str]:
        # The answer is a zip or a redirect whatever the client accepts (no 406); errors come back as JSON.
        return super().perform_content_negotiation(request, force=True)

    @extend_schema(
        operation_id="releases_download",
        responses={
            (200, "application/zip"): OpenApiTypes.BINARY,
            302: OpenApiResponse(description="On S3: a short-lived presigned URL of the zip."),
            404: OpenApiResponse(description="No such release, or its archive is not built yet."),
        },
    )
    def get(self, request: Request, slug: str, version: int) -> HttpResponseBase:
        release, _ = _release(request, slug, version)
        return archive_response(release)


@extend_schema(tags=["releases"])
class ReleaseRebuildView(CuratorView):
    @extend_schema(
        operation_id="releases_rebuild", request=None, responses={202: ReleaseDetailSerializer, 409: _CONFLICT}
    )
    def post(self, request: Request, slug: str, version: int) -> Response:
        release, _ = _release(request, slug, version)
        if not release_rebuild(release=release):
            raise Conflict(f"Version {version} is built or its build is still running; nothing to do.")
        release.refresh_from_db()
        body = ReleaseDetailSerializer(release, context={"request": request}).data
        return Response(body, status=status.HTTP_202_ACCEPTED)


@extend_schema(tags=["releases"])
class ReleaseCompareView(CuratorView):
    @extend_schema(
        operation_id="releases_compare", parameters=[CompareQuerySerializer], responses=ReleaseDiffSerializer
    )
    def get(self, request: Request, slug: str) -> Response:
        project, _ = curator(request, slug)
        query = valid(CompareQuerySerializer, request.query_params)
        old = get_object_or_404(Release, project=project, version=query["old"])
        new = get_object_or_404(Release, project=project, version=query["new"])
        return Response(ReleaseDiffSerializer(selectors.release_diff(old, new)).data)
