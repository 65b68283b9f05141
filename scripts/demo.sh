#!/usr/bin/env bash
# From a fresh clone to the nine-task demo in the browser: installs, migrates, seeds, serves (scripts/serve.sh).
# OMNI_ADDR (default 127.0.0.1:8000) is where it serves; OMNI_DATA_DIR (default ./data) where it keeps
# its SQLite database, media and job folder.
set -euo pipefail
cd "$(dirname "$0")/.."
export OMNI_ADDR="${OMNI_ADDR:-127.0.0.1:8000}"
# Python keeps compiled modules of the venv and the app (__pycache__, git-ignored): without them every
# process (migrate, seed, each web worker, the Celery worker) compiles the same thousands of modules again.
unset PYTHONDONTWRITEBYTECODE
step() {  # step "what" command...: one line per step, with its time
  local what=$1 start=$SECONDS
  shift
  "$@"
  echo "==> $what ($((SECONDS - start)) s)"
}
step "installed" ./scripts/install.sh app
step "migrated" .venv/bin/python manage.py migrate --noinput --verbosity 0
step "seeded the demo (media is processed in the background)" \
  .venv/bin/python manage.py seed_demo --url "http://$OMNI_ADDR"
exec ./scripts/serve.sh
