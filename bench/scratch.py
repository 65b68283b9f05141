"""What a bench creates on shared servers, removed again however the bench ends.

The benches run beside other people's work on one PostgreSQL and one Redis: a bench that stops
half-way (a failed check, a crash, Ctrl-C) must not leave its database or its broker keys behind.
Both helpers clean up in a `finally`, so success, an exception and KeyboardInterrupt all end the same.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager


def _psql(admin_url: str, sql: str) -> None:
    subprocess.run(["psql", admin_url, "-qc", sql], check=True)


@contextmanager
def scratch_database(database_url: str, *, keep: bool = False, replace: bool = True) -> Iterator[str]:
    """A new, empty database at `database_url`, dropped again on the way out unless `keep`. Yields its
    name. One that exists already (a crashed run's) is dropped first, or with `replace=False` left
    alone and the bench stopped: then only what this run created is ever dropped."""
    base, name = database_url.rsplit("/", 1)
    admin_url = f"{base}/postgres"
    if replace:
        _psql(admin_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    made = subprocess.run(["psql", admin_url, "-qc", f"CREATE DATABASE {name}"], capture_output=True, text=True)
    if made.returncode:
        raise SystemExit(f"could not create database {name}: {made.stderr.strip()}")
    try:
        yield name
    finally:
        if keep:
            print(f"kept database {name}")
        else:
            # FORCE: a server, worker or child the bench started may still hold a connection.
            _psql(admin_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@contextmanager
def redis_keys_removed(url: str) -> Iterator[None]:
    """Keys that appear in this Redis database while the block runs are deleted at its end: queued
    messages, kombu's queue bindings (which `celery purge` leaves) and task results. Keys that were
    there before are not the bench's and stay."""
    import redis

    client = redis.Redis.from_url(url)
    before = set(client.scan_iter())
    try:
        yield
    finally:
        new = [key for key in client.scan_iter() if key not in before]
        if new:
            client.delete(*new)
        client.close()
