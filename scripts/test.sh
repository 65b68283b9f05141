#!/usr/bin/env bash
# Runs the whole test suite. With CI=true it runs on the real services and a missing one fails:
# PostgreSQL (DATABASE_URL, default 127.0.0.1:5432), Redis as the Celery broker (a real worker is
# started by the tests that need one), SeaweedFS as the S3 server (started by the tests) and
# Chromium. Outside CI the same services are used when they answer, else those tests skip.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install.sh

port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

if [ -z "${DATABASE_URL:-}" ] && { [ "${CI:-}" = "true" ] || port_open 127.0.0.1 5432; }; then
  export DATABASE_URL="postgres://postgres@127.0.0.1:5432/omni_annotate"
fi
if [ -z "${CELERY_BROKER_URL:-}" ] && { [ "${CI:-}" = "true" ] || port_open 127.0.0.1 6379; }; then
  export CELERY_BROKER_URL="redis://127.0.0.1:6379/15"
fi
if [ "${CI:-}" = "true" ]; then
  port_open 127.0.0.1 5432 || { echo "CI=true: PostgreSQL is not answering on 127.0.0.1:5432" >&2; exit 1; }
  port_open 127.0.0.1 6379 || { echo "CI=true: Redis is not answering on 127.0.0.1:6379" >&2; exit 1; }
fi
echo "==> database: ${DATABASE_URL:-sqlite (embedded)}; broker: ${CELERY_BROKER_URL:-eager (embedded)}"

.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/python manage.py makemigrations --check --dry-run >/dev/null
.venv/bin/mypy .
.venv/bin/lint-imports
.venv/bin/python -m pytest "$@"
if [ $# -eq 0 ] && [ -n "${DATABASE_URL:-}" ]; then
  # The queue's SQL runs on both databases: run its tests (and its pinned statement counts) on the
  # embedded SQLite default too.
  echo "==> the annotator queue on SQLite (embedded default)"
  DATABASE_URL= .venv/bin/python -m pytest -q tests/annotations/test_queue.py tests/annotations/test_workspace_views.py \
    tests/test_statement_counts.py
fi
