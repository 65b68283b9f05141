from django.apps import AppConfig


class AnnotationsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "annotations"
    verbose_name = "Annotations"

    def ready(self) -> None:
        from media_pipeline.pipeline import on_assets_settled

        from . import signals  # noqa: F401  (connects the receivers)
        from .services.media_ready import pairs_media_refresh

        on_assets_settled(pairs_media_refresh)
