"""The annotations API, under /api/ (see annotations.api.views)."""

from django.urls import path

from .api import views

app_name = "annotations-api"
urlpatterns = [
    path("projects/", views.ProjectListView.as_view(), name="project-list"),
    path("projects/<slug:slug>/", views.ProjectDetailView.as_view(), name="project-detail"),
    path("projects/<slug:slug>/settings/", views.ProjectSettingsView.as_view(), name="project-settings"),
    path("projects/<slug:slug>/members/", views.MemberListView.as_view(), name="member-list"),
    path("projects/<slug:slug>/members/<str:username>/", views.MemberDetailView.as_view(), name="member-detail"),
    path("projects/<slug:slug>/pairs/", views.PairListView.as_view(), name="pair-list"),
    path("projects/<slug:slug>/pairs/<int:pair_id>/", views.PairDetailView.as_view(), name="pair-detail"),
    path("projects/<slug:slug>/imports/", views.ImportListView.as_view(), name="import-list"),
    path("projects/<slug:slug>/imports/<uuid:job_id>/", views.ImportDetailView.as_view(), name="import-detail"),
    path("projects/<slug:slug>/imports/<uuid:job_id>/resume/", views.ImportResumeView.as_view(), name="import-resume"),
    path("projects/<slug:slug>/media/", views.MediaView.as_view(), name="media"),
    path("projects/<slug:slug>/media/retry/", views.MediaRetryView.as_view(), name="media-retry"),
    path("projects/<slug:slug>/queue/next/", views.QueueNextView.as_view(), name="queue-next"),
    path("projects/<slug:slug>/queue/vote/", views.QueueVoteView.as_view(), name="queue-vote"),
    path("projects/<slug:slug>/queue/skip/", views.QueueSkipView.as_view(), name="queue-skip"),
    path("projects/<slug:slug>/queue/undo/", views.QueueUndoView.as_view(), name="queue-undo"),
    path("projects/<slug:slug>/judgments/", views.JudgmentListView.as_view(), name="judgment-list"),
]
