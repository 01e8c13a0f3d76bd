#!/usr/bin/env bash
# Chromium for the console's end-to-end tests (playwright-core drives Debian's own build; no
# browser download from elsewhere).
# usage: tests/env/chromium.sh [install|status]
#   install  installs Debian's chromium (and a font) when /usr/bin/chromium is missing
#   status   exits 0 when /usr/bin/chromium runs, 3 otherwise
set -euo pipefail
source "$(dirname "$0")/common.sh"
BIN=/usr/bin/chromium

ok() { [ -x "$BIN" ] && "$BIN" --version >/dev/null 2>&1; }

case "${1:-install}" in
install)
  ok && exit 0
  apt_install chromium fonts-liberation
  ok || { log "chromium installed but '$BIN --version' fails"; exit 1; }
  log "$("$BIN" --version) ready" ;;
status)
  if ok; then "$BIN" --version; else echo "not installed"; exit 3; fi ;;
*) echo "usage: $0 [install|status]" >&2; exit 2 ;;
esac
