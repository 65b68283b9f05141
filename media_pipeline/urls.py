from django.urls import path

from . import views

app_name = "media_pipeline"
urlpatterns = [
    path("<int:asset_id>/", views.asset_file, name="asset_file"),
]
