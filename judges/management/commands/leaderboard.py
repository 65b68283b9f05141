from __future__ import annotations

import csv
import json
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from annotations.models import Project
from judges import board_export, selectors


class Command(BaseCommand):
    help = (
        "Print a project's leaderboard, w/ Tie and w/o Tie (a column per task and Overall, n per cell), the same "
        "cells as the Leaderboard page, to paste beside the paper's tables."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--project", required=True, help="Slug of the project.")
        parser.add_argument(
            "--truth",
            default="",
            help="imported, gate or release:<version>; default as on the page (imported labels when no human "
            "label is accepted yet).",
        )
        parser.add_argument("--format", choices=["markdown", "csv", "json"], default="markdown")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            project = Project.objects.get(slug=options["project"])
        except Project.DoesNotExist:
            raise CommandError(f"No project with slug {options['project']!r}.") from None
        try:
            choice = selectors.parse_truth(project, options["truth"])
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        board = selectors.leaderboard(project, choice)
        if options["format"] == "json":
            self.stdout.write(json.dumps(board_export.board_json(board), indent=2))
        elif options["format"] == "csv":
            csv.writer(self.stdout, lineterminator="\n").writerows(board_export.board_csv_rows(board))
        else:
            self.stdout.write(board_export.board_markdown(board))
