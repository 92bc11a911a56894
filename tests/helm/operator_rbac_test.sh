#!/usr/bin/env bash
# RBAC proven by use: the real operator runs against a real kube-apiserver
# with a token for the chart's ServiceAccount (and nothing more), probes a
# real Dovecot, and a probe becomes Ready and Available. Then one permission
# is taken away (get secrets) and the operator must say so precisely, in the
# probe's Stalled condition, without crashing.
# Prints "operator_rbac: N passed, M failed", then "N passed, M failed" last
# (tests/lib/testlib.sh); exits 1 if M > 0.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib/testlib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/testlib.sh"
TEST_NAME=operator_rbac
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
imapprobe=${1:?usage: operator_rbac_test.sh path/to/imapprobe}
cluster=$root/tests/kube/cluster.sh
harness=$root/tests/servers/dovecot/dovecot-harness.sh

work=$(mktemp -d)
chmod 755 "$work"
operator_pid=""
# shellcheck disable=SC2317  # run via at_exit
stop_operator() {
  if [[ -n "$operator_pid" ]]; then
    kill "$operator_pid" 2>/dev/null || true
    wait "$operator_pid" 2>/dev/null || true
    operator_pid=""
  fi
}
at_exit rm -rf "$work"
at_exit bash "$harness" stop "$work/dovecot"
at_exit bash "$cluster" stop "$work/kube"
at_exit stop_operator

helm=$(bash "$root/tests/helm/build-helm.sh")
bash "$harness" start "$work/dovecot" >/dev/null
bash "$cluster" start "$work/kube" >/dev/null
# shellcheck disable=SC1091
source "$work/dovecot/env"
k() { bash "$cluster" kubectl "$work/kube" "$@"; }

ns="imapprobe-system"
k apply -f "$root/crds/imapprobe.dev_imapprobes.yaml" >/dev/null
k wait --for=condition=Established crd/imapprobes.imapprobe.dev --timeout=60s >/dev/null
k create namespace "$ns" >/dev/null
"$helm" template imapprobe "$root/charts/imap-probe-operator" -n "$ns" >"$work/rendered.yaml"
k apply -n "$ns" -f "$work/rendered.yaml" >/dev/null
sa=$(k -n "$ns" get serviceaccount -o jsonpath='{.items[?(@.metadata.name!="default")].metadata.name}')
role=$(k get clusterrole -l app.kubernetes.io/instance=imapprobe -o name | grep -v -e '-view$' -e '-edit$' | head -1)
bash "$cluster" sa-kubeconfig "$work/kube" "$ns" "$sa" "$work/sa.kubeconfig" >/dev/null

k create namespace mail >/dev/null
k -n mail create secret generic creds --from-literal=username="$PROBE_USER" \
  --from-literal=password="$PROBE_PASSWORD" >/dev/null
k -n mail create secret generic test-ca --from-file=ca.crt="$CA_FILE" >/dev/null
k apply -f - >/dev/null <<YAML
apiVersion: imapprobe.dev/v1alpha1
kind: ImapProbe
metadata: {name: corp, namespace: mail}
spec:
  server: {host: localhost, port: $IMAPS_PORT, caBundleSecretRef: {name: test-ca}}
  auth: {secretRef: {name: creds}}
  interval: 10s
  timeout: 5s
  failureThreshold: 1
YAML

# Exactly the flags the chart's Deployment passes, with the SA's credentials.
"$imapprobe" operator --kubeconfig "$work/sa.kubeconfig" --leader-elect=true \
  --leader-election-name=imap-probe-operator --leader-election-namespace="$ns" \
  --identity=rbac-test --health-addr 127.0.0.1:0 --metrics-addr 127.0.0.1:0 \
  >"$work/operator.log" 2>&1 &
operator_pid=$!

check "probe Ready with the chart's ServiceAccount" \
  k -n mail wait --for=condition=Ready imapprobe/corp --timeout=60s
check "probe Available" k -n mail wait --for=condition=Available imapprobe/corp --timeout=30s
check "operator took the chart's Lease" grep -q "rbac-test is the leader" "$work/operator.log"
check "no permission errors in the log" bash -c "! grep -qi forbidden '$work/operator.log'"
check "not Stalled" \
  bash -c "[[ \$(bash '$cluster' kubectl '$work/kube' -n mail get imapprobe corp -o jsonpath='{.status.conditions[?(@.type==\"Stalled\")].status}') == False ]]"

# Take 'get secrets' away from the operator's ClusterRole.
k get "$role" -o json >"$work/role.json"
python3 - "$work/role.json" <<'PY'
import json, sys
path = sys.argv[1]
role = json.load(open(path))
role["rules"] = [r for r in role["rules"] if "secrets" not in r.get("resources", [])]
for key in ("resourceVersion", "uid", "creationTimestamp", "managedFields"):
    role["metadata"].pop(key, None)
json.dump(role, open(path, "w"))
PY
k replace -f "$work/role.json" >/dev/null

stalled_reason() { k -n mail get imapprobe corp -o jsonpath='{.status.conditions[?(@.type=="Stalled")].reason}'; }
for _ in $(seq 60); do [[ $(stalled_reason) == SecretUnreadable ]] && break; sleep 1; done
check "missing permission is Stalled/SecretUnreadable" test "$(stalled_reason)" = SecretUnreadable
message=$(k -n mail get imapprobe corp -o jsonpath='{.status.conditions[?(@.type=="Stalled")].message}')
echo "  message: $message"
check "the message names the verb, resource and ServiceAccount" \
  bash -c "[[ '$message' == *forbidden* && '$message' == *'get resource \"secrets\"'* && '$message' == *$sa* ]]"
check "Ready=False with the same reason" \
  test "$(k -n mail get imapprobe corp -o jsonpath='{.status.conditions[?(@.type=="Ready")].reason}')" = SecretUnreadable
check "operator still running" kill -0 "$operator_pid"
check "secret values never in the log" bash -c "! grep -q '$PROBE_PASSWORD' '$work/operator.log'"

# Sharding: the chart's shard Role is all a replica needs for its Lease
# (create, renew, list its peers, delete it on a clean stop). Applying the
# sharded rendering also gives 'get secrets' back.
stop_operator
"$helm" template imapprobe "$root/charts/imap-probe-operator" -n "$ns" \
  --set sharding.enabled=true --set location=rbac >"$work/rendered-shard.yaml"
k apply -n "$ns" -f "$work/rendered-shard.yaml" >/dev/null
check "sharded rendering binds the shard Role" k -n "$ns" get rolebinding imapprobe-imap-probe-operator-shard
lease=imapprobe-shard-rbac-rbac-shard
# Exactly the flags the chart's sharded Deployment passes.
"$imapprobe" operator --kubeconfig "$work/sa.kubeconfig" --location=rbac --shard=true \
  --leader-elect=false --leader-election-namespace="$ns" --identity=rbac-shard \
  --health-addr 127.0.0.1:0 --metrics-addr 127.0.0.1:0 >"$work/shard.log" 2>&1 &
operator_pid=$!
wait_log() { for _ in $(seq "$2"); do grep -q "$1" "$work/shard.log" && return 0; sleep 1; done; return 1; }
check "sharded: the replica's membership is agreed" wait_log "every member acts on view" 30
check "sharded: its Lease exists, labelled with the location" \
  bash -c "[[ \$(bash '$cluster' kubectl '$work/kube' -n '$ns' get lease $lease -o jsonpath='{.metadata.labels.imapprobe\\.dev/shard-group}') == rbac ]]"
check "sharded: the probe runs" wait_log "probe mail/corp: Success" 40
check "sharded: no permission errors in the log" bash -c "! grep -qi forbidden '$work/shard.log'"
kill -TERM "$operator_pid"; wait "$operator_pid" || true; operator_pid=""
check "sharded: a clean stop deletes the Lease" \
  bash -c "! bash '$cluster' kubectl '$work/kube' -n '$ns' get lease $lease >/dev/null 2>&1"

# A remote location of a multi-location fleet: the hub's chart grants it
# (hubAccess) its own ServiceAccount, and that is all it runs with: its
# entry of status.locations, the verdict (it is the only location, so it
# holds the verdict Lease), Events and its Lease.
"$helm" template imapprobe "$root/charts/imap-probe-operator" -n "$ns" \
  --set 'hubAccess.locations={far}' >"$work/rendered-hub.yaml"
k apply -n "$ns" -f "$work/rendered-hub.yaml" >/dev/null
far_sa=imapprobe-imap-probe-operator-location-far
check "hub rendering creates the location's ServiceAccount" k -n "$ns" get serviceaccount "$far_sa"
bash "$cluster" sa-kubeconfig "$work/kube" "$ns" "$far_sa" "$work/far.kubeconfig" >/dev/null
# Exactly the flags the chart's location Deployment passes (examples/helm/location-values.yaml).
"$imapprobe" operator --kubeconfig "$work/far.kubeconfig" --location=far --multi-location=true \
  --leader-elect=false --leader-election-namespace="$ns" --identity=far-0 \
  --health-addr 127.0.0.1:0 --metrics-addr 127.0.0.1:0 >"$work/far.log" 2>&1 &
operator_pid=$!
far_entry() { k -n mail get imapprobe corp -o jsonpath='{.status.locations[?(@.name=="far")].outcome}'; }
for _ in $(seq 60); do [[ $(far_entry) == Success ]] && break; sleep 1; done
check "location: its entry is written (Success)" test "$(far_entry)" = Success
available_message() { k -n mail get imapprobe corp -o jsonpath='{.status.conditions[?(@.type=="Available")].message}'; }
for _ in $(seq 30); do [[ $(available_message) == *"from 1 of 1 locations"* ]] && break; sleep 1; done
check "location: it writes the verdict" bash -c "[[ '$(available_message)' == *'passing from 1 of 1 locations'* ]]"
check "location: it holds the verdict Lease" grep -q "writes the verdict" "$work/far.log"
check "location: no permission errors in the log" bash -c "! grep -qi forbidden '$work/far.log'"
kill -TERM "$operator_pid"; wait "$operator_pid" || true; operator_pid=""
check "location: a clean stop deletes its Lease" \
  bash -c "! bash '$cluster' kubectl '$work/kube' -n '$ns' get lease imapprobe-shard-far-far-0 >/dev/null 2>&1"

if ((FAIL > 0)); then
  echo "--- operator log"
  tail -n 40 "$work/operator.log"
  echo "--- sharded operator log"
  tail -n 40 "$work/shard.log" 2>/dev/null || true
  echo "--- location operator log"
  tail -n 40 "$work/far.log" 2>/dev/null || true
fi
finish
