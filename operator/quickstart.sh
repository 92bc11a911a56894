#!/usr/bin/env bash
# The README's first command: on a fresh machine, install what is missing,
# build, and bring up a local kube-apiserver, a local Dovecot with a demo
# mailbox, the CRD, a Secret and example ImapProbes, and the operator; end by
# showing `kubectl get imapprobes -o wide` with real results.
# Everything listens on loopback only. `operator/quickstart.sh stop` stops it all.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
workdir=${QUICKSTART_DIR:-$root/.cache/quickstart}
harness=$root/tests/servers/dovecot/dovecot-harness.sh
cluster=$root/tests/kube/cluster.sh

stop_all() {
  if [[ -f "$workdir/operator.pid" ]]; then
    kill "$(cat "$workdir/operator.pid")" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$(cat "$workdir/operator.pid")" 2>/dev/null || break; sleep 0.2; done
    rm -f "$workdir/operator.pid"
  fi
  if [[ -d "$workdir/kube" ]]; then bash "$cluster" stop "$workdir/kube" >/dev/null || true; fi
  if [[ -f "$workdir/dovecot/env" ]]; then bash "$harness" stop "$workdir/dovecot" >/dev/null || true; fi
}

if [[ "${1:-}" == "stop" ]]; then
  stop_all
  echo "quickstart: stopped (state kept in $workdir; delete it to start from scratch)"
  exit 0
fi

bash tests/setup.sh
echo "quickstart: building imapprobe"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build --target imapprobe >/dev/null
echo "quickstart: building the local kube-apiserver (cached after the first time)"
bash "$cluster" build

stop_all
mkdir -p "$workdir"
chmod 755 "$workdir"
rm -rf "$workdir/dovecot"
echo "quickstart: starting Dovecot and kube-apiserver on 127.0.0.1"
bash "$harness" start "$workdir/dovecot" >/dev/null
bash "$cluster" start "$workdir/kube" >/dev/null
# shellcheck disable=SC1091
source "$workdir/dovecot/env"
kubectl() { bash "$cluster" kubectl "$workdir/kube" "$@"; }

kubectl apply -f crds/imapprobe.dev_imapprobes.yaml >/dev/null
kubectl wait --for=condition=Established crd/imapprobes.imapprobe.dev --timeout=60s >/dev/null
kubectl create namespace mail-monitoring --dry-run=client -o yaml | kubectl apply -f - >/dev/null
kubectl -n mail-monitoring create secret generic imap-probe-creds \
  --from-literal=username="$PROBE_USER" --from-literal=password="$PROBE_PASSWORD" \
  --dry-run=client -o yaml | kubectl apply -f - >/dev/null
kubectl -n mail-monitoring create secret generic local-ca --from-file=ca.crt="$CA_FILE" \
  --dry-run=client -o yaml | kubectl apply -f - >/dev/null
kubectl apply -f - >/dev/null <<YAML
apiVersion: imapprobe.dev/v1alpha1
kind: ImapProbe
metadata: {name: demo, namespace: mail-monitoring}
spec:
  server: {host: localhost, port: $IMAPS_PORT, caBundleSecretRef: {name: local-ca}}
  auth: {mechanism: ScramSHA256, secretRef: {name: imap-probe-creds}}
  search: ALL
  fetch: {latest: 5}
  interval: 30s
  timeout: 10s
  thresholds: {login: 500ms, total: 2s}
---
apiVersion: imapprobe.dev/v1alpha1
kind: ImapProbe
metadata: {name: demo-starttls, namespace: mail-monitoring}
spec:
  # The harness serves plain IMAP on a second loopback address (see tests/servers/dovecot).
  server: {host: $IMAP_HOST, port: $IMAP_PORT, tls: STARTTLS, serverName: localhost,
           caBundleSecretRef: {name: local-ca}}
  auth: {mechanism: Plain, secretRef: {name: imap-probe-creds}}
  roundTrip: {enabled: true}
  interval: 30s
  timeout: 10s
---
apiVersion: imapprobe.dev/v1alpha1
kind: ImapProbe
metadata: {name: demo-expired-cert, namespace: mail-monitoring}
spec:
  server: {host: localhost, port: $IMAPS_EXPIRED_PORT, caBundleSecretRef: {name: local-ca}}
  auth: {mechanism: Plain, secretRef: {name: imap-probe-creds}}
  interval: 30s
  timeout: 10s
  failureThreshold: 1
YAML

echo "quickstart: starting the operator (log: $workdir/operator.log)"
nohup build/operator/imapprobe operator --kubeconfig "$workdir/kube/kubeconfig" \
  --leader-elect=false --health-addr 127.0.0.1:0 --metrics-addr 127.0.0.1:0 \
  >"$workdir/operator.log" 2>&1 &
echo $! >"$workdir/operator.pid"

kubectl -n mail-monitoring wait --for=condition=Ready imapprobe --all --timeout=90s >/dev/null
kubectl -n mail-monitoring wait --for=condition=Available=False imapprobe/demo-expired-cert --timeout=60s >/dev/null

echo
echo "\$ kubectl -n mail-monitoring get imapprobes -o wide"
kubectl -n mail-monitoring get imapprobes -o wide
echo
echo "\$ kubectl -n mail-monitoring get events"
kubectl -n mail-monitoring get events
echo
echo "The operator keeps probing every 30 s. Try:"
echo "  export KUBECONFIG=$workdir/kube/kubeconfig   # then use the kubectl below"
echo "  bash tests/kube/cluster.sh kubectl $workdir/kube -n mail-monitoring describe imapprobe demo"
echo "Stop everything with: operator/quickstart.sh stop"
