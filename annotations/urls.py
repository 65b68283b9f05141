from django.urls import path

from . import annotate_views, views

app_name = "annotations"
urlpatterns = [
    path("projects/", views.project_list, name="project_list"),
    path("projects/<slug:slug>/", views.project_detail, name="project_detail"),
    path("projects/<slug:slug>/annotate/", annotate_views.annotate, name="annotate"),
    path("projects/<slug:slug>/annotate/vote/", annotate_views.vote, name="vote"),
    path("projects/<slug:slug>/annotate/skip/", annotate_views.skip, name="skip"),
    path("projects/<slug:slug>/annotate/undo/", annotate_views.undo, name="undo"),
    path("projects/<slug:slug>/pairs/<int:pair_id>/", views.pair_detail, name="pair_detail"),
    path("projects/<slug:slug>/import/", views.import_start, name="import_start"),
    path("projects/<slug:slug>/settings/", views.project_settings, name="project_settings"),
    path("projects/<slug:slug>/media/", views.media_status, name="media_status"),
    path("projects/<slug:slug>/media/retry/", views.media_retry, name="media_retry"),
    path("projects/<slug:slug>/imports/<uuid:job_id>/", views.import_detail, name="import_detail"),
    path("projects/<slug:slug>/imports/<uuid:job_id>/resume/", views.import_resume, name="import_resume"),
]
