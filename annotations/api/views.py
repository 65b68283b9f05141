"""The annotations API: what a person can do in the annotations pages, for scripts.

Every view checks access before anything else (before parsing, validation or pagination), so an
outsider gets 404 and an annotator 403 on curator endpoints whatever they send. The queue views
call the same service functions as the annotator's workspace, in the same order, and answer with
the annotator's shapes from `serializers` only.
"""

from __future__ import annotations

import uuid
from typing import Any, ClassVar

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Prefetch, QuerySet
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api import Conflict, request_user
from media_pipeline import pipeline
from media_pipeline.models import Rendition

from .. import selectors
from ..access import get_project_for_curator, get_project_for_member, require_project_creator
from ..models import ImportJob, Judgment, Membership, Pair, Project, Role
from ..services.import_jobs import import_job_create, import_job_resume, import_progress
from ..services.media_ready import pairs_media_refresh_waiting
from ..services.members import MembershipError, membership_remove, membership_role_change, membership_set
from ..services.projects import project_create, project_settings_update
from ..services.queue import (
    AlreadyJudged,
    QueueError,
    Vote,
    record_skip,
    record_vote,
    undo_last,
)
from ..services.turns import QueueTurn, queue_turn
from . import serializers as s

_INVALID = OpenApiResponse(description="Invalid: messages by field name.")
_FORBIDDEN = OpenApiResponse(description="Refused: you may not do this (see `detail`).")
_CONFLICT = OpenApiResponse(
    description="Refused in the current state (the queue, or a project's last curator): see `detail`."
)


def _query(serializer_class: type[s.serializers.Serializer], request: Request) -> dict[str, Any]:
    """Validated query parameters; a bad one is a 400 that names it."""
    params = serializer_class(data=request.query_params)
    params.is_valid(raise_exception=True)
    return dict(params.validated_data)


class ProjectScoped(APIView):
    """Loads the project named in the URL through the access helpers, before anything else runs."""

    curators_only: ClassVar[bool] = True
    project: Project
    role: str

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)  # authentication and IsAuthenticated
        if self.curators_only:
            self.project, self.role = get_project_for_curator(request.user, kwargs["slug"]), Role.CURATOR
        else:
            self.project, self.role = get_project_for_member(request.user, kwargs["slug"])


# Projects


class ProjectListView(generics.GenericAPIView[Project]):
    """Projects you belong to, with your role and their pair count; staff see every project."""

    serializer_class = s.ProjectSummarySerializer

    def get_queryset(self) -> list[selectors.ProjectRow]:  # type: ignore[override]  # DRF takes any iterable
        return selectors.projects_for_user(self.request.user)

    @extend_schema(responses=s.ProjectSummarySerializer(many=True))
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    @extend_schema(
        request=s.ProjectCreateSerializer,
        responses={201: s.ProjectDetailSerializer, 400: _INVALID, 403: _FORBIDDEN},
        description="Create a project (staff, or the 'create projects' permission); you become its curator. "
        "Settings left out take their defaults; a `gate` sets the agreement gate (else the default rule).",
    )
    def post(self, request: Request) -> Response:
        require_project_creator(request.user)
        form = s.ProjectCreateSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = dict(form.validated_data)
        name, slug, gate = data.pop("name"), data.pop("slug", ""), data.pop("gate", None)
        try:
            project = project_create(user=request_user(request), name=name, slug=slug, settings=data, gate=gate)
        except DjangoValidationError as exc:
            # The gate's refusals name its fields: answer under "gate", where the request put them.
            errors = exc.message_dict
            gate_errors = {field: errors.pop(field) for field in list(errors) if field in s.GATE_FIELDS}
            raise ValidationError({**errors, **({"gate": gate_errors} if gate_errors else {})}) from exc
        return Response(s.ProjectDetailSerializer(_project_detail(project, Role.CURATOR)).data, status=201)


def _project_detail(project: Project, role: str) -> dict[str, Any]:
    """What ProjectDetailSerializer shows of a project to someone with this role."""
    curator = None
    if role == Role.CURATOR:
        curator = {
            "gold_share": project.gold_share,
            "tasks": selectors.task_counts(project),
            "media": selectors.project_media_counts(project),
            "labelling": selectors.annotation_overview(project, flag_limit=0),
        }
    return {
        "project": project,
        "role": role,
        "pair_count": project.pairs.labelling().count(),
        "curator": curator,
    }


class ProjectDetailView(ProjectScoped):
    curators_only = False

    @extend_schema(responses=s.ProjectDetailSerializer)
    def get(self, request: Request, slug: str) -> Response:
        return Response(s.ProjectDetailSerializer(_project_detail(self.project, self.role)).data)


class ProjectSettingsView(ProjectScoped):
    @extend_schema(responses=s.ProjectSettingsSerializer, description="The project's settings (curators).")
    def get(self, request: Request, slug: str) -> Response:
        return Response(s.ProjectSettingsSerializer(self.project).data)

    @extend_schema(
        request=s.ProjectSettingsSerializer,
        responses={200: s.ProjectSettingsSerializer, 400: _INVALID},
        description="Change some settings; a value out of range is a 400 naming the field, and nothing is saved.",
    )
    def patch(self, request: Request, slug: str) -> Response:
        form = s.ProjectSettingsSerializer(data=request.data, partial=True)
        form.is_valid(raise_exception=True)
        try:
            project_settings_update(project=self.project, changes=dict(form.validated_data))
        except DjangoValidationError as exc:
            raise ValidationError(exc.message_dict) from exc
        return Response(s.ProjectSettingsSerializer(self.project).data)


# Members


class MemberListView(ProjectScoped, generics.ListAPIView[Membership]):
    serializer_class = s.MemberSerializer

    def get_queryset(self) -> QuerySet[Membership]:
        if getattr(self, "swagger_fake_view", False):
            return Membership.objects.none()
        return selectors.project_members(self.project)

    @extend_schema(
        request=s.MemberWriteSerializer,
        responses={201: s.MemberSerializer, 200: s.MemberSerializer, 400: _INVALID, 409: _CONFLICT},
        description="Add a member, or change a member's role (200). A project keeps at least one curator (409).",
    )
    def post(self, request: Request, slug: str) -> Response:
        form = s.MemberWriteSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        try:
            membership, created = membership_set(
                project=self.project, user=form.validated_data["username"], role=form.validated_data["role"]
            )
        except MembershipError as exc:
            raise Conflict(str(exc)) from exc
        return Response(s.MemberSerializer(membership).data, status=201 if created else 200)


class MemberDetailView(ProjectScoped):
    def _membership(self, username: str) -> Membership:
        if "\x00" in username:  # no username holds a NUL, and PostgreSQL refuses one in a query (a 500)
            raise NotFound("No such member.")
        members = Membership.objects.select_related("user")
        return get_object_or_404(members, project=self.project, user__username=username)

    @extend_schema(
        request=s.MemberRoleSerializer,
        responses={200: s.MemberSerializer, 400: _INVALID, 409: _CONFLICT},
        description="Change a member's role. A project keeps at least one curator (409).",
    )
    def patch(self, request: Request, slug: str, username: str) -> Response:
        membership = self._membership(username)
        form = s.MemberRoleSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        try:
            membership = membership_role_change(membership=membership, role=form.validated_data["role"])
        except MembershipError as exc:
            raise Conflict(str(exc)) from exc
        return Response(s.MemberSerializer(membership).data)

    @extend_schema(
        responses={204: None, 409: _CONFLICT}, description="Remove a member; their reserved pairs go back to the queue."
    )
    def delete(self, request: Request, slug: str, username: str) -> Response:
        try:
            membership_remove(membership=self._membership(username))
        except MembershipError as exc:
            raise Conflict(str(exc)) from exc
        return Response(status=204)


# Pairs


class PairListView(ProjectScoped, generics.ListAPIView[Pair]):
    """Pairs with model names and imported labels, 100 a page, filtered by task and text."""

    serializer_class = s.PairRowSerializer

    @extend_schema(parameters=[s.PairFilterSerializer], responses={200: s.PairRowSerializer(many=True), 400: _INVALID})
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self) -> QuerySet[Pair]:
        if getattr(self, "swagger_fake_view", False):
            return Pair.objects.none()
        params = _query(s.PairFilterSerializer, self.request)
        return selectors.pair_list(self.project, task=params["task"], query=params["q"].strip())


class PairDetailView(ProjectScoped, generics.RetrieveAPIView[Pair]):
    serializer_class = s.PairDetailSerializer

    def get_object(self) -> Pair:
        media = Pair.MEDIA_FIELDS
        renditions = Rendition.objects.order_by("role", "index")
        pairs = Pair.objects.select_related(*media).prefetch_related(
            *(Prefetch(f"{name}__renditions", queryset=renditions) for name in media)
        )
        return get_object_or_404(pairs, project=self.project, id=self.kwargs["pair_id"])


# Imports


class ImportListView(ProjectScoped, generics.ListAPIView[ImportJob]):
    serializer_class = s.ImportJobSerializer
    parser_classes = [MultiPartParser, FormParser]

    def get_queryset(self) -> QuerySet[ImportJob]:
        if getattr(self, "swagger_fake_view", False):
            return ImportJob.objects.none()
        return (
            ImportJob.objects.filter(project=self.project)
            .select_related("created_by", "project")
            .order_by("-created_at")
        )

    @extend_schema(
        request=s.ImportCreateSerializer,
        responses={202: s.ImportJobSerializer, 400: _INVALID},
        description="Store the upload and queue the import job; follow it at imports/<id>/.",
    )
    def post(self, request: Request, slug: str) -> Response:
        form = s.ImportCreateSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        try:
            job = import_job_create(
                project=self.project,
                user=request_user(request),
                data_upload=form.validated_data["data_file"],
                media_upload=form.validated_data.get("media_file"),
                default_task=form.validated_data["default_task"],
            )
        except DjangoValidationError as exc:
            raise ValidationError(exc.message_dict if hasattr(exc, "error_dict") else exc.messages) from exc
        return Response(s.ImportJobSerializer(job, context={"request": request}).data, status=202)


class ImportDetailView(ProjectScoped):
    @extend_schema(responses=s.ImportJobDetailSerializer)
    def get(self, request: Request, slug: str, job_id: uuid.UUID) -> Response:
        job = get_object_or_404(
            ImportJob.objects.select_related("created_by", "project"), project=self.project, id=job_id
        )
        context = {"progress": import_progress(job), "request": request}
        return Response(s.ImportJobDetailSerializer(job, context=context).data)


class ImportResumeView(ProjectScoped):
    @extend_schema(
        request=None,
        responses={202: s.ImportJobSerializer, 409: _CONFLICT},
        description="Run a stalled import again (its worker went away); 409 unless it is stalled.",
    )
    def post(self, request: Request, slug: str, job_id: uuid.UUID) -> Response:
        job = get_object_or_404(ImportJob, project=self.project, id=job_id)
        if not import_job_resume(job=job):
            raise Conflict("This import is not stalled (it is queued, running or finished); nothing to resume.")
        job.refresh_from_db()
        return Response(s.ImportJobSerializer(job, context={"request": request}).data, status=202)


# Media pipeline


class MediaView(ProjectScoped):
    @extend_schema(responses=s.MediaOverviewSerializer)
    def get(self, request: Request, slug: str) -> Response:
        pairs_media_refresh_waiting(Pair.objects.filter(project=self.project))  # as the page does
        overview = selectors.pipeline_overview(self.project)
        context = {"request": request, "project": self.project}
        return Response(s.MediaOverviewSerializer(overview, context=context).data)


class MediaRetryView(ProjectScoped):
    @extend_schema(
        request=s.RetryRequestSerializer,
        responses={200: s.RetryResultSerializer, 400: _INVALID},
        description="Queue failed media again (one asset, or all of the project's), and those whose worker died.",
    )
    def post(self, request: Request, slug: str) -> Response:
        form = s.RetryRequestSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        assets = selectors.project_assets(self.project)
        if "asset" in form.validated_data:
            assets = assets.filter(pk=form.validated_data["asset"])
        return Response({"queued": pipeline.retry(assets.values_list("pk", flat=True))})


# The annotator queue


def _turn(request: Request, project: Project) -> QueueTurn:
    return queue_turn(project, request_user(request))


class QueueNextView(ProjectScoped):
    curators_only = False

    @extend_schema(
        responses=s.QueueTurnSerializer,
        description="Reserve and show your next pair (the same one until you vote, skip or it expires). "
        'An empty queue is a 200 with "done": true and "pair": null.',
    )
    def get(self, request: Request, slug: str) -> Response:
        return Response(s.QueueTurnSerializer(_turn(request, self.project), context={"request": request}).data)


class QueueVoteView(ProjectScoped):
    curators_only = False

    @extend_schema(
        request=s.QueueVoteSerializer,
        responses={201: s.QueueVoteResultSerializer, 200: s.QueueVoteResultSerializer, 400: _INVALID, 409: _CONFLICT},
        description="Vote on the pair you were shown; 201 stored, 200 when this repeats a stored vote (the same "
        "submission id). 400 names the field: a `tie_kind` with A or B or on a project without tie kinds, or a tie "
        "without one on a project with them. 409 when the pair is not yours to vote on; when you already voted on "
        "it with another submission (a second tab), the 409 also holds that stored `judgment`.",
    )
    def post(self, request: Request, slug: str) -> Response:
        form = s.QueueVoteSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        vote = Vote(
            pair_id=data["pair"],
            choice=data["choice"],
            submission_id=data["submission_id"],
            elapsed_ms=data.get("elapsed_ms"),
            rationale=data["rationale"],
            coverage=data.get("coverage"),
            tie_kind=data["tie_kind"],
        )
        try:
            result = record_vote(self.project, request_user(request), vote)
        except DjangoValidationError as exc:  # the tie kind does not fit the vote or the project
            raise ValidationError(exc.message_dict) from exc
        except AlreadyJudged as exc:  # another vote on this pair was stored first: say which, as data
            kept = s.OwnJudgmentSerializer(exc.judgment).data
            return Response({"detail": str(exc), "judgment": kept}, status=status.HTTP_409_CONFLICT)
        except QueueError as exc:
            raise Conflict(str(exc)) from exc
        body = {"judgment": result.judgment, "created": result.created, "next": _turn(request, self.project)}
        data = s.QueueVoteResultSerializer(body, context={"request": request}).data
        return Response(data, status=201 if result.created else 200)


class QueueSkipView(ProjectScoped):
    curators_only = False

    @extend_schema(
        request=s.QueueSkipSerializer,
        responses={200: s.QueueSkipResultSerializer, 400: _INVALID, 409: _CONFLICT},
        description="Pass on the pair you were shown, or flag its media as broken; curators see both.",
    )
    def post(self, request: Request, slug: str) -> Response:
        form = s.QueueSkipSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        try:
            made = record_skip(
                self.project, request_user(request), pair_id=data["pair"], reason=data["reason"], note=data["note"]
            )
        except QueueError as exc:
            raise Conflict(str(exc)) from exc
        body = {"skip": made, "next": _turn(request, self.project)}
        return Response(s.QueueSkipResultSerializer(body, context={"request": request}).data)


class QueueUndoView(ProjectScoped):
    curators_only = False

    @extend_schema(
        request=None,
        responses={200: s.QueueUndoResultSerializer, 409: _CONFLICT},
        description="Withdraw your newest vote (up to 30 minutes back); its pair is shown again.",
    )
    def post(self, request: Request, slug: str) -> Response:
        try:
            undone = undo_last(self.project, request_user(request))
        except QueueError as exc:
            raise Conflict(str(exc)) from exc
        body = {"undone": undone, "next": _turn(request, self.project)}
        return Response(s.QueueUndoResultSerializer(body, context={"request": request}).data)


# Judgments


_JUDGMENT_COLUMNS = (
    "id",
    "label",
    "shown_order",
    "tie_kind",
    "time_spent_ms",
    "rationale",
    "view_coverage",
    "created_at",
    "pair__id",
    "pair__external_id",
    "pair__task",
    "annotator__id",
    "annotator__username",
)


class JudgmentListView(ProjectScoped, generics.ListAPIView[Judgment]):
    """Live judgments, newest first, with the stored (canonical) label and the order they were shown in."""

    serializer_class = s.JudgmentSerializer

    @extend_schema(
        parameters=[s.JudgmentFilterSerializer], responses={200: s.JudgmentSerializer(many=True), 400: _INVALID}
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self) -> QuerySet[Judgment]:
        if getattr(self, "swagger_fake_view", False):
            return Judgment.objects.none()
        params = _query(s.JudgmentFilterSerializer, self.request)
        judgments = Judgment.objects.filter(pair__project=self.project, retracted_at__isnull=True)
        if "pair" in params:
            judgments = judgments.filter(pair_id=params["pair"])
        if params.get("annotator"):
            judgments = judgments.filter(annotator__username=params["annotator"])
        if params["task"]:
            judgments = judgments.filter(pair__task=params["task"])
        return judgments.select_related("pair", "annotator").only(*_JUDGMENT_COLUMNS).order_by("-created_at", "-id")
