"""The curator's judge forms: a run starts from every task ticked, and a refused form keeps what was chosen."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from annotations.models import Task
from judges.models import Judge, JudgeKind, JudgeRun, RunStatus
from tests.conftest import client_for

pytestmark = pytest.mark.django_db


def _ticked(html: str, name: str) -> list[str]:
    """The values of the checked boxes named `name`."""
    boxes = re.findall(rf'<input type="checkbox" name="{name}"[^>]*>', html)
    return [re.search(r'value="([^"]*)"', box).group(1) for box in boxes if " checked" in box]


def _on(html: str, name: str) -> bool:
    """Whether the one checkbox named `name` is checked."""
    return bool(re.search(rf'<input type="checkbox" name="{name}"[^>]*\bchecked', html))


def test_a_new_run_starts_with_every_task_of_the_project_ticked(project, curator):
    judge = Judge.objects.create(project=project, name="coin", kind=JudgeKind.RANDOM)
    url = reverse("judges:judge_detail", args=[project.slug, judge.pk])
    assert _ticked(client_for(curator).get(url).content.decode(), "tasks") == list(Task.values)
    project.tasks = ["T2T", "T2I"]
    project.save()
    assert _ticked(client_for(curator).get(url).content.decode(), "tasks") == ["T2T", "T2I"]


def test_a_refused_run_keeps_the_choices_and_shows_why_as_an_error(project, curator):
    judge = Judge.objects.create(project=project, name="coin", kind=JudgeKind.RANDOM)
    client = client_for(curator)
    url = reverse("judges:run_start", args=[project.slug, judge.pk])
    refused = client.post(url, {"both_orders": "on"})  # no task ticked
    html = refused.content.decode()
    assert refused.status_code == 400
    assert re.search(r'<p class="error" role="alert">Tasks: This field is required\.</p>', html)
    assert _on(html, "both_orders") and not _on(html, "with_tie")
    assert not JudgeRun.objects.exists()

    JudgeRun.objects.create(judge=judge, tasks=["T2T"], with_tie=True, status=RunStatus.RUNNING)
    busy = client.post(url, {"tasks": ["T2I", "T2V"], "with_tie": "on"})
    html = busy.content.decode()
    assert busy.status_code == 400
    assert "coin already has a run in progress" in html and 'class="error" role="alert"' in html
    assert _ticked(html, "tasks") == ["T2I", "T2V"] and _on(html, "with_tie") and not _on(html, "both_orders")
    assert JudgeRun.objects.count() == 1

    started = client.post(url, {"tasks": ["T2T"]})
    assert started.status_code == 400  # still busy; once it is done, the same post starts a run
    JudgeRun.objects.update(status=RunStatus.DONE)
    assert client.post(url, {"tasks": ["T2T"]}).status_code == 302
    assert JudgeRun.objects.filter(status=RunStatus.QUEUED, tasks=["T2T"]).exists()


def test_the_add_judge_form_lists_only_judge_kinds_and_the_import_form_its_own(project, curator):
    html = client_for(curator).get(reverse("judges:judge_list", args=[project.slug])).content.decode()
    add = re.search(r'<form method="post" class="card stack" id="new-judge".*?</form>', html, re.S).group(0)
    kinds = re.findall(r'<option value="([^"]*)"', re.search(r'<select name="kind".*?</select>', add, re.S).group(0))
    assert kinds == ["endpoint", "random", "first", "longer", "embedding"]
    assert "Judge kind" in add and "Scalar scores" not in add
    upload = re.search(r'<form [^>]*id="import-results".*?</form>', html, re.S).group(0)
    assert "The file holds" in upload and 'id="upload_kind"' in upload
    assert html.count('id="id_kind"') == 1  # one element per id on the page
