from django.contrib import admin

from annotations.admin import ViewOnlyAdmin

from .models import Adjudication, AdjudicationRequest, GateRule, Release, ReleasePair


@admin.register(GateRule)
class GateRuleAdmin(admin.ModelAdmin):
    list_display = ("project", "min_votes", "min_majority_share", "tie_policy", "min_gold_accuracy", "updated_at")


@admin.register(Adjudication)
class AdjudicationAdmin(ViewOnlyAdmin):
    """Decisions are history: recorded by the adjudication page, never edited."""

    list_display = ("pair", "decision", "decided_by", "decided_at")
    list_select_related = ("pair", "decided_by")


@admin.register(AdjudicationRequest)
class AdjudicationRequestAdmin(ViewOnlyAdmin):
    """Requests are history: recorded by the label audit, answered by a later adjudication."""

    list_display = ("pair", "reason", "requested_by", "requested_at")
    list_select_related = ("pair", "requested_by")


@admin.register(Release)
class ReleaseAdmin(ViewOnlyAdmin):
    """Releases are immutable once published."""

    list_display = ("project", "version", "status", "created_by", "created_at")


@admin.register(ReleasePair)
class ReleasePairAdmin(ViewOnlyAdmin):
    list_display = ("release", "external_id", "task", "label", "source")
    list_select_related = ("release__project",)
