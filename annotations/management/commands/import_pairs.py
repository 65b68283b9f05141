from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from annotations.models import Project, Task, task_spec
from annotations.services.pair_import import pair_import


class Command(BaseCommand):
    help = (
        "Import an Omni-RewardBench release (folder or zip with <config>/test-*.parquet and media_data/) "
        "or JSONL/parquet files with a media folder or zip into a project. Validates everything first; "
        "a failed import stores nothing. Re-running with the same data adds nothing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", type=Path, help="Release folder or zip, or a .jsonl/.parquet file.")
        parser.add_argument("--project", required=True, help="Slug of the project to import into.")
        parser.add_argument("--media", type=Path, help="Media folder or zip that relative paths resolve against.")
        parser.add_argument("--task", choices=Task.values, help="Task for rows that name none (JSONL).")
        parser.add_argument("--json", action="store_true", help="Print the summary as JSON.")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            project = Project.objects.get(slug=options["project"])
        except Project.DoesNotExist:
            raise CommandError(f"No project with slug {options['project']!r}.") from None
        result = pair_import(
            project=project,
            data_path=options["path"],
            media_path=options["media"],
            default_task=task_spec(options["task"]) if options["task"] else None,
            data_label=str(options["path"]),
        )
        if not result.ok:
            for problem in result.problems:
                self.stderr.write(str(problem))
            hidden = result.problem_count - len(result.problems)
            if hidden:
                self.stderr.write(f"... and {hidden:,} more problems.")
            raise CommandError(f"{result.problem_count:,} problems found; nothing was imported.")
        if options["json"]:
            self.stdout.write(json.dumps(result.summary, indent=2))
            return
        summary = result.summary
        self.stdout.write(
            f"{summary['rows']:,} rows: {summary['new_pairs']:,} new pairs, "
            f"{summary['existing_pairs']:,} already present."
        )
        for task, counts in summary["tasks"].items():
            self.stdout.write(f"  {task:5} {counts['rows']:>8,} rows  {counts['new']:>8,} new")
        media = summary["media"]
        self.stdout.write(
            f"Media: {media['files']:,} files, {media['new']:,} newly stored, by kind {media['by_kind']}."
        )
        for warning in summary["warnings"]:
            self.stdout.write(self.style.WARNING(f"warning: {warning}"))
