"""Projects are created and staffed from the app (page and API), never in /admin/ (issue 16)."""

from __future__ import annotations

import json
import threading

import pytest
from django.contrib.auth.models import Group, Permission
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from rest_framework.test import APIClient

from annotations.forms import ProjectSettingsForm
from annotations.models import Membership, Project, Role
from annotations.services.members import MembershipError, membership_remove, membership_role_change
from annotations.services.pair_import import pair_import
from releases.models import GateRule
from releases.selectors import gate_rule
from tests.conftest import client_for
from tests.factories import MembershipFactory, ProjectFactory, UserFactory
from tests.services import unavailable

pytestmark = pytest.mark.django_db

NEW = "/projects/new/"
API = "/api/projects/"
# What the page posts when the creator changes nothing but the name (the form's initial values).
FORM = {
    "name": "Speech study", "slug": "", "description": "", "votes_per_pair": 3, "writing_guidance": "",
    "reservation_minutes": 15, "gold_share": 0.1, "must_view_share": "", "criteria_per_comparison": 2,
    "min_votes": "", "min_majority_share": 0.6667, "tie_policy": "label", "min_gold_accuracy": "",
    "min_gold_judged": 5,
}  # fmt: skip


@pytest.fixture
def staff(db):
    return UserFactory(username="root", is_staff=True)


@pytest.fixture
def maker(db):
    """Not staff: allowed to create projects through a group holding the permission."""
    group = Group.objects.create(name="project makers")
    group.permissions.add(Permission.objects.get(codename="create_project"))
    user = UserFactory(username="maker")
    user.groups.add(group)
    return user


def api_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def members(project: Project) -> list[tuple[str, str]]:
    return sorted(Membership.objects.filter(project=project).values_list("user__username", "role"))


# Creating a project on the page


def test_staff_create_a_project_on_the_page_and_become_its_curator(staff):
    client = client_for(staff)
    listing = client.get(reverse("annotations:project_list")).content.decode()
    assert f'href="{NEW}"' in listing and "New project" in listing
    form = client.get(NEW).content.decode()
    for field in ("name", "slug", "votes_per_pair", "writing_guidance", "min_votes", "min_majority_share"):
        assert f'name="{field}"' in form, field
    created = client.post(
        NEW, {**FORM, "votes_per_pair": 5, "writing_guidance": "Name no model.", "description": "Voice prompts."}
    )
    project = Project.objects.get()
    assert created.status_code == 302 and created["Location"] == f"/projects/{project.slug}/members/"
    assert (project.name, project.slug, project.votes_per_pair) == ("Speech study", "speech-study", 5)
    assert (project.writing_guidance, project.description) == ("Name no model.", "Voice prompts.")
    assert members(project) == [("root", Role.CURATOR)]
    # The gate was left as shown: the default rule, which follows k.
    assert not GateRule.objects.exists() and gate_rule(project).min_votes == 5
    page = client.get(created["Location"]).content.decode()
    assert "Project Speech study created; you are its curator." in page
    assert 'data-member="root"' in page


def test_a_user_with_the_permission_creates_one_with_its_gate(maker):
    client = client_for(maker)
    assert "New project" in client.get(reverse("annotations:project_list")).content.decode()
    gate = {"min_votes": 2, "min_majority_share": 1, "tie_policy": "exclude", "min_gold_accuracy": 0.8}
    response = client.post(NEW, {**FORM, "name": "Déjà vu", "votes_per_pair": 4, **gate}, follow=True)
    project = Project.objects.get()
    assert project.slug == "deja-vu" and members(project) == [("maker", Role.CURATOR)]
    rule = GateRule.objects.get(project=project)
    assert (rule.min_votes, rule.min_majority_share, rule.tie_policy, rule.min_gold_accuracy) == (2, 1, "exclude", 0.8)
    assert rule.updated_by == maker
    # Curator through the membership the creation made: the curator pages open.
    assert response.status_code == 200
    assert client.get(f"/projects/{project.slug}/").status_code == 200
    assert client.get(f"/projects/{project.slug}/settings/").status_code == 200


def test_without_the_permission_there_is_no_link_and_no_project(project, curator, annotator):
    for user in (curator, annotator, UserFactory(username="nobody")):
        client = client_for(user)
        assert "New project" not in client.get(reverse("annotations:project_list")).content.decode()
        assert client.get(NEW).status_code == 403
        assert client.post(NEW, {**FORM, "name": "Sneaky"}).status_code == 403
    assert list(Project.objects.values_list("slug", flat=True)) == ["bench"]


def test_a_slug_clash_is_named_on_the_slug_field_and_nothing_is_saved(staff, project):
    client = client_for(staff)
    for slug, message in [
        ("bench", "A project with the slug &#x27;bench&#x27; already exists; pick another."),
        ("new", "&#x27;new&#x27; is taken by a page of the site; pick another slug."),
        ("two words", "&#x27;two words&#x27; is not a slug: use letters, digits, hyphens and underscores only."),
    ]:
        refused = client.post(NEW, {**FORM, "slug": slug})
        page = refused.content.decode()
        assert refused.status_code == 400, slug
        assert f'<ul class="errorlist" data-field="slug"><li>{message}</li></ul>' in page, slug
        assert 'value="Speech study"' in page  # what was typed is kept
    assert Project.objects.count() == 1 and Membership.objects.count() == 0


def test_refused_values_name_their_fields_and_a_refused_gate_leaves_no_project(staff):
    client = client_for(staff)
    refused = client.post(NEW, {**FORM, "votes_per_pair": 0, "gold_share": 2})
    page = refused.content.decode()
    assert refused.status_code == 400
    assert 'data-field="votes_per_pair"><li>The votes per pair (overlap k) must be between 1 and 50 (got 0).' in page
    assert 'data-field="gold_share"><li>The gold share must be between 0 and 1 (got 2).' in page
    refused = client.post(NEW, {**FORM, "votes_per_pair": 3, "min_votes": 4})
    assert refused.status_code == 400
    assert 'data-field="min_votes"><li>Minimum votes is 4, but the queue stops at 3 votes' in refused.content.decode()
    assert not Project.objects.exists() and not Membership.objects.exists() and not GateRule.objects.exists()


def test_the_permission_is_granted_in_the_user_admin(maker):
    admin = UserFactory(username="admin", is_staff=True, is_superuser=True)
    page = client_for(admin).get(reverse("admin:auth_user_change", args=[maker.pk])).content.decode()
    assert "Can create projects (and becomes their curator)" in page
    granted = UserFactory(username="granted")
    assert client_for(granted).get(NEW).status_code == 403
    granted.user_permissions.add(Permission.objects.get(codename="create_project"))
    assert client_for(granted).get(NEW).status_code == 200


# Creating a project through the API


def test_the_api_creates_a_project_for_staff_and_for_the_permission(staff, maker):
    created = api_for(staff).post(
        API,
        {"name": "Vision", "slug": "vision", "votes_per_pair": 5, "writing_guidance": "Be concrete."},
        format="json",
    )
    assert created.status_code == 201
    body = created.json()
    assert (body["slug"], body["role"], body["votes_per_pair"], body["writing_guidance"]) == (
        "vision",
        "curator",
        5,
        "Be concrete.",
    )
    assert body["curator"]["labelling"]["judgments"] == 0
    assert members(Project.objects.get(slug="vision")) == [("root", Role.CURATOR)]
    assert not GateRule.objects.exists()

    gate = {"min_majority_share": 0.75, "tie_policy": "abstain"}
    made = api_for(maker).post(API, {"name": "Audio only", "votes_per_pair": 4, "gate": gate}, format="json")
    assert made.status_code == 201 and made.json()["slug"] == "audio-only"
    rule = GateRule.objects.get(project__slug="audio-only")
    assert (rule.min_votes, rule.min_majority_share, rule.tie_policy, rule.min_gold_judged) == (4, 0.75, "abstain", 5)
    listed = api_for(maker).get(API).json()["results"]
    assert [(row["slug"], row["role"]) for row in listed] == [("audio-only", "curator")]


def test_the_api_refuses_without_the_permission_and_names_bad_fields(staff, project, curator, annotator):
    for user in (curator, annotator):
        refused = api_for(user).post(API, {"name": "Sneaky"}, format="json")
        assert refused.status_code == 403 and "create projects" in refused.json()["detail"]
    assert APIClient().post(API, {"name": "Sneaky"}, format="json").status_code in (401, 403)
    api = api_for(staff)
    clash = api.post(API, {"name": "Bench again", "slug": "bench"}, format="json")
    assert clash.status_code == 400
    assert clash.json() == {"slug": ["A project with the slug 'bench' already exists; pick another."]}
    bad = api.post(API, {"name": "X", "votes_per_pair": 99, "gate": {"min_votes": 120}}, format="json")
    assert bad.status_code == 400 and list(bad.json()) == ["votes_per_pair"]
    gate = api.post(
        API, {"name": "X", "votes_per_pair": 3, "gate": {"min_votes": 4, "min_majority_share": 0.4}}, format="json"
    )
    assert gate.status_code == 400
    assert set(gate.json()) == {"gate"} and set(gate.json()["gate"]) == {"min_votes", "min_majority_share"}
    unnamed = api.post(API, {"slug": "no-name"}, format="json")
    assert unnamed.status_code == 400 and list(unnamed.json()) == ["name"]
    assert list(Project.objects.values_list("slug", flat=True)) == ["bench"]


# Members on the page


def test_curators_add_change_and_remove_members_on_the_page(project, curator, annotator):
    UserFactory(username="newbie")
    client = client_for(curator)
    base = f"/projects/{project.slug}/members/"
    assert base in client.get(f"/projects/{project.slug}/").content.decode()  # linked from the project page
    page = client.get(base).content.decode()
    assert 'data-member="ann"' in page and 'data-member="cora"' in page

    added = client.post(base + "add/", {"username": "newbie", "role": "annotator"}, follow=True)
    assert "newbie added as annotator." in added.content.decode()
    assert ("newbie", Role.ANNOTATOR) in members(project)

    unknown = client.post(base + "add/", {"username": "ghost", "role": "annotator"})
    assert unknown.status_code == 400
    assert (
        '<ul class="errorlist" data-field="username"><li>No user named &#x27;ghost&#x27;: they need an account first.'
        in unknown.content.decode()
    )
    again = client.post(base + "add/", {"username": "newbie", "role": "curator"})
    assert again.status_code == 400
    assert "newbie is already a member (annotator); change their role in the list instead." in again.content.decode()

    promoted = client.post(base + "newbie/role/", {"role": "curator"}, follow=True)
    assert "newbie is now curator." in promoted.content.decode()
    assert ("newbie", Role.CURATOR) in members(project)

    removed = client.post(base + "ann/remove/", follow=True)
    assert "ann removed from Bench." in removed.content.decode()
    assert members(project) == [("cora", Role.CURATOR), ("newbie", Role.CURATOR)]
    assert client.post(base + "ann/remove/").status_code == 404


def test_the_last_curator_cannot_step_down_or_be_removed_on_the_page(project, curator, annotator):
    client = client_for(curator)
    base = f"/projects/{project.slug}/members/"
    demoted = client.post(base + "cora/role/", {"role": "annotator"}, follow=True).content.decode()
    assert "Bench needs a curator: add another before cora steps down." in demoted
    removed = client.post(base + "cora/remove/", follow=True).content.decode()
    assert "Bench needs a curator: add another before cora steps down." in removed
    assert members(project) == [("ann", Role.ANNOTATOR), ("cora", Role.CURATOR)]
    # With a second curator, cora may go; the page she lands on is her project list.
    client.post(base + "ann/role/", {"role": "curator"})
    left = client.post(base + "cora/remove/")
    assert left.status_code == 302 and left["Location"] == reverse("annotations:project_list")
    assert members(project) == [("ann", Role.CURATOR)]


def test_only_the_projects_curators_see_or_change_its_members(project, curator, annotator, outsider):
    base = f"/projects/{project.slug}/members/"
    for user, code in ((annotator, 403), (outsider, 404)):
        client = client_for(user)
        assert client.get(base).status_code == code
        assert client.post(base + "add/", {"username": user.username, "role": "curator"}).status_code == code
        assert client.post(base + "cora/role/", {"role": "annotator"}).status_code == code
        assert client.post(base + "cora/remove/").status_code == code
    # The outsider curates another project: that gives them nothing here, and our list names no one to them.
    assert "cora" not in client_for(outsider).get(base).content.decode()
    assert members(project) == [("ann", Role.ANNOTATOR), ("cora", Role.CURATOR)]


def test_the_member_page_costs_the_same_queries_for_many_members(project, curator):
    client = client_for(curator)
    url = f"/projects/{project.slug}/members/"
    with CaptureQueriesContext(connection) as few:
        assert client.get(url).status_code == 200
    for i in range(15):
        MembershipFactory(project=project, user=UserFactory(username=f"m{i}"))
    with CaptureQueriesContext(connection) as many:
        assert 'data-member="m14"' in client.get(url).content.decode()
    assert len(many) == len(few)


# Members through the API


def test_the_member_api_changes_roles_with_the_same_guard(project, curator, annotator):
    api = api_for(curator)
    url = f"/api/projects/{project.slug}/members/"
    promoted = api.patch(url + "ann/", {"role": "curator"}, format="json")
    assert promoted.status_code == 200 and promoted.json()["role"] == "curator"
    assert api.patch(url + "cora/", {"role": "annotator"}, format="json").json()["role"] == "annotator"
    last = api_for(annotator).patch(url + "ann/", {"role": "annotator"}, format="json")
    assert last.status_code == 409 and "needs a curator" in last.json()["detail"]
    assert api_for(annotator).patch(url + "ann/", {"role": "owner"}, format="json").status_code == 400
    assert api_for(annotator).patch(url + "ghost/", {"role": "curator"}, format="json").status_code == 404
    # cora is an annotator now: no longer allowed to manage members.
    assert api.patch(url + "cora/", {"role": "curator"}, format="json").status_code == 403
    assert members(project) == [("ann", Role.CURATOR), ("cora", Role.ANNOTATOR)]


# Two curators stepping down at once


def _step_down(membership: Membership, *, remove: bool, start: threading.Barrier, outcomes: list[str]) -> None:
    start.wait()
    try:
        if remove:
            membership_remove(membership=membership)
        else:
            membership_role_change(membership=membership, role=Role.ANNOTATOR)
        outcomes.append("done")
    except MembershipError:
        outcomes.append("refused")
    finally:
        connections.close_all()


@pytest.mark.django_db(transaction=True)
def test_two_curators_stepping_down_at_once_leave_one_curator():
    """Both check "is another curator left?" at the same moment; the locks make the second see the first's change,
    and take the rows in one order so neither waits on the other for ever (a deadlock would be an error here)."""
    if connection.vendor != "postgresql":
        unavailable("row locks need PostgreSQL (set DATABASE_URL)")
    for round_ in range(4):
        project = ProjectFactory()
        curators = [MembershipFactory(project=project, role=Role.CURATOR, user=UserFactory()) for _ in range(2)]
        start, outcomes = threading.Barrier(2), []
        threads = [
            threading.Thread(
                target=_step_down, args=(m,), kwargs={"remove": round_ % 2 == i, "start": start, "outcomes": outcomes}
            )
            for i, m in enumerate(curators)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert sorted(outcomes) == ["done", "refused"], (round_, outcomes)
        assert Membership.objects.filter(project=project, role=Role.CURATOR).count() == 1


# A project's tasks


def _rows(path, *tasks: str):
    lines = [
        {"id": f"p-{n}", "task": task, "prompt": "Q", "response1": "a", "response2": "b", "criteria": "Prefer a."}
        for n, task in enumerate(tasks, start=1)
    ]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def test_a_project_made_with_its_tasks_refuses_rows_of_other_tasks(staff, tmp_path):
    client = client_for(staff)
    form = client.get(NEW).content.decode()
    assert 'type="checkbox" name="tasks" value="T2T"' in form and "T23D · Text to 3D" in form
    created = client.post(NEW, {**FORM, "tasks": ["TI2T", "T2T"]})
    project = Project.objects.get()
    assert created.status_code == 302 and project.tasks == ["T2T", "TI2T"]  # the nine tasks' order

    refused = pair_import(project=project, data_path=_rows(tmp_path / "rows.jsonl", "T2T", "TA2T", "T2T"))
    assert not refused.ok and not project.pairs.exists()
    [problem] = refused.problems
    assert (problem.file, problem.row, problem.field) == ("rows.jsonl", 2, "task")
    assert "TA2T is not one of this project's tasks (T2T, TI2T)" in problem.message

    # Curators change the tasks in the settings; then the same rows pass the task check.
    curator_client = client
    saved = curator_client.post(
        f"/projects/{project.slug}/settings/",
        {**{k: v for k, v in FORM.items() if k in ProjectSettingsForm.base_fields}, "tasks": ["T2T", "TA2T", "TI2T"]},
    )
    assert saved.status_code == 302, saved.content.decode()[:2000]
    project.refresh_from_db()
    assert project.tasks == ["T2T", "TI2T", "TA2T"]
    again = pair_import(project=project, data_path=tmp_path / "rows.jsonl")
    assert [(p.row, p.field) for p in again.problems] == [(2, "audio")]  # next: the TA2T row has no audio


def test_the_api_takes_tasks_and_names_an_unknown_one(staff):
    api = api_for(staff)
    made = api.post(API, {"name": "Vision", "tasks": ["T2I", "TI2I"]}, format="json")
    assert made.status_code == 201, made.content
    assert made.json()["tasks"] == ["T2I", "TI2I"] and Project.objects.get(slug="vision").tasks == ["T2I", "TI2I"]
    refused = api.post(API, {"name": "Other", "tasks": ["T2I", "T9X"]}, format="json")
    assert refused.status_code == 400 and "tasks" in refused.json(), refused.content
    assert not Project.objects.filter(slug="other").exists()
    # No tasks: any of the nine.
    assert api.post(API, {"name": "Open"}, format="json").json()["tasks"] == []
    changed = api.patch("/api/projects/vision/settings/", {"tasks": ["T2V"]}, format="json")
    assert changed.status_code == 200, changed.content
    assert Project.objects.get(slug="vision").tasks == ["T2V"]
