from django.apps import AppConfig


class ReleasesConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "releases"
    verbose_name = "Agreement and releases"

    def ready(self) -> None:
        from annotations.services.tallies import register_quality_bar

        from .selectors import quality_bar

        register_quality_bar(quality_bar)
