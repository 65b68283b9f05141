from django.apps import AppConfig


class CoreConfig(AppConfig):
    """What every domain app may build on: the leased-job mechanism (`core.jobs`). No tables of its own."""

    name = "core"
    verbose_name = "Core"
