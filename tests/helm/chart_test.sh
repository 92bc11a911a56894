#!/usr/bin/env bash
# Tests of charts/imap-probe-operator (see docs/helm.md):
#   - helm lint --strict and helm template with the default values and with
#     tests/helm/values/*.yaml (namespaced mode; ServiceMonitor + PrometheusRule;
#     2 replicas with leader election), structural checks of what is rendered
#     (tests/helm/check_render.py), and leader election / metrics switched off;
#   - bad values rejected by values.schema.json (tests/helm/bad-values/*.yaml,
#     each with the error it must produce);
#   - the chart's crds/ byte-identical to crds/;
#   - the PrometheusRule: promtool check rules + promtool test rules
#     (tests/helm/alerts_test.yaml), when promtool is installed;
#   - against a real kube-apiserver (tests/kube/cluster.sh, started in a temp
#     dir, stopped on exit): the CRD installed first; stand-in CRDs for
#     monitoring.coreos.com ServiceMonitor/PrometheusRule (schema-less,
#     x-kubernetes-preserve-unknown-fields) so that those objects are
#     dry-run too; `kubectl apply --dry-run=server` of every rendering; the
#     pod template accepted as a Pod by Pod Security Admission "restricted";
#     a real `helm install`, upgrades across modes and back, `helm uninstall`;
#   - the RBAC proof: the rendered ServiceAccount and (Cluster)Roles/Bindings
#     applied, a token minted for the ServiceAccount (cluster.sh
#     sa-kubeconfig), and `kubectl auth can-i` plus real requests with it:
#     everything the operator needs is allowed, everything else tried is
#     denied; in cluster-wide and in namespaced mode.
# Prints "helm_chart: N passed, M failed", then "N passed, M failed" last
# (tests/lib/testlib.sh); exits 1 if M > 0.
#
# Environment: HELM (a helm binary to use instead of tests/helm/build-helm.sh),
# HELM_VERSION (passed to build-helm.sh), IMAPPROBE_CACHE.
# ok/bad always succeed, so "A && ok || bad" is an if-then-else; helpers run via "$@".
# shellcheck disable=SC2015,SC2317
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib/testlib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/testlib.sh"
TEST_NAME=helm_chart

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
HERE="$ROOT/tests/helm"
CHART="$ROOT/charts/imap-probe-operator"
CL="$ROOT/tests/kube/cluster.sh"
CRD="$ROOT/crds/imapprobe.dev_imapprobes.yaml"
REL=imap-probe-operator          # release name (full name = release name)
REL_NS=imapprobe-system          # release namespace for install and dry runs
WATCHED=(mail-a mail-b)          # namespaces of tests/helm/values/namespaced.yaml

WD="$(mktemp -d "${TMPDIR:-/tmp}/helm-chart-test.XXXXXX")"
at_exit rm -rf "$WD"
at_exit bash "$CL" stop "$WD/cluster"

# --- helm ---------------------------------------------------------------------

if [[ -z "${HELM:-}" ]]; then
  t0=$(date +%s)
  if ! HELM="$(bash "$HERE/build-helm.sh")"; then
    bad "build helm (tests/helm/build-helm.sh)"
    finish
  fi
  echo "# helm: $HELM ($("$HELM" version --short), ready in $(( $(date +%s) - t0 ))s)"
fi
# Keep helm's config, cache and data out of $HOME.
export HELM_CONFIG_HOME="$WD/helm/config" HELM_CACHE_HOME="$WD/helm/cache" HELM_DATA_HOME="$WD/helm/data"
h() { "$HELM" "$@"; }

# --- offline: lint, template, schema ------------------------------------------

if cmp "$CRD" "$CHART/crds/imapprobe.dev_imapprobes.yaml"; then
  ok "chart crds/ is byte-identical to crds/"
else
  bad "charts/imap-probe-operator/crds/ differs from crds/"
fi

# name:values-file (empty: defaults):check_render mode
variants=(
  "default::default"
  "namespaced:$HERE/values/namespaced.yaml:namespaced"
  "monitoring:$HERE/values/monitoring.yaml:monitoring"
  "ha:$HERE/values/ha.yaml:ha"
  "sharded:$HERE/values/sharded.yaml:sharded"
  "location:$HERE/values/location.yaml:location"
  "hub:$HERE/values/hub.yaml:hub"
)
for v in "${variants[@]}"; do
  IFS=: read -r name file mode <<<"$v"
  args=()
  [[ -n "$file" ]] && args=(-f "$file")
  label="${file:+ -f ${file#"$ROOT/"}}"
  if h lint --strict "$CHART" "${args[@]}" --namespace "$REL_NS" >"$WD/out" 2>&1; then
    ok "helm lint --strict$label"
  else
    bad "helm lint --strict$label"; indent <"$WD/out"
  fi
  if h template "$REL" "$CHART" "${args[@]}" --namespace "$REL_NS" >"$WD/render-$name.yaml" 2>"$WD/out"; then
    ok "helm template$label ($(grep -c '^kind:' "$WD/render-$name.yaml") objects)"
  else
    bad "helm template$label"; indent <"$WD/out"
    continue
  fi
  if python3 "$HERE/check_render.py" "$mode" "$WD/render-$name.yaml" "$REL_NS" >"$WD/out" 2>&1; then
    ok "rendered objects as expected: $name"
  else
    bad "rendered objects: $name"; indent <"$WD/out"
  fi
done

# Helm values a user copies from examples/helm/ must lint too.
for file in "$ROOT"/examples/helm/*.yaml; do
  [[ -e "$file" ]] || continue
  if h lint --strict "$CHART" -f "$file" --namespace "$REL_NS" >"$WD/out" 2>&1; then
    ok "helm lint --strict -f ${file#"$ROOT/"}"
  else
    bad "helm lint --strict -f ${file#"$ROOT/"}"; indent <"$WD/out"
  fi
done
for v in "no-leader-election:leaderElection.enabled=false" "no-metrics:metrics.enabled=false"; do
  name="${v%%:*}"
  if h template "$REL" "$CHART" --set "${v#*:}" --namespace "$REL_NS" >"$WD/render-$name.yaml" 2>"$WD/out" \
     && python3 "$HERE/check_render.py" "$name" "$WD/render-$name.yaml" "$REL_NS" >>"$WD/out" 2>&1; then
    ok "helm template --set ${v#*:}: rendered objects as expected"
  else
    bad "helm template --set ${v#*:}"; indent <"$WD/out"
  fi
done

# Bad values: file -> a piece of the error helm must print.
declare -A bad_values=(
  [replicas-without-leader-election]="/leaderElection/enabled"
  [log-format-xml]="/logFormat"
  [log-level]="/logLevel"
  [resources-string]="/resources"
  [replicas-string]="/replicas"
  [unknown-key]="'replica' not allowed"
  [bad-namespace]="/watchNamespaces/0"
  [servicemonitor-without-service]="/metrics/service/enabled"
)
for name in $(printf '%s\n' "${!bad_values[@]}" | sort); do
  file="$HERE/bad-values/$name.yaml"
  want="${bad_values[$name]}"
  if h template "$REL" "$CHART" -f "$file" >"$WD/out" 2>&1; then
    bad "bad values $name.yaml accepted by helm template"
  elif grep -qF -- "$want" "$WD/out" && grep -q "schema" "$WD/out"; then
    ok "bad values $name.yaml rejected by values.schema.json ($want)"
  else
    bad "bad values $name.yaml rejected, but not with '$want'"; indent <"$WD/out"
  fi
  expect_fail "helm lint rejects bad values $name.yaml" "" h lint --strict "$CHART" -f "$file"
done

# The alerts, evaluated by promtool against synthetic series.
if command -v promtool >/dev/null 2>&1; then
  mkdir -p "$WD/promtool"
  cp "$HERE/alerts_test.yaml" "$WD/promtool/"
  if h template "$REL" "$CHART" --namespace monitoring-test --set metrics.prometheusRule.enabled=true \
       >"$WD/render-rules.yaml" 2>"$WD/out" \
     && python3 "$HERE/check_render.py" rules "$WD/render-rules.yaml" "$WD/promtool/rules.yaml" >>"$WD/out" 2>&1; then
    if promtool check rules "$WD/promtool/rules.yaml" >"$WD/out" 2>&1; then
      ok "promtool check rules: the PrometheusRule's expressions parse ($(grep -o '[0-9]* rules found' "$WD/out"))"
    else
      bad "promtool check rules"; indent <"$WD/out"
    fi
    if (cd "$WD/promtool" && promtool test rules alerts_test.yaml) >"$WD/out" 2>&1; then
      ok "promtool test rules: every alert fires for its cause, and only for it"
    else
      bad "promtool test rules tests/helm/alerts_test.yaml"; indent <"$WD/out"
    fi
  else
    bad "render the PrometheusRule for promtool"; indent <"$WD/out"
  fi
else
  skip "promtool not installed (Debian package prometheus): alert unit tests not run"
fi

# --- against a real kube-apiserver ---------------------------------------------

if ! bash "$CL" start "$WD/cluster" >"$WD/out" 2>&1; then
  bad "start kube-apiserver (tests/kube/cluster.sh)"; indent <"$WD/out"
  finish
fi
KUBECTL_BIN="$(bash "$CL" bin)/kubectl"
KCFG="$WD/cluster/kubeconfig"
k() { "$KUBECTL_BIN" --kubeconfig "$KCFG" "$@"; }
echo "# cluster: $(k version -o json 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["serverVersion"]["gitVersion"])' 2>/dev/null || echo '?')"

if k apply --server-side -f "$CRD" >"$WD/out" 2>&1 \
   && k wait --for=condition=Established crd/imapprobes.imapprobe.dev --timeout=60s >>"$WD/out" 2>&1; then
  ok "ImapProbe CRD installed first (Established)"
else
  bad "install the ImapProbe CRD"; indent <"$WD/out"
fi

# Stand-ins for the Prometheus Operator CRDs (not installed in this cluster):
# same group/version/kind/plural, no schema, so only the object envelope is
# validated by the server (not the ServiceMonitor/PrometheusRule fields).
for kp in ServiceMonitor:servicemonitors PrometheusRule:prometheusrules; do
  kind="${kp%%:*}" plural="${kp#*:}"
  cat <<EOF
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: $plural.monitoring.coreos.com
spec:
  group: monitoring.coreos.com
  scope: Namespaced
  names: {kind: $kind, listKind: ${kind}List, plural: $plural, singular: $(tr '[:upper:]' '[:lower:]' <<<"$kind")}
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          x-kubernetes-preserve-unknown-fields: true
EOF
done >"$WD/monitoring-crds.yaml"
if k apply -f "$WD/monitoring-crds.yaml" >"$WD/out" 2>&1 \
   && k wait --for=condition=Established crd/servicemonitors.monitoring.coreos.com crd/prometheusrules.monitoring.coreos.com --timeout=60s >>"$WD/out" 2>&1; then
  ok "stand-in CRDs for monitoring.coreos.com/v1 ServiceMonitor and PrometheusRule installed"
else
  bad "install stand-in monitoring.coreos.com CRDs"; indent <"$WD/out"
fi

# Namespaces. Pod Security Admission: warn and enforce "restricted" in the release namespace.
k create namespace "$REL_NS" >/dev/null
k label namespace "$REL_NS" pod-security.kubernetes.io/enforce=restricted \
  pod-security.kubernetes.io/warn=restricted >/dev/null
for ns in "${WATCHED[@]}" mail-c mail-x imapprobe-rbac imapprobe-ns; do k create namespace "$ns" >/dev/null; done

for name in default namespaced monitoring ha sharded location hub no-leader-election no-metrics; do
  f="$WD/render-$name.yaml"
  [[ -s "$f" ]] || { bad "server dry run $name: nothing rendered"; continue; }
  if k apply --dry-run=server -f "$f" >"$WD/out" 2>&1; then
    if grep -qi 'warning' "$WD/out"; then
      bad "server dry run $name: warnings"; indent <"$WD/out"
    else
      ok "kubectl apply --dry-run=server accepts all $(grep -c '^kind:' "$f") objects: $name ($(grep '^kind:' "$f" | awk '{print $2}' | sort | uniq -c | awk '{printf "%s%s×%s", sep, $2, $1; sep=", "}'))"
    fi
  else
    bad "server dry run $name"; indent <"$WD/out"
  fi
done

# --- helm install / upgrade / uninstall -----------------------------------------

hk() { h --kubeconfig "$KCFG" "$@"; }
if hk install "$REL" "$CHART" --namespace "$REL_NS" >"$WD/install.out" 2>&1; then
  ok "helm install $REL -n $REL_NS"
  if grep -q 'kubectl -n mail-monitoring wait --for=condition=Available imapprobe/imap-example-com' "$WD/install.out" \
     && grep -q 'get imapprobes -w' "$WD/install.out" && grep -q 'kind: ImapProbe' "$WD/install.out" \
     && grep -q 'create secret generic imap-monitor-credentials' "$WD/install.out"; then
    ok "NOTES: first probe (Secret + ImapProbe), get -w, wait --for=condition=Available"
  else
    bad "NOTES.txt content"; indent <"$WD/install.out"
  fi
  if grep -qi 'warning' "$WD/install.out"; then bad "helm install printed warnings"; indent <"$WD/install.out"; fi
  # The ImapProbe in the notes is valid.
  sed -n "/cat <<'YAML'/,/^  YAML\$/p" "$WD/install.out" | sed -e '1d' -e '$d' -e 's/^  //' >"$WD/notes-probe.yaml"
  k create namespace mail-monitoring >/dev/null
  if [[ -s "$WD/notes-probe.yaml" ]] && k apply --dry-run=server -f "$WD/notes-probe.yaml" >"$WD/out" 2>&1; then
    ok "NOTES: the example ImapProbe is accepted by the API server (dry run)"
  else
    bad "NOTES: example ImapProbe"; indent <"$WD/notes-probe.yaml"; indent <"$WD/out"
  fi
else
  bad "helm install"; indent <"$WD/install.out"
fi
got="$(k -n "$REL_NS" get deployment "$REL" -o jsonpath='{.spec.replicas} {.spec.template.spec.serviceAccountName} {.metadata.labels.app\.kubernetes\.io/managed-by}' 2>&1 || true)"
if [[ "$got" == "1 $REL Helm" ]]; then
  ok "Deployment created by helm (replicas 1, ServiceAccount $REL; no Pod runs: no controller-manager)"
else
  bad "Deployment after helm install: '$got'"
fi
missing=""
for obj in "serviceaccount/$REL" "service/$REL-metrics" "role/$REL-leader-election" "rolebinding/$REL-leader-election"; do
  k -n "$REL_NS" get "$obj" >/dev/null 2>&1 || missing+=" $obj"
done
for obj in "clusterrole/$REL" "clusterrolebinding/$REL" "clusterrole/$REL-view" "clusterrole/$REL-edit"; do
  k get "$obj" >/dev/null 2>&1 || missing+=" $obj"
done
if [[ -z "$missing" ]]; then ok "helm install created the ServiceAccount, Service, ClusterRole(+Binding), lease Role(+Binding)"; else bad "missing after install:$missing"; fi
status="$(hk status "$REL" -n "$REL_NS" -o json 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["info"]["status"])' 2>/dev/null || true)"
[[ "$status" == deployed ]] && ok "helm status: deployed" || bad "helm status: '$status'"

# The pod template, as a Pod, passes Pod Security "restricted" (enforced in $REL_NS).
if python3 "$HERE/check_render.py" pod "$WD/render-default.yaml" "$WD/pod.json" >"$WD/out" 2>&1 \
   && k apply --dry-run=server -f "$WD/pod.json" >>"$WD/out" 2>&1 && ! grep -qi warning "$WD/out"; then
  ok "the operator's pod template is admitted under Pod Security Standard 'restricted' (enforce, dry run)"
else
  bad "pod template under Pod Security 'restricted'"; indent <"$WD/out"
fi
# ... and a pod without the chart's securityContext is not (the check has teeth).
python3 - "$WD/pod.json" "$WD/pod-insecure.json" <<'EOF'
import json, sys
p = json.load(open(sys.argv[1]))
p["metadata"]["name"] += "-insecure"
p["spec"].pop("securityContext", None)
for c in p["spec"]["containers"]:
    c.pop("securityContext", None)
json.dump(p, open(sys.argv[2], "w"))
EOF
expect_fail "control: the same pod without securityContext is refused by Pod Security 'restricted'" \
  'violates PodSecurity "restricted' k apply --dry-run=server -f "$WD/pod-insecure.json"

# Upgrades: 2 replicas; monitoring objects; namespaced mode (ClusterRole -> Roles).
if hk upgrade "$REL" "$CHART" -n "$REL_NS" -f "$HERE/values/ha.yaml" >"$WD/out" 2>&1 \
   && [[ "$(k -n "$REL_NS" get deployment "$REL" -o jsonpath='{.spec.replicas} {.spec.template.spec.containers[0].image}')" == "2 ghcr.io/imapprobe/imap-probe-operator:0.1.0-rc1" ]] \
   && k -n "$REL_NS" get pdb "$REL" >/dev/null 2>&1; then
  ok "helm upgrade -f values/ha.yaml: 2 replicas, new image tag, PodDisruptionBudget"
else
  bad "helm upgrade to ha.yaml"; indent <"$WD/out"
fi
if hk upgrade "$REL" "$CHART" -n "$REL_NS" -f "$HERE/values/monitoring.yaml" >"$WD/out" 2>&1 \
   && k -n "$REL_NS" get servicemonitor "$REL" >/dev/null 2>&1 && k -n "$REL_NS" get prometheusrule "$REL" >/dev/null 2>&1 \
   && [[ "$(k -n "$REL_NS" get deployment "$REL" -o jsonpath='{.spec.replicas}')" == 1 ]]; then
  ok "helm upgrade -f values/monitoring.yaml: ServiceMonitor and PrometheusRule created, back to 1 replica"
else
  bad "helm upgrade to monitoring.yaml"; indent <"$WD/out"
fi
if hk upgrade "$REL" "$CHART" -n "$REL_NS" -f "$HERE/values/namespaced.yaml" >"$WD/out" 2>&1 \
   && ! k get clusterrolebinding "$REL" >/dev/null 2>&1 && ! k get clusterrole "$REL" >/dev/null 2>&1 \
   && k -n mail-a get role "$REL" >/dev/null 2>&1 && k -n mail-b get rolebinding "$REL" >/dev/null 2>&1 \
   && ! k -n "$REL_NS" get servicemonitor "$REL" >/dev/null 2>&1 \
   && k -n "$REL_NS" get deployment "$REL" -o jsonpath='{.spec.template.spec.containers[0].args}' | grep -q -- '--namespace=mail-b'; then
  ok "helm upgrade -f values/namespaced.yaml: ClusterRole(+Binding) removed, Roles in mail-a and mail-b, --namespace flags"
else
  bad "helm upgrade to namespaced.yaml"; indent <"$WD/out"
fi
if hk upgrade "$REL" "$CHART" -n "$REL_NS" --reset-values >"$WD/out" 2>&1 \
   && k get clusterrolebinding "$REL" >/dev/null 2>&1 \
   && ! k -n mail-a get role "$REL" >/dev/null 2>&1 && ! k -n mail-b get rolebinding "$REL" >/dev/null 2>&1 \
   && ! k -n "$REL_NS" get deployment "$REL" -o jsonpath='{.spec.template.spec.containers[0].args}' | grep -q -- '--namespace='; then
  ok "helm upgrade back to the defaults: Roles in mail-a/mail-b removed, ClusterRole(+Binding) back, no --namespace"
else
  bad "helm upgrade back to cluster-wide mode"; indent <"$WD/out"
fi
if hk uninstall "$REL" -n "$REL_NS" >"$WD/out" 2>&1; then
  left="$(
    k get clusterroles,clusterrolebindings -l "app.kubernetes.io/instance=$REL" -o name 2>/dev/null
    k get deployments,serviceaccounts,services,roles,rolebindings,poddisruptionbudgets,servicemonitors,prometheusrules \
      -A -l "app.kubernetes.io/instance=$REL" -o name 2>/dev/null
  )"
  if [[ -z "$left" ]]; then ok "helm uninstall removes everything it created"; else bad "left after uninstall:"; indent <<<"$left"; fi
else
  bad "helm uninstall"; indent <"$WD/out"
fi
if k get crd imapprobes.imapprobe.dev >/dev/null 2>&1; then ok "the CRD survives helm uninstall (crds/ is not deleted by helm)"; else bad "CRD gone after uninstall"; fi

# --- RBAC proof -------------------------------------------------------------------

# Matrix of "expected actual verb resource scope", printed at the end.
MATRIX="$WD/can-i.txt"
: >"$MATRIX"
# can EXPECT(yes|no) MODE -- kubectl auth can-i args...
can() {
  local expect="$1" mode="$2"; shift 3
  local got
  got="$("$KUBECTL_BIN" --kubeconfig "$SA_KCFG" auth can-i "$@" 2>/dev/null || true)"
  got="${got%%$'\n'*}"
  printf '%-12s %-4s %-4s %s\n' "$mode" "$expect" "${got:-?}" "$*" >>"$MATRIX"
  if [[ "$got" == "$expect" ]]; then
    ok "[$mode] can-i $* -> $got"
  else
    bad "[$mode] can-i $* -> '$got', expected $expect"
  fi
}
rbac_apply() { # rendered-file namespace: apply only the SA and RBAC objects
  python3 - "$1" "$WD/rbac-only.yaml" <<'EOF'
import sys, yaml
keep = {"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"}
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d and d.get("kind") in keep]
yaml.safe_dump_all(docs, open(sys.argv[2], "w"), sort_keys=False)
print(" ".join(sorted(f'{d["kind"]}/{d["metadata"].get("namespace", "-")}/{d["metadata"]["name"]}' for d in docs)))
EOF
}

# Cluster-wide mode: release "rbac" in imapprobe-rbac.
RNS=imapprobe-rbac SA=rbac-imap-probe-operator LEASE=imap-probe-operator
if h template rbac "$CHART" -n "$RNS" >"$WD/render-rbac.yaml" 2>"$WD/out" \
   && objs="$(rbac_apply "$WD/render-rbac.yaml")" && k apply -f "$WD/rbac-only.yaml" >>"$WD/out" 2>&1 \
   && bash "$CL" sa-kubeconfig "$WD/cluster" "$RNS" "$SA" "$WD/sa-cw.kubeconfig" 1h >>"$WD/out" 2>&1; then
  ok "cluster-wide: applied $objs; token minted for $RNS/$SA"
else
  bad "cluster-wide RBAC setup"; indent <"$WD/out"
fi
SA_KCFG="$WD/sa-cw.kubeconfig"
M=cluster-wide
# needed
can yes $M -- list imapprobes.imapprobe.dev --all-namespaces
can yes $M -- watch imapprobes.imapprobe.dev --all-namespaces
can yes $M -- get imapprobes.imapprobe.dev -n mail-x
can yes $M -- patch imapprobes.imapprobe.dev --subresource=status -n mail-x
can yes $M -- get imapprobes.imapprobe.dev --subresource=status -n mail-x
can yes $M -- get secrets -n mail-x
can yes $M -- create events.events.k8s.io -n mail-x
can yes $M -- patch events.events.k8s.io -n mail-x
can yes $M -- create leases.coordination.k8s.io -n "$RNS"
can yes $M -- get leases.coordination.k8s.io/"$LEASE" -n "$RNS"
can yes $M -- update leases.coordination.k8s.io/"$LEASE" -n "$RNS"
# not needed, must be denied
can no $M -- list secrets -n mail-x
can no $M -- watch secrets -n mail-x
can no $M -- list secrets --all-namespaces
can no $M -- create secrets -n mail-x
can no $M -- update secrets -n mail-x
can no $M -- delete secrets -n mail-x
can no $M -- create imapprobes.imapprobe.dev -n mail-x
can no $M -- update imapprobes.imapprobe.dev -n mail-x
can no $M -- patch imapprobes.imapprobe.dev -n mail-x
can no $M -- delete imapprobes.imapprobe.dev -n mail-x
can no $M -- update imapprobes.imapprobe.dev --subresource=status -n mail-x
can no $M -- get pods -n mail-x
can no $M -- list pods --all-namespaces
can no $M -- create pods -n "$RNS"
can no $M -- get configmaps -n mail-x
can no $M -- create events -n mail-x
can no $M -- delete events.events.k8s.io -n mail-x
can no $M -- list leases.coordination.k8s.io -n "$RNS"
can no $M -- delete leases.coordination.k8s.io/"$LEASE" -n "$RNS"
can no $M -- update leases.coordination.k8s.io/some-other-lease -n "$RNS"
can no $M -- create leases.coordination.k8s.io -n default
can no $M -- get leases.coordination.k8s.io/"$LEASE" -n kube-system
can no $M -- list namespaces
can no $M -- create clusterrolebindings.rbac.authorization.k8s.io
can no $M -- update deployments.apps -n "$RNS"

# Real requests with the token, as the operator makes them.
sak() { "$KUBECTL_BIN" --kubeconfig "$SA_KCFG" "$@"; }
k -n mail-x create secret generic creds --from-literal=username=u --from-literal=password=p >/dev/null
k -n mail-x apply -f - >/dev/null <<'EOF'
apiVersion: imapprobe.dev/v1alpha1
kind: ImapProbe
metadata:
  name: p1
spec:
  server:
    host: imap.example.com
  auth:
    secretRef:
      name: creds
EOF
real() { # real EXPECT(ok|forbidden) description -- command...
  local expect="$1" desc="$2"; shift 3
  if [[ "$expect" == ok ]]; then
    check "[$M] real request allowed: $desc" "$@"
  else
    expect_fail "[$M] real request forbidden: $desc" 'Forbidden|forbidden' "$@"
  fi
}
status_apply() { # namespace
  sak -n "$1" apply --server-side --subresource=status --field-manager=imapprobe-operator -f - <<EOF
apiVersion: imapprobe.dev/v1alpha1
kind: ImapProbe
metadata:
  name: p1
status:
  observedGeneration: 1
  consecutiveFailures: 0
EOF
}
event_create() { # namespace
  sak -n "$1" create -f - <<EOF
apiVersion: events.k8s.io/v1
kind: Event
metadata:
  generateName: p1-
eventTime: "2026-01-01T00:00:00.000000Z"
reportingController: imapprobe.dev/operator
reportingInstance: test
action: Probe
reason: Succeeded
type: Normal
note: rbac test
regarding:
  apiVersion: imapprobe.dev/v1alpha1
  kind: ImapProbe
  name: p1
  namespace: $1
EOF
}
lease_json() { # namespace name
  printf '{"apiVersion":"coordination.k8s.io/v1","kind":"Lease","metadata":{"name":"%s","namespace":"%s"},"spec":{"holderIdentity":"test","leaseDurationSeconds":15}}' "$2" "$1"
}
lease_cycle() { # namespace name: create, get, update (PUT), as the leader elector does
  lease_json "$1" "$2" | sak create -f - \
    && sak -n "$1" get lease "$2" -o json | python3 -c 'import json,sys; o=json.load(sys.stdin); o["spec"]["holderIdentity"]="test2"; print(json.dumps(o))' \
       | sak replace -f -
}
real ok "list imapprobes --all-namespaces" -- sak get imapprobes.imapprobe.dev -A
real ok "server-side apply of imapprobes/status (field manager imapprobe-operator)" -- status_apply mail-x
real ok "get secret mail-x/creds" -- sak -n mail-x get secret creds
real forbidden "list secrets -n mail-x" -- sak -n mail-x get secrets
real forbidden "patch an ImapProbe's spec" -- sak -n mail-x patch imapprobe.imapprobe.dev p1 --type=merge -p '{"spec":{"interval":"5m"}}'
real ok "create an events.k8s.io/v1 Event in mail-x" -- event_create mail-x
real ok "create, get and update (PUT) Lease $RNS/$LEASE" -- lease_cycle "$RNS" "$LEASE"
real forbidden "create a Lease in default" -- lease_cycle default "$LEASE"
if [[ "$(k -n mail-x get imapprobe p1 -o jsonpath='{.status.observedGeneration} {.metadata.managedFields[?(@.manager=="imapprobe-operator")].subresource}')" == "1 status" ]]; then
  ok "[$M] the status written with the token is stored, owned by field manager imapprobe-operator"
else
  bad "[$M] status write not visible"
fi

# Namespaced mode: release "nsmode" in imapprobe-ns, watching mail-a and mail-b.
RNS=imapprobe-ns SA=nsmode-imap-probe-operator
if h template nsmode "$CHART" -n "$RNS" -f "$HERE/values/namespaced.yaml" >"$WD/render-nsmode.yaml" 2>"$WD/out" \
   && objs="$(rbac_apply "$WD/render-nsmode.yaml")" && k apply -f "$WD/rbac-only.yaml" >>"$WD/out" 2>&1 \
   && bash "$CL" sa-kubeconfig "$WD/cluster" "$RNS" "$SA" "$WD/sa-ns.kubeconfig" 1h >>"$WD/out" 2>&1; then
  ok "namespaced: applied $objs; token minted for $RNS/$SA"
else
  bad "namespaced RBAC setup"; indent <"$WD/out"
fi
SA_KCFG="$WD/sa-ns.kubeconfig"
M=namespaced
for ns in "${WATCHED[@]}"; do
  can yes $M -- list imapprobes.imapprobe.dev -n "$ns"
  can yes $M -- watch imapprobes.imapprobe.dev -n "$ns"
  can yes $M -- patch imapprobes.imapprobe.dev --subresource=status -n "$ns"
  can yes $M -- get secrets -n "$ns"
  can yes $M -- create events.events.k8s.io -n "$ns"
  can yes $M -- patch events.events.k8s.io -n "$ns"
  can no $M -- list secrets -n "$ns"
  can no $M -- update imapprobes.imapprobe.dev -n "$ns"
  can no $M -- delete imapprobes.imapprobe.dev -n "$ns"
  can no $M -- get pods -n "$ns"
  can no $M -- create leases.coordination.k8s.io -n "$ns"
done
can yes $M -- create leases.coordination.k8s.io -n "$RNS"
can yes $M -- get leases.coordination.k8s.io/"$LEASE" -n "$RNS"
can yes $M -- update leases.coordination.k8s.io/"$LEASE" -n "$RNS"
can no $M -- list imapprobes.imapprobe.dev --all-namespaces
can no $M -- watch imapprobes.imapprobe.dev --all-namespaces
can no $M -- list imapprobes.imapprobe.dev -n mail-c
can no $M -- patch imapprobes.imapprobe.dev --subresource=status -n mail-c
can no $M -- get secrets -n mail-c
can no $M -- get secrets -n "$RNS"
can no $M -- get secrets -n default
can no $M -- create events.events.k8s.io -n mail-c
can no $M -- list imapprobes.imapprobe.dev -n "$RNS"
can no $M -- create leases.coordination.k8s.io -n default

for ns in mail-a mail-c; do
  k -n "$ns" create secret generic creds --from-literal=username=u --from-literal=password=p >/dev/null
  k -n "$ns" apply -f - >/dev/null <<'EOF'
apiVersion: imapprobe.dev/v1alpha1
kind: ImapProbe
metadata:
  name: p1
spec:
  server:
    host: imap.example.com
  auth:
    secretRef:
      name: creds
EOF
done
real ok "list imapprobes -n mail-a" -- sak -n mail-a get imapprobes.imapprobe.dev
real forbidden "list imapprobes --all-namespaces" -- sak get imapprobes.imapprobe.dev -A
real ok "server-side apply of imapprobes/status in mail-a" -- status_apply mail-a
real forbidden "server-side apply of imapprobes/status in mail-c" -- status_apply mail-c
real ok "get secret mail-a/creds" -- sak -n mail-a get secret creds
real forbidden "get secret mail-c/creds" -- sak -n mail-c get secret creds
real ok "create an Event in mail-b" -- event_create mail-b
real forbidden "create an Event in mail-c" -- event_create mail-c
real ok "create, get and update Lease $RNS/$LEASE" -- lease_cycle "$RNS" "$LEASE"

echo "# can-i matrix (mode, expected, got, arguments):"
indent <"$MATRIX"
finish
