"""Refusals are pages with a way back: the navigation, and a sentence on why."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from tests.conftest import client_for

pytestmark = pytest.mark.django_db


def _main(html: str) -> str:
    return html[html.index("<main>") : html.index("</main>")]


def test_an_annotator_on_a_curators_page_gets_the_reason_and_a_way_back(project, annotator):
    response = client_for(annotator).get(reverse("annotations:project_settings", args=[project.slug]))
    html = response.content.decode()
    assert response.status_code == 403
    assert "Only the project&#x27;s curators can do this." in html
    assert "You are signed in as <strong>ann</strong>" in html
    assert f'href="{reverse("annotations:project_list")}"' in html and "Sign out" in html  # the navigation


def test_an_outsider_gets_the_same_not_found_page_as_for_a_page_that_does_not_exist(project, outsider):
    client = client_for(outsider)
    theirs = client.get(reverse("annotations:project_detail", args=[project.slug]))
    nowhere = client.get("/projects/no-such-project/")
    assert theirs.status_code == nowhere.status_code == 404
    html = theirs.content.decode()
    assert _main(html) == _main(nowhere.content.decode())  # nothing tells a hidden project from no project
    assert "or it belongs to a project you are not a member of" in html and "Back to your projects" in html
    assert project.name not in html


def test_a_signed_out_visitor_is_sent_to_sign_in_not_refused(project):
    response = Client().get(reverse("annotations:project_detail", args=[project.slug]))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
