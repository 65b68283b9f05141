from django.urls import path

app_name = "media_pipeline"
urlpatterns: list = []
