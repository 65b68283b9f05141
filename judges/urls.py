from django.urls import path

from . import views

app_name = "judges"
urlpatterns = [
    path("projects/<slug:slug>/judges/", views.judge_list, name="judge_list"),
    path("projects/<slug:slug>/judges/import/", views.import_results, name="import_results"),
    path("projects/<slug:slug>/judges/<int:judge_id>/", views.judge_detail, name="judge_detail"),
    path("projects/<slug:slug>/judges/<int:judge_id>/runs/", views.run_start, name="run_start"),
    path(
        "projects/<slug:slug>/judges/<int:judge_id>/runs/<int:run_id>/<str:action>/",
        views.run_control,
        name="run_control",
    ),
    path("projects/<slug:slug>/pairs/<int:pair_id>/model-votes/", views.pair_model_votes, name="pair_model_votes"),
    path("projects/<slug:slug>/leaderboard/", views.leaderboard, name="leaderboard"),
    path("projects/<slug:slug>/leaderboard.<str:fmt>", views.leaderboard, name="leaderboard_export"),
    path("projects/<slug:slug>/leaderboard/hard-pairs/", views.hard_pairs, name="hard_pairs"),
    path("projects/<slug:slug>/leaderboard/hard-pairs/gold/", views.hard_pairs_to_gold, name="hard_pairs_to_gold"),
]
