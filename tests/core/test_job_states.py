"""A job whose worker went away looks the same on every kind's page and in its API: `stalled`, when
its last heartbeat was, and the action that sends it again (which then works)."""

from __future__ import annotations

import re
from datetime import timedelta

import numpy as np
import pytest
from django.urls import reverse
from django.utils import timezone

from annotations.models import ImportJob, ImportStatus, Pair
from judges.models import Judge, JudgeKind, JudgeRun, RunStatus
from media_pipeline.models import AssetStatus, MediaAsset
from releases.models import AnnotatorStatsReport, AnnotatorStatsStatus, Release, ReleaseStatus
from releases.services.publish import agreement_json
from releases.stats.agreement import agreement
from tests.conftest import client_for
from tests.factories import PairFactory

pytestmark = pytest.mark.django_db


def _dead(**extra: object) -> dict[str, object]:
    """The fields of a job whose run took it, beat for the last time 75 s ago, and whose lease ran out."""
    now = timezone.now()
    return {
        "attempts": 1,
        "lease_owner": "worker-7:4242",
        "heartbeat_at": now - timedelta(seconds=75),
        "lease_until": now - timedelta(seconds=15),
        **extra,
    }


def _jobs(project):
    stats = agreement_json(agreement(np.array([[3, 0, 0], [0, 2, 1]]), bootstrap=0, seed=0))
    sha = "ab" * 32
    asset = MediaAsset.objects.create(
        sha256=sha, kind="image", extension="png", file=f"assets/{sha}.png", size_bytes=1,
        **_dead(status=AssetStatus.RUNNING),
    )  # fmt: skip
    pair = PairFactory(project=project, media_ready=False)
    Pair.objects.filter(pk=pair.pk).update(input_media=asset)
    job = ImportJob.objects.create(project=project, data_name="big.zip", **_dead(status=ImportStatus.RUNNING))
    release = Release.objects.create(
        project=project,
        version=1,
        gate={"min_votes": 3, "min_majority_share": 0.6667, "tie_policy": "label"},
        statistics={"overall": stats, "tasks": {"T2T": stats}, "before_gate": stats},
        summary={"pairs": 2, "labels": {"response1": 1, "response2": 1, "tie": 0}, "tasks": {}},
        **_dead(status=ReleaseStatus.BUILDING),
    )
    judge = Judge.objects.create(project=project, name="first", kind=JudgeKind.FIRST)
    run = JudgeRun.objects.create(judge=judge, tasks=["T2T"], with_tie=False, **_dead(status=RunStatus.RUNNING))
    AnnotatorStatsReport.objects.create(project=project, **_dead(status=AnnotatorStatsStatus.RUNNING))
    return asset, job, release, judge, run


def test_every_kind_shows_a_dead_job_as_stalled_with_its_heartbeat_and_action_on_its_page(project, curator):
    _, job, release, judge, _ = _jobs(project)
    client = client_for(curator)
    pages = {
        "import": (reverse("annotations:import_detail", args=[project.slug, job.id]), "Resume the import"),
        "media": (reverse("annotations:media_status", args=[project.slug]), "Retry"),
        "release": (reverse("releases:release_detail", args=[project.slug, release.version]), "Build again"),
        "judge": (reverse("judges:judge_detail", args=[project.slug, judge.pk]), "Resume"),
        "stats": (reverse("releases:dashboard", args=[project.slug]), "Recompute now"),
    }
    for kind, (url, action) in pages.items():
        html = client.get(url).content.decode()
        assert 'data-job-state="stalled"' in html, kind
        assert re.search(r"stopped: its worker went away \(attempt 1, last heartbeat (7\d|8\d) s ago", html), kind
        assert f">{action}</button>" in html, kind
        assert "worker-7" not in html, kind  # the host is for operators' logs, not the page


def test_every_kind_reports_a_dead_job_the_same_way_in_the_api_and_its_action_sends_it_again(project, curator):
    asset, job, release, judge, run = _jobs(project)
    client = client_for(curator)
    api = {
        "import": reverse("annotations-api:import-detail", args=[project.slug, job.id]),
        "release": reverse("releases-api:release-detail", args=[project.slug, release.version]),
        "judge": reverse("judges-api:run-list", args=[project.slug, judge.pk]),
        "media": reverse("annotations-api:media", args=[project.slug]),
        "stats": reverse("releases-api:statistics", args=[project.slug]) + "?bootstrap=0",
    }
    bodies = {kind: client.get(url).json() for kind, url in api.items()}
    shown = {
        "import": bodies["import"],
        "release": bodies["release"],
        "judge": bodies["judge"]["results"][0] if "results" in bodies["judge"] else bodies["judge"][0],
        "media": bodies["media"]["running"][0],
        "stats": bodies["stats"]["annotator_stats"]["job"],
    }
    for kind, body in shown.items():
        assert body["state"] == "stalled" and body["stalled"] is True, (kind, body)
        assert body["attempts"] == 1 and 70 <= body["heartbeat_age_s"] <= 90, (kind, body)
        assert body["action"]["method"] == "POST", (kind, body)
    names = {kind: body["action"]["name"] for kind, body in shown.items()}
    assert names == {
        "import": "resume",
        "release": "build again",
        "judge": "resume",
        "media": "retry",
        "stats": "recompute",
    }

    # The actions work: each job waits for a worker again (eager here: it runs at once).
    for kind, body in shown.items():
        action = body["action"]
        response = client.post(action["url"], action.get("body", {}), content_type="application/json")
        assert response.status_code in (200, 202), (kind, response.content)
    stats = AnnotatorStatsReport.objects.get(project=project)
    for model, pk in (
        (ImportJob, job.id), (MediaAsset, asset.pk), (Release, release.pk), (JudgeRun, run.pk),
        (AnnotatorStatsReport, stats.pk),
    ):  # fmt: skip
        again = model.objects.get(pk=pk)
        assert not again.stalled and again.job_state != "stalled", model


def test_a_running_job_shows_how_long_since_its_last_heartbeat(project, curator):
    now = timezone.now()
    sha = "cd" * 32
    asset = MediaAsset.objects.create(
        sha256=sha, kind="video", extension="mp4", file=f"assets/{sha}.mp4", size_bytes=1, status=AssetStatus.RUNNING,
        attempts=2, heartbeat_at=now - timedelta(seconds=4), lease_until=now + timedelta(seconds=56),
    )  # fmt: skip
    pair = PairFactory(project=project, media_ready=False)
    Pair.objects.filter(pk=pair.pk).update(input_media=asset)
    html = client_for(curator).get(reverse("annotations:media_status", args=[project.slug])).content.decode()
    assert 'data-job-state="running"' in html and "attempt 2 · last heartbeat 4 s ago" in html
    body = client_for(curator).get(reverse("annotations-api:media", args=[project.slug])).json()
    assert body["running"][0]["state"] == "running" and body["running"][0]["action"] is None
