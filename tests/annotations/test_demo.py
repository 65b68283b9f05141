"""The demo a newcomer gets: nine tasks, real media, criteria that flip the preference."""

from __future__ import annotations

from collections import Counter, defaultdict
from io import StringIO

import pytest
from django.contrib.auth import authenticate
from django.core.management import CommandError, call_command
from django.http import HttpRequest

from annotations.models import Judgment, Membership, Pair, PairKind, Role, Task
from media_pipeline.models import MediaAsset
from releases.selectors import dashboard
from tests.releases.test_annotator_stats import compute_annotator_stats

pytestmark = pytest.mark.django_db


def test_seed_demo_refuses_known_passwords_in_production(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="pass --force"):
        call_command("seed_demo")
    assert Pair.objects.count() == 0


def test_seed_demo_builds_all_nine_tasks_with_real_media_and_is_idempotent(
    settings, django_capture_on_commit_callbacks
):
    settings.DEBUG = True
    out = StringIO()
    call_command("seed_demo", stdout=out)
    printed = out.getvalue()

    per_task = Counter(Pair.objects.filter(kind=PairKind.PAIR).values_list("task", flat=True))
    assert set(per_task) == set(Task.values) and all(n == 20 for n in per_task.values())
    assert set(MediaAsset.objects.values_list("kind", flat=True)) == {"image", "video", "audio", "mesh"}
    assert {"glb", "obj", "ply"} <= set(MediaAsset.objects.filter(kind="mesh").values_list("extension", flat=True))
    for asset in MediaAsset.objects.filter(kind__in=["video", "audio"]):
        with asset.file.open("rb") as fh:
            assert len(fh.read()) == asset.size_bytes > 1000

    # Each comparison appears under two criteria and its label depends on the criterion.
    labels = defaultdict(list)
    for pair in Pair.objects.filter(kind=PairKind.PAIR):
        labels[pair.external_id.rsplit("-", 1)[0]].append(pair.reference_label)
    # And one comparison per task waits for the demo's writers, who get guidance.
    comparisons = Pair.objects.filter(kind=PairKind.COMPARISON)
    assert sorted(comparisons.values_list("task", flat=True)) == sorted(Task.values)
    assert all(c.criterion == "" for c in comparisons)
    assert "Never name a side" in comparisons.first().project.writing_guidance
    assert all(len(set(pair_labels)) == 2 for pair_labels in labels.values())
    assert Pair.objects.filter(reference_label="tie").count() >= 18

    roles = dict(Membership.objects.values_list("user__username", "role"))
    assert roles == {"curator": Role.CURATOR, "annotator1": Role.ANNOTATOR, "annotator2": Role.ANNOTATOR,
                     "annotator3": Role.ANNOTATOR, "rater1": Role.ANNOTATOR, "rater2": Role.ANNOTATOR,
                     "rater3": Role.ANNOTATOR}  # fmt: skip
    # Simulated raters labelled part of the pairs (k = 3 each, slot counts kept), one gold pair per task.
    voted = Pair.objects.filter(claimed=3)
    assert 60 < voted.count() < 140 and Judgment.objects.count() == 3 * voted.count()
    assert Pair.objects.filter(gold_label__isnull=False).count() == 9
    project = Pair.objects.first().project
    compute_annotator_stats(project, django_capture_on_commit_callbacks)  # the background job finds the groups
    report = dashboard(project, bootstrap=50)
    assert report.states["accepted"] > 50 and report.states["disputed"] > 0
    assert any(group.flips for group in report.prompt_groups)
    # django-axes checks every authenticate() against the lock-outs, so it needs a request (its documented test form).
    assert authenticate(HttpRequest(), username="rater1", password="") is None
    for username in ("curator", "annotator1", "annotator2", "annotator3"):
        assert f"{username:12} password: omni-demo-pass" in printed
        assert authenticate(HttpRequest(), username=username, password="omni-demo-pass") is not None

    again = StringIO()
    call_command("seed_demo", stdout=again)
    assert "0 new pairs, 180 already there" in again.getvalue()
    assert Pair.objects.count() == 180 + 9  # the pairs and the comparisons, once
    assert Judgment.objects.count() == 3 * voted.count()  # the raters voted once
