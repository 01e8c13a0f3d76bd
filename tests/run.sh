#!/usr/bin/env bash
# The one command that runs every check on a fresh clone:
#   bash tests/run.sh
# 1. set-up: starts each server the tests need that is not already up (tests/env/*.sh: PostgreSQL
#    and MariaDB, the MongoDB-wire server, the S3-compatible server (moto), the Kubernetes test cluster — built on first use and
#    cached), remembering which ones it started, and installs Helm's SDK for the chart tests;
# 2. cargo fmt --check, clippy (warnings are errors), cargo test --workspace, the console
#    tests (npm ci && npm test in controlplane/console, once that folder has a package.json),
#    Schemathesis against a running control plane (tests/schemathesis.sh, `--checks all`), and
#    the container images (tests/env/images.sh: static release build, buildah images FROM
#    scratch, podman smoke run; NEXBII_SKIP_IMAGES=1 skips it on a developer machine); the
#    release build runs in the background from the end of cargo test on;
# 3. tear-down: stops exactly the servers step 1 started (also on failure or Ctrl-C).
# Every step runs even when an earlier one failed; the exit code is non-zero if any failed.
# NEXBII_KEEP_SERVERS=1 leaves the started servers running (for quick reruns of cargo test).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
ENV_DIR=tests/env
export KT_DIR=${KT_DIR:-/tmp/kube-test}
DEFAULT_KUBECONFIG=$KT_DIR/kubeconfig
export NEXBII_TEST_KUBECONFIG=${NEXBII_TEST_KUBECONFIG:-$DEFAULT_KUBECONFIG}
T0=$(date +%s)

STARTED=()    # stop commands, in start order
RESULTS=()    # "status|seconds|name"
FAILED=0

fmt_secs() { printf '%dm%02ds' $(($1 / 60)) $(($1 % 60)); }

teardown() {
  local i
  if [ ${#STARTED[@]} -eq 0 ]; then return; fi
  if [ "${NEXBII_KEEP_SERVERS:-0}" = 1 ]; then
    echo "== tear-down skipped (NEXBII_KEEP_SERVERS=1); stop later with:"
    for ((i = ${#STARTED[@]} - 1; i >= 0; i--)); do echo "   bash $ENV_DIR/${STARTED[i]}"; done
    return
  fi
  echo "== tear-down: stopping what this run started"
  for ((i = ${#STARTED[@]} - 1; i >= 0; i--)); do
    # shellcheck disable=SC2086
    bash $ENV_DIR/${STARTED[i]} || echo "warning: 'bash $ENV_DIR/${STARTED[i]}' failed"
  done
  STARTED=()
}
trap teardown EXIT
trap 'echo "interrupted"; exit 130' INT TERM

# step NAME CMD... — runs CMD, records its outcome and duration.
step() {
  local name=$1; shift
  local t=$SECONDS
  echo
  echo "== $name"
  "$@"
  local rc=$?
  local d=$((SECONDS - t))
  if [ $rc -eq 0 ]; then RESULTS+=("ok|$d|$name"); else RESULTS+=("FAILED|$d|$name"); FAILED=1; fi
  return 0
}

# server LABEL STATUS-ARGS START-ARGS STOP-ARGS — start a server unless it is up; remember it.
server() {
  local label=$1 status=$2 start=$3 stop=$4
  # shellcheck disable=SC2086
  if bash $ENV_DIR/$status >/dev/null 2>&1; then
    echo "$label: already running, left as it is"
    return 0
  fi
  # shellcheck disable=SC2086
  if bash $ENV_DIR/$start; then
    STARTED+=("$stop")
  else
    # a half-started server is still ours to stop
    STARTED+=("$stop")
    echo "$label: could not be started"
    return 1
  fi
}

setup() {
  local rc=0
  server PostgreSQL "services.sh status postgresql" "services.sh start postgresql" "services.sh stop postgresql" || rc=1
  server MariaDB "services.sh status mariadb" "services.sh start mariadb" "services.sh stop mariadb" || rc=1
  if [ -n "${NEXBII_TEST_MONGO:-}" ]; then
    echo "MongoDB-wire server: NEXBII_TEST_MONGO is set, using $NEXBII_TEST_MONGO"
  else
    server "MongoDB-wire server" "mongo.sh status" "mongo.sh start" "mongo.sh stop" || rc=1
  fi
  if [ -n "${NEXBII_TEST_S3:-}" ]; then
    echo "S3 test server: NEXBII_TEST_S3 is set, using $NEXBII_TEST_S3"
  else
    server "S3 test server" "s3.sh status" "s3.sh start" "s3.sh stop" || rc=1
  fi
  if [ -n "${NEXBII_TEST_OIDC:-}" ]; then
    echo "OpenID test provider: NEXBII_TEST_OIDC is set, using $NEXBII_TEST_OIDC"
  else
    server "OpenID test provider" "oidc.sh status" "oidc.sh start" "oidc.sh stop" || rc=1
  fi
  if [ "$NEXBII_TEST_KUBECONFIG" != "$DEFAULT_KUBECONFIG" ]; then
    echo "Kubernetes test cluster: NEXBII_TEST_KUBECONFIG is set, using $NEXBII_TEST_KUBECONFIG"
  else
    # building kube-apiserver takes several minutes the first time, then it is cached
    server "Kubernetes test cluster" "kube-cluster.sh status" "kube-cluster.sh start" "kube-cluster.sh stop" || rc=1
  fi
  # Helm's Go SDK for the chart tests (a cached venv; nothing runs, nothing to stop)
  bash $ENV_DIR/helm.sh install || { echo "Helm SDK: could not be installed"; rc=1; }
  # Debian's Chromium for the console's browser tests (nothing runs, nothing to stop)
  bash $ENV_DIR/chromium.sh install || { echo "Chromium: could not be installed"; rc=1; }
  return $rc
}

console_tests() {
  # The web console's tests (and the Chromium they drive) come with the console; until
  # controlplane/console/package.json exists there is nothing to run.
  if [ ! -f controlplane/console/package.json ]; then
    echo "no controlplane/console/package.json yet: nothing to run"
    return 0
  fi
  # npm test: the Vitest unit tests, then the browser tests (e2e/run.mjs) against the debug
  # binary the cargo test step built.
  (cd controlplane/console && npm ci --no-audit --no-fund && npm test)
}

# A fresh clone gains nothing from incremental compilation, which costs gigabytes of disk.
export CARGO_INCREMENTAL=${CARGO_INCREMENTAL:-0}
disk() { echo "disk: $(df -h --output=avail . | tail -1 | tr -d ' ') free$( [ -d target ] && echo ", target $(du -sh target 2>/dev/null | cut -f1)")"; }

step "set-up" setup
disk
step "cargo fmt --all -- --check" cargo fmt --all -- --check
step "cargo clippy --workspace --all-targets -- -D warnings" cargo clippy --workspace --all-targets -- -D warnings
step "cargo test --workspace --no-fail-fast" cargo test --workspace --no-fail-fast

# The images' release build is the longest step and needs no server, so it runs in the
# background under the console tests and Schemathesis, which leave a core idle most of the time.
# It is niced so that they keep their speed, and it is handed a console built here beforehand:
# its build script then runs no npm beside the console tests' `npm ci`. Its output goes to a
# log that the images step prints.
RELEASE_PID=
RELEASE_LOG=target/images-build.log
start_release_build() {
  if [ "${NEXBII_SKIP_IMAGES:-0}" = 1 ]; then return 0; fi
  local dist=$PWD/target/console-dist
  # node_modules is there: the cargo test step's build script installed it
  if ! (cd controlplane/console && npm run build -- --outDir "$dist" --emptyOutDir >/dev/null); then
    echo "the console could not be built for the release build; the images step builds in the foreground"
    return 0
  fi
  # setsid: a process group of its own, so that tear-down can stop cargo with it
  NEXBII_CONSOLE_DIST=$dist setsid -w nice -n 15 bash $ENV_DIR/images.sh build >"$RELEASE_LOG" 2>&1 &
  RELEASE_PID=$!
  echo "release build for the images started in the background (pid $RELEASE_PID, log $RELEASE_LOG)"
}
stop_release_build() {
  if [ -n "$RELEASE_PID" ]; then kill -- -"$RELEASE_PID" 2>/dev/null || true; RELEASE_PID=; fi
}
trap 'stop_release_build; teardown' EXIT
start_release_build

disk
step "console tests" console_tests
# The OpenAPI document against the running server: Schemathesis, every check (tests/schemathesis.sh
# starts the debug binary the cargo test step built; its run time is printed).
step "schemathesis --checks all (OpenAPI document vs. running server)" bash tests/schemathesis.sh

images() {
  if [ "${NEXBII_SKIP_IMAGES:-0}" = 1 ]; then
    echo "NEXBII_SKIP_IMAGES=1: skipped"
    return 0
  fi
  local rc=0
  if [ -n "$RELEASE_PID" ]; then
    echo "waiting for the background release build (pid $RELEASE_PID)"
    local built=0
    wait "$RELEASE_PID" && built=1
    RELEASE_PID=
    cat "$RELEASE_LOG"
    if [ $built = 1 ]; then
      bash $ENV_DIR/images.sh smoke || rc=1
    else
      echo "the background release build failed (its log is above)"
      rc=1
    fi
  else
    bash $ENV_DIR/images.sh all || rc=1
  fi
  # the images are rebuilt by every run; the release target directory stays for the next build
  bash $ENV_DIR/images.sh clean || true
  return $rc
}
step "container images (release build, podman smoke run)" images
disk

echo
echo "== summary (total $(fmt_secs $(($(date +%s) - T0))))"
for r in "${RESULTS[@]}"; do
  IFS='|' read -r status secs name <<<"$r"
  printf '  %-7s %8s  %s\n' "$status" "$(fmt_secs "$secs")" "$name"
done
teardown
if [ $FAILED -ne 0 ]; then echo "tests/run.sh: FAILED"; exit 1; fi
echo "tests/run.sh: all steps succeeded"
