from django.apps import AppConfig


class AnnotationsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "annotations"
    verbose_name = "Annotations"

    def ready(self) -> None:
        from media_pipeline.access import decide_asset_access
        from media_pipeline.pipeline import on_assets_settled

        from . import signals  # noqa: F401  (connects the receivers)
        from .selectors import asset_role
        from .services.media_ready import pairs_media_refresh

        on_assets_settled(pairs_media_refresh)  # pairs join queues once their media is processed
        decide_asset_access(asset_role)  # members of a project that shows an asset may fetch it
