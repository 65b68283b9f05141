"""Access checks every view calls first: they return the object or raise.

An outsider gets 404 rather than 403 so project slugs do not leak.
"""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser, User
from django.core.exceptions import PermissionDenied
from django.http import Http404

from .models import Membership, Pair, Project, Role


def role_in(project: Project, user: User | AnonymousUser) -> str | None:
    if not user.is_authenticated:
        return None
    if user.is_staff:
        return Role.CURATOR
    return Membership.objects.filter(project=project, user=user).values_list("role", flat=True).first()


# Every workspace request starts here: one statement, and raw() because building the ORM's
# subquery cost the web process more than the database spent running it.
_PROJECT_AND_ROLE = (
    "SELECT p.*, (SELECT m.role FROM {membership} m WHERE m.project_id = p.id AND m.user_id = %s) AS member_role"
    " FROM {project} p WHERE p.slug = %s"
)


def get_project_for_member(user: User | AnonymousUser, slug: str) -> tuple[Project, str]:
    """The project and the user's role in it, read in one query."""
    if not user.is_authenticated:
        raise Http404("No such project.")
    sql = _PROJECT_AND_ROLE.format(membership=Membership._meta.db_table, project=Project._meta.db_table)
    project = next(iter(Project.objects.raw(sql, [user.pk, slug])), None)
    role: str | None = getattr(project, "member_role", None)  # the raw query's extra column
    if project is None or not (user.is_staff or role):
        raise Http404("No such project.")
    return project, Role.CURATOR if user.is_staff else str(role)


def get_project_for_curator(user: User | AnonymousUser, slug: str) -> Project:
    project, role = get_project_for_member(user, slug)
    if role != Role.CURATOR:
        raise PermissionDenied("Only the project's curators can do this.")
    return project


CREATE_PROJECT = "annotations.create_project"


def get_pair_for_curator(user: User | AnonymousUser, slug: str, pair_id: int) -> tuple[Project, Pair]:
    """A pair (not a comparison) of a project the user curates; 404 for a pair of another project."""
    project = get_project_for_curator(user, slug)
    pair = Pair.objects.labelling().filter(project=project, id=pair_id).first()
    if pair is None:
        raise Http404("No such pair in this project.")
    return project, pair


def can_create_projects(user: User | AnonymousUser) -> bool:
    """Staff, and users granted the permission (directly or through a group; superusers hold them all)."""
    return user.is_authenticated and (user.is_staff or user.has_perm(CREATE_PROJECT))


def require_project_creator(user: User | AnonymousUser) -> None:
    if not can_create_projects(user):
        raise PermissionDenied("Creating projects needs the 'create projects' permission; ask a staff member.")
