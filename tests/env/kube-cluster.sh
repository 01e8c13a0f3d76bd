#!/usr/bin/env bash
# A loopback-only Kubernetes v1.20 test cluster for the operator tests: etcd (Debian
# `etcd-server`) + kube-apiserver + kube-controller-manager (garbage collector, namespace,
# Deployment/ReplicaSet/Job controllers; KT_KCM=0 leaves it out). No scheduler or kubelet:
# Pods stay Pending. The binaries come from tests/env/kube-build.sh (run here when missing).
# Writes $KT_DIR/kubeconfig (default /tmp/kube-test/kubeconfig; token auth, system:masters),
# the tests' default NEXBII_TEST_KUBECONFIG.
# Service ClusterIPs come from KT_SERVICE_CIDR (default 10.96.0.0/16; allocated in etcd only).
# Kubernetes 1.20 limits: no batch/v1 CronJob, no CEL validation rules.
# usage: tests/env/kube-cluster.sh start|stop|status
#   status exits 0 when the apiserver behind $KT_DIR/kubeconfig is ready, 3 otherwise.
set -euo pipefail
source "$(dirname "$0")/common.sh"
KT_DIR=${KT_DIR:-/tmp/kube-test}
BIN=$(bash "$ENV_DIR/kube-build.sh" path)
# etcd off its usual 2379 so a distribution-started etcd cannot collide with it
EPORT=${KT_ETCD_PORT:-12379}; PPORT=$((EPORT+1)); APORT=${KT_API_PORT:-6443}

token() { grep -o 'token: "[^"]*"' "$KT_DIR/kubeconfig" 2>/dev/null | cut -d'"' -f2; }
api_ready() {
  local t; t=$(token) || return 1; [ -n "$t" ] || return 1
  curl -sk --max-time 2 -H "Authorization: Bearer $t" "https://127.0.0.1:$APORT/readyz" 2>/dev/null | grep -qx ok \
    && curl -sk --max-time 2 -H "Authorization: Bearer $t" "https://127.0.0.1:$APORT/api/v1/namespaces/default" 2>/dev/null | grep -q '"name": "default"'
}
stop_all() { local p; for p in kcm apiserver etcd; do stop_pid "$KT_DIR/$p.pid"; done; }
any_ours() { local p; for p in kcm apiserver etcd; do kill -0 "$(cat "$KT_DIR/$p.pid" 2>/dev/null)" 2>/dev/null && return 0; done; return 1; }

# kube-controller-manager (garbage collector, namespace deletion, ...) is started only once the
# apiserver answers: started earlier it can give up on its first informer syncs and exit, and the
# tests that wait for garbage collection then hang. Up to three tries; each must still run 5 s on.
start_kcm() {
  [ "${KT_KCM:-1}" = 1 ] || return 0
  local try
  for try in 1 2 3; do
    nohup "$BIN/kube-controller-manager" --kubeconfig="$KT_DIR/kubeconfig" \
      --authentication-kubeconfig="$KT_DIR/kubeconfig" --authorization-kubeconfig="$KT_DIR/kubeconfig" \
      --leader-elect=false --port=0 --bind-address=127.0.0.1 --secure-port=$((APORT + 3814)) \
      --cert-dir="$KT_DIR/kcm-certs" --service-account-private-key-file="$KT_DIR/sa.key" \
      --controllers='*,-nodeipam,-nodelifecycle,-ttl,-attachdetach,-persistentvolume-binder,-persistentvolume-expander,-csrsigning,-bootstrapsigner,-tokencleaner,-route,-service,-cloud-node-lifecycle' \
      >>"$KT_DIR/kcm.log" 2>&1 </dev/null &
    echo $! >"$KT_DIR/kcm.pid"
    sleep 5
    if kill -0 "$(cat "$KT_DIR/kcm.pid")" 2>/dev/null; then return 0; fi
    log "kube-controller-manager exited (try $try); last log lines:"; tail -5 "$KT_DIR/kcm.log" >&2
  done
  return 1
}
kcm_running() { kill -0 "$(cat "$KT_DIR/kcm.pid" 2>/dev/null)" 2>/dev/null; }

start() {
  if api_ready; then
    # a cluster of ours whose controller manager died is mended rather than reported as running
    if [ "${KT_KCM:-1}" = 1 ] && [ -f "$KT_DIR/kcm.pid" ] && ! kcm_running; then
      log "kube-controller-manager of the running test cluster is gone: starting it again"
      start_kcm || { log "kube-controller-manager does not stay up"; exit 1; }
    fi
    log "kube test cluster already running (KUBECONFIG=$KT_DIR/kubeconfig)"; return 0
  fi
  any_ours && { log "a half-running test cluster in $KT_DIR: stopping it first"; stop_all; }
  local port
  for port in "$APORT" "$EPORT" "$PPORT"; do
    if port_open 127.0.0.1 "$port"; then
      log "127.0.0.1:$port is taken by another process; free it or set KT_API_PORT/KT_ETCD_PORT"; exit 1
    fi
  done
  bash "$ENV_DIR/kube-build.sh" build
  rm -rf "$KT_DIR"; mkdir -p "$KT_DIR"
  openssl genrsa -out "$KT_DIR/sa.key" 2048 2>/dev/null
  local TOKEN
  TOKEN=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
  echo "$TOKEN,admin,admin-uid,system:masters" >"$KT_DIR/tokens.csv"
  nohup etcd --name kt --data-dir "$KT_DIR/etcd" \
    --listen-client-urls "http://127.0.0.1:$EPORT" --advertise-client-urls "http://127.0.0.1:$EPORT" \
    --listen-peer-urls "http://127.0.0.1:$PPORT" --initial-advertise-peer-urls "http://127.0.0.1:$PPORT" \
    --initial-cluster "kt=http://127.0.0.1:$PPORT" --listen-metrics-urls "http://127.0.0.1:$((EPORT+2))" \
    >"$KT_DIR/etcd.log" 2>&1 </dev/null &
  echo $! >"$KT_DIR/etcd.pid"
  nohup "$BIN/kube-apiserver" --etcd-servers="http://127.0.0.1:$EPORT" \
    --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="$APORT" --insecure-port=0 \
    --cert-dir="$KT_DIR/certs" --token-auth-file="$KT_DIR/tokens.csv" --authorization-mode=RBAC \
    --service-account-issuer=https://kubernetes.default.svc \
    --service-account-key-file="$KT_DIR/sa.key" --service-account-signing-key-file="$KT_DIR/sa.key" \
    --service-cluster-ip-range="${KT_SERVICE_CIDR:-10.96.0.0/16}" --enable-priority-and-fairness=false \
    >"$KT_DIR/apiserver.log" 2>&1 </dev/null &
  echo $! >"$KT_DIR/apiserver.pid"
  cat >"$KT_DIR/kubeconfig" <<KC
apiVersion: v1
kind: Config
clusters: [{name: kt, cluster: {server: "https://127.0.0.1:$APORT", insecure-skip-tls-verify: true}}]
users: [{name: admin, user: {token: "$TOKEN"}}]
contexts: [{name: kt, context: {cluster: kt, user: admin, namespace: default}}]
current-context: kt
KC
  if wait_for 90 api_ready; then
    if ! start_kcm; then log "kube-controller-manager does not stay up"; stop_all; exit 1; fi
    log "kube test cluster ready (KUBECONFIG=$KT_DIR/kubeconfig)"; return 0
  fi
  log "kube-apiserver not ready after 90 s; last log lines:"; tail -30 "$KT_DIR/apiserver.log" >&2
  stop_all; exit 1
}

case "${1:-status}" in
start) start ;;
stop)
  if any_ours; then stop_all; log "kube test cluster stopped"
  else log "kube test cluster: nothing started by tests/env"; fi ;;
status)
  if api_ready; then echo "running (KUBECONFIG=$KT_DIR/kubeconfig)"
  else echo "not running"; exit 3; fi ;;
*) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
