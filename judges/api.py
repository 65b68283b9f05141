"""The curators' API for model judges: judges, their runs, imported results, the leaderboard, per-judge
diagnostics and hard pairs. Same access check, selectors and services as the htmx pages in views.py."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from django.urls import reverse
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import generics, serializers, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from annotations.api.serializers import UploadField
from annotations.models import Project
from core.api import Conflict
from core.serializers import LeasedJobFields
from releases.api import CuratorView, curator, refused, valid
from releases.gate import LABELS

from . import selectors
from .models import RUNNABLE, Judge, JudgeKind, JudgeRun, RunStatus
from .result_files import MAX_FILE_BYTES
from .services.imports import judge_import_upload
from .services.runs import judge_run_cancel, judge_run_resume, judge_run_start

_REFUSED = OpenApiResponse(description="Invalid: messages by field, or under non_field_errors.")
_CONFLICT = OpenApiResponse(description="Conflict with the current state; `detail` says why.")


@extend_schema_field({"type": "string"})
class KindField(serializers.ChoiceField):
    """Validates like a ChoiceField; documented as a string (help_text lists the values), because a "kind"
    enum would collide in the schema with the other apps' "kind" choice sets."""


# --- judges --------------------------------------------------------------------------------------


class JudgeSerializer(serializers.ModelSerializer):
    """A ModelSerializer so the model's field validators run (api_key_env: OMNI_JUDGE_* or listed names only)."""

    kind = KindField(
        choices=JudgeKind.choices,
        help_text=f"One of {', '.join(JudgeKind.values)}; a new judge is runnable: {', '.join(RUNNABLE)}.",
    )
    runnable = serializers.BooleanField(read_only=True)
    created_by = serializers.CharField(source="created_by.username", read_only=True, allow_null=True)

    class Meta:
        model = Judge
        fields = ["id", "name", "kind", "base_url", "model", "api_key_env", "concurrency", "timeout_s", "retries",
                  "requests_per_minute", "runnable", "created_by", "created_at"]  # fmt: skip
        read_only_fields = ["id", "created_at"]
        extra_kwargs = {
            "concurrency": {"min_value": 1, "max_value": 64},
            "timeout_s": {"max_value": 3600},
            "retries": {"max_value": 10},
        }

    def validate_kind(self, kind: str) -> str:
        if self.instance is None and kind not in RUNNABLE:
            raise serializers.ValidationError("Add a runnable judge here; imported results come through the import.")
        if self.instance is not None and kind != self.instance.kind:
            raise serializers.ValidationError("A judge's kind cannot change; add a new judge instead.")
        return kind

    def validate_timeout_s(self, timeout: float) -> float:
        if not timeout > 0:
            raise serializers.ValidationError("Between 0 and 3,600 seconds.")
        return timeout

    def validate_name(self, name: str) -> str:
        others = Judge.objects.filter(project=self.context["project"], name=name)
        if self.instance is not None:
            others = others.exclude(pk=self.instance.pk)
        if others.exists():
            raise serializers.ValidationError(f"A judge named {name!r} already exists in this project.")
        return name

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        def value(field: str) -> Any:
            return attrs[field] if field in attrs else getattr(self.instance, field, None)

        if value("kind") == JudgeKind.ENDPOINT:
            missing = {field: "An endpoint judge needs this." for field in ("base_url", "model") if not value(field)}
            if missing:
                raise serializers.ValidationError(missing)
        return attrs


def _judge(request: Request, slug: str, judge_id: int) -> tuple[Project, Judge, User]:
    project, user = curator(request, slug)
    return project, get_object_or_404(Judge.objects.select_related("created_by"), project=project, pk=judge_id), user


def _saved(serializer: JudgeSerializer, **extra: Any) -> Judge:
    try:
        with transaction.atomic():
            return serializer.save(**extra)
    except IntegrityError:  # a colleague saved the same name meanwhile (judge_unique_name)
        raise serializers.ValidationError(
            {"name": ["A judge with this name already exists in this project."]}
        ) from None


@extend_schema(tags=["judges"])
class JudgeListView(CuratorView, generics.GenericAPIView):
    serializer_class = JudgeSerializer

    def get_queryset(self) -> QuerySet[Judge]:
        if getattr(self, "swagger_fake_view", False):
            return Judge.objects.none()
        project, _ = curator(self.request, self.kwargs["slug"])
        return selectors.judges(project).select_related("created_by")

    @extend_schema(operation_id="judges_list", responses=JudgeSerializer(many=True))
    def get(self, request: Request, slug: str) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(JudgeSerializer(page, many=True).data)

    @extend_schema(
        operation_id="judges_create", request=JudgeSerializer, responses={201: JudgeSerializer, 400: _REFUSED}
    )
    def post(self, request: Request, slug: str) -> Response:
        project, user = curator(request, slug)
        serializer = JudgeSerializer(data=request.data, context={"project": project})
        serializer.is_valid(raise_exception=True)
        judge = _saved(serializer, project=project, created_by=user)
        return Response(JudgeSerializer(judge).data, status=status.HTTP_201_CREATED)


@extend_schema(tags=["judges"])
class JudgeDetailView(CuratorView):
    @extend_schema(operation_id="judges_read", responses=JudgeSerializer)
    def get(self, request: Request, slug: str, judge_id: int) -> Response:
        _, judge, _ = _judge(request, slug, judge_id)
        return Response(JudgeSerializer(judge).data)

    @extend_schema(
        operation_id="judges_update", request=JudgeSerializer, responses={200: JudgeSerializer, 400: _REFUSED}
    )
    def patch(self, request: Request, slug: str, judge_id: int) -> Response:
        project, judge, _ = _judge(request, slug, judge_id)
        serializer = JudgeSerializer(judge, data=request.data, partial=True, context={"project": project})
        serializer.is_valid(raise_exception=True)
        return Response(JudgeSerializer(_saved(serializer)).data)

    @extend_schema(operation_id="judges_delete", responses={204: None})
    def delete(self, request: Request, slug: str, judge_id: int) -> Response:
        _, judge, _ = _judge(request, slug, judge_id)
        judge.delete()  # its votes, scores and runs go with it; a job still running finds its run gone
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- runs ----------------------------------------------------------------------------------------


class RunRequestSerializer(serializers.Serializer):
    tasks = serializers.ListField(
        child=serializers.CharField(max_length=8), help_text="Task codes, e.g. T2T; judge_run_start checks them."
    )
    with_tie = serializers.BooleanField(default=False, help_text="Ask the with-tie question ([[C]] allowed).")
    both_orders = serializers.BooleanField(default=False, help_text="Also ask with the responses swapped.")


class JudgeRunSerializer(LeasedJobFields):
    id = serializers.IntegerField()
    judge = serializers.IntegerField(source="judge_id")
    tasks = serializers.ListField(child=serializers.CharField())
    with_tie = serializers.BooleanField()
    both_orders = serializers.BooleanField()
    status = serializers.CharField(help_text="queued, running, done, cancelled or failed.")
    total = serializers.IntegerField(help_text="Questions in the selection (pairs x orders).")
    done = serializers.IntegerField()
    failed = serializers.IntegerField()
    progress = serializers.SerializerMethodField()
    cancel_requested = serializers.BooleanField()
    error = serializers.CharField(allow_blank=True)
    created_by = serializers.CharField(source="created_by.username", allow_null=True)
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)

    def get_progress(self, run: JudgeRun) -> float | None:
        """Share of the questions answered; null until the run has counted them."""
        return run.done / run.total if run.total else None

    job_action_name = "resume"

    def job_action(self, run: JudgeRun) -> tuple[str, dict[str, Any] | None]:
        return reverse("judges-api:run-resume", args=[run.judge.project.slug, run.judge_id, run.pk]), None


def _run(request: Request, slug: str, judge_id: int, run_id: int) -> JudgeRun:
    _, judge, _ = _judge(request, slug, judge_id)
    return get_object_or_404(JudgeRun.objects.select_related("created_by"), judge=judge, pk=run_id)


@extend_schema(tags=["judges"])
class RunListView(CuratorView, generics.GenericAPIView):
    serializer_class = JudgeRunSerializer

    def get_serializer_class(self) -> type[serializers.Serializer]:
        # The browsable API draws its POST form from this: a run request, not a run.
        return RunRequestSerializer if self.request.method == "POST" else JudgeRunSerializer

    def get_queryset(self) -> QuerySet[JudgeRun]:
        if getattr(self, "swagger_fake_view", False):
            return JudgeRun.objects.none()
        _, judge, _ = _judge(self.request, self.kwargs["slug"], self.kwargs["judge_id"])
        return judge.runs.select_related("created_by").order_by("-created_at", "-id")

    @extend_schema(operation_id="judge_runs_list", responses=JudgeRunSerializer(many=True))
    def get(self, request: Request, slug: str, judge_id: int) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(JudgeRunSerializer(page, many=True, context={"request": request}).data)

    @extend_schema(
        operation_id="judge_runs_start",
        request=RunRequestSerializer,
        responses={202: JudgeRunSerializer, 400: _REFUSED, 409: _CONFLICT},
    )
    def post(self, request: Request, slug: str, judge_id: int) -> Response:
        _, judge, user = _judge(request, slug, judge_id)
        data = valid(RunRequestSerializer, request.data)
        try:
            run = judge_run_start(judge=judge, user=user, **data)
        except DjangoValidationError as exc:
            active = judge.runs.filter(status__in=[RunStatus.QUEUED, RunStatus.RUNNING]).exists()
            if not hasattr(exc, "error_dict") and active:  # busy: the one-active-run rule refused it
                raise Conflict(" ".join(exc.messages)) from None
            raise refused(exc) from None
        return Response(JudgeRunSerializer(run, context={"request": request}).data, status=status.HTTP_202_ACCEPTED)


@extend_schema(tags=["judges"])
class RunDetailView(CuratorView):
    @extend_schema(operation_id="judge_runs_read", responses=JudgeRunSerializer)
    def get(self, request: Request, slug: str, judge_id: int, run_id: int) -> Response:
        return Response(JudgeRunSerializer(_run(request, slug, judge_id, run_id), context={"request": request}).data)


@extend_schema(tags=["judges"])
class RunCancelView(CuratorView):
    @extend_schema(operation_id="judge_runs_cancel", request=None, responses={200: JudgeRunSerializer, 409: _CONFLICT})
    def post(self, request: Request, slug: str, judge_id: int, run_id: int) -> Response:
        run = _run(request, slug, judge_id, run_id)
        if not judge_run_cancel(run=run):
            raise Conflict("The run had already finished.")
        run.refresh_from_db()
        return Response(JudgeRunSerializer(run, context={"request": request}).data)


@extend_schema(tags=["judges"])
class RunResumeView(CuratorView):
    @extend_schema(operation_id="judge_runs_resume", request=None, responses={202: JudgeRunSerializer, 409: _CONFLICT})
    def post(self, request: Request, slug: str, judge_id: int, run_id: int) -> Response:
        run = _run(request, slug, judge_id, run_id)
        if not judge_run_resume(run=run):
            raise Conflict("The run is still going.")
        run.refresh_from_db()
        return Response(JudgeRunSerializer(run, context={"request": request}).data, status=status.HTTP_202_ACCEPTED)


# --- imported results ----------------------------------------------------------------------------


class ResultImportSerializer(serializers.Serializer):
    kind = KindField(
        choices=[("preferences", "Preferences: {model}_preferences(_with_tie).json"), ("scores", "Scalar scores")],
        help_text="preferences: {model}_preferences(_with_tie).json(l); scores: scalar scores per response.",
    )
    file = UploadField(help_text="JSON, JSONL or CSV (scores); records matched to pairs by id.")
    model = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=120, help_text="If the file name does not say it."
    )
    with_tie = serializers.BooleanField(
        required=False,
        allow_null=True,
        default=None,
        help_text="Preferences: answers to the with-tie question; empty: from the file name (…_with_tie).",
    )
    inversed = serializers.BooleanField(
        required=False,
        allow_null=True,
        default=None,
        help_text="Preferences: the responses were shown swapped (response2 first), as in the paper's _inversed "
        "runs; the answers count toward position consistency. Empty: from the file name.",
    )

    def validate_file(self, upload: Any) -> Any:
        if upload.size > MAX_FILE_BYTES:
            raise serializers.ValidationError(f"{upload.name} is over the {MAX_FILE_BYTES // 2**20} MB limit.")
        return upload


class ImportedFileSerializer(serializers.Serializer):
    file = serializers.CharField(help_text="The file's path inside the upload.")
    model = serializers.CharField(source="judge.name")
    judge = serializers.IntegerField(source="judge.pk")
    kind = serializers.CharField(help_text="preferences or scores.")
    with_tie = serializers.BooleanField(allow_null=True)
    inversed = serializers.BooleanField()
    added = serializers.IntegerField()
    replaced = serializers.IntegerField(help_text="Answers for these pairs that the file replaced.")
    unmatched_count = serializers.IntegerField(help_text="Ids that are not pairs of this project (left out).")
    unmatched = serializers.ListField(child=serializers.CharField(), help_text="The first 50 of them.")


class ImportedSerializer(serializers.Serializer):
    judge = JudgeSerializer(source="first_judge", help_text="The first judge the import touched.")
    judges = JudgeSerializer(many=True)
    rows = serializers.IntegerField(help_text="Results imported (a file replaces only its own pairs' answers).")
    files = ImportedFileSerializer(many=True)
    skipped = serializers.ListField(child=serializers.CharField(), help_text="Files that are not results files.")


@extend_schema(tags=["judges"])
class ResultImportView(CuratorView):
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(
        operation_id="judges_import",
        request=ResultImportSerializer,
        responses={201: ImportedSerializer, 400: OpenApiResponse(description="`file`: the problem lines.")},
    )
    def post(self, request: Request, slug: str) -> Response:
        project, user = curator(request, slug)
        data = valid(ResultImportSerializer, request.data)
        upload = data["file"]
        try:
            summary = judge_import_upload(
                project=project,
                user=user,
                kind=data["kind"],
                upload=upload,
                model=data["model"] or None,
                with_tie=data["with_tie"],
                inversed=data["inversed"],
            )
        except DjangoValidationError as exc:
            raise serializers.ValidationError({"file": exc.messages}) from None
        body = ImportedSerializer(summary).data
        return Response(body, status=status.HTTP_201_CREATED)


# --- the leaderboard and diagnostics -------------------------------------------------------------


class TruthQuerySerializer(serializers.Serializer):
    truth = serializers.CharField(
        required=False,
        max_length=40,
        help_text="imported (the labels imported with the pairs), gate (live accepted labels) or release:<version>. "
        "Default: gate, or imported in a project whose pairs came with labels and that has no accepted label yet.",
    )
    release = serializers.IntegerField(
        required=False, min_value=1, max_value=2**31 - 1, help_text="Older spelling of truth=release:<version>."
    )


def _truth(project: Project, request: Request) -> selectors.TruthChoice | None:
    query = valid(TruthQuerySerializer, request.query_params)
    release = str(query["release"]) if query.get("release") else None
    try:
        return selectors.parse_truth(project, query.get("truth"), release)
    except DjangoValidationError as exc:
        raise serializers.ValidationError({"truth": exc.messages}) from None


class CellSerializer(serializers.Serializer):
    accuracy = serializers.FloatField(allow_null=True)
    correct = serializers.IntegerField()
    n = serializers.IntegerField()
    low = serializers.FloatField(allow_null=True, help_text="95% Wilson interval, lower bound.")
    high = serializers.FloatField(allow_null=True, help_text="95% Wilson interval, upper bound.")


class BoardRowSerializer(serializers.Serializer):
    model = serializers.CharField(source="name")
    kind = serializers.CharField(help_text="human for the annotators' row, else the judge's kind.")
    overall = serializers.FloatField(source="table.overall", allow_null=True, help_text="Mean of the task accuracies.")
    overall_low = serializers.FloatField(
        source="table.overall_low", allow_null=True, help_text="95% bootstrap interval over pairs within tasks."
    )
    overall_high = serializers.FloatField(source="table.overall_high", allow_null=True)
    tasks = serializers.DictField(child=CellSerializer(), source="table.cells")
    thresholds = serializers.DictField(
        child=serializers.FloatField(), allow_null=True, help_text="Scalar judges, w/ Tie: the tie threshold per task."
    )
    note = serializers.CharField(help_text="Why the row has no score, when it has none.")


class BoardSerializer(serializers.Serializer):
    """The same figures as the page's leaderboard.json export."""

    truth = serializers.CharField(source="truth.param", help_text="imported, gate or release:<version>.")
    human_labels = serializers.CharField(source="source")
    pairs = serializers.IntegerField()
    tasks = serializers.ListField(child=serializers.CharField())
    task_pairs = serializers.DictField(child=serializers.IntegerField(), help_text="Pairs per task in the truth.")
    with_tie = BoardRowSerializer(many=True)
    without_tie = BoardRowSerializer(many=True)


@extend_schema(tags=["leaderboard"])
class LeaderboardView(CuratorView):
    @extend_schema(
        operation_id="leaderboard_read",
        parameters=[TruthQuerySerializer],
        responses={200: BoardSerializer, 400: _REFUSED},
    )
    def get(self, request: Request, slug: str) -> Response:
        project, _ = curator(request, slug)
        return Response(BoardSerializer(selectors.leaderboard(project, _truth(project, request))).data)


class ConfusionSerializer(serializers.Serializer):
    human = serializers.ListField(child=serializers.CharField(), help_text="Row labels.")
    predicted = serializers.ListField(child=serializers.CharField(), help_text="Column labels; none: no answer.")
    counts = serializers.ListField(child=serializers.ListField(child=serializers.IntegerField()))


class ConsistencySerializer(serializers.Serializer):
    value = serializers.FloatField(allow_null=True, help_text="Share of verdicts that survive swapping the seats.")
    pairs = serializers.IntegerField()


class LengthBucketSerializer(serializers.Serializer):
    label = serializers.CharField()  # type: ignore[assignment]
    low = serializers.FloatField()
    high = serializers.FloatField()
    n = serializers.IntegerField()
    accuracy = CellSerializer(help_text="w/o Tie accuracy over the bucket's non-tie human pairs.")
    model_longer = serializers.FloatField(allow_null=True)
    model_sided = serializers.IntegerField()
    human_longer = serializers.FloatField(allow_null=True)
    human_sided = serializers.IntegerField()


def _confusion(matrix: Any) -> dict[str, Any] | None:
    if matrix is None:
        return None
    return {"human": list(LABELS), "predicted": [*LABELS, "none"], "counts": matrix.tolist()}


class JudgeQuestionSerializer(serializers.Serializer):
    with_tie = serializers.BooleanField()
    answered = serializers.IntegerField()
    failed = serializers.IntegerField()
    kappa = serializers.FloatField(allow_null=True, help_text="Cohen's kappa against the truth.")
    confusion = serializers.SerializerMethodField()

    @extend_schema_field(ConfusionSerializer(allow_null=True))
    def get_confusion(self, view: selectors.QuestionView) -> dict[str, Any] | None:
        return _confusion(view.confusion)


class McNemarSerializer(serializers.Serializer):
    n = serializers.IntegerField(help_text="Pairs compared.")
    a_only = serializers.IntegerField(help_text="Pairs only this judge got right.")
    b_only = serializers.IntegerField(help_text="Pairs only the other judge got right.")
    p_value = serializers.FloatField(help_text="Exact two-sided McNemar test.")


class PairedTestSerializer(serializers.Serializer):
    tasks = serializers.DictField(child=McNemarSerializer())
    overall = McNemarSerializer(help_text="All pairs pooled.")


class JudgeComparisonSerializer(serializers.Serializer):
    other = serializers.IntegerField(source="other.pk")
    other_name = serializers.CharField(source="other.name")
    pairs = serializers.DictField(child=serializers.IntegerField(), help_text="Pairs both answered, per question.")
    questions = serializers.DictField(child=PairedTestSerializer(), help_text="w/ Tie and w/o Tie.")


class ModelReportSerializer(serializers.Serializer):
    judge = serializers.IntegerField(source="judge.pk")
    name = serializers.CharField(source="judge.name")
    truth = serializers.CharField(source="truth.param")
    human_labels = serializers.CharField(source="truth.source")
    with_tie = serializers.BooleanField(help_text="The first question's figures below are the with-tie question's.")
    answered = serializers.IntegerField()
    failed = serializers.IntegerField()
    kappa = serializers.FloatField(allow_null=True)
    confusion = serializers.SerializerMethodField()
    questions = JudgeQuestionSerializer(many=True, help_text="Each question the judge answered (scalar judges: both).")
    thresholds = serializers.DictField(
        child=serializers.FloatField(), allow_null=True, help_text="Scalar judges: the tie threshold per task."
    )
    consistency = serializers.SerializerMethodField()
    length = LengthBucketSerializer(many=True)
    comparison = JudgeComparisonSerializer(allow_null=True, required=False, help_text="With ?compare=<judge id>.")

    @extend_schema_field(ConfusionSerializer(allow_null=True))
    def get_confusion(self, report: selectors.ModelReport) -> dict[str, Any] | None:
        return _confusion(report.confusion)

    @extend_schema_field(ConsistencySerializer)
    def get_consistency(self, report: selectors.ModelReport) -> dict[str, Any]:
        value, pairs = report.consistency
        return {"value": value, "pairs": pairs}


class ReportQuerySerializer(TruthQuerySerializer):
    compare = serializers.IntegerField(
        required=False, min_value=1, max_value=2**31 - 1, help_text="Another judge's id: McNemar on shared pairs."
    )


@extend_schema(tags=["leaderboard"])
class ModelReportView(CuratorView):
    @extend_schema(
        operation_id="judges_report",
        parameters=[ReportQuerySerializer],
        responses={200: ModelReportSerializer, 400: _REFUSED},
    )
    def get(self, request: Request, slug: str, judge_id: int) -> Response:
        project, judge, _ = _judge(request, slug, judge_id)
        choice = _truth(project, request)
        other_id = valid(ReportQuerySerializer, request.query_params).get("compare")
        truth = selectors.resolve_truth(project, choice)
        report = selectors.model_report(judge, truth)
        body = ModelReportSerializer(report).data
        if other_id is not None:
            other = get_object_or_404(Judge, project=project, pk=other_id)
            body["comparison"] = JudgeComparisonSerializer(selectors.compare_judges(judge, other, truth)).data
        return Response(body)


class HardPairSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="pair.id")
    external_id = serializers.CharField(source="pair.external_id")
    task = serializers.CharField(source="pair.task")
    human = serializers.CharField(help_text="The humans' label.")
    wrong = serializers.IntegerField(help_text="Judges that disagree with it.")
    answered = serializers.IntegerField()
    answers = serializers.DictField(child=serializers.CharField(), help_text="Each judge's answer, by name.")


class HardPairsSerializer(serializers.Serializer):
    total = serializers.IntegerField()
    pairs = HardPairSerializer(many=True, help_text="At most 200, hardest first.")


@extend_schema(tags=["leaderboard"])
class HardPairsView(CuratorView):
    @extend_schema(
        operation_id="leaderboard_hard_pairs", parameters=[TruthQuerySerializer], responses=HardPairsSerializer
    )
    def get(self, request: Request, slug: str) -> Response:
        project, _ = curator(request, slug)
        found, total = selectors.hard_pairs(project, selectors.resolve_truth(project, _truth(project, request)))
        return Response(HardPairsSerializer({"total": total, "pairs": found}).data)
