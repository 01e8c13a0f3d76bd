#!/usr/bin/env bash
# HTTP load benchmark: a cached one-widget dashboard against /healthz on the same server, same run.
# The quick-start tenant (examples/quickstart, SQLite sample database) is served by a release
# build; wrk drives both endpoints with the same connections and duration.
#
# Set-up: `apt-get install wrk` (Debian), nothing else; the script builds the release binary.
# Usage:  bash controlplane/benches/http_load.sh [seconds=10] [connections=8]
#         BIN=/path/to/nexbii-controlplane bash controlplane/benches/http_load.sh   (another build)
set -euo pipefail
cd "$(dirname "$0")/../.."
SECS=${1:-10}
CONNS=${2:-8}
PORT=${PORT:-18080}
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk"; exit 1; }
if [ -z "${BIN:-}" ]; then
  cargo build --release -q -p nexbii-controlplane
  BIN=target/release/nexbii-controlplane
fi
WORK=$(mktemp -d)
cp -r examples/quickstart "$WORK/manifests"
PW=bench-password-123
NEXBII_BOOTSTRAP_PASSWORD=$PW "$BIN" serve --listen "127.0.0.1:$PORT" --manifests "$WORK/manifests" \
  --store "$WORK/nexbii.db" --keys-file "$WORK/keys.json" --sqlite-root "$WORK/sources" \
  >"$WORK/server.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null; wait $SERVER 2>/dev/null; rm -rf "$WORK"' EXIT
BASE=http://127.0.0.1:$PORT
for _ in $(seq 1 100); do curl -sf "$BASE/readyz" >/dev/null && break; sleep 0.1; done
TOKEN=$(curl -sf "$BASE/api/v1/auth/login" -H 'content-type: application/json' \
  -d "{\"tenant\":\"acme\",\"username\":\"admin\",\"password\":\"$PW\"}" | sed 's/.*"token":"\([^"]*\)".*/\1/')
curl -sf "$BASE/api/v1/dashboards" -H "authorization: Bearer $TOKEN" -H 'content-type: application/json' -d '{
  "name": "bench-one",
  "spec": {"title": "One widget", "publication": "published", "widgets": [
    {"id": "orders", "chart": "number", "query": {"dataSource": "sales", "sql": "SELECT count(*) AS orders FROM orders"}}]}}' >/dev/null
curl -sf "$BASE/api/v1/dashboards/bench-one/data" -H "authorization: Bearer $TOKEN" >/dev/null   # fills the cache

run() { # name, path, [header]
  local out
  if [ -n "${3:-}" ]; then
    out=$(wrk -t2 -c"$CONNS" -d"${SECS}s" --latency -H "$3" "$BASE$2")
  else
    out=$(wrk -t2 -c"$CONNS" -d"${SECS}s" --latency "$BASE$2")
  fi
  local rps p50
  rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  p50=$(echo "$out" | awk '$1 == "50%" {print $2}')
  echo "$rps" >"$WORK/$1.rps"
  printf '%-28s %12s req/s   p50 %s\n' "$1" "$rps" "$p50"
}
echo "== $(basename "$BIN"), $CONNS connections, ${SECS}s each"
run healthz /healthz
run dashboard_cached /api/v1/dashboards/bench-one/data "Authorization: Bearer $TOKEN"
awk -v d="$(cat "$WORK/dashboard_cached.rps")" -v h="$(cat "$WORK/healthz.rps")" \
  'BEGIN { printf "cached dashboard / healthz:  %.1f %%\n", 100 * d / h }'
echo "log bytes written by the server during the run: $(wc -c <"$WORK/server.log")"
