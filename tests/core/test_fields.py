"""An id too large for the database is a 400 that names the field, never a server error (the API
fuzz found one: SQLite raises OverflowError on an integer beyond 64 bits)."""

from __future__ import annotations

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from core.fields import ID_MAX

HUGE = 2**70


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("name", "method", "body"),
    [
        ("releases-api:label-audit-send", "post", {"pairs": [HUGE]}),
        ("releases-api:release-compare", "get", {"old": HUGE, "new": 1}),
    ],
)
def test_an_id_beyond_the_database_is_refused_by_its_field(project, curator, name, method, body):
    api = APIClient()
    api.force_authenticate(curator)
    url = reverse(name, args=[project.slug])
    response = api.post(url, body, format="json") if method == "post" else api.get(url, body)
    assert response.status_code == 400
    field = next(iter(body))
    assert field in response.json() or field in str(response.json())
    assert str(ID_MAX) in str(response.json())
