from django.urls import path

from . import api

app_name = "judges-api"
urlpatterns = [
    path("projects/<slug:slug>/judges/", api.JudgeListView.as_view(), name="judge-list"),
    path("projects/<slug:slug>/judges/import/", api.ResultImportView.as_view(), name="import"),
    path("projects/<slug:slug>/judges/<int:judge_id>/", api.JudgeDetailView.as_view(), name="judge-detail"),
    path("projects/<slug:slug>/judges/<int:judge_id>/report/", api.ModelReportView.as_view(), name="judge-report"),
    path("projects/<slug:slug>/judges/<int:judge_id>/runs/", api.RunListView.as_view(), name="run-list"),
    path(
        "projects/<slug:slug>/judges/<int:judge_id>/runs/<int:run_id>/", api.RunDetailView.as_view(), name="run-detail"
    ),
    path(
        "projects/<slug:slug>/judges/<int:judge_id>/runs/<int:run_id>/cancel/",
        api.RunCancelView.as_view(),
        name="run-cancel",
    ),
    path(
        "projects/<slug:slug>/judges/<int:judge_id>/runs/<int:run_id>/resume/",
        api.RunResumeView.as_view(),
        name="run-resume",
    ),
    path("projects/<slug:slug>/leaderboard/", api.LeaderboardView.as_view(), name="leaderboard"),
    path("projects/<slug:slug>/hard-pairs/", api.HardPairsView.as_view(), name="hard-pairs"),
]
