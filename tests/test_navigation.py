"""No dead ends: every curator page of a project carries its tab bar, and members find the Write page."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from annotations.models import PairKind
from tests.conftest import client_for
from tests.factories import PairFactory

pytestmark = pytest.mark.django_db


def _tabs(html: str) -> tuple[list[str], list[str]]:
    """The tab bar's labels, and the one marked as the current page."""
    bar = re.search(r'<nav class="subnav" aria-label="Curation">(.*?)</nav>', html, re.S)
    if bar is None:
        return [], []
    labels = re.findall(r">([^<]+)</a>", bar.group(1))
    current = re.findall(r'aria-current="page">([^<]+)</a>', bar.group(1))
    return labels, current


@pytest.mark.parametrize(
    ("name", "current"),
    [
        ("annotations:import_start", "Import"),
        ("annotations:project_settings", "Settings"),
        ("annotations:media_status", "Media"),
        ("criteria:comparison_new", "Criteria"),
        ("criteria:write", "Criteria"),
        ("annotations:project_detail", "Pairs"),
    ],
)
def test_every_curator_page_has_the_tab_bar_with_its_own_tab_marked(project, curator, name, current):
    html = client_for(curator).get(reverse(name, args=[project.slug])).content.decode()
    labels, marked = _tabs(html)
    assert "Import" in labels and "Settings" in labels and "Agreement" in labels
    assert marked == [current]


def test_annotators_find_the_write_page_and_no_curators_tabs(project, annotator):
    client = client_for(annotator)
    projects = reverse("annotations:project_list")
    assert "Write criteria" not in client.get(projects).content.decode()  # nothing to write for yet
    PairFactory(project=project, kind=PairKind.COMPARISON, criterion="")
    listing = client.get(projects).content.decode()
    assert f'href="{reverse("criteria:write", args=[project.slug])}">Write criteria</a>' in listing
    assert "1 comparison<" in listing
    write = client.get(reverse("criteria:write", args=[project.slug]), follow=True)
    assert write.status_code == 200 and _tabs(write.content.decode()) == ([], [])
