"""One leased-job mechanism for every background job kind (see `core.models.LeasedJob`).

- **claim**: a run takes a job with one conditional UPDATE: a job is free when it waits (queued, no
  lease) or when the run holding it stopped renewing (its lease ran out). Each take adds one to
  `attempts`, which is the run's number: every later write of the run is conditional on
  "still running, still my number", so a run that lost its lease can no longer change the row.
  A second delivery while a live run holds the job gets `Busy` (the Celery base task retries it
  once the lease would have run out); a job whose runs died `job_max_attempts` times is failed.
- **renew** (a `Heartbeat` thread while the run works), **finish**, **give_back** (queued again after a
  transient error), **requeue** (a curator's resume / retry / build again).
- **sweep** (Celery beat, `core.sweep_jobs`): every job of every kind whose lease ran out is queued and
  sent again, so a lost worker costs at most its lease plus the sweep interval; and temp folders of
  runs that no longer hold their job are removed (also when a worker starts).
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import socket
import tempfile
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import DatabaseError, close_old_connections, connection, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.module_loading import import_string

from .models import LeasedJob

log = logging.getLogger(__name__)

Job = type[LeasedJob]
NOT_SENT = "The job could not be queued (the broker did not answer); retry to send it again."


class Busy(Exception):
    """Another run holds the job's lease; `seconds` until it runs out."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"another run holds this job; its lease runs out in {seconds:.0f} s")
        self.seconds = seconds


@dataclass(frozen=True)
class Claim:
    """A run's hold on one job: the job's primary key and the run's number (its `attempts` value)."""

    model: Job
    pk: Any
    run: int

    def mine(self) -> Q:
        return Q(pk=self.pk, status=self.model.job_running, attempts=self.run)

    def rows(self) -> Any:
        """The job's row while this run still holds it (empty once another run took over)."""
        return self.model.objects.filter(self.mine())


def owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"[:200]


def job_models() -> list[Job]:
    return [m for m in apps.get_models() if issubclass(m, LeasedJob)]


def _expired(model: Job, now: Any) -> Q:
    """Running, but its lease ran out: the run holding it died."""
    return Q(status=model.job_running, lease_until__lt=now)


def _free(model: Job, now: Any) -> Q:
    return Q(status=model.job_queued, lease_until__isnull=True) | _expired(model, now)


def claim(model: Job, pk: Any) -> Claim | None:
    """Take the job for this run; None when there is nothing to do (finished, failed, given up)."""
    now = timezone.now()
    took = model.objects.filter(_free(model, now), pk=pk, attempts__lt=model.job_max_attempts).update(
        status=model.job_running,
        attempts=F("attempts") + 1,
        lease_until=now + model.job_lease(),
        heartbeat_at=now,
        lease_owner=owner(),
        **model.job_claim_fields(now),
    )
    row = model.objects.filter(pk=pk).values("status", "attempts", "lease_until").first()
    if row is None or row["status"] not in (model.job_queued, model.job_running):
        return None
    if took:
        return Claim(model, pk, int(row["attempts"]))
    if row["status"] == model.job_running and row["lease_until"] is not None and row["lease_until"] >= now:
        raise Busy(max((row["lease_until"] - now).total_seconds(), 1.0))
    # Free, but its runs died job_max_attempts times: the job kills its worker (memory?); stop trying.
    failed = model.objects.filter(_free(model, now), pk=pk, attempts__gte=model.job_max_attempts).update(
        status=model.job_failed,
        lease_until=None,
        lease_owner="",
        **{model.job_message_field: model.job_exhausted_message(int(row["attempts"]))},
    )
    if failed:
        log.warning("%s job %s: given up after %s runs that did not finish", model.job_kind, pk, row["attempts"])
        model.job_failed_hook(pk)
    return None


def renew(held: Claim) -> bool:
    """Extend the lease; False once the run no longer holds the job."""
    now = timezone.now()
    return bool(held.rows().update(lease_until=now + held.model.job_lease(), heartbeat_at=now))


def finish(held: Claim, status: str, **fields: Any) -> bool:
    """Write the run's outcome if it still holds the job; False (nothing written) if it lost it."""
    return bool(held.rows().update(status=status, lease_until=None, lease_owner="", **fields))


def give_back(held: Claim, **fields: Any) -> bool:
    """A transient error: the job waits for a worker again (Celery retries it)."""
    return bool(held.rows().update(status=held.model.job_queued, lease_until=None, lease_owner="", **fields))


def requeue(model: Job, pks: Iterable[Any], *, also: Q | None = None, **fields: Any) -> list[Any]:
    """A person's resume / retry / build again: the stalled jobs among `pks` (their run died), and
    those matching `also`, wait for a worker again with their attempts reset; sent once this commits."""
    eligible = _expired(model, timezone.now())
    if also is not None:
        eligible |= also
    with transaction.atomic():
        chosen = model.objects.select_for_update().filter(eligible, pk__in=list(pks))
        again = list(chosen.values_list("pk", flat=True))
        model.objects.filter(pk__in=again).update(
            status=model.job_queued, lease_until=None, lease_owner="", attempts=0, **fields
        )
        send_on_commit(model, again)
    return again


def send_on_commit(model: Job, pks: Iterable[Any]) -> None:
    """Send one job message per primary key after the current transaction commits. A broker that
    does not answer leaves the jobs waiting; the sweep or a person's retry sends them again."""
    ids = list(pks)
    if not ids:
        return
    task = import_string(model.job_task)

    def send() -> None:
        for pk in ids:
            try:
                task.delay(str(pk) if not isinstance(pk, int) else pk)
            except Exception:
                log.exception("%s job %s: could not send its message", model.job_kind, pk)
                waiting = model.objects.filter(pk=pk, status=model.job_queued, lease_until__isnull=True)
                waiting.update(**{model.job_message_field: NOT_SENT})

    transaction.on_commit(send)


class Heartbeat:
    """Renews a run's lease every third of the lease from a thread while the `with` block runs.

    A database blip is logged and the next beat tries again (the lease has room for a missed beat).
    `lost` is set once the run no longer holds the job, so long work can stop early.
    """

    def __init__(self, held: Claim) -> None:
        self.held = held
        self.every = max(held.model.job_lease().total_seconds() / 3, 0.5)
        self.stop = threading.Event()
        self.lost = threading.Event()
        self.thread = threading.Thread(target=self._beat, daemon=True, name=f"heartbeat {held.model.job_kind}")

    def _beat(self) -> None:
        try:
            while not self.stop.wait(self.every):
                try:
                    if not renew(self.held):
                        self.lost.set()
                        return
                except DatabaseError:
                    log.warning(
                        "%s job %s: lease renewal failed", self.held.model.job_kind, self.held.pk, exc_info=True
                    )
                    close_old_connections()
        finally:
            connection.close()  # this thread's own connection

    def __enter__(self) -> Heartbeat:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()


# --- temp folders --------------------------------------------------------------------------------

_TEMP = re.compile(r"^omni-(?P<kind>[a-z]+)-(?P<site>[0-9a-f]{8})-(?P<pk>.+)-(?P<run>\d+)\.\w+$")


def _site() -> str:
    """Names this deployment's database, so that deployments (and test runs) sharing a temp folder
    never judge each other's folders."""
    db = connection.settings_dict
    ident = f"{connection.vendor}:{db.get('HOST')}:{db.get('PORT')}:{db.get('NAME')}"
    return hashlib.sha256(ident.encode()).hexdigest()[:8]


def temp_root() -> Path:
    return Path(settings.JOB_TEMP_DIR or tempfile.gettempdir())


@contextmanager
def job_tempdir(held: Claim) -> Iterator[Path]:
    """The run's scratch folder, named after its job and run so a sweep can tell when it is dead."""
    root = temp_root()
    root.mkdir(parents=True, exist_ok=True)
    prefix = f"omni-{held.model.job_kind}-{_site()}-{held.pk}-{held.run}."
    with tempfile.TemporaryDirectory(prefix=prefix, dir=root) as tmp:
        yield Path(tmp)


def remove_dead_tempdirs() -> int:
    """Remove scratch folders of this deployment whose run no longer holds its job (it died, or
    another run took over). Returns how many were removed."""
    kinds = {m.job_kind: m for m in job_models()}
    site, now, removed = _site(), timezone.now(), 0
    try:
        entries = list(temp_root().iterdir())
    except FileNotFoundError:
        return 0
    for path in entries:
        match = _TEMP.match(path.name)
        if not match or match["site"] != site or match["kind"] not in kinds or not path.is_dir():
            continue
        run = Claim(kinds[match["kind"]], match["pk"], int(match["run"]))
        try:
            alive = run.rows().filter(lease_until__gte=now).exists()
        except (ValueError, ValidationError, DatabaseError):  # not a key of this kind: not ours to judge
            continue
        if not alive:
            shutil.rmtree(path, ignore_errors=True)
            removed += 1
    return removed


# --- the sweep -----------------------------------------------------------------------------------


def sweep() -> dict[str, int]:
    """Queue and send again every job whose lease ran out; then remove dead runs' temp folders."""
    sent: dict[str, int] = {}
    for model in job_models():
        now = timezone.now()
        with transaction.atomic():
            dead = model.objects.select_for_update(skip_locked=True).filter(_expired(model, now))
            pks = list(dead.values_list("pk", flat=True))
            model.objects.filter(_expired(model, now), pk__in=pks).update(
                status=model.job_queued, lease_until=None, lease_owner=""
            )
            send_on_commit(model, pks)
        if pks:
            log.warning("sweep: %s %s job(s) whose worker went away sent again: %s", len(pks), model.job_kind, pks)
        sent[model.job_kind] = len(pks)
    sent["temp_folders_removed"] = remove_dead_tempdirs()
    return sent
