#!/usr/bin/env bash
# Serves the app the way one machine runs it: the web server, and a Celery worker in the background that
# runs every long job (imports, media, release builds, judge runs) with the beat that re-sends stalled ones.
# Without CELERY_BROKER_URL the worker takes its jobs from a folder under OMNI_DATA_DIR (the embedded
# broker, omni_annotate/broker.py); with it, from Redis. Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
# Python keeps compiled modules of the venv and the app (__pycache__, git-ignored): without them every
# process (migrate, seed, each web worker, the Celery worker) compiles the same thousands of modules again.
unset PYTHONDONTWRITEBYTECODE
addr="${OMNI_ADDR:-127.0.0.1:8000}"
data="${OMNI_DATA_DIR:-data}"
mkdir -p "$data"
# Jobs log to a file: a busy import or a batch of media would otherwise print a line per job here.
# The worker runs at a lower CPU priority: on one machine ffmpeg would otherwise slow every page and
# upload (an upload's answer took 4 s while the demo's media were being transcoded).
nice -n 10 .venv/bin/celery -A omni_annotate worker --beat --loglevel=WARNING \
  --without-gossip --without-mingle --without-heartbeat >>"$data/worker.log" 2>&1 &
worker=$!
stop() {  # a warm shutdown: the worker finishes or hands back its jobs; after 30 s it is killed (leases recover)
  kill -TERM "$worker" 2>/dev/null || return 0
  for _ in $(seq 150); do
    kill -0 "$worker" 2>/dev/null || { wait "$worker" 2>/dev/null; return 0; }
    sleep 0.2
  done
  kill -KILL "$worker" 2>/dev/null
  wait "$worker" 2>/dev/null || true
}
trap stop EXIT
echo "==> serving on http://$addr/ with a background worker (logs: $data/worker.log, $data/access.log); Ctrl-C stops both"
# gunicorn, as in production (gunicorn.conf.py), with threads so that media streaming from local disk
# never holds up a page; it runs the code as it was at start, like the worker.
.venv/bin/gunicorn omni_annotate.wsgi -c gunicorn.conf.py --bind "$addr" --threads 4 \
  --log-level warning --access-logfile "$data/access.log"
