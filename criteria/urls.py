from django.urls import path

from . import views

app_name = "criteria"

urlpatterns = [
    path("projects/<slug:slug>/write/", views.write, name="write"),
    path("projects/<slug:slug>/write/<int:comparison_id>/", views.write_comparison, name="write_comparison"),
    path("projects/<slug:slug>/write/<int:comparison_id>/draft/", views.draft_save, name="draft_save"),
    path(
        "projects/<slug:slug>/write/<int:comparison_id>/draft/<int:criterion_id>/delete/",
        views.draft_delete,
        name="draft_delete",
    ),
    path("projects/<slug:slug>/write/<int:comparison_id>/submit/", views.submit, name="submit"),
    path("projects/<slug:slug>/criteria/", views.review, name="review"),
    path("projects/<slug:slug>/comparisons/new/", views.comparison_new, name="comparison_new"),
    path("projects/<slug:slug>/criteria/<int:criterion_id>/review/", views.review_decide, name="review_decide"),
]
