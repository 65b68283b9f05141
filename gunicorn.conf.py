"""Gunicorn settings for the web service (docker-compose.yml); `bench/annotate_bench.py` measures them.

Workspace requests are CPU-bound (ORM, templates, markdown), so sync workers, one per core plus one
to cover database waits, gave the best throughput and latency on 2 cores (docs/benchmarks.md).
WEB_CONCURRENCY overrides the count.
"""

import os

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("WEB_CONCURRENCY") or (os.cpu_count() or 1) + 1)  # empty: the default
worker_class = "sync"
timeout = 60
# Load the app (settings, every view: omni_annotate/wsgi.py) once in the master, before forking: the
# workers share that memory and none makes its first visitor wait for the imports. Nothing opens a
# database connection at import, so no connection is shared across the fork.
preload_app = True
accesslog = "-"
