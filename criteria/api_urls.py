"""The criterion-writing API, under /api/ (see criteria.api)."""

from django.urls import path

from . import api

app_name = "criteria-api"
urlpatterns = [
    path("projects/<slug:slug>/comparisons/", api.ComparisonListView.as_view(), name="comparison-list"),
    path("projects/<slug:slug>/write/next/", api.WriteNextView.as_view(), name="write-next"),
    path(
        "projects/<slug:slug>/comparisons/<int:comparison_id>/criteria/",
        api.DraftCreateView.as_view(),
        name="draft-create",
    ),
    path(
        "projects/<slug:slug>/comparisons/<int:comparison_id>/criteria/submit/",
        api.SubmitView.as_view(),
        name="criteria-submit",
    ),
    path("projects/<slug:slug>/criteria/<int:criterion_id>/", api.DraftDetailView.as_view(), name="draft-detail"),
    path("projects/<slug:slug>/criteria/review/", api.ReviewQueueView.as_view(), name="review-queue"),
    path(
        "projects/<slug:slug>/criteria/<int:criterion_id>/review/", api.ReviewDecideView.as_view(), name="review-decide"
    ),
    path("projects/<slug:slug>/criteria/signals/", api.SignalsView.as_view(), name="signals"),
]
