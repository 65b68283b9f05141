"""The embedded default's message broker: kombu's file-system transport, one file a message.

With no ``CELERY_BROKER_URL`` the app still runs its long work in a real Celery worker, beside the web
process, through folders under ``OMNI_DATA_DIR/broker``. Why the file system rather than kombu's SQL
transport on SQLite: SQLite lets one writer in at a time, and an import or a release build holds that
lock for seconds; a queue in a database would compete for the same lock on every poll, and a worker
would stall behind the very job it should be running. Files need no server, no extra dependency and no
lock shared with the app's data.

One change to kombu's channel: its ``_put`` creates the message file in the queue folder and writes the
body afterwards, so a worker polling the folder can take a file before its body is there. Here a message
is written beside the folder and renamed into it (a rename is atomic on one file system): the worker sees
whole messages or none.

A message is taken off the folder when the worker receives it, so a worker that dies mid-job loses it;
the job is not lost: its lease runs out and the sweep (``core.sweep_jobs``, run by the worker's embedded
beat) sends it again, as it does for a Redis broker.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from pathlib import Path
from time import monotonic
from typing import Any

from kombu.transport import filesystem  # type: ignore[attr-defined]  # not in celery-types' stubs
from kombu.utils import json as kombu_json
from kombu.utils.encoding import str_to_bytes

# kombu's JSON (what its _get reads back); the stubs give it a narrower signature than it has.
dumps: Callable[[Any], str] = kombu_json.dumps  # type: ignore[assignment]


def broker_options(root: Path) -> dict[str, Any]:
    """Transport options for the broker under `root`: what the web process and the worker both read."""
    queue = str(root / "queue")
    return {
        "data_folder_in": queue,
        "data_folder_out": queue,
        "control_folder": str(root / "control"),
        "partial_folder": str(root / "partial"),
        # Latency of a job's start; an idle poll is one directory listing a queue.
        "polling_interval": 0.25,
    }


class Channel(filesystem.Channel):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for folder in (self.data_folder_out, self.data_folder_in, self.control_folder, self._partial_folder):
            Path(folder).mkdir(parents=True, exist_ok=True)

    @property
    def _partial_folder(self) -> Path:
        return Path(self.transport_options["partial_folder"])

    def _put(self, queue: str, payload: Any, **kwargs: Any) -> None:
        # The name sorts by send time, as kombu's does: the worker takes the oldest message first.
        name = f"{round(monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"
        partial = self._partial_folder / name
        with partial.open("wb") as out:
            out.write(str_to_bytes(dumps(payload)))
        os.replace(partial, Path(self.data_folder_out) / name)


class Transport(filesystem.Transport):
    Channel = Channel
