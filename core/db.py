"""Statements that run on every request of a hot path, planned once per database connection.

PostgreSQL spent longer planning the queue's statements (a claim with two anti-joins, the progress
count, the tally upsert) than running them: 1-4 ms of its CPU per vote (docs/benchmarks.md). A
`hot_cursor` prepares each statement on its first run in a connection and runs the stored plan after
that. Only statements written for it go through one; the ORM's statements keep Django's client-side
binding and are never prepared (settings: `prepare_threshold` 0 for server-binding cursors, while
Django's own cursors never ask).

Rules for statements run here, because a prepared plan outlives schema changes made by another
process (a migration while web instances run): name every result column (no ``SELECT *``, which a new
column would change and PostgreSQL then refuses with "cached plan must not change result type"), and
pass every value as a parameter (the text must be the same on every call to share the plan).
With `DATABASE_PREPARED_STATEMENTS=false` (a pooler in transaction mode that cannot keep prepared
statements) the same statements run unprepared.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import connection
from django.db.backends.utils import CursorDebugWrapper, CursorWrapper


def hot_cursor() -> CursorWrapper:
    """A cursor of the default connection for the statements above (use it as a context manager)."""
    if connection.vendor != "postgresql" or not settings.DATABASE_PREPARED_STATEMENTS:
        return connection.cursor()
    import psycopg  # with PostgreSQL only

    with connection.wrap_database_errors:
        connection.ensure_connection()
        cursor = psycopg.Cursor(connection.connection)  # binds values server-side, so it can prepare
    # The wrapper Django puts around its own cursors (errors as django.db exceptions), and where queries
    # are captured (DEBUG, the tests' statement counts) one that logs the statement with its values.
    return (_LoggedCursor if connection.queries_logged else CursorWrapper)(cursor, connection)


class _LoggedCursor(CursorDebugWrapper):
    """Django's debug wrapper reads the statement back from a client-side cursor only; this one
    logs the statement as composed from the SQL and its values."""

    def execute(self, sql: Any, params: Any = None) -> Any:
        with self.debug_sql(self.db.ops.compose_sql(sql, params)):
            return CursorWrapper.execute(self, sql, params)
