#!/usr/bin/env bash
# Schemathesis (PyPI, pinned) for the OpenAPI conformance step of tests/run.sh
# (tests/schemathesis.sh), in a venv cached in $NEXBII_CACHE (default ~/.cache/nexbii-testenv).
# usage: tests/env/schemathesis.sh [install|status|bin|clean]
#   install  installs when missing (a second run only checks the command)
#   status   exits 0 when installed and runnable, 3 otherwise
#   bin      prints the venv's schemathesis command
set -euo pipefail
source "$(dirname "$0")/common.sh"
VERSION=4.32.5
VENV=${SCHEMATHESIS_VENV:-$NEXBII_CACHE/schemathesis-venv-$VERSION}

ok() { [ "$("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("schemathesis"))' 2>/dev/null)" = "$VERSION" ]; }

install() {
  if ok; then return 0; fi
  rm -rf "$VENV"
  local py=python3
  if ! command -v python3 >/dev/null || ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
    apt_install python3 python3-venv
    py=/usr/bin/python3
  fi
  log "installing schemathesis==$VERSION into $VENV"
  "$py" -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$VERSION"
  ok || { log "schemathesis installed but not runnable"; exit 1; }
  log "schemathesis $VERSION ready"
}

case "${1:-install}" in
install) install ;;
status)
  if ok; then echo "installed ($VENV, schemathesis $VERSION)"
  else echo "not installed"; exit 3; fi ;;
bin) echo "$VENV/bin/schemathesis" ;;
clean) rm -rf "$VENV"; log "removed $VENV" ;;
*) echo "usage: $0 [install|status|bin|clean]" >&2; exit 2 ;;
esac
