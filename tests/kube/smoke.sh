#!/usr/bin/env bash
# Self-test of tests/kube/cluster.sh against a real kube-apiserver:
#   smoke.sh [workdir]   (default: a fresh temp dir, removed at the end)
# Checks: version, namespaces, a CRD with a status subresource, a custom
# object, kubectl wait, server-side apply to /status, ServiceAccount + Role +
# RoleBinding with a minted token (auth can-i yes/no, real RBAC denials),
# restart keeping the objects (same URL), a second cluster at the same time,
# a 45 s watch that is not cut at 30 s, and stop leaving no process.
# Set SMOKE_WATCH_SECONDS=0 to skip the watch.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CL="$HERE/cluster.sh"
OWN_WD=""
if [[ -n "${1:-}" ]]; then
  WD="$1"
else
  WD="$(mktemp -d /tmp/kube-smoke.XXXXXX)"
  OWN_WD=1
fi
WD2="$(mktemp -d /tmp/kube-smoke2.XXXXXX)"
WATCH_SECONDS="${SMOKE_WATCH_SECONDS:-45}"
PASS=0
FAIL=0

cleanup() {
  "$CL" stop "$WD2" >/dev/null 2>&1 || true
  rm -rf "$WD2"
  "$CL" stop "$WD" >/dev/null 2>&1 || true
  if [[ -n "$OWN_WD" ]]; then rm -rf "$WD"; fi
}
trap cleanup EXIT

k() { "$CL" kubectl "$WD" "$@"; }
ok() { echo "ok   - $*"; PASS=$((PASS + 1)); }
bad() { echo "FAIL - $*"; FAIL=$((FAIL + 1)); }
check() { # check "description" command...
  local d="$1"; shift
  if "$@" >/tmp/kube-smoke.out.$$ 2>&1; then ok "$d"; else bad "$d"; sed 's/^/       /' /tmp/kube-smoke.out.$$; fi
  rm -f /tmp/kube-smoke.out.$$
}
expect_eq() { # expect_eq "description" expected actual
  if [[ "$2" == "$3" ]]; then ok "$1 ($3)"; else bad "$1: expected '$2', got '$3'"; fi
}

"$CL" build
"$CL" start "$WD"
URL1="$(sed -n 's/^APISERVER_URL=//p' "$WD/apiserver.env")"

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
TOKEN="$("$CL" token "$WD" smoke reader 1h)"
expect_eq "token is a JWT" "3" "$(awk -F. '{print NF}' <<<"$TOKEN")"
SAKC="$WD/sa-reader.kubeconfig"
"$CL" sa-kubeconfig "$WD" smoke reader "$SAKC"
sa() { "$("$CL" bin)/kubectl" --kubeconfig "$SAKC" "$@"; }
expect_eq "SA whoami" "system:serviceaccount:smoke:reader" "$(sa auth whoami -o jsonpath='{.status.userInfo.username}')"
expect_eq "SA can-i list widgets -n smoke" "yes" "$(sa auth can-i list widgets.example.com -n smoke || true)"
expect_eq "SA can-i update widgets -n smoke" "no" "$(sa auth can-i update widgets.example.com -n smoke || true)"
expect_eq "SA can-i patch widgets/status -n smoke" "no" "$(sa auth can-i patch widgets.example.com --subresource=status -n smoke || true)"
expect_eq "SA can-i list widgets -n default" "no" "$(sa auth can-i list widgets.example.com -n default || true)"
expect_eq "SA can-i list secrets -n smoke" "no" "$(sa auth can-i list secrets -n smoke || true)"
check "SA can really list widgets" sa get widgets -n smoke
if sa get secrets -n smoke >/tmp/kube-smoke.forbidden.$$ 2>&1; then
  bad "SA listing secrets should be Forbidden"
elif grep -q Forbidden /tmp/kube-smoke.forbidden.$$; then
  ok "SA listing secrets is Forbidden"
else
  bad "SA listing secrets failed but not with Forbidden: $(cat /tmp/kube-smoke.forbidden.$$)"
fi
rm -f /tmp/kube-smoke.forbidden.$$

# Restart on the same workdir: objects, URL and certificates are kept, and a
# kubeconfig minted before the restart still works.
"$CL" restart "$WD"
URL2="$(sed -n 's/^APISERVER_URL=//p' "$WD/apiserver.env")"
expect_eq "same URL after restart" "$URL1" "$URL2"
expect_eq "widget kept across restart" "Ready" "$(k get -n smoke widget w1 -o jsonpath='{.status.phase}')"
expect_eq "pre-restart SA token still valid" "yes" "$(sa auth can-i list widgets.example.com -n smoke || true)"

# A second, independent cluster at the same time.
"$CL" start "$WD2"
URL3="$(sed -n 's/^APISERVER_URL=//p' "$WD2/apiserver.env")"
if [[ "$URL3" != "$URL1" ]]; then ok "second cluster on another port ($URL3)"; else bad "second cluster has the same URL"; fi
expect_eq "second cluster has no widgets CRD" "" "$("$CL" kubectl "$WD2" get crd -o name)"
check "first cluster still answers" k get -n smoke widget w1
"$CL" stop "$WD2"

# A watch must survive well past 30 s (no server-side 30 s cut).
if (( WATCH_SECONDS > 0 )); then
  WLOG="$WD/watch.out"
  # Run kubectl itself in the background (not through a shell function) so
  # that $! is kubectl's pid.
  "$("$CL" bin)/kubectl" --kubeconfig "$WD/kubeconfig" get -n smoke widgets --watch --output-watch-events >"$WLOG" 2>&1 &
  WPID=$!
  sleep 2
  k patch -n smoke widget w1 --type=merge -p '{"spec":{"size":4}}' >/dev/null
  sleep "$((WATCH_SECONDS - 4))"
  k patch -n smoke widget w1 --type=merge -p '{"spec":{"size":5}}' >/dev/null
  sleep 2
  if kill -0 "$WPID" 2>/dev/null; then
    ok "watch still running after ${WATCH_SECONDS}s"
    kill "$WPID" 2>/dev/null || true
    wait "$WPID" 2>/dev/null || true
  else
    wait "$WPID" 2>/dev/null || true
    bad "watch ended before ${WATCH_SECONDS}s: $(cat "$WLOG")"
  fi
  expect_eq "watch saw ADDED + 2 MODIFIED events" "3" "$(grep -c -E '^(ADDED|MODIFIED)' "$WLOG" || true)"
fi

"$CL" stop "$WD"
PID="$(cat "$WD/apiserver.pid" 2>/dev/null || true)"
if [[ -z "$PID" ]] && ! pgrep -f -- "-workdir $WD" >/dev/null; then ok "stop left no process"; else bad "process left after stop"; fi
"$CL" stop "$WD" >/dev/null && ok "stop is idempotent"

echo "smoke: $PASS passed, $FAIL failed"
[[ $FAIL -eq 0 ]]
