"""Criteria written for comparisons: the curation stage that makes preferences free-form.

A comparison (a Pair of kind "comparison": prompt, input media, two responses, no criterion) gets
criteria from writers. Each names the response the writer expects it to favour. A curator accepts
(possibly after editing) or rejects each; an accepted criterion becomes a labelling pair.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from annotations.models import Pair, ShownOrder

MAX_CRITERION_CHARS = 1000


class Expectation(models.TextChoices):
    RESPONSE1 = "response1", "Response 1"
    RESPONSE2 = "response2", "Response 2"
    EITHER = "either", "Either"


class CriterionStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    SUBMITTED = "submitted", "Submitted for review"
    ACCEPTED = "accepted", "Accepted"
    REJECTED = "rejected", "Rejected"


class Criterion(models.Model):
    comparison = models.ForeignKey(Pair, on_delete=models.CASCADE, related_name="written_criteria")
    writer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="criteria_written")
    text = models.TextField(blank=True)
    expected = models.CharField(
        max_length=16,
        choices=Expectation.choices,
        blank=True,
        help_text="The response the writer expects this criterion to favour (canonical, not the side shown).",
    )
    shown_order = models.CharField(
        max_length=2, choices=ShownOrder.choices, help_text="Which response the writer saw as A."
    )
    status = models.CharField(max_length=16, choices=CriterionStatus.choices, default=CriterionStatus.DRAFT)
    pair = models.OneToOneField(
        Pair,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="written_criterion",
        help_text="The labelling pair made from this criterion once accepted.",
    )
    accepted_text = models.TextField(
        blank=True, help_text="The criterion as accepted (a curator may edit it); the writer's own stays in `text`."
    )
    accepted_expected = models.CharField(
        max_length=16,
        choices=Expectation.choices,
        blank=True,
        help_text="The expectation as accepted; the writer's own stays in `expected` (the signals use it).",
    )
    review_note = models.TextField(blank=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["comparison_id", "id"]
        indexes = [models.Index(fields=["comparison", "status"], name="criterion_comparison_status")]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=CriterionStatus.values), name="criterion_status_valid"),
            models.CheckConstraint(
                condition=Q(expected="") | Q(expected__in=Expectation.values), name="criterion_expected_valid"
            ),
            models.CheckConstraint(
                condition=Q(accepted_expected="") | Q(accepted_expected__in=Expectation.values),
                name="criterion_accepted_expected_valid",
            ),
            models.CheckConstraint(condition=Q(shown_order__in=ShownOrder.values), name="criterion_shown_order_valid"),
            # Only a draft may be unfinished.
            models.CheckConstraint(
                condition=Q(status=CriterionStatus.DRAFT) | ~Q(text="") & ~Q(expected=""),
                name="criterion_complete_unless_draft",
            ),
            models.CheckConstraint(
                condition=Q(pair__isnull=True) | Q(status=CriterionStatus.ACCEPTED),
                name="criterion_pair_only_when_accepted",
            ),
        ]

    def __str__(self) -> str:
        return f"criterion {self.pk} on {self.comparison_id} ({self.status})"
