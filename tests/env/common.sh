# shellcheck shell=bash disable=SC2034
# Shared by the scripts in tests/env/ (sourced, not run).
# Caches (kept between runs, rebuildable from scratch) and run state (pids, logs, "who started
# what") live outside the repository.
NEXBII_CACHE=${NEXBII_CACHE:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/nexbii-testenv}
NEXBII_RUN=${NEXBII_RUN:-/tmp/nexbii-testenv}
ENV_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
mkdir -p "$NEXBII_CACHE" "$NEXBII_RUN"

log() { echo "[tests/env] $*" >&2; }

APT_UPDATED=0
# apt_install PKG... — install the Debian packages that are missing (apt-get update at most once).
apt_install() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  command -v apt-get >/dev/null || { log "missing packages ${missing[*]} and no apt-get"; return 1; }
  local sudo=()
  [ "$(id -u)" = 0 ] || sudo=(sudo)
  log "apt-get install ${missing[*]}"
  if [ "$APT_UPDATED" = 0 ]; then "${sudo[@]}" apt-get update -qq; APT_UPDATED=1; fi
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# wait_for SECONDS CMD... — poll CMD every 0.2 s until it succeeds.
wait_for() {
  local secs=$1; shift
  local i
  for i in $(seq 1 $((secs * 5))); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  return 1
}

# Markers: a file per service this project's scripts started, so `stop` stops only those.
mark_started() { echo "${2:-}" >"$NEXBII_RUN/started.$1"; }
was_started() { [ -f "$NEXBII_RUN/started.$1" ]; }
clear_started() { rm -f "$NEXBII_RUN/started.$1"; }

# stop_pid PIDFILE — TERM, wait up to 10 s, then KILL.
stop_pid() {
  local pid
  pid=$(cat "$1" 2>/dev/null || true)
  [ -n "$pid" ] || return 0
  kill "$pid" 2>/dev/null || true
  local i
  for i in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null || true
  rm -f "$1"
}

# port_open HOST PORT — something accepts TCP connections there.
port_open() { timeout 2 bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null; }
