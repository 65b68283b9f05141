from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from annotations.models import Project
from judges.services.imports import judge_import_path


class Command(BaseCommand):
    help = (
        "Import model results: one {model}_preferences(_with_tie)(_inversed).json file, a score file, or a folder or "
        "zip laid out as the paper's evaluation writes it (<task>/<model>_preferences.json, several models side by "
        "side; one judge per model). A file replaces only the answers for the pairs it holds; nothing is stored if "
        "any file has a problem."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", type=Path, help="A results file, a folder of them, or a zip of that folder.")
        parser.add_argument("--project", required=True, help="Slug of the project the pairs belong to.")
        parser.add_argument("--kind", choices=["preferences", "scores"], default="preferences")
        parser.add_argument("--model", help="Model name, when a single file's name does not say it.")
        variant = parser.add_mutually_exclusive_group()
        variant.add_argument("--with-tie", dest="with_tie", action="store_const", const=True, default=None)
        variant.add_argument("--without-tie", dest="with_tie", action="store_const", const=False)
        order = parser.add_mutually_exclusive_group()
        order.add_argument(
            "--inversed", dest="inversed", action="store_const", const=True, default=None,
            help="The responses were shown swapped (response2 first); default: from the file name.",
        )  # fmt: skip
        order.add_argument("--original-order", dest="inversed", action="store_const", const=False)

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["path"]
        if not path.exists():
            raise CommandError(f"{path} does not exist.")
        try:
            project = Project.objects.get(slug=options["project"])
        except Project.DoesNotExist:
            raise CommandError(f"No project with slug {options['project']!r}.") from None
        try:
            summary = judge_import_path(
                project=project,
                user=None,
                path=path,
                name=path.name,
                kind=options["kind"],
                model=options["model"],
                with_tie=options["with_tie"],
                inversed=options["inversed"],
            )
        except ValidationError as exc:
            for line in exc.messages:
                self.stderr.write(line)
            raise CommandError("Nothing was imported.") from None
        for line in summary.lines():
            self.stdout.write(line)
        names = ", ".join(judge.name for judge in summary.judges)
        self.stdout.write(f"{summary.rows:,} results imported for {names}.")
