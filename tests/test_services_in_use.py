"""Under CI=true the suite must really be on PostgreSQL, with a broker configured."""

import pytest
from django.conf import settings
from django.db import connection

from tests.services import IN_CI


@pytest.mark.django_db
def test_ci_runs_on_postgresql_with_a_redis_broker():
    if not IN_CI:
        pytest.skip("outside CI the suite may run on SQLite; `make test` uses PostgreSQL when it is reachable")
    assert connection.vendor == "postgresql"
    assert settings.CELERY_BROKER_URL.startswith("redis://")
    with connection.cursor() as cursor:
        cursor.execute("select version()")
        assert "PostgreSQL" in cursor.fetchone()[0]
