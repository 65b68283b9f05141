from django.urls import path

from . import views, views_audit

app_name = "releases"
urlpatterns = [
    path("projects/<slug:slug>/quality/", views.dashboard, name="dashboard"),
    path("projects/<slug:slug>/quality/gate/", views.gate_edit, name="gate_edit"),
    path(
        "projects/<slug:slug>/quality/annotators/recompute/",
        views.annotator_stats_recompute,
        name="annotator_stats_recompute",
    ),
    path("projects/<slug:slug>/quality/audit/", views_audit.label_audit, name="label_audit"),
    path("projects/<slug:slug>/quality/audit/adjudicate/", views_audit.label_audit_send, name="label_audit_send"),
    path("projects/<slug:slug>/quality/audit/gold/", views_audit.label_audit_gold, name="label_audit_gold"),
    path("projects/<slug:slug>/pairs/<int:pair_id>/gold/", views.pair_gold, name="pair_gold"),
    path("projects/<slug:slug>/pairs/<int:pair_id>/verdict/", views.pair_verdict, name="pair_verdict"),
    path("projects/<slug:slug>/adjudication/", views.adjudication_queue, name="adjudication_queue"),
    path("projects/<slug:slug>/adjudication/<int:pair_id>/", views.adjudicate, name="adjudicate"),
    path("projects/<slug:slug>/releases/", views.release_list, name="release_list"),
    path("projects/<slug:slug>/releases/publish/", views.release_publish_view, name="release_publish"),
    path("projects/<slug:slug>/releases/compare/", views.release_compare, name="release_compare"),
    path("projects/<slug:slug>/releases/<int:version>/", views.release_detail, name="release_detail"),
    path("projects/<slug:slug>/releases/<int:version>/rebuild/", views.release_rebuild_view, name="release_rebuild"),
    path("projects/<slug:slug>/releases/<int:version>/download/", views.release_download, name="release_download"),
]
