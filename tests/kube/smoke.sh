#!/usr/bin/env bash
# Self-test of tests/kube/cluster.sh against a real kube-apiserver:
#   smoke.sh [workdir]   (default: a fresh temp dir, removed at the end)
# Checks: version, namespaces, a CRD with a status subresource, a custom
# object, kubectl wait, server-side apply to /status, ServiceAccount + Role +
# RoleBinding with a minted token (auth can-i yes/no, real RBAC denials),
# restart keeping the objects (same URL), a second cluster at the same time,
# a 45 s watch that is not cut at 30 s, and stop leaving no process.
# Set SMOKE_WATCH_SECONDS=0 to skip the watch. Runs from any directory; both
# clusters (and the watch) are stopped on exit, also when a step fails.
# Prints "smoke: N passed, M failed", then "N passed, M failed" last
# (tests/lib/testlib.sh); exits 1 if M > 0. CTest: kube_cluster_smoke.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib/testlib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/testlib.sh"
TEST_NAME=smoke

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CL="$HERE/cluster.sh"
if [[ -n "${1:-}" ]]; then
  mkdir -p "$1"
  # Absolute, as cluster.sh records it (the "no process left" check matches it).
  WD="$(cd "$1" && pwd)"
else
  WD="$(mktemp -d "${TMPDIR:-/tmp}/kube-smoke.XXXXXX")"
  at_exit rm -rf "$WD"
fi
at_exit bash "$CL" stop "$WD"
WD2="$(mktemp -d "${TMPDIR:-/tmp}/kube-smoke2.XXXXXX")"
at_exit rm -rf "$WD2"
at_exit bash "$CL" stop "$WD2"
WATCH_SECONDS="${SMOKE_WATCH_SECONDS:-45}"
WPID=""
stop_watch() {
  if [[ -n "$WPID" ]]; then
    kill "$WPID" 2>/dev/null || true
    wait "$WPID" 2>/dev/null || true
    WPID=""
  fi
}
at_exit stop_watch

cl() { bash "$CL" "$@"; }
k() { cl kubectl "$WD" "$@"; }
# loopback_only WORKDIR: the server there listens (TCP) on 127.0.0.1/::1 only.
# shellcheck disable=SC2317  # run via check
loopback_only() {
  local pid addrs
  pid="$(cat "$1/apiserver.pid")"
  addrs="$(ss -Hltnp | awk -v p="pid=$pid," 'index($0, p) {print $4}')"
  echo "listening on: ${addrs//$'\n'/ }"
  [[ -n "$addrs" ]] && ! grep -vqE '^(127\.0\.0\.1|\[::1\]):[0-9]+$' <<<"$addrs"
}

cl build
cl start "$WD"
URL1="$(sed -n 's/^APISERVER_URL=//p' "$WD/apiserver.env")"
case "$URL1" in
  https://127.0.0.1:*) ok "API server URL is on loopback ($URL1)" ;;
  *) bad "API server URL is not https://127.0.0.1:...: '$URL1'" ;;
esac
if command -v ss >/dev/null 2>&1; then
  check "the server listens on loopback only (apiserver, etcd client and peer ports)" loopback_only "$WD"
else
  skip "ss not installed: listening addresses not checked"
fi

check "kubectl version (client and server)" k version
expect_eq "server version" "$(awk '$1=="k8s.io/kubernetes"{print $2}' "$HERE/go.mod")" \
  "$(k version -o json | sed -n 's/.*"gitVersion": "\(v[^"]*\)".*/\1/p' | tail -1)"
check "get ns default" k get ns default

k apply -f - <<'EOF'
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget}
  versions:
  - name: v1
    served: true
    storage: true
    subresources: {status: {}}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              size: {type: integer}
          status:
            type: object
            properties:
              phase: {type: string}
              conditions:
                type: array
                x-kubernetes-list-type: map
                x-kubernetes-list-map-keys: [type]
                items:
                  type: object
                  required: [type, status]
                  properties:
                    type: {type: string}
                    status: {type: string}
                    reason: {type: string}
EOF
check "CRD established (kubectl wait)" k wait --for=condition=Established crd/widgets.example.com --timeout=60s

k create namespace smoke --dry-run=client -o yaml | k apply -f - >/dev/null
k apply -n smoke -f - <<'EOF'
apiVersion: example.com/v1
kind: Widget
metadata: {name: w1}
spec: {size: 3}
EOF
check "get widget" k get -n smoke widget w1

# Server-side apply to the status subresource, as a controller would.
check "server-side apply --subresource=status" k apply -n smoke --server-side --field-manager=smoke-controller --subresource=status -f - <<'EOF'
apiVersion: example.com/v1
kind: Widget
metadata: {name: w1}
status:
  phase: Ready
  conditions:
  - {type: Ready, status: "True", reason: Probed}
EOF
check "kubectl wait --for=condition=Ready on the custom object" k wait -n smoke widget/w1 --for=condition=Ready --timeout=30s
check "kubectl wait --for=jsonpath status.phase" k wait -n smoke widget/w1 --for=jsonpath='{.status.phase}'=Ready --timeout=30s
expect_eq "spec untouched by status apply" "3" "$(k get -n smoke widget w1 -o jsonpath='{.spec.size}')"

# Least privilege: a ServiceAccount that may only read widgets in "smoke".
k apply -n smoke -f - <<'EOF'
apiVersion: v1
kind: ServiceAccount
metadata: {name: reader}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: widget-reader}
rules:
- apiGroups: [example.com]
  resources: [widgets]
  verbs: [get, list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: reader-widget-reader}
subjects:
- {kind: ServiceAccount, name: reader, namespace: smoke}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: widget-reader}
EOF
TOKEN="$(cl token "$WD" smoke reader 1h)"
expect_eq "token is a JWT" "3" "$(awk -F. '{print NF}' <<<"$TOKEN")"
SAKC="$WD/sa-reader.kubeconfig"
cl sa-kubeconfig "$WD" smoke reader "$SAKC"
sa() { "$(cl bin)/kubectl" --kubeconfig "$SAKC" "$@"; }
expect_eq "SA whoami" "system:serviceaccount:smoke:reader" "$(sa auth whoami -o jsonpath='{.status.userInfo.username}')"
expect_eq "SA can-i list widgets -n smoke" "yes" "$(sa auth can-i list widgets.example.com -n smoke || true)"
expect_eq "SA can-i update widgets -n smoke" "no" "$(sa auth can-i update widgets.example.com -n smoke || true)"
expect_eq "SA can-i patch widgets/status -n smoke" "no" "$(sa auth can-i patch widgets.example.com --subresource=status -n smoke || true)"
expect_eq "SA can-i list widgets -n default" "no" "$(sa auth can-i list widgets.example.com -n default || true)"
expect_eq "SA can-i list secrets -n smoke" "no" "$(sa auth can-i list secrets -n smoke || true)"
check "SA can really list widgets" sa get widgets -n smoke
expect_fail "SA listing secrets is Forbidden" Forbidden sa get secrets -n smoke

# Restart on the same workdir: objects, URL and certificates are kept, and a
# kubeconfig minted before the restart still works.
cl restart "$WD"
URL2="$(sed -n 's/^APISERVER_URL=//p' "$WD/apiserver.env")"
expect_eq "same URL after restart" "$URL1" "$URL2"
expect_eq "widget kept across restart" "Ready" "$(k get -n smoke widget w1 -o jsonpath='{.status.phase}')"
expect_eq "pre-restart SA token still valid" "yes" "$(sa auth can-i list widgets.example.com -n smoke || true)"

# A second, independent cluster at the same time.
cl start "$WD2"
URL3="$(sed -n 's/^APISERVER_URL=//p' "$WD2/apiserver.env")"
if [[ "$URL3" != "$URL1" ]]; then ok "second cluster on another port ($URL3)"; else bad "second cluster has the same URL"; fi
expect_eq "second cluster has no widgets CRD" "" "$(cl kubectl "$WD2" get crd -o name)"
check "first cluster still answers" k get -n smoke widget w1
cl stop "$WD2"

# A watch must survive well past 30 s (no server-side 30 s cut).
if (( WATCH_SECONDS > 0 )); then
  WLOG="$WD/watch.out"
  # Run kubectl itself in the background (not through a shell function) so
  # that $! is kubectl's pid.
  "$(cl bin)/kubectl" --kubeconfig "$WD/kubeconfig" get -n smoke widgets --watch --output-watch-events >"$WLOG" 2>&1 &
  WPID=$!
  sleep 2
  k patch -n smoke widget w1 --type=merge -p '{"spec":{"size":4}}' >/dev/null
  sleep "$((WATCH_SECONDS - 4))"
  k patch -n smoke widget w1 --type=merge -p '{"spec":{"size":5}}' >/dev/null
  sleep 2
  if kill -0 "$WPID" 2>/dev/null; then
    ok "watch still running after ${WATCH_SECONDS}s"
  else
    bad "watch ended before ${WATCH_SECONDS}s: $(cat "$WLOG")"
  fi
  stop_watch
  expect_eq "watch saw ADDED + 2 MODIFIED events" "3" "$(grep -c -E '^(ADDED|MODIFIED)' "$WLOG" || true)"
fi

cl stop "$WD"
PID="$(cat "$WD/apiserver.pid" 2>/dev/null || true)"
if [[ -z "$PID" ]] && ! pgrep -f -- "-workdir $WD" >/dev/null; then ok "stop left no process"; else bad "process left after stop"; fi
check "stop is idempotent" cl stop "$WD"

finish
