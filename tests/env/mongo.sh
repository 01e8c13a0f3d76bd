#!/usr/bin/env bash
# The MongoDB-wire test server: SecantusDB (PyPI `secantusdb`, pinned) in a Python venv, on
# 127.0.0.1:27017, in memory, replica-set mode (transactions and change streams work with the
# official `mongodb` crate). The venv is cached in $NEXBII_CACHE (default ~/.cache/nexbii-testenv).
# Known gaps vs mongod: no text indexes, capped `max` not enforced; assert on error codes
# (11000 duplicate key, 112 write conflict), not message text.
# usage: tests/env/mongo.sh start|stop|status
#   status exits 0 when a server answers on the port (whoever started it), 3 otherwise.
set -euo pipefail
source "$(dirname "$0")/common.sh"
VERSION=0.7.0b3
VENV=${SECANTUS_VENV:-$NEXBII_CACHE/secantus-venv-$VERSION}
PORT=${SECANTUS_PORT:-27017}
DATA=${SECANTUS_DATA:-:memory:}          # ':memory:' = temp dir removed at shutdown
PIDFILE=$NEXBII_RUN/mongo.pid
LOGFILE=$NEXBII_RUN/mongo.log

ping() {
  [ -x "$VENV/bin/python" ] || { port_open 127.0.0.1 "$PORT"; return; }
  "$VENV/bin/python" -c "import pymongo; pymongo.MongoClient('mongodb://127.0.0.1:$PORT/?directConnection=true', serverSelectionTimeoutMS=500).admin.command('ping')" 2>/dev/null
}
ours() { kill -0 "$(cat "$PIDFILE" 2>/dev/null)" 2>/dev/null; }

install() {
  if [ -x "$VENV/bin/secantusd-py" ] && "$VENV/bin/python" -c 'import secantus, pymongo' 2>/dev/null; then return 0; fi
  rm -rf "$VENV"
  local py=python3
  if ! command -v python3 >/dev/null || ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
    apt_install python3 python3-venv
    py=/usr/bin/python3
  fi
  log "installing secantusdb==$VERSION into $VENV"
  "$py" -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "secantusdb==$VERSION"
}

case "${1:-status}" in
start)
  if ours && ping; then log "MongoDB-wire server already running (pid $(cat "$PIDFILE"))"; exit 0; fi
  if port_open 127.0.0.1 "$PORT"; then
    log "something else listens on 127.0.0.1:$PORT; using it (not started by tests/env)"; exit 0
  fi
  install
  nohup "$VENV/bin/secantusd-py" --host 127.0.0.1 --port "$PORT" \
      --storage-path "$DATA" --log-level WARNING >"$LOGFILE" 2>&1 </dev/null &
  echo $! >"$PIDFILE"
  # readiness: a real 'ping' over the wire protocol (pymongo is a dependency of secantusdb)
  for _ in $(seq 1 150); do
    if ping; then log "MongoDB-wire server ready on 127.0.0.1:$PORT (pid $(cat "$PIDFILE"))"; exit 0; fi
    ours || { log "MongoDB-wire server died:"; cat "$LOGFILE" >&2; rm -f "$PIDFILE"; exit 1; }
    sleep 0.2
  done
  log "MongoDB-wire server not ready after 30 s"; cat "$LOGFILE" >&2; stop_pid "$PIDFILE"; exit 1 ;;
stop)
  if ours; then stop_pid "$PIDFILE"; log "MongoDB-wire server stopped"   # shutdown takes ~2 s
  else rm -f "$PIDFILE"; log "MongoDB-wire server: nothing started by tests/env"; fi ;;
status)
  if ours && ping; then echo "running (started by tests/env, pid $(cat "$PIDFILE"))"
  elif ping; then echo "running (not started by tests/env)"
  else echo "not running"; exit 3; fi ;;
*) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
