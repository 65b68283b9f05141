from typing import Any

from django import template

register = template.Library()


@register.filter
def get(mapping: dict[str, Any], key: str) -> Any:
    return mapping.get(key)


@register.filter
def pct(value: float | None) -> str:
    """Accuracy as the paper prints it: a percentage with two decimals."""
    return "—" if value is None else f"{value * 100:.2f}"
