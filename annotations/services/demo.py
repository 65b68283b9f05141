"""Seed the demo project: users, memberships and a generated nine-task benchmark."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from django.contrib.auth import get_user_model
from django.db import transaction

from annotations.demo.plan import DemoWriter
from annotations.models import Membership, Project, Role

from .pair_import import ImportResult, pair_import

DEMO_SLUG = "omni-demo"
DEMO_PASSWORD = "omni-demo-pass"  # noqa: S105 -- printed by seed_demo; refused when DEBUG is off
DEMO_USERS = [
    ("curator", Role.CURATOR),
    ("annotator1", Role.ANNOTATOR),
    ("annotator2", Role.ANNOTATOR),
    ("annotator3", Role.ANNOTATOR),
]


@dataclass(frozen=True)
class DemoSeeded:
    project: Project
    result: ImportResult
    credentials: list[tuple[str, str, str]]  # username, password, role


def demo_seed(*, password: str = DEMO_PASSWORD) -> DemoSeeded:
    User = get_user_model()
    with transaction.atomic():
        project, _ = Project.objects.get_or_create(
            slug=DEMO_SLUG,
            defaults={
                "name": "Omni demo benchmark",
                "description": "Generated on this machine: nine tasks, about 20 pairs each, "
                "criteria that flip preferences.",
            },
        )
        credentials = []
        for username, role in DEMO_USERS:
            user, _ = User.objects.get_or_create(username=username)
            user.set_password(password)
            # The demo curator also administers the site, so the admin pages are one click away.
            user.is_staff = user.is_superuser = role == Role.CURATOR
            user.save()
            Membership.objects.update_or_create(project=project, user=user, defaults={"role": role})
            credentials.append((username, password, role.value))
    with tempfile.TemporaryDirectory(prefix="omni-demo-") as tmp:
        data = DemoWriter(Path(tmp)).build()
        result = pair_import(project=project, data_path=data, data_label="demo.jsonl")
    return DemoSeeded(project=project, result=result, credentials=credentials)
