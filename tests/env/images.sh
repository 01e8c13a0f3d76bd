#!/usr/bin/env bash
# Container images of nexbii-operator and nexbii-controlplane, built without pulling anything:
# the installed Rust toolchain builds statically linked binaries (glibc with crt-static), and
# buildah (Debian's package) puts each alone in an image FROM scratch, committed with a zero
# timestamp so the same binary gives the same image ID. operator/Dockerfile and
# controlplane/Dockerfile describe the same images for anyone with a Docker engine.
# `smoke` runs each image with podman (Debian's) as the image's non-root user on a read-only
# root file system and checks /healthz.
# usage: tests/env/images.sh [build|smoke|all|clean]
#   build  cargo build --release (target/x86_64-unknown-linux-gnu/release) and the two images
#   smoke  runs both images (build first) and checks /healthz, the user and the read-only root
#   all    build then smoke (default)
#   clean  removes the images (not the cargo target directory)
# Run by tests/run.sh after the tests (NEXBII_SKIP_IMAGES=1 skips it). The release build of both
# binaries is the slow part: every dependency again, optimised, in another target directory.
set -euo pipefail
source "$(dirname "$0")/common.sh"
ROOT=$(cd "$ENV_DIR/../.." && pwd)
TARGET=x86_64-unknown-linux-gnu
VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' "$ROOT/Cargo.toml" | head -1)
# IMAGES_BIN: take nexbii-operator and nexbii-controlplane from this folder (static builds made
# elsewhere, e.g. a CI artifact) instead of building them here.
BIN=${IMAGES_BIN:-$ROOT/target/$TARGET/release}
IMAGES=(operator controlplane)
# Ports of the smoke runs (host network: nothing else is set up for podman here).
CP_PORT=${IMAGES_CP_PORT:-18080}
OP_PORT=${IMAGES_OP_PORT:-18081}
# runc, not crun: crun refuses a machine whose cgroups are in hybrid mode with a controller on
# the v2 hierarchy (as on the CI machines); cgroupfs and a file event log: no systemd there.
PODMAN=(podman --cgroup-manager=cgroupfs --events-backend=file --runtime runc)
# Limits below the machine's hard ones: podman's defaults raise them, which needs
# CAP_SYS_RESOURCE, and the CI machines' root lacks it.
LIMITS=(--ulimit nofile=8192:8192 --ulimit nproc=4096:4096)

tools() { apt_install buildah podman runc ca-certificates; }

binaries() {
  local t0=$SECONDS
  if [ -n "${IMAGES_BIN:-}" ]; then
    log "binaries from IMAGES_BIN=$IMAGES_BIN (no cargo build)"
    check_static; return
  fi
  log "cargo build --release --target $TARGET (crt-static)"
  # --target keeps RUSTFLAGS off build scripts and proc macros (which cannot be static);
  # --remap-path-prefix keeps the checkout's and the cargo home's paths out of the binaries.
  (cd "$ROOT" && CARGO_INCREMENTAL=0 \
    RUSTFLAGS="-C target-feature=+crt-static --remap-path-prefix=$ROOT=/src --remap-path-prefix=${CARGO_HOME:-$HOME/.cargo}=/cargo" \
    cargo build --release --locked --target "$TARGET" -p nexbii-operator -p nexbii-controlplane)
  log "release build took $((SECONDS - t0)) s"
  check_static
}

check_static() {
  local b
  for b in "${IMAGES[@]}"; do
    # a NEEDED entry names a shared library the empty image would lack (ldd exits 0 either way)
    if readelf -d "$BIN/nexbii-$b" | grep -q NEEDED; then
      log "nexbii-$b is dynamically linked; an image FROM scratch cannot run it"; exit 1
    fi
  done
}

# image NAME CMD ENV... — nexbii/NAME:VERSION from scratch with the static binary alone.
image() {
  local name=$1 cmd=$2; shift 2
  local ctr e
  ctr=$(buildah from scratch)
  buildah copy --chmod 0555 "$ctr" "$BIN/nexbii-$name" "/nexbii-$name" >/dev/null
  # The CA bundle: the operator's client (rustls with the system's roots) refuses to start
  # without one when its kubeconfig names no CA, and sources with TLS verify-full need it.
  buildah copy --chmod 0444 "$ctr" /etc/ssl/certs/ca-certificates.crt \
    /etc/ssl/certs/ca-certificates.crt >/dev/null
  local config=(--user 65532:65532 --entrypoint "[\"/nexbii-$name\"]" --cmd "$cmd"
    --label "org.opencontainers.image.title=nexbii-$name"
    --label "org.opencontainers.image.version=$VERSION" --created-by "tests/env/images.sh")
  for e in "$@"; do config+=(--env "$e"); done
  buildah config "${config[@]}" "$ctr"
  # --timestamp 0: layer and config dates fixed, so the image ID depends on the binary only
  buildah commit --quiet --rm --timestamp 0 "$ctr" "localhost/nexbii/$name:$VERSION" >/dev/null
  log "image localhost/nexbii/$name:$VERSION: $(buildah images --noheading --format '{{.ID}} {{.Size}}' "localhost/nexbii/$name:$VERSION")"
}

build() {
  tools
  binaries
  local t0=$SECONDS
  image operator run
  image controlplane serve NEXBII_LISTEN=0.0.0.0:8080 NEXBII_STORE=/data/nexbii.db \
    NEXBII_KEYS_FILE=/data/keys.json NEXBII_SQLITE_ROOT=/data/sources
  # Reproducible: committing the same binary again gives the same image ID.
  local id1 id2
  id1=$(buildah images --noheading --format '{{.ID}}' "localhost/nexbii/operator:$VERSION")
  image operator run
  id2=$(buildah images --noheading --format '{{.ID}}' "localhost/nexbii/operator:$VERSION")
  [ "$id1" = "$id2" ] || { log "image IDs differ between two commits: $id1 $id2"; exit 1; }
  log "images built in $((SECONDS - t0)) s (reproducible: operator ID $id1 twice)"
}

# check_container NAME PORT — /healthz answers, the process runs as 65532, the root is read-only.
check_container() {
  local name=$1 port=$2 pid uid ro
  if ! wait_for 20 curl -fsS "http://127.0.0.1:$port/healthz"; then
    log "$name: /healthz did not answer on 127.0.0.1:$port; its log:"
    "${PODMAN[@]}" logs "$name" >&2 || true
    return 1
  fi
  log "$name: /healthz -> $(curl -fsS "http://127.0.0.1:$port/healthz")"
  pid=$("${PODMAN[@]}" inspect --format '{{.State.Pid}}' "$name")
  uid=$(awk '/^Uid:/ {print $2}' "/proc/$pid/status")
  ro=$("${PODMAN[@]}" inspect --format '{{.HostConfig.ReadonlyRootfs}}' "$name")
  [ "$uid" = 65532 ] || { log "$name runs as uid $uid, not 65532"; return 1; }
  [ "$ro" = true ] || { log "$name: root file system is not read-only"; return 1; }
  log "$name: uid $uid, read-only root file system"
}

smoke() {
  tools
  local rc=0 kc
  "${PODMAN[@]}" rm -f nexbii-smoke-cp nexbii-smoke-op >/dev/null 2>&1 || true
  # The control plane keeps its state in /data: a tmpfs here, a volume under the operator.
  "${PODMAN[@]}" run -d --name nexbii-smoke-cp --network host --read-only "${LIMITS[@]}" \
    --tmpfs /data:rw,size=64m,mode=1777 -e NEXBII_LISTEN="127.0.0.1:$CP_PORT" \
    "localhost/nexbii/controlplane:$VERSION" >/dev/null
  check_container nexbii-smoke-cp "$CP_PORT" || rc=1
  # The operator serves /healthz before it contacts the apiserver; an address nothing answers
  # on is enough (it keeps retrying leader election meanwhile).
  kc=$(mktemp)
  cat >"$kc" <<'KC'
apiVersion: v1
kind: Config
clusters: [{name: none, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: none, user: {token: "none"}}]
contexts: [{name: none, context: {cluster: none, user: none}}]
current-context: none
KC
  chmod 0644 "$kc"
  "${PODMAN[@]}" run -d --name nexbii-smoke-op --network host --read-only "${LIMITS[@]}" \
    -v "$kc:/etc/nexbii/kubeconfig:ro" -e KUBECONFIG=/etc/nexbii/kubeconfig \
    "localhost/nexbii/operator:$VERSION" run --namespace nexbii-image-smoke \
    --lease-namespace nexbii-image-smoke --metrics-listen "127.0.0.1:$OP_PORT" >/dev/null
  check_container nexbii-smoke-op "$OP_PORT" || rc=1
  "${PODMAN[@]}" rm -f -t 5 nexbii-smoke-cp nexbii-smoke-op >/dev/null 2>&1 || true
  rm -f "$kc"
  [ $rc = 0 ] && log "smoke runs passed"
  return $rc
}

clean() {
  local n
  for n in "${IMAGES[@]}"; do buildah rmi "localhost/nexbii/$n:$VERSION" >/dev/null 2>&1 || true; done
  log "images removed"
}

case "${1:-all}" in
build) build ;;
smoke) smoke ;;
all) build; smoke ;;
clean) clean ;;
*) echo "usage: $0 [build|smoke|all|clean]" >&2; exit 2 ;;
esac
