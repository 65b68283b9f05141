"""core.db.hot_cursor: the queue's statements are planned once per connection, and behave as any cursor."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext

from annotations.services.queue import next_assignment, progress_for
from core.db import hot_cursor
from tests.factories import MembershipFactory, PairFactory, ProjectFactory
from tests.services import unavailable

pytestmark = pytest.mark.django_db


def _prepared() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        return [row[0] for row in cursor.fetchall()]


def _postgres() -> None:
    if connection.vendor != "postgresql":
        unavailable("prepared statements are PostgreSQL's (set DATABASE_URL)")


def test_the_queue_statements_are_prepared_once_per_connection_and_the_orm_is_not():
    _postgres()
    project = ProjectFactory(votes_per_pair=2)
    PairFactory.create_batch(3, project=project)
    annotator = MembershipFactory(project=project).user
    assert next_assignment(project, annotator) is not None
    progress_for(project, annotator)
    progress_for(project, annotator)
    prepared = _prepared()
    claims = [sql for sql in prepared if sql.startswith("UPDATE annotations_pair SET claimed = claimed + 1")]
    counts = [sql for sql in prepared if "AS open_pairs" in sql]
    assert len(claims) == 1 and len(counts) == 1, prepared  # the second progress reused the first's plan
    assert not [sql for sql in prepared if '"annotations_reservation"' in sql], "an ORM statement was prepared"


def test_without_prepared_statements_the_same_statements_run_unprepared(settings):
    _postgres()
    settings.DATABASE_PREPARED_STATEMENTS = False
    project = ProjectFactory()
    PairFactory.create_batch(2, project=project)
    annotator = MembershipFactory(project=project).user
    assert next_assignment(project, annotator) is not None
    assert progress_for(project, annotator).remaining == 2
    assert not [sql for sql in _prepared() if "AS open_pairs" in sql]


def test_errors_are_djangos_and_statements_are_logged_with_their_values():
    with CaptureQueriesContext(connection) as captured, hot_cursor() as cursor:
        cursor.execute("SELECT %(n)s + 1", {"n": 41})
        assert cursor.fetchone() == (42,)
    assert "41" in captured.captured_queries[-1]["sql"]
    with pytest.raises(IntegrityError), transaction.atomic(), hot_cursor() as cursor:
        cursor.execute("INSERT INTO auth_user (username) VALUES (NULL)")
