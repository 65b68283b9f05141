from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from annotations.services.demo import DEMO_PASSWORD, demo_seed


class Command(BaseCommand):
    help = "Create (or refresh) the demo project with all nine tasks and real generated media. Idempotent."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--password", default=DEMO_PASSWORD, help="Password for the demo users.")
        parser.add_argument("--force", action="store_true", help="Allow running with DJANGO_DEBUG=false.")
        parser.add_argument(
            "--url", default="http://127.0.0.1:8000", help="Where the app is served, for the sign-in link it prints."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEBUG and not options["force"]:
            raise CommandError("Refusing to create demo users with known passwords in production; pass --force.")
        seeded = demo_seed(password=options["password"])
        if not seeded.result.ok:
            for problem in seeded.result.problems:
                self.stderr.write(str(problem))
            raise CommandError("The generated demo data did not import; see the problems above.")
        summary = seeded.result.summary
        url = options["url"].rstrip("/")
        self.stdout.write(
            f"Demo project '{seeded.project.name}' ({url}/projects/{seeded.project.slug}/): "
            f"{summary['new_pairs']} new pairs, {summary['existing_pairs']} already there, "
            f"{summary['media']['files']} media files {summary['media']['by_kind']}."
        )
        if seeded.votes:
            self.stdout.write(
                f"Simulated raters cast {seeded.votes} votes, so the Agreement, Adjudication and Releases pages "
                "have something to show; the rest of the pairs wait for the demo annotators."
            )
        self.stdout.write(f"Demo sign-ins ({url}/accounts/login/):")
        for username, password, role in seeded.credentials:
            self.stdout.write(f"  {role:10} {username:12} password: {password}")
