#!/usr/bin/env bash
# Real kube-apiserver + etcd (in one process, loopback only) for integration
# tests, built from Go modules.  See tests/kube/README.md.
#
#   cluster.sh build                       build both binaries into the cache (if needed)
#   cluster.sh check                       exit 0 if the cache holds binaries for these sources
#   cluster.sh bin                         print the cache bin dir (after build)
#   cluster.sh start   <workdir>           start (or reuse) the server, wait until usable
#   cluster.sh stop    <workdir>           SIGTERM, bounded wait, SIGKILL; idempotent
#   cluster.sh restart <workdir>           stop + start on the same workdir (same data, certs, ports)
#   cluster.sh status  <workdir>           exit 0 if running (prints pid and URL)
#   cluster.sh kubectl <workdir> args...   the built kubectl with the admin kubeconfig
#   cluster.sh token   <workdir> <ns> <sa> [duration]    mint a ServiceAccount token (TokenRequest API)
#   cluster.sh sa-kubeconfig <workdir> <ns> <sa> <out> [duration]  kubeconfig using that token
#
# Environment:
#   IMAPPROBE_CACHE      cache root (default $HOME/.cache/imap-probe-operator)
#   KUBE_START_TIMEOUT   seconds start waits for readiness (default 120)
#   KUBE_STOP_TIMEOUT    seconds stop waits after SIGTERM before SIGKILL (default 30)
#   KUBE_APISERVER_ARGS  extra kube-apiserver flags for start (space-separated)
#   IMAPPROBE_TOOLS_PREBUILT  set by tests/run.sh after tests/tools.sh: fail
#                        rather than build inside a test's timeout
set -euo pipefail

SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
K8S_VERSION="$(awk '$1=="k8s.io/kubernetes"{print $2; exit}' "$SRC/go.mod")"
CACHE_ROOT="${IMAPPROBE_CACHE:-${HOME:-/tmp}/.cache/imap-probe-operator}"
BIN="$CACHE_ROOT/kube/$K8S_VERSION/bin"
APISERVER_BIN="$BIN/kube-apiserver-local"
KUBECTL_BIN="$BIN/kubectl"
# Bump when the way the binaries are built changes (flags below).
BUILD_RECIPE=1

log() { echo "cluster.sh: $*" >&2; }
die() { echo "cluster.sh: ERROR: $*" >&2; exit 1; }

usage() {
  awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}" >&2
  exit 2
}

source_hash() {
  {
    echo "recipe=$BUILD_RECIPE"
    go version
    (cd "$SRC" && find . \( -name '*.go' -o -name go.mod -o -name go.sum \) -type f -print \
      | LC_ALL=C sort | xargs sha256sum)
  } | sha256sum | cut -d' ' -f1
}

# Whether the cache holds binaries built from these sources (no build).
is_built() {
  [[ -x "$APISERVER_BIN" && -x "$KUBECTL_BIN" && -f "$BIN/.source-hash" \
     && "$(cat "$BIN/.source-hash")" == "$1" ]]
}

# Builds the binaries unless the cache already holds them for this source hash.
ensure_built() {
  command -v go >/dev/null 2>&1 \
    || die "'go' not found in PATH: Go >= $(awk '$1=="go"{print $2; exit}' "$SRC/go.mod") is needed to build kube-apiserver/kubectl $K8S_VERSION"
  local t0 hash
  t0=$(date +%s)
  hash="$(source_hash)"
  mkdir -p "$BIN"
  exec 9>"$BIN/.build.lock"
  if command -v flock >/dev/null 2>&1; then flock 9; fi
  if is_built "$hash"; then
    [[ -n "${QUIET_UPTODATE:-}" ]] || log "binaries up to date in $BIN ($(( $(date +%s) - t0 ))s)"
    exec 9>&-
    return 0
  fi
  if [[ -n "${IMAPPROBE_TOOLS_PREBUILT:-}" ]]; then
    exec 9>&-
    die "kube-apiserver-local/kubectl $K8S_VERSION are not built for these sources, and a test must not build them inside its timeout: run 'bash tests/tools.sh' first"
  fi
  log "building kube-apiserver-local and kubectl $K8S_VERSION into $BIN (cold: tens of minutes on 2 cores) ..."
  local tmp minor
  tmp="$(mktemp -d "$BIN/.build.XXXXXX")"
  minor="${K8S_VERSION#v1.}"; minor="${minor%%.*}"
  local ld=""
  local kv
  for kv in "gitVersion=$K8S_VERSION" "gitMajor=1" "gitMinor=$minor" "gitTreeState=clean" \
            "buildDate=$(date -u +%Y-%m-%dT%H:%M:%SZ)"; do
    ld+=" -X k8s.io/component-base/version.$kv -X k8s.io/client-go/pkg/version.$kv"
  done
  if ! (cd "$SRC" && nice -n 10 go build -buildvcs=false -ldflags "-s -w$ld" -o "$tmp/" ./apiserver ./kubectl); then
    rm -rf "$tmp"
    exec 9>&-
    die "go build failed (see output above)"
  fi
  mv -f "$tmp/apiserver" "$APISERVER_BIN"
  mv -f "$tmp/kubectl" "$KUBECTL_BIN"
  rmdir "$tmp"
  echo "$hash" >"$BIN/.source-hash"
  exec 9>&-
  log "built in $(( $(date +%s) - t0 ))s: $(du -h "$APISERVER_BIN" | cut -f1) kube-apiserver-local, $(du -h "$KUBECTL_BIN" | cut -f1) kubectl"
}

need_wd() { # need_wd DIR [create]
  [[ -n "${1:-}" ]] || usage
  if [[ -n "${2:-}" ]]; then mkdir -p "$1"; fi
  [[ -d "$1" ]] || die "no such workdir: $1"
  WD="$(cd "$1" && pwd)"
}

# Prints the pid if the server for $WD is running.
running_pid() {
  local pid
  [[ -f "$WD/apiserver.pid" ]] || return 1
  pid="$(cat "$WD/apiserver.pid" 2>/dev/null || true)"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  # Guard against pid reuse: it must be our binary on this workdir.
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "-workdir $WD" || return 1
  echo "$pid"
}

kc() { "$KUBECTL_BIN" --kubeconfig "$WD/kubeconfig" "$@"; }

log_tail() {
  echo "----- last lines of $WD/apiserver.log -----" >&2
  tail -n "${1:-60}" "$WD/apiserver.log" >&2 2>/dev/null || true
  if [[ -s "$WD/etcd.log" ]]; then
    echo "----- last lines of $WD/etcd.log -----" >&2
    tail -n 20 "$WD/etcd.log" >&2 || true
  fi
  echo "-----" >&2
}

cmd_start() {
  need_wd "${1:-}" create
  ensure_built
  local pid
  if pid="$(running_pid)"; then
    log "already running (pid $pid) in $WD"
  else
    rm -f "$WD/apiserver.pid"
    # The binary appends to the same log itself (O_APPEND on both).
    # shellcheck disable=SC2086,SC2094
    nohup "$APISERVER_BIN" -workdir "$WD" -log "$WD/apiserver.log" -- ${KUBE_APISERVER_ARGS:-} \
      >>"$WD/apiserver.log" 2>&1 </dev/null &
    pid=$!
    echo "$pid" >"$WD/apiserver.pid"
    log "started pid $pid, workdir $WD"
  fi
  local timeout="${KUBE_START_TIMEOUT:-120}" t0 stage="readyz"
  t0=$(date +%s)
  while :; do
    if ! kill -0 "$pid" 2>/dev/null; then
      log_tail 80
      rm -f "$WD/apiserver.pid"
      die "kube-apiserver-local (pid $pid) exited during startup"
    fi
    if (( $(date +%s) - t0 >= timeout )); then
      log_tail 80
      die "not ready within ${timeout}s (waiting for $stage); still running as pid $pid (use: cluster.sh stop $WD)"
    fi
    if [[ -f "$WD/kubeconfig" ]]; then
      case "$stage" in
        readyz)
          if [[ "$(kc get --raw=/readyz 2>/dev/null || true)" == "ok" ]]; then stage="default-ns"; continue; fi ;;
        default-ns)
          # The bootstrap controller creates it shortly after /readyz.
          if kc get namespace default -o name >/dev/null 2>&1; then stage="rbac"; continue; fi ;;
        rbac)
          # RBAC bootstrap policy is in place (admin/edit/view aggregated roles).
          if kc get clusterrole admin -o name >/dev/null 2>&1 \
             && [[ "$(kc auth can-i create namespaces 2>/dev/null || true)" == "yes" ]]; then
            break
          fi ;;
      esac
    fi
    sleep 0.5
  done
  local url
  url="$(sed -n 's/^APISERVER_URL=//p' "$WD/apiserver.env")"
  log "ready in $(( $(date +%s) - t0 ))s: $url (KUBECONFIG=$WD/kubeconfig)"
}

cmd_stop() {
  [[ -n "${1:-}" ]] || usage
  if [[ ! -d "$1" ]]; then log "not running ($1 does not exist)"; return 0; fi
  need_wd "$1"
  local pid timeout="${KUBE_STOP_TIMEOUT:-30}" i
  if ! pid="$(running_pid)"; then
    rm -f "$WD/apiserver.pid"
    log "not running in $WD"
    return 0
  fi
  kill -TERM "$pid" 2>/dev/null || true
  for (( i = 0; i < timeout * 10; i++ )); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "pid $pid still alive after ${timeout}s; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    for (( i = 0; i < 100; i++ )); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
  fi
  if kill -0 "$pid" 2>/dev/null; then
    die "pid $pid did not exit"
  fi
  rm -f "$WD/apiserver.pid"
  log "stopped pid $pid"
}

cmd_status() {
  need_wd "${1:-}"
  local pid
  if pid="$(running_pid)"; then
    echo "running pid=$pid $(sed -n 's/^APISERVER_URL=//p' "$WD/apiserver.env" 2>/dev/null)"
  else
    echo "stopped"
    return 1
  fi
}

cmd_kubectl() {
  need_wd "${1:-}"
  shift
  QUIET_UPTODATE=1 ensure_built
  [[ -f "$WD/kubeconfig" ]] || die "no kubeconfig in $WD (start the cluster first)"
  exec "$KUBECTL_BIN" --kubeconfig "$WD/kubeconfig" "$@"
}

cmd_token() {
  [[ $# -ge 3 ]] || usage
  need_wd "$1"
  QUIET_UPTODATE=1 ensure_built
  kc create token "$3" --namespace "$2" --duration "${4:-24h}"
}

cmd_sa_kubeconfig() {
  [[ $# -ge 4 ]] || usage
  need_wd "$1"
  local ns="$2" sa="$3" out="$4" token url
  QUIET_UPTODATE=1 ensure_built
  token="$(kc create token "$sa" --namespace "$ns" --duration "${5:-24h}")"
  url="$(sed -n 's/^APISERVER_URL=//p' "$WD/apiserver.env")"
  [[ -n "$url" ]] || die "no APISERVER_URL in $WD/apiserver.env"
  mkdir -p "$(dirname "$out")"
  rm -f "$out"
  (
    umask 077
    k() { "$KUBECTL_BIN" --kubeconfig "$out" config "$@" >/dev/null; }
    k set-cluster local --server "$url" --certificate-authority "$WD/pki/ca.crt" --embed-certs=true
    k set-credentials "$ns-$sa" --token "$token"
    k set-context local --cluster local --user "$ns-$sa" --namespace "$ns"
    k use-context local
  )
  log "wrote $out (user system:serviceaccount:$ns:$sa)"
}

main() {
  local sub="${1:-}"
  [[ -n "$sub" ]] || usage
  shift
  case "$sub" in
    build)
      local t0
      t0=$(date +%s)
      ensure_built
      echo "$BIN"
      log "build step took $(( $(date +%s) - t0 ))s" ;;
    check)
      command -v go >/dev/null 2>&1 || die "'go' not found in PATH"
      is_built "$(source_hash)" || die "kube-apiserver-local/kubectl $K8S_VERSION not built for these sources (run: cluster.sh build)"
      echo "$BIN" ;;
    bin) echo "$BIN" ;;
    start) cmd_start "$@" ;;
    stop) cmd_stop "$@" ;;
    restart)
      cmd_stop "$@"
      cmd_start "$@" ;;
    status) cmd_status "$@" ;;
    kubectl) cmd_kubectl "$@" ;;
    token) cmd_token "$@" ;;
    sa-kubeconfig) cmd_sa_kubeconfig "$@" ;;
    -h|--help|help) usage ;;
    *) log "unknown subcommand: $sub"; usage ;;
  esac
}

main "$@"
