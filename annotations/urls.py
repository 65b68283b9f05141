from django.urls import path

from . import annotate_views, views

app_name = "annotations"
urlpatterns = [
    path("projects/", views.project_list, name="project_list"),
    # Before the project routes: "new" is a page, and project_create keeps it from being a slug.
    path("projects/new/", views.project_new, name="project_new"),
    path("projects/<slug:slug>/", views.project_detail, name="project_detail"),
    path("projects/<slug:slug>/annotate/", annotate_views.annotate, name="annotate"),
    path("projects/<slug:slug>/annotate/vote/", annotate_views.vote, name="vote"),
    path("projects/<slug:slug>/annotate/skip/", annotate_views.skip, name="skip"),
    path("projects/<slug:slug>/annotate/undo/", annotate_views.undo, name="undo"),
    path("projects/<slug:slug>/pairs/<int:pair_id>/", views.pair_detail, name="pair_detail"),
    path("projects/<slug:slug>/import/", views.import_start, name="import_start"),
    path("projects/<slug:slug>/settings/", views.project_settings, name="project_settings"),
    path("projects/<slug:slug>/members/", views.project_members, name="project_members"),
    path("projects/<slug:slug>/members/add/", views.member_add, name="member_add"),
    path("projects/<slug:slug>/members/<str:username>/role/", views.member_role, name="member_role"),
    path("projects/<slug:slug>/members/<str:username>/remove/", views.member_remove, name="member_remove"),
    path("projects/<slug:slug>/media/", views.media_status, name="media_status"),
    path("projects/<slug:slug>/media/retry/", views.media_retry, name="media_retry"),
    path("projects/<slug:slug>/imports/<uuid:job_id>/", views.import_detail, name="import_detail"),
    path("projects/<slug:slug>/imports/<uuid:job_id>/resume/", views.import_resume, name="import_resume"),
]
