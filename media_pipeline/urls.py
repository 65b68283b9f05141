from django.urls import path

from . import views

app_name = "media_pipeline"
urlpatterns = [
    path("<int:asset_id>/", views.asset_file, name="asset_file"),
    path("<int:asset_id>/frame/<int:index>/", views.asset_file, {"role": "frame"}, name="asset_frame"),
    path("<int:asset_id>/view/<int:index>/", views.asset_file, {"role": "view"}, name="asset_view"),
    path("<int:asset_id>/<slug:role>/", views.asset_file, name="asset_rendition"),
]
