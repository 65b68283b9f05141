"""A temporary table of this connection that rows are streamed into, for one INSERT .. SELECT afterwards.

Bulk writes of hundreds of thousands of rows (an import's checked rows, a release's frozen pairs) go
through one: building model instances for bulk_create cost more than the insert itself at 300,000
rows, and the INSERT .. SELECT joins what the database already holds instead of reading it back.
On PostgreSQL rows go in with COPY; SQLite takes them with executemany. Either way one `write` is one
statement, whatever the number of rows, and the rows may come from a generator (memory stays flat).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Self

from django.db import DatabaseError, connection


class StagingTable:
    """`with StagingTable(name, columns) as table:` creates it (dropping one a lost run of this connection
    left); leaving the block drops it. `columns`: (name, SQL type) pairs."""

    def __init__(self, name: str, columns: Sequence[tuple[str, str]]) -> None:
        self.name = name
        self.columns = tuple(column for column, _ in columns)
        self.types = tuple(sql_type for _, sql_type in columns)
        self.postgres = connection.vendor == "postgresql"

    def __enter__(self) -> Self:
        columns = ", ".join(f"{name} {sql_type}" for name, sql_type in zip(self.columns, self.types, strict=True))
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {self.name}")
            cursor.execute(f"CREATE TEMP TABLE {self.name} ({columns})")
        return self

    def __exit__(self, failed: type[BaseException] | None, *exc: object) -> None:
        if connection.needs_rollback:
            return  # the enclosing transaction rolls back, the table's creation with it
        try:
            with connection.cursor() as cursor:
                cursor.execute(f"DROP TABLE IF EXISTS {self.name}")
        except DatabaseError:
            if failed is None:
                raise
            # The work failed on the database and the connection cannot run the drop; the table is
            # this connection's only and goes with it (or with the next run's drop).

    def write(self, rows: Iterable[Sequence[Any]]) -> None:
        """Append rows (values in the order of the columns) in one statement."""
        columns = ", ".join(self.columns)
        with connection.cursor() as cursor:
            if self.postgres:
                with cursor.copy(f"COPY {self.name} ({columns}) FROM STDIN") as copy:
                    for values in rows:
                        copy.write_row(values)
            else:
                marks = ", ".join(["%s"] * len(self.columns))
                # An iterator is fine here (Django peeks at its first row with tee); the stubs say Sequence.
                cursor.executemany(f"INSERT INTO {self.name} ({columns}) VALUES ({marks})", rows)  # type: ignore[arg-type]  # noqa: S608
