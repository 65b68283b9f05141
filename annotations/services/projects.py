"""Projects: made by those allowed to create them, and their settings as curators change them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.core.validators import validate_slug
from django.db import IntegrityError, transaction
from django.utils.text import slugify

from annotations.models import Membership, Project, Role, Task
from releases.services.quality import gate_rule_update

# Field: (lowest, highest, what it is).
SETTINGS_BOUNDS: dict[str, tuple[float, float, str]] = {
    "votes_per_pair": (1, 50, "votes per pair (overlap k)"),
    "reservation_minutes": (1, 24 * 60, "reservation minutes"),
    "gold_share": (0, 1, "gold share"),
    "must_view_share": (0.01, 1, "must-view share"),
    "criteria_per_comparison": (1, 20, "criteria per comparison"),
}
EDITABLE = ("name", "description", *SETTINGS_BOUNDS, "writing_guidance", "tasks", "tie_kinds")
# Path segments under /projects/ that are pages, not projects.
RESERVED_SLUGS = frozenset({"new"})
_SLUG_LENGTH = Project._meta.get_field("slug").max_length or 80


def _settings_errors(values: Mapping[str, Any]) -> dict[str, str]:
    """What is wrong with these settings, by field name; empty when all are fine."""
    unknown = sorted(set(values) - set(EDITABLE))
    if unknown:
        return {unknown[0]: f"{unknown[0]!r} is not a project setting."}
    errors: dict[str, str] = {}
    for field, value in values.items():
        if value is None:
            if field != "must_view_share":  # the one setting that may be empty: gating off
                errors[field] = f"The {SETTINGS_BOUNDS.get(field, (0, 0, field))[2]} cannot be empty."
        elif field in SETTINGS_BOUNDS:
            low, high, what = SETTINGS_BOUNDS[field]
            if not low <= value <= high:
                errors[field] = f"The {what} must be between {low:g} and {high:g} (got {value:g})."
        elif field == "tasks":
            if not isinstance(value, list | tuple) or not all(isinstance(task, str) for task in value):
                errors[field] = "The tasks are a list of task codes such as T2I."
            elif unknown_tasks := [task for task in value if task not in Task.values]:
                errors[field] = f"Unknown task {unknown_tasks[0][:20]!r}; the tasks are {', '.join(Task.values)}."
        elif field == "tie_kinds":
            if not isinstance(value, bool):
                errors[field] = "Tie kinds are on or off: true or false."
        elif field in ("name", "description", "writing_guidance"):
            if not isinstance(value, str) or "\x00" in value:
                errors[field] = "Text without NUL characters, please."
            elif field == "name" and not value.strip():
                errors[field] = "A project needs a name."
    return errors


def _cleaned(values: Mapping[str, Any]) -> dict[str, Any]:
    cleaned = {field: value.strip() if isinstance(value, str) else value for field, value in values.items()}
    if "tasks" in cleaned:  # stored once each, in the nine tasks' order
        cleaned["tasks"] = [task for task in Task.values if task in cleaned["tasks"]]
    return cleaned


def project_settings_update(*, project: Project, changes: dict[str, Any]) -> Project:
    """Change some of the project's settings; every value is checked first and nothing is half-saved."""
    errors = _settings_errors(changes)
    if errors:
        raise ValidationError(errors)
    for field, value in _cleaned(changes).items():
        setattr(project, field, value)
    project.save(update_fields=list(changes))
    return project


def _slug_error(slug: str) -> str | None:
    if not slug:
        return "A project needs a slug (letters, digits, hyphens); none could be made from its name."
    if len(slug) > _SLUG_LENGTH:
        return f"The slug is limited to {_SLUG_LENGTH} characters (got {len(slug)})."
    try:
        validate_slug(slug)
    except ValidationError:
        return f"{slug[:_SLUG_LENGTH]!r} is not a slug: use letters, digits, hyphens and underscores only."
    if slug in RESERVED_SLUGS:
        return f"{slug!r} is taken by a page of the site; pick another slug."
    if Project.objects.filter(slug=slug).exists():
        return f"A project with the slug {slug!r} already exists; pick another."
    return None


def project_create(
    *, user: User, name: str, slug: str = "", settings: Mapping[str, Any], gate: Mapping[str, Any] | None = None
) -> Project:
    """Make a project with these settings, its creator as its curator, and (if given) its gate rule.

    `slug` empty: made from the name. `gate`: gate_rule_update's arguments; its `min_votes` None means
    the project's k. Every value is checked, by field name, before anything is written; a gate the
    rule refuses leaves no project behind.
    """
    slug = slug.strip() or slugify(name)[:_SLUG_LENGTH].strip("-")
    values = {**settings, "name": name}
    errors = _settings_errors(values)
    if slug_error := _slug_error(slug):
        errors["slug"] = slug_error
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        try:
            # A savepoint of its own, so a clash with a project made this instant reads as one.
            with transaction.atomic():
                project = Project.objects.create(slug=slug, **_cleaned(values))
        except IntegrityError:
            raise ValidationError({"slug": f"A project with the slug {slug!r} already exists; pick another."}) from None
        Membership.objects.create(project=project, user=user, role=Role.CURATOR)
        if gate is not None:
            rule = {**gate, "min_votes": gate.get("min_votes") or project.votes_per_pair}
            gate_rule_update(project=project, user=user, **rule)
    return project
