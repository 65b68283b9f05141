"""Who works on a project, as its curators change it: add, change a role, remove."""

from __future__ import annotations

from collections import Counter

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.db.models import F

from annotations.models import Membership, Pair, Project, Reservation, Role


class MembershipError(Exception):
    """A membership change the project refuses, with a sentence for the curator."""


def _locked(membership: Membership) -> Membership:
    """Lock the project's curator rows, then the member's row, and read it afresh.

    Always in this order (curators first, by id), so two curators stepping down at the same moment
    wait for each other instead of deadlocking, and the second sees the first one's change.
    """
    list(
        Membership.objects.select_for_update()
        .filter(project_id=membership.project_id, role=Role.CURATOR)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    fresh = Membership.objects.select_for_update().filter(pk=membership.pk).first()
    if fresh is None:
        raise MembershipError(f"{membership.user} is no longer a member.")
    return fresh


def _keep_a_curator(membership: Membership) -> None:
    """Refuse to remove or demote the project's last curator (the caller holds the curators' locks)."""
    others = Membership.objects.filter(project_id=membership.project_id, role=Role.CURATOR).exclude(pk=membership.pk)
    if membership.role == Role.CURATOR and not others.exists():
        raise MembershipError(f"{membership.project} needs a curator: add another before {membership.user} steps down.")


def _check_role(role: str) -> None:
    if role not in Role.values:
        raise MembershipError(f"{role[:30]!r} is not a role: expected one of {', '.join(Role.values)}.")


def membership_add(*, project: Project, user: User, role: str) -> Membership:
    """Add `user` to the project with `role`; refused if they are a member already."""
    _check_role(role)
    existing = Membership.objects.filter(project=project, user=user).first()
    if existing is not None:
        raise MembershipError(f"{user} is already a member ({existing.role}); change their role in the list instead.")
    try:
        with transaction.atomic():
            return Membership.objects.create(project=project, user=user, role=role)
    except IntegrityError:  # added by another request since the look above
        raise MembershipError(f"{user} is already a member; change their role in the list instead.") from None


def membership_role_change(*, membership: Membership, role: str) -> Membership:
    """Give a member another role; the project's last curator cannot step down."""
    _check_role(role)
    with transaction.atomic():
        membership = _locked(membership)
        if role != Role.CURATOR:
            _keep_a_curator(membership)
        membership.role = role
        membership.save(update_fields=["role"])
    return membership


def membership_set(*, project: Project, user: User, role: str) -> tuple[Membership, bool]:
    """Add `user` to the project with `role`, or change their role; True when added."""
    membership = Membership.objects.filter(project=project, user=user).first()
    if membership is not None:
        return membership_role_change(membership=membership, role=role), False
    return membership_add(project=project, user=user, role=role), True


def membership_remove(*, membership: Membership) -> None:
    """Remove a member. The pairs they hold give their slots back now, not when the holds run out;
    their judgments stay (they were a member when they cast them)."""
    with transaction.atomic():
        membership = _locked(membership)
        _keep_a_curator(membership)
        # Locked, then deleted by id: a hold that release_expired or a vote is taking right now is
        # either theirs (and skipped here) or ours, so no slot is given back twice.
        held = list(
            Reservation.objects.select_for_update()
            .filter(project_id=membership.project_id, annotator_id=membership.user_id)
            .values_list("pk", "pair_id")
        )
        Reservation.objects.filter(pk__in=[pk for pk, _ in held]).delete()
        for pair_id, count in sorted(Counter(pair_id for _, pair_id in held).items()):
            Pair.objects.filter(pk=pair_id).update(claimed=F("claimed") - count)
        membership.delete()
