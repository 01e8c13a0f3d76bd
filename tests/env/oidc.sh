#!/usr/bin/env bash
# The OpenID provider for the single sign-on tests: the certified `oidc-provider` package (npm,
# pinned) run by tests/env/oidc-provider.mjs on 127.0.0.1:9400, in memory (client `nexbii`,
# users made by the tests, a plain login form). The package is installed into
# $NEXBII_CACHE (default ~/.cache/nexbii-testenv); Node 20+ is needed.
# usage: tests/env/oidc.sh start|stop|status
#   status exits 0 when a provider answers on the port (whoever started it), 3 otherwise.
set -euo pipefail
source "$(dirname "$0")/common.sh"
VERSION=9.13.3
DIR=$NEXBII_CACHE/oidc-provider-$VERSION
PORT=${OIDC_PORT:-9400}
PIDFILE=$NEXBII_RUN/oidc.pid
LOGFILE=$NEXBII_RUN/oidc.log

ping() {
  command -v curl >/dev/null || { port_open 127.0.0.1 "$PORT"; return; }
  curl -fsS -m 2 "http://127.0.0.1:$PORT/.well-known/openid-configuration" 2>/dev/null | grep -q '"issuer"'
}
ours() { kill -0 "$(cat "$PIDFILE" 2>/dev/null)" 2>/dev/null; }

install() {
  if [ -f "$DIR/node_modules/oidc-provider/package.json" ]; then return 0; fi
  command -v npm >/dev/null || { log "npm is needed for the OpenID test provider"; return 1; }
  log "installing oidc-provider@$VERSION into $DIR"
  rm -rf "$DIR"
  mkdir -p "$DIR"
  echo '{"private":true,"type":"module"}' >"$DIR/package.json"
  (cd "$DIR" && npm install --no-audit --no-fund --silent "oidc-provider@$VERSION")
}

case "${1:-status}" in
start)
  if ours && ping; then log "OpenID test provider already running (pid $(cat "$PIDFILE"))"; exit 0; fi
  if port_open 127.0.0.1 "$PORT"; then
    log "something else listens on 127.0.0.1:$PORT; using it (not started by tests/env)"; exit 0
  fi
  install
  # ES modules resolve packages next to the importing file: the script runs from the cache.
  cp "$ENV_DIR/oidc-provider.mjs" "$DIR/provider.mjs"
  (cd "$DIR" && OIDC_PORT=$PORT nohup node provider.mjs >"$LOGFILE" 2>&1 </dev/null &
   echo $! >"$PIDFILE")
  for _ in $(seq 1 150); do
    if ping; then log "OpenID test provider ready on http://127.0.0.1:$PORT (pid $(cat "$PIDFILE"))"; exit 0; fi
    ours || { log "OpenID test provider died:"; cat "$LOGFILE" >&2; rm -f "$PIDFILE"; exit 1; }
    sleep 0.2
  done
  log "OpenID test provider not ready after 30 s"; cat "$LOGFILE" >&2; stop_pid "$PIDFILE"; exit 1 ;;
stop)
  if ours; then stop_pid "$PIDFILE"; log "OpenID test provider stopped"
  else rm -f "$PIDFILE"; log "OpenID test provider: nothing started by tests/env"; fi ;;
status)
  if ours && ping; then echo "running (started by tests/env, pid $(cat "$PIDFILE"))"
  elif ping; then echo "running (not started by tests/env)"
  else echo "not running"; exit 3; fi ;;
*) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
