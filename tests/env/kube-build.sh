#!/usr/bin/env bash
# Build a real kube-apiserver and kube-controller-manager (Kubernetes v1.20.2) from Debian
# bookworm's own `kubernetes` source package (full tree incl. vendor/) with Debian's Go.
# Needs only the Debian package registry. About 7-10 minutes on 2 cores from scratch; cached in
# $NEXBII_CACHE/kube (default ~/.cache/nexbii-testenv/kube) and skipped when the binaries exist.
# usage: tests/env/kube-build.sh [build|status|path|clean]
set -euo pipefail
source "$(dirname "$0")/common.sh"
W=${KAPI_WORK:-$NEXBII_CACHE/kube}
BIN=${KAPI_BIN:-$W/bin}

build() {
  # etcd and the helpers the cluster script needs are installed even when the build is cached.
  apt_install etcd-server openssl curl jq
  if [ -x "$BIN/kube-apiserver" ] && [ -x "$BIN/kube-controller-manager" ]; then
    log "kube-apiserver already built: $BIN"; return 0
  fi
  apt_install golang-go rsync dpkg-dev patch make
  mkdir -p "$W/apt/lists/partial" "$W/apt/cache/archives/partial" "$W/apt/sources.list.d" "$BIN"
  # deb-src entries derived from the machine's own Debian source list (no host named here)
  local src="$W/apt/sources.list.d"
  rm -f "$src"/*
  if [ -f /etc/apt/sources.list.d/debian.sources ]; then
    sed 's/^Types: deb$/Types: deb-src/' /etc/apt/sources.list.d/debian.sources >"$src/debian-src.sources"
  fi
  if [ -f /etc/apt/sources.list ]; then
    sed -n 's/^deb \(.*\)$/deb-src \1/p' /etc/apt/sources.list >"$src/debian-src.list"
  fi
  local APT=(-o Dir::Etc::sourcelist=/dev/null -o Dir::Etc::sourceparts="$src"
             -o Dir::State::Lists="$W/apt/lists" -o Dir::Cache="$W/apt/cache" -o APT::Sandbox::User=root)
  log "fetching Debian's kubernetes source package"
  apt-get "${APT[@]}" update -qq
  cd "$W"
  rm -rf src kubernetes_*
  apt-get "${APT[@]}" source --download-only -qq kubernetes
  dpkg-source -x --no-check kubernetes_*.dsc src >/dev/null   # applies Debian's patches (incl. CVE fix)
  cd src
  # reflect2 v1.0.1 (vendored) segfaults under Go >= 1.18 (map iteration ABI): apply the v1.0.2 fix
  patch -p1 <"$ENV_DIR/reflect2-go118.patch" >/dev/null
  mkdir -p .go/src/k8s.io && ln -sfn ../../.. .go/src/k8s.io/kubernetes
  log "building kube-apiserver and kube-controller-manager (several minutes)"
  GOPATH="$W/src/.go" GOCACHE="$W/src/.gocache" GOPROXY=off GOFLAGS="" CGO_ENABLED=0 HOME="$W" \
    make WHAT="cmd/kube-apiserver cmd/kube-controller-manager" >"$W/build.log" 2>&1 \
    || { tail -40 "$W/build.log"; exit 1; }
  cp _output/bin/kube-apiserver _output/bin/kube-controller-manager "$BIN/"
  cd "$W" && rm -rf src kubernetes_*   # keep only the binaries
  "$BIN/kube-apiserver" --version
}

case "${1:-build}" in
build) build ;;
status) if [ -x "$BIN/kube-apiserver" ]; then echo "built ($BIN)"; else echo "not built"; fi ;;
path) echo "$BIN" ;;
clean) rm -rf "$W"; log "removed $W" ;;
*) echo "usage: $0 [build|status|path|clean]" >&2; exit 2 ;;
esac
