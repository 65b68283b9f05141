"""Leases for long jobs (imports, release builds): a run owns its row until `lease_until` and renews it.

A worker that dies stops renewing; once the lease runs out the job is visibly stalled and can be
taken again. A second delivery of the same job while the lease is live gets `Busy` and waits.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime

from django.db import DatabaseError, close_old_connections, connection
from django.utils import timezone

log = logging.getLogger(__name__)


def lease_ran_out(until: datetime | None) -> bool:
    """A lease was taken and not renewed in time: the run holding it went away."""
    return until is not None and until < timezone.now()


class Busy(Exception):
    """Another run holds the job's lease; `seconds` until it runs out."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"another run holds this job; its lease runs out in {seconds:.0f} s")
        self.seconds = seconds


class Heartbeat:
    """Calls `renew` every `every` seconds from a thread while the `with` block runs.

    `renew` writes the new lease (a conditional UPDATE on the run's own row). A database blip is
    logged and the next beat tries again: the lease has room for a missed beat.
    """

    def __init__(self, renew: Callable[[], object], *, every: float, what: str) -> None:
        self.renew, self.every, self.what = renew, max(every, 0.5), what
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._beat, daemon=True, name=f"heartbeat {what}")

    def _beat(self) -> None:
        try:
            while not self.stop.wait(self.every):
                try:
                    self.renew()
                except DatabaseError:
                    log.warning("%s: lease renewal failed", self.what, exc_info=True)
                    close_old_connections()
        finally:
            connection.close()  # this thread's own connection

    def __enter__(self) -> Heartbeat:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()
