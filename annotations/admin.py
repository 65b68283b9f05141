from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from .models import ImportJob, Judgment, Membership, Pair, PairSkip, Project, Reservation


class ViewOnlyAdmin(admin.ModelAdmin):
    """Rows the annotator queue writes and counts (Pair.claimed): shown here, changed only through the queue."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 1
    autocomplete_fields = ["user"]


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "votes_per_pair", "must_view_share", "gold_share", "created_at"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [MembershipInline]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "project", "role", "created_at"]
    list_filter = ["role", "project"]
    search_fields = ["user__username", "project__name"]


@admin.register(Pair)
class PairAdmin(admin.ModelAdmin):
    list_display = ["external_id", "project", "task", "model1", "model2", "reference_label", "gold_label", "created_at"]
    list_filter = ["project", "task", "reference_label", "gold_label"]
    search_fields = ["external_id", "prompt", "criterion"]
    raw_id_fields = Pair.MEDIA_FIELDS
    readonly_fields = ["import_job", "created_at", "claimed"]
    list_select_related = ["project"]


@admin.register(Judgment)
class JudgmentAdmin(ViewOnlyAdmin):
    list_display = ["pair", "annotator", "label", "shown_order", "time_spent_ms", "created_at", "retracted_at"]
    list_filter = ["label", "shown_order", "pair__project"]
    search_fields = ["pair__external_id", "annotator__username"]
    raw_id_fields = ["pair"]
    list_select_related = ["pair", "annotator"]


@admin.register(ImportJob)
class ImportJobAdmin(admin.ModelAdmin):
    list_display = ["data_name", "project", "status", "problem_count", "created_by", "created_at", "finished_at"]
    list_filter = ["status", "project"]
    readonly_fields = ["summary", "problems", "problem_count", "message", "started_at", "finished_at"]


@admin.register(Reservation)
class ReservationAdmin(ViewOnlyAdmin):
    list_display = ["pair", "annotator", "shown_order", "created_at", "expires_at"]
    list_filter = ["project"]
    raw_id_fields = ["pair"]
    list_select_related = ["pair", "annotator"]


@admin.register(PairSkip)
class PairSkipAdmin(admin.ModelAdmin):
    list_display = ["pair", "annotator", "kind", "reason", "note", "created_at"]
    list_filter = ["kind", "reason", "pair__project"]
    search_fields = ["pair__external_id", "annotator__username", "note"]
    raw_id_fields = ["pair"]
    list_select_related = ["pair", "annotator"]
