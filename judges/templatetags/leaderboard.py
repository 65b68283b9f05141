from typing import Any

from django import template

from judges import board_export

register = template.Library()


@register.filter
def get(mapping: dict[str, Any], key: str) -> Any:
    return mapping.get(key)


@register.filter
def pct(value: float | None) -> str:
    """Accuracy as the paper prints it: a percentage with two decimals; a dash when there is none."""
    return board_export.pct(value) or "—"
