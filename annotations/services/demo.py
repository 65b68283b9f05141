"""Seed the demo project: users, memberships and a generated nine-task benchmark."""

from __future__ import annotations

import random
import tempfile
from dataclasses import dataclass
from pathlib import Path

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import F

from annotations.demo.plan import DemoWriter
from annotations.models import (
    PAIR_CONTENT_FIELDS,
    Judgment,
    Label,
    Membership,
    Pair,
    PairKind,
    Project,
    Role,
    ShownOrder,
)

from .pair_import import ImportResult, pair_import
from .tallies import tally_recount

DEMO_SLUG = "omni-demo"
DEMO_PASSWORD = "omni-demo-pass"  # noqa: S105 -- printed by seed_demo; refused when DEBUG is off
DEMO_USERS = [
    ("curator", Role.CURATOR),
    ("annotator1", Role.ANNOTATOR),
    ("annotator2", Role.ANNOTATOR),
    ("annotator3", Role.ANNOTATOR),
]


# Simulated colleagues who already labelled part of the demo, so that the agreement dashboard, the
# adjudication queue and releases have something to show. They cannot sign in.
DEMO_RATERS = (("rater1", 0.9), ("rater2", 0.8), ("rater3", 0.65))  # name, chance to match the reference
DEMO_VOTED_SHARE = 0.6  # of the pairs; the rest is left to the demo annotators


@dataclass(frozen=True)
class DemoSeeded:
    project: Project
    result: ImportResult
    credentials: list[tuple[str, str, str]]  # username, password, role
    votes: int


def demo_seed(*, password: str = DEMO_PASSWORD) -> DemoSeeded:
    User = get_user_model()
    with transaction.atomic():
        project, _ = Project.objects.get_or_create(
            slug=DEMO_SLUG,
            defaults={
                "name": "Omni demo benchmark",
                "description": "Generated on this machine: nine tasks, about 20 pairs each, "
                "criteria that flip preferences.",
                "writing_guidance": "Write criteria a careful user would hold: about content, accuracy, style "
                "or fidelity to the prompt. Write at least one that favours each response. Never name a side "
                "or a model.",
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
    votes = _demo_votes(project) if result.ok else 0
    if result.ok:
        _demo_comparisons(project)
    return DemoSeeded(project=project, result=result, credentials=credentials, votes=votes)


def _demo_votes(project: Project) -> int:
    """Votes of the simulated raters on part of the pairs, and one gold pair per task. Runs once."""
    User = get_user_model()
    raters = []
    for username, _ in DEMO_RATERS:
        user, created = User.objects.get_or_create(username=username)
        if created:
            user.set_unusable_password()
            user.save()
        Membership.objects.get_or_create(project=project, user=user, defaults={"role": Role.ANNOTATOR})
        raters.append(user)
    if Judgment.objects.filter(pair__project=project, annotator__in=raters).exists():
        return 0
    rng = random.Random(7)
    judgments, voted, gold, tasks = [], [], [], set()
    for pair in Pair.objects.filter(project=project, reference_label__isnull=False).order_by("task", "external_id"):
        if pair.task not in tasks:
            tasks.add(pair.task)
            gold.append(pair.id)
            continue
        if rng.random() > DEMO_VOTED_SHARE:
            continue
        voted.append(pair.id)
        reference = str(pair.reference_label)
        for rater, (_, skill) in zip(raters, DEMO_RATERS, strict=True):
            wrong = [label for label in Label.values if label != reference]
            label = reference if rng.random() < skill else rng.choice(wrong)
            order = rng.choice(ShownOrder.values)
            judgments.append(
                Judgment(
                    pair=pair, annotator=rater, label=label, shown_order=order, time_spent_ms=rng.randint(3000, 40000)
                )
            )
    with transaction.atomic():
        Judgment.objects.bulk_create(judgments)
        # The queue's slot counts: these pairs now hold their k votes.
        Pair.objects.filter(id__in=voted).update(claimed=F("claimed") + len(raters))
        Pair.objects.filter(id__in=gold).update(gold_label=F("reference_label"))
        tally_recount(project=project)
    return len(judgments)


def _demo_comparisons(project: Project) -> int:
    """One comparison per task, from the task's first pair, for the demo's writers. Runs once."""
    made = 0
    for task in sorted(set(Pair.objects.labelling().filter(project=project).values_list("task", flat=True))):
        source = Pair.objects.labelling().filter(project=project, task=task).order_by("id").first()
        if source is None:
            continue
        _, created = Pair.objects.get_or_create(
            project=project,
            external_id=f"{source.external_id}-compare",
            defaults={
                "kind": PairKind.COMPARISON,
                "criterion": "",
                **{name: getattr(source, name) for name in PAIR_CONTENT_FIELDS},
            },
        )
        made += created
    return made
