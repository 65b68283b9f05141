#!/usr/bin/env bash
# Installs what the app needs on a fresh Debian machine, and with `dev` (the default) what its tests need:
#   ./scripts/install.sh app   ffmpeg and the app's Python dependencies (what `make demo` runs)
#   ./scripts/install.sh dev   also Chromium, docker-compose (validates docker-compose.yml) and the test tools
# Python packages are pinned in pyproject.toml and installed by uv (seconds, where pip took minutes).
# Idempotent: a second run only checks.
set -euo pipefail
cd "$(dirname "$0")/.."
mode="${1:-dev}"
case "$mode" in app | dev) ;; *) echo "usage: $0 [app|dev]" >&2; exit 2 ;; esac

need_apt=()
command -v ffmpeg >/dev/null 2>&1 || need_apt+=(ffmpeg)
if [ "$mode" = dev ]; then
  command -v docker-compose >/dev/null 2>&1 || need_apt+=(docker-compose)
  [ -x /usr/bin/chromium ] || need_apt+=(chromium)
fi
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = "0" ]; then SUDO=""; else SUDO="sudo"; fi
  echo "==> apt-get install ${need_apt[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv with $PYTHON"
  "$PYTHON" -m venv .venv
fi
extras=""
[ "$mode" = dev ] && extras="[dev]"
stamp=.venv/.installed-$mode-$(sha256sum pyproject.toml | cut -c1-16)
if [ ! -f "$stamp" ]; then
  echo "==> installing Python dependencies ($mode, pinned in pyproject.toml)"
  [ -x .venv/bin/uv ] || .venv/bin/pip install -q uv==0.13.8
  .venv/bin/uv pip install -q --python .venv/bin/python -e ".$extras"
  rm -f .venv/.installed-*
  touch "$stamp"
  if [ "$mode" = dev ]; then  # what dev installs includes what app needs
    touch ".venv/.installed-app-$(sha256sum pyproject.toml | cut -c1-16)"
  fi
fi
