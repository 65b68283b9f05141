#!/usr/bin/env bash
# Installs, migrates, seeds the demo benchmark and serves the app on 127.0.0.1:8000.
set -euo pipefail
cd "$(dirname "$0")/.."
OMNI_WITH_BROWSER=0 ./scripts/install.sh
.venv/bin/python manage.py migrate --noinput
.venv/bin/python manage.py seed_demo
echo "==> serving on http://127.0.0.1:8000/ (Ctrl-C to stop)"
exec .venv/bin/python manage.py runserver "${OMNI_DEMO_ADDR:-127.0.0.1:8000}"
