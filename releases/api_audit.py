"""The label audit over the API: the same selector and services as the page (views_audit.py).

Curators only, through `curator` like every endpoint in api.py: an outsider gets 404, an annotator 403.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import generics, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from annotations.models import Task
from core.fields import IdField

from . import selectors_audit
from .api import CuratorView, EstimateSerializer, LabelCountsSerializer, curator, refused, valid
from .gate import LABELS
from .services.audit import (
    DISAGREES,
    MAX_REASON,
    MAX_REQUEST_PAIRS,
    MAX_SEED,
    SampleSize,
    adjudication_request_send,
    gold_sample_draw,
)

_REFUSED = OpenApiResponse(description="Invalid: messages by field, or under non_field_errors.")


class AuditQuerySerializer(serializers.Serializer):
    bootstrap = serializers.IntegerField(
        min_value=0, max_value=2000, default=1000, help_text="Bootstrap replicates for kappa's interval; 0: none."
    )
    seed = serializers.IntegerField(min_value=0, max_value=MAX_SEED, default=0, help_text="Seed of the bootstrap.")


class AuditConfusionSerializer(serializers.Serializer):
    response1 = LabelCountsSerializer(help_text="Imported response1, by consensus label.")
    response2 = LabelCountsSerializer()
    tie = LabelCountsSerializer()


class TaskAuditSerializer(serializers.Serializer):
    task = serializers.CharField(help_text="Task code; empty for every task together.")
    name = serializers.CharField()
    pairs = serializers.IntegerField(help_text="Labelling pairs (comparisons are not labelled).")
    imported = serializers.IntegerField(help_text="Labelling pairs with an imported label.")
    gold = serializers.IntegerField(help_text="Gold pairs among the labelling pairs.")
    compared = serializers.IntegerField(
        source="comparison.compared", help_text="With an imported label and a consensus."
    )
    agreed = serializers.IntegerField(source="comparison.agreed")
    disagreements = serializers.IntegerField()
    agreement = EstimateSerializer(source="comparison.agreement", help_text="Share that agree, 95% Wilson interval.")
    kappa = EstimateSerializer(source="comparison.kappa", help_text="Cohen's kappa, 95% bootstrap interval over pairs.")
    confusion = serializers.SerializerMethodField(help_text="Rows: imported label; columns: consensus.")
    note = serializers.CharField(allow_blank=True, help_text="Why there is nothing to compare, when so.")

    @extend_schema_field(AuditConfusionSerializer)
    def get_confusion(self, audit: selectors_audit.TaskAudit) -> dict[str, dict[str, int]]:
        return {label: dict(zip(LABELS, counts, strict=True)) for label, counts in audit.rows}


class LabelAuditSerializer(serializers.Serializer):
    consensus = serializers.CharField()
    kappa_interval = serializers.CharField()
    bootstrap = serializers.IntegerField()
    seed = serializers.IntegerField()
    tasks = TaskAuditSerializer(many=True)
    overall = TaskAuditSerializer()


class AdjudicationRequestBriefSerializer(serializers.Serializer):
    reason = serializers.CharField()
    requested_by = serializers.CharField(source="requested_by.username")
    requested_at = serializers.DateTimeField()


class DisagreementSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="pair.id")
    external_id = serializers.CharField(source="pair.external_id")
    task = serializers.CharField(source="pair.task")
    criterion = serializers.CharField(source="pair.criterion")
    gold = serializers.BooleanField(source="is_gold")
    imported = serializers.CharField()
    consensus = serializers.CharField()
    source = serializers.CharField(help_text="Where the consensus comes from: votes or adjudication.")  # type: ignore[assignment]
    votes = LabelCountsSerializer(source="counted", help_text="Votes that count under the gate rule.")
    queued = AdjudicationRequestBriefSerializer(
        source="request", allow_null=True, help_text="The open request that put it in the adjudication queue."
    )


class TaskFilterSerializer(serializers.Serializer):
    task = serializers.ChoiceField(choices=Task.choices, required=False, default="")


class SendSerializer(serializers.Serializer):
    pairs = serializers.ListField(
        child=IdField(),
        required=False,
        default=list,
        max_length=MAX_REQUEST_PAIRS,
        help_text="Pair ids to send; or leave empty and set `all`.",
    )
    all = serializers.BooleanField(default=False, help_text="Send every current disagreement (of `task`, if given).")
    task = serializers.ChoiceField(choices=Task.choices, required=False, default="")
    reason = serializers.CharField(default=DISAGREES, max_length=MAX_REASON, help_text="Shown in the queue.")


class SentSerializer(serializers.Serializer):
    sent = serializers.IntegerField(help_text="Pairs newly queued.")
    already_queued = serializers.IntegerField(help_text="Pairs already waiting on an open request.")


class SampleSizeSerializer(serializers.Serializer):
    count = serializers.IntegerField(required=False, allow_null=True, default=None)
    share = serializers.FloatField(required=False, allow_null=True, default=None)


class GoldSampleRequestSerializer(serializers.Serializer):
    seed = serializers.IntegerField(help_text=f"0 to {MAX_SEED}; the same seed draws the same pairs.")
    sample = serializers.DictField(
        child=SampleSizeSerializer(), help_text='Per task code a count or a share, e.g. {"T2I": {"share": 0.1}}.'
    )


class GoldSampleSerializer(serializers.Serializer):
    task = serializers.CharField()
    candidates = serializers.IntegerField(help_text="Labelling pairs of the task with an imported label.")
    drawn = serializers.IntegerField()
    made_gold = serializers.IntegerField()
    already_gold = serializers.IntegerField(help_text="Drawn pairs that were gold before, left as they were.")


@extend_schema(tags=["quality"])
class LabelAuditView(CuratorView):
    @extend_schema(
        operation_id="quality_label_audit", parameters=[AuditQuerySerializer], responses=LabelAuditSerializer
    )
    def get(self, request: Request, slug: str) -> Response:
        project, _ = curator(request, slug)
        query = valid(AuditQuerySerializer, request.query_params)
        audit = selectors_audit.label_audit(project, bootstrap=query["bootstrap"], seed=query["seed"])
        body = {
            "consensus": selectors_audit.CONSENSUS,
            "kappa_interval": selectors_audit.KAPPA_INTERVAL,
            "bootstrap": audit.bootstrap,
            "seed": audit.seed,
            "tasks": audit.tasks,
            "overall": audit.overall,
        }
        return Response(LabelAuditSerializer(body).data)


@extend_schema(tags=["quality"])
class DisagreementListView(CuratorView, generics.GenericAPIView):
    serializer_class = DisagreementSerializer

    @cached_property
    def audit(self) -> selectors_audit.LabelAudit:
        # Computed once a request: the browsable API asks for the queryset again after get().
        project, _ = curator(self.request, self.kwargs["slug"])
        return selectors_audit.label_audit(project, bootstrap=0)

    def get_queryset(self) -> list[int]:  # type: ignore[override]  # DRF takes any iterable
        """The disagreements as indexes into the audit's arrays; `disagreements` reads a page's pairs."""
        if getattr(self, "swagger_fake_view", False):
            return []
        audit = self.audit  # the access check, before the query parameters are read
        query = valid(TaskFilterSerializer, self.request.query_params)
        return audit.disagreement_indexes(query["task"]).tolist()

    @extend_schema(
        operation_id="quality_label_audit_disagreements",
        parameters=[TaskFilterSerializer],
        responses=DisagreementSerializer(many=True),
    )
    def get(self, request: Request, slug: str) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        rows = selectors_audit.disagreements(self.audit, page or [])
        return self.get_paginated_response(DisagreementSerializer(rows, many=True).data)


@extend_schema(tags=["quality"])
class SendToAdjudicationView(CuratorView):
    @extend_schema(
        operation_id="quality_label_audit_send",
        request=SendSerializer,
        responses={201: SentSerializer, 400: _REFUSED},
    )
    def post(self, request: Request, slug: str) -> Response:
        project, user = curator(request, slug)
        data = valid(SendSerializer, request.data)
        pair_ids: list[int] = data["pairs"]
        if data["all"]:
            if pair_ids:
                raise serializers.ValidationError({"pairs": ["Give pair ids or set `all`, not both."]})
            audit = selectors_audit.label_audit(project, bootstrap=0)
            pair_ids = [int(audit.pair_ids[i]) for i in audit.disagreement_indexes(data["task"])]
        try:
            sent = adjudication_request_send(project=project, user=user, pair_ids=pair_ids, reason=data["reason"])
        except DjangoValidationError as exc:
            raise refused(exc) from None
        return Response(SentSerializer(sent).data, status=status.HTTP_201_CREATED)


@extend_schema(tags=["quality"])
class GoldSampleView(CuratorView):
    @extend_schema(
        operation_id="quality_label_audit_gold_sample",
        request=GoldSampleRequestSerializer,
        responses={200: GoldSampleSerializer(many=True), 400: _REFUSED},
    )
    def post(self, request: Request, slug: str) -> Response:
        project, _ = curator(request, slug)
        data: dict[str, Any] = valid(GoldSampleRequestSerializer, request.data)
        sizes = {task: SampleSize(**size) for task, size in data["sample"].items()}
        try:
            results = gold_sample_draw(project=project, sizes=sizes, seed=data["seed"])
        except DjangoValidationError as exc:
            raise refused(exc) from None
        return Response(GoldSampleSerializer(results, many=True).data)
