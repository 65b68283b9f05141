from django.urls import path

from . import api, api_audit

app_name = "releases-api"
urlpatterns = [
    path("projects/<slug:slug>/statistics/", api.StatisticsView.as_view(), name="statistics"),
    path("projects/<slug:slug>/statistics/annotators/", api.AnnotatorStatsView.as_view(), name="annotator-stats"),
    path("projects/<slug:slug>/gate/", api.GateView.as_view(), name="gate"),
    path("projects/<slug:slug>/audit/", api_audit.LabelAuditView.as_view(), name="label-audit"),
    path(
        "projects/<slug:slug>/audit/disagreements/",
        api_audit.DisagreementListView.as_view(),
        name="label-audit-disagreements",
    ),
    path(
        "projects/<slug:slug>/audit/adjudication/", api_audit.SendToAdjudicationView.as_view(), name="label-audit-send"
    ),
    path("projects/<slug:slug>/audit/gold-sample/", api_audit.GoldSampleView.as_view(), name="label-audit-gold"),
    path("projects/<slug:slug>/adjudication/", api.AdjudicationQueueView.as_view(), name="adjudication-list"),
    path("projects/<slug:slug>/adjudication/<int:pair_id>/", api.AdjudicationView.as_view(), name="adjudication"),
    path("projects/<slug:slug>/pairs/<int:pair_id>/gold/", api.PairGoldView.as_view(), name="pair-gold"),
    path("projects/<slug:slug>/releases/", api.ReleaseListView.as_view(), name="release-list"),
    path("projects/<slug:slug>/releases/preview/", api.ReleasePreviewView.as_view(), name="release-preview"),
    path("projects/<slug:slug>/releases/compare/", api.ReleaseCompareView.as_view(), name="release-compare"),
    path("projects/<slug:slug>/releases/<int:version>/", api.ReleaseDetailView.as_view(), name="release-detail"),
    path(
        "projects/<slug:slug>/releases/<int:version>/download/",
        api.ReleaseDownloadView.as_view(),
        name="release-download",
    ),
    path(
        "projects/<slug:slug>/releases/<int:version>/rebuild/",
        api.ReleaseRebuildView.as_view(),
        name="release-rebuild",
    ),
]
