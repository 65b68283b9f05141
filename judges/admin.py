from django.contrib import admin

from annotations.admin import ViewOnlyAdmin

from .models import Judge, JudgeRun, ModelVote, ScalarScore


@admin.register(Judge)
class JudgeAdmin(admin.ModelAdmin):
    list_display = ("name", "project", "kind", "model", "created_at")
    list_filter = ("kind",)


@admin.register(JudgeRun)
class JudgeRunAdmin(ViewOnlyAdmin):
    """Runs are written by their Celery job; start, cancel and resume them from the judge's page."""

    list_display = ("judge", "status", "done", "total", "failed", "created_at")


@admin.register(ModelVote)
class ModelVoteAdmin(ViewOnlyAdmin):
    list_display = ("judge", "pair", "with_tie", "order", "label", "status", "latency_ms")
    list_select_related = ("judge", "pair")


@admin.register(ScalarScore)
class ScalarScoreAdmin(ViewOnlyAdmin):
    list_display = ("judge", "pair", "score1", "score2")
    list_select_related = ("judge", "pair")
