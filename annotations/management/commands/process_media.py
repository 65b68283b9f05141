from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from annotations.models import Project
from annotations.selectors import project_assets
from media_pipeline import pipeline
from media_pipeline.models import AssetStatus, MediaAsset


class Command(BaseCommand):
    help = (
        "Send queued media assets to the pipeline (all, or one project's); with --retry-failed, failed ones "
        "and those whose worker died too. The worker runs them (`make serve` starts one beside the web server)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--project", help="Slug of the project whose assets to process (default: all).")
        parser.add_argument("--retry-failed", action="store_true", help="Queue failed assets again first.")

    def handle(self, *args: Any, **options: Any) -> None:
        assets = MediaAsset.objects.all()
        if options["project"]:
            project = Project.objects.filter(slug=options["project"]).first()
            if project is None:
                raise CommandError(f"--project: no project with slug {options['project']!r}.")
            assets = project_assets(project)
        if options["retry_failed"]:
            retried = pipeline.retry(assets.values_list("pk", flat=True))
            self.stdout.write(f"queued again: {retried}")
        queued = list(assets.filter(status=AssetStatus.QUEUED).values_list("pk", flat=True))
        pipeline.enqueue(queued)
        counts = pipeline.status_counts(assets.values_list("pk", flat=True))
        self.stdout.write(f"sent {len(queued)} job(s); " + ", ".join(f"{k}: {v}" for k, v in counts.items()))
