#!/usr/bin/env bash
# Helm for the chart tests: Helm v4's own Go SDK through PyPI's `helm-python-sdk` (pinned; its
# wheel bundles libhelm_c, a C ABI over Helm's Go packages, so no helm binary, Go toolchain or
# other download is needed), in a venv cached in $NEXBII_CACHE (default ~/.cache/nexbii-testenv).
# The tests drive it through tests/env/helm_driver.py, run with this venv's python.
# usage: tests/env/helm.sh [install|status|python|clean]
#   install  installs when missing (about 75 MB; a second run only checks the import)
#   status   exits 0 when installed and importable, 3 otherwise
#   python   prints the venv's python (what the tests run; NEXBII_HELM_PYTHON overrides it)
set -euo pipefail
source "$(dirname "$0")/common.sh"
VERSION=0.2.2
VENV=${HELM_VENV:-$NEXBII_CACHE/helm-venv-$VERSION}

ok() { "$VENV/bin/python" -c 'import helm_python' 2>/dev/null; }

install() {
  if ok; then return 0; fi
  rm -rf "$VENV"
  local py=python3
  if ! command -v python3 >/dev/null || ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
    apt_install python3 python3-venv
    py=/usr/bin/python3
  fi
  log "installing helm-python-sdk==$VERSION into $VENV"
  "$py" -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "helm-python-sdk==$VERSION"
  ok || { log "helm-python-sdk installed but 'import helm_python' fails"; exit 1; }
  log "Helm SDK $("$VENV/bin/python" -c 'import helm_python as h; print(h.helm_sdk_version())') ready"
}

case "${1:-install}" in
install) install ;;
status)
  if ok; then echo "installed ($VENV, Helm SDK $("$VENV/bin/python" -c 'import helm_python as h; print(h.helm_sdk_version())'))"
  else echo "not installed"; exit 3; fi ;;
python) echo "$VENV/bin/python" ;;
clean) rm -rf "$VENV"; log "removed $VENV" ;;
*) echo "usage: $0 [install|status|python|clean]" >&2; exit 2 ;;
esac
