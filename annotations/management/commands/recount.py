from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from annotations.models import Project
from annotations.services.tallies import tally_recount


class Command(BaseCommand):
    help = (
        "Rebuild the per-pair vote tallies the curator pages read from the stored judgments, and report "
        "every pair whose tally differed. Safe while annotators work: votes wait for the recount, none is lost."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--project", help="Slug of one project (default: every project).")
        parser.add_argument("--check", action="store_true", help="Exit with status 1 if any tally differed.")

    def handle(self, *args: Any, **options: Any) -> None:
        projects = Project.objects.order_by("slug")
        if options["project"]:
            projects = projects.filter(slug=options["project"])
            if not projects.exists():
                raise CommandError(f"No project with slug {options['project']!r}.")
        differed = 0
        for project in projects:
            result = tally_recount(project=project)
            differed += len(result.differing)
            if result.differing:
                shown = ", ".join(str(p) for p in result.differing[:20])
                more = f" and {len(result.differing) - 20:,} more" if len(result.differing) > 20 else ""
                self.stdout.write(
                    f"{project.slug}: {len(result.differing):,} of {result.pairs:,} voted pairs differed "
                    f"(pair ids {shown}{more}); corrected."
                )
            else:
                self.stdout.write(f"{project.slug}: {result.pairs:,} voted pairs, every tally equals its votes.")
        if differed and options["check"]:
            raise CommandError(f"{differed:,} tallies differed from the votes (now corrected).", returncode=1)
