"""Input fields for database ids and counters: bounded to what the database stores.

An id beyond a 64-bit integer cannot name any row, and passed on it makes SQLite raise OverflowError
(a server error) instead of "not found"; refused at the field, it is a 400 that names the field.
"""

from __future__ import annotations

from typing import Any

from django import forms
from rest_framework import serializers

ID_MAX = 2**63 - 1  # the largest bigint: every id and version fits


class IdField(serializers.IntegerField):
    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", ID_MAX)
        super().__init__(**kwargs)


class IdFormField(forms.IntegerField):
    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", ID_MAX)
        super().__init__(**kwargs)
