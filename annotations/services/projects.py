"""A project's settings, as its curators change them."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError

from annotations.models import Project

# Field: (lowest, highest, what it is).
SETTINGS_BOUNDS: dict[str, tuple[float, float, str]] = {
    "votes_per_pair": (1, 50, "votes per pair (overlap k)"),
    "reservation_minutes": (1, 24 * 60, "reservation minutes"),
    "gold_share": (0, 1, "gold share"),
    "must_view_share": (0.01, 1, "must-view share"),
    "criteria_per_comparison": (1, 20, "criteria per comparison"),
}
EDITABLE = ("name", "description", *SETTINGS_BOUNDS, "writing_guidance")


def project_settings_update(*, project: Project, changes: dict[str, Any]) -> Project:
    """Change some of the project's settings; every value is checked first and nothing is half-saved."""
    unknown = sorted(set(changes) - set(EDITABLE))
    if unknown:
        raise ValidationError({unknown[0]: f"{unknown[0]!r} is not a project setting."})
    errors: dict[str, str] = {}
    for field, value in changes.items():
        if value is None:
            if field != "must_view_share":  # the one setting that may be empty: gating off
                errors[field] = f"The {SETTINGS_BOUNDS.get(field, (0, 0, field))[2]} cannot be empty."
        elif field in SETTINGS_BOUNDS:
            low, high, what = SETTINGS_BOUNDS[field]
            if not low <= value <= high:
                errors[field] = f"The {what} must be between {low:g} and {high:g} (got {value:g})."
        elif field in ("name", "description", "writing_guidance"):
            if not isinstance(value, str) or "\x00" in value:
                errors[field] = "Text without NUL characters, please."
            elif field == "name" and not value.strip():
                errors[field] = "A project needs a name."
    if errors:
        raise ValidationError(errors)
    for field, value in changes.items():
        setattr(project, field, value.strip() if isinstance(value, str) else value)
    project.save(update_fields=list(changes))
    return project
