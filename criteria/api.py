"""The criterion-writing API: writers draft and submit criteria, curators review them and read the signals.

Writers (any member) see a comparison as labellers do: sides A and B in their own shuffled order,
no model names; the expected response is given and shown as A, B or either. Curators see criteria
canonically (response1, response2, either), with the review warnings.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, serializers
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from annotations.api.serializers import ShownMediaSerializer, ShownSideSerializer, UploadField
from annotations.api.views import ProjectScoped
from annotations.models import Pair, ShownOrder, Task
from annotations.selectors import pair_sides
from annotations.services.queue import shown_order_for
from core.api import request_user

from . import selectors
from .models import MAX_CRITERION_CHARS, Criterion, Expectation
from .services import (
    EXPECT_CHOICES,
    NewComparison,
    Review,
    comparison_create,
    criteria_submit,
    criterion_draft_delete,
    criterion_draft_save,
    criterion_review,
    shown_expectation,
)

_INVALID = OpenApiResponse(description="Invalid: messages by field name.")


def _refused(exc: DjangoValidationError) -> ValidationError:
    return ValidationError(exc.message_dict if hasattr(exc, "error_dict") else {"detail": exc.messages})


class OwnCriterionSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    text = serializers.CharField()
    expected = serializers.CharField(help_text="As you see the sides: A, B, either, or blank in a draft.")
    status = serializers.CharField()


class WritingTurnSerializer(serializers.Serializer):
    done = serializers.BooleanField(help_text="True: no comparison needs your criteria now.")
    comparison = serializers.IntegerField(allow_null=True)
    task = serializers.CharField(allow_null=True)
    prompt = serializers.CharField(allow_null=True)
    input_media = ShownMediaSerializer(allow_null=True)
    sides = ShownSideSerializer(many=True, help_text="A then B, in the order chosen for you.")
    guidance = serializers.CharField()
    needed = serializers.IntegerField(help_text="Accepted criteria a comparison needs.")
    criteria = OwnCriterionSerializer(many=True, help_text="Your criteria for this comparison.")


def _turn(project: Any, user: Any, comparison: Pair | None) -> dict[str, Any]:
    base = {"guidance": project.writing_guidance, "needed": project.criteria_per_comparison}
    if comparison is None:
        empty: dict[str, Any] = {
            "comparison": None,
            "task": None,
            "prompt": None,
            "input_media": None,
            "sides": [],
            "criteria": [],
        }
        return {"done": True, **empty, **base}
    swapped = shown_order_for(user.pk, comparison.pk) == ShownOrder.RESPONSE2_LEFT
    mine = selectors.writer_drafts(comparison, user)
    return {
        "done": False,
        "comparison": comparison.pk,
        "task": comparison.task,
        "prompt": comparison.prompt,
        "input_media": comparison.input_media,
        "sides": pair_sides(comparison, swapped=swapped),
        "criteria": [_own(c) for c in mine],
        **base,
    }


class WriteNextView(ProjectScoped):
    curators_only = False

    @extend_schema(responses=WritingTurnSerializer, description="Your next comparison to write criteria for.")
    def get(self, request: Request, slug: str) -> Response:
        comparison = selectors.comparison_next_for_writer(self.project, request_user(request))
        turn = _turn(self.project, request_user(request), comparison)
        return Response(WritingTurnSerializer(turn, context={"request": request}).data)


class DraftSerializer(serializers.Serializer):
    text = serializers.CharField(allow_blank=True, max_length=MAX_CRITERION_CHARS, trim_whitespace=False)
    expected = serializers.ChoiceField(choices=[*EXPECT_CHOICES, ""], required=False, default="")


class DraftCreateView(ProjectScoped):
    curators_only = False

    @extend_schema(
        request=DraftSerializer, responses={201: OwnCriterionSerializer, 400: _INVALID}, description="Start a draft."
    )
    def post(self, request: Request, slug: str, comparison_id: int) -> Response:
        data = _valid(DraftSerializer, request.data)
        try:
            criterion = criterion_draft_save(
                project=self.project, writer=request_user(request), comparison_id=comparison_id, **data
            )
        except DjangoValidationError as exc:
            raise _refused(exc) from None
        return Response(_own(criterion), status=201)


def _own(c: Criterion) -> dict[str, Any]:
    return {"id": c.pk, "text": c.text, "expected": shown_expectation(c.expected, c.shown_order), "status": c.status}


def _valid(serializer: type[serializers.Serializer], data: Any) -> dict[str, Any]:
    form = serializer(data=data)
    form.is_valid(raise_exception=True)
    return dict(form.validated_data)


class DraftDetailView(ProjectScoped):
    curators_only = False

    @extend_schema(request=DraftSerializer, responses={200: OwnCriterionSerializer, 400: _INVALID})
    def put(self, request: Request, slug: str, criterion_id: int) -> Response:
        data = _valid(DraftSerializer, request.data)
        comparison_id = (
            Criterion.objects.filter(pk=criterion_id, writer=request_user(request), comparison__project=self.project)
            .values_list("comparison_id", flat=True)
            .first()
        )
        if comparison_id is None:
            raise ValidationError({"criterion": ["No such criterion of yours in this project."]})
        try:
            criterion = criterion_draft_save(
                project=self.project,
                writer=request_user(request),
                comparison_id=comparison_id,
                criterion_id=criterion_id,
                **data,
            )
        except DjangoValidationError as exc:
            raise _refused(exc) from None
        return Response(_own(criterion))

    @extend_schema(responses={204: None, 400: _INVALID})
    def delete(self, request: Request, slug: str, criterion_id: int) -> Response:
        try:
            criterion_draft_delete(project=self.project, writer=request_user(request), criterion_id=criterion_id)
        except DjangoValidationError as exc:
            raise _refused(exc) from None
        return Response(status=204)


class SubmitView(ProjectScoped):
    curators_only = False

    @extend_schema(
        request=None,
        responses={200: OwnCriterionSerializer(many=True), 400: _INVALID},
        description="Submit your drafts for this comparison for review.",
    )
    def post(self, request: Request, slug: str, comparison_id: int) -> Response:
        try:
            done = criteria_submit(project=self.project, writer=request_user(request), comparison_id=comparison_id)
        except DjangoValidationError as exc:
            raise _refused(exc) from None
        return Response([_own(c) for c in done])


class ReviewCriterionSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="criterion.pk")
    writer = serializers.CharField(source="criterion.writer.username")
    text = serializers.CharField(source="criterion.text")
    expected = serializers.CharField(source="criterion.expected", help_text="response1, response2 or either.")
    warnings = serializers.ListField(child=serializers.CharField())


class ReviewComparisonSerializer(serializers.Serializer):
    comparison = serializers.IntegerField(source="comparison.pk")
    external_id = serializers.CharField(source="comparison.external_id")
    task = serializers.CharField(source="comparison.task")
    accepted = serializers.IntegerField()
    criteria = ReviewCriterionSerializer(source="rows", many=True)


class ReviewQueueSerializer(serializers.Serializer):
    total = serializers.IntegerField(help_text="Comparisons with criteria waiting for review.")
    comparisons = ReviewComparisonSerializer(many=True, help_text="The oldest 50 of them; review and ask again.")


class ReviewQueueView(ProjectScoped):
    @extend_schema(responses=ReviewQueueSerializer, description="Submitted criteria, with warnings, oldest first.")
    def get(self, request: Request, slug: str) -> Response:
        reviews, total = selectors.review_queue(self.project)
        return Response(ReviewQueueSerializer({"total": total, "comparisons": reviews}).data)


class ReviewSerializer(serializers.Serializer):
    decision = serializers.ChoiceField(choices=["accept", "reject"])
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=MAX_CRITERION_CHARS)
    text = serializers.CharField(required=False, max_length=MAX_CRITERION_CHARS, help_text="An edit before accepting.")
    expected = serializers.ChoiceField(choices=Expectation.values, required=False)


class ReviewResultSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField()
    pair = serializers.IntegerField(allow_null=True, help_text="The labelling pair made from it, once accepted.")


class ReviewDecideView(ProjectScoped):
    @extend_schema(request=ReviewSerializer, responses={200: ReviewResultSerializer, 400: _INVALID})
    def post(self, request: Request, slug: str, criterion_id: int) -> Response:
        data = _valid(ReviewSerializer, request.data)
        try:
            criterion = criterion_review(
                project=self.project, reviewer=request_user(request), criterion_id=criterion_id, review=Review(**data)
            )
        except DjangoValidationError as exc:
            raise _refused(exc) from None
        return Response({"id": criterion.pk, "status": criterion.status, "pair": criterion.pair_id})


class ComparisonSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    external_id = serializers.CharField()
    task = serializers.CharField()
    submitted = serializers.IntegerField()
    accepted = serializers.IntegerField()


class ComparisonCreateSerializer(serializers.Serializer):
    task = serializers.ChoiceField(choices=Task.values)
    prompt = serializers.CharField()
    external_id = serializers.CharField(required=False, allow_blank=True, default="", max_length=200)
    response1_text = serializers.CharField(required=False, allow_blank=True, default="", trim_whitespace=False)
    response2_text = serializers.CharField(required=False, allow_blank=True, default="", trim_whitespace=False)
    model1 = serializers.CharField(required=False, allow_blank=True, default="", max_length=200)
    model2 = serializers.CharField(required=False, allow_blank=True, default="", max_length=200)
    input_file = UploadField(required=False, allow_null=True, help_text="TI2T, TV2T, TA2T and TI2I.")
    response1_file = UploadField(required=False, allow_null=True, help_text="Tasks with media responses.")
    response2_file = UploadField(required=False, allow_null=True)


class ComparisonListView(ProjectScoped, generics.GenericAPIView[Pair]):
    parser_classes = (MultiPartParser, JSONParser)
    serializer_class = ComparisonSerializer

    def get_serializer_class(self) -> type[serializers.Serializer]:
        # The browsable API draws its POST form from this: a new comparison's fields, not a listed one's.
        return ComparisonCreateSerializer if self.request.method == "POST" else ComparisonSerializer

    def get_queryset(self) -> QuerySet[Pair]:
        if getattr(self, "swagger_fake_view", False):
            return Pair.objects.none()
        return selectors.comparison_counts(self.project)

    @extend_schema(
        responses=ComparisonSerializer(many=True), description="Comparisons and their criteria counts, 100 a page."
    )
    def get(self, request: Request, slug: str) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(ComparisonSerializer(page, many=True).data)

    @extend_schema(
        request={"multipart/form-data": ComparisonCreateSerializer, "application/json": ComparisonCreateSerializer},
        responses={201: ComparisonSerializer, 400: _INVALID},
        description="Add one comparison (no criterion); it is checked like an imported row. "
        "To add many, import a file whose criterion column is empty.",
    )
    def post(self, request: Request, slug: str) -> Response:
        data = _valid(ComparisonCreateSerializer, request.data)
        files = {name: data.pop(name, None) for name in ("input_file", "response1_file", "response2_file")}
        try:
            comparison = comparison_create(project=self.project, comparison=NewComparison(**data), **files)
        except DjangoValidationError as exc:
            raise _refused(exc) from None
        body = {"id": comparison.pk, "external_id": comparison.external_id, "task": comparison.task}
        return Response({**body, "submitted": 0, "accepted": 0}, status=201)


class WriterSignalSerializer(serializers.Serializer):
    writer = serializers.CharField()
    accepted = serializers.IntegerField()
    settled = serializers.IntegerField()
    matched = serializers.IntegerField(help_text="Settled pairs whose consensus is the response the writer expected.")
    share = serializers.FloatField(allow_null=True)


class FlipCountSerializer(serializers.Serializer):
    task = serializers.CharField()
    comparisons = serializers.IntegerField(help_text="Comparisons with two or more settled criteria.")
    flips = serializers.IntegerField()


class SignalsSerializer(serializers.Serializer):
    writers = WriterSignalSerializer(many=True)
    flips = FlipCountSerializer(many=True)
    total_flips = serializers.IntegerField()


class SignalsView(ProjectScoped):
    @extend_schema(responses=SignalsSerializer, description="Writer expectation vs consensus; criterion flips.")
    def get(self, request: Request, slug: str) -> Response:
        return Response(SignalsSerializer(selectors.signals(self.project)).data)
