#!/usr/bin/env bash
# The S3-compatible test server for backup destinations: moto's server mode (PyPI
# `moto[server]`, pinned) in a Python venv, on 127.0.0.1:9300, in memory, path-style, plain
# HTTP. It accepts any access key (the tests still send one, signed as against AWS). The venv is
# cached in $NEXBII_CACHE (default ~/.cache/nexbii-testenv). Buckets are made by the tests
# (one per test, an unsigned `PUT /<bucket>`), so nothing is shared between runs.
# Why moto rather than s3s-fs: a pip install takes seconds on a fresh machine, compiling s3s-fs
# takes minutes of the 2 cores the whole suite shares; moto implements the calls backups use
# (multipart upload, copy, ranged and whole GET, HEAD, DELETE, LIST).
# usage: tests/env/s3.sh start|stop|status
#   status exits 0 when a server answers on the port (whoever started it), 3 otherwise.
set -euo pipefail
source "$(dirname "$0")/common.sh"
VERSION=5.2.5
VENV=${MOTO_VENV:-$NEXBII_CACHE/moto-venv-$VERSION}
PORT=${S3_PORT:-9300}
PIDFILE=$NEXBII_RUN/s3.pid
LOGFILE=$NEXBII_RUN/s3.log

# An S3 ListBuckets answer (any S3 server gives one to an anonymous GET / only if it is moto-like;
# a real one answers 403, which still proves something S3-shaped listens).
ping() {
  [ -x "$VENV/bin/python" ] || { port_open 127.0.0.1 "$PORT"; return; }
  "$VENV/bin/python" - "$PORT" <<'EOF' 2>/dev/null
import sys, urllib.request, urllib.error
try:
    urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/", timeout=1)
except urllib.error.HTTPError as e:
    sys.exit(0 if e.code in (403,) else 1)
EOF
}
ours() { kill -0 "$(cat "$PIDFILE" 2>/dev/null)" 2>/dev/null; }

install() {
  if [ -x "$VENV/bin/moto_server" ] && "$VENV/bin/python" -c 'import moto, flask' 2>/dev/null; then return 0; fi
  rm -rf "$VENV"
  local py=python3
  if ! command -v python3 >/dev/null || ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
    apt_install python3 python3-venv
    py=/usr/bin/python3
  fi
  log "installing moto[server]==$VERSION into $VENV"
  "$py" -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "moto[server]==$VERSION"
}

case "${1:-status}" in
start)
  if ours && ping; then log "S3 test server already running (pid $(cat "$PIDFILE"))"; exit 0; fi
  if port_open 127.0.0.1 "$PORT"; then
    log "something else listens on 127.0.0.1:$PORT; using it (not started by tests/env)"; exit 0
  fi
  install
  # Parts of 5 MiB are S3's minimum; moto enforces it too, as the real thing would.
  nohup "$VENV/bin/moto_server" -H 127.0.0.1 -p "$PORT" >"$LOGFILE" 2>&1 </dev/null &
  echo $! >"$PIDFILE"
  for _ in $(seq 1 150); do
    if ping; then log "S3 test server (moto) ready on http://127.0.0.1:$PORT (pid $(cat "$PIDFILE"))"; exit 0; fi
    ours || { log "S3 test server died:"; cat "$LOGFILE" >&2; rm -f "$PIDFILE"; exit 1; }
    sleep 0.2
  done
  log "S3 test server not ready after 30 s"; cat "$LOGFILE" >&2; stop_pid "$PIDFILE"; exit 1 ;;
stop)
  if ours; then stop_pid "$PIDFILE"; log "S3 test server stopped"
  else rm -f "$PIDFILE"; log "S3 test server: nothing started by tests/env"; fi ;;
status)
  if ours && ping; then echo "running (started by tests/env, pid $(cat "$PIDFILE"))"
  elif ping; then echo "running (not started by tests/env)"
  else echo "not running"; exit 3; fi ;;
*) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
