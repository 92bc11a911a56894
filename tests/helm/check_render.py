#!/usr/bin/env python3
"""Structural checks of `helm template` output for tests/helm/chart_test.sh.

    check_render.py MODE RENDERED.yaml [RELEASE_NAMESPACE]
    check_render.py rules RENDERED.yaml OUT.rules.yaml   (PrometheusRule spec -> promtool rule file)
    check_render.py pod RENDERED.yaml OUT.pod.yaml        (the Deployment's pod template as a Pod)

MODE is one of default, namespaced, monitoring, ha, sharded, location, hub,
no-leader-election, no-metrics. Prints one line per failed expectation on stdout and exits 1 if
there is any; prints nothing and exits 0 otherwise.
"""
import json
import sys

import yaml

problems = []


def expect(cond, msg):
    if not cond:
        problems.append(msg)


def load(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d]


def kinds(docs, kind):
    return [d for d in docs if d.get("kind") == kind]


def one(docs, kind):
    found = kinds(docs, kind)
    expect(len(found) == 1, f"expected exactly one {kind}, found {len(found)}")
    return found[0] if found else {}


def deployment_checks(docs, ns):
    dep = one(docs, "Deployment")
    if not dep:
        return {}, [], {}
    spec = dep["spec"]
    pod = spec["template"]["spec"]
    c = pod["containers"][0]
    args = c.get("args", [])
    expect(dep["metadata"].get("namespace") == ns, f"Deployment namespace {dep['metadata'].get('namespace')} != {ns}")
    expect(args[:1] == ["operator"], f"first arg must be 'operator': {args}")
    expect("--health-addr=:8081" in args, f"--health-addr=:8081 missing: {args}")
    expect(c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "health"}, "liveness probe must GET /healthz on the health port")
    expect(c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "health"}, "readiness probe must GET /readyz on the health port")
    ports = {p["name"]: p["containerPort"] for p in c.get("ports", [])}
    expect(ports.get("health") == 8081, f"health port: {ports}")
    # Pod security.
    psc = pod.get("securityContext", {})
    sc = c.get("securityContext", {})
    expect(psc.get("runAsNonRoot") is True, "pod runAsNonRoot")
    expect(psc.get("runAsUser") == 65532, "pod runAsUser 65532")
    expect(psc.get("seccompProfile", {}).get("type") == "RuntimeDefault", "pod seccompProfile RuntimeDefault")
    expect(sc.get("readOnlyRootFilesystem") is True, "readOnlyRootFilesystem")
    expect(sc.get("allowPrivilegeEscalation") is False, "allowPrivilegeEscalation false")
    expect(sc.get("capabilities", {}).get("drop") == ["ALL"], "capabilities drop ALL")
    expect(sc.get("runAsUser") == 65532 and sc.get("runAsNonRoot") is True, "container runAsUser/runAsNonRoot")
    res = c.get("resources", {})
    expect(res.get("requests", {}).get("cpu") and res.get("requests", {}).get("memory"), "resource requests")
    expect(res.get("limits", {}).get("memory"), "memory limit")
    # The operator's own (hubAccess adds one per remote location, labelled).
    own = [d for d in kinds(docs, "ServiceAccount")
           if "imapprobe.dev/location" not in d["metadata"].get("labels", {})]
    sa = one(own, "ServiceAccount")
    expect(pod.get("serviceAccountName") == sa.get("metadata", {}).get("name"), "pod uses the chart's ServiceAccount")
    for d in docs:
        labels = d["metadata"].get("labels", {})
        for k in ("app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/version",
                  "app.kubernetes.io/managed-by", "helm.sh/chart"):
            expect(k in labels, f"{d['kind']}/{d['metadata']['name']}: label {k} missing")
    return spec, args, c


def rules_by_kind(docs, kind):
    out = []
    for d in kinds(docs, kind):
        for r in d.get("rules", []):
            out.append((d["metadata"]["name"], d["metadata"].get("namespace"), r))
    return out


def probe_rule_set(rules):
    """(group, resource, verb) triples granted by a rule list, resourceNames ignored."""
    s = set()
    for r in rules:
        for g in r.get("apiGroups", []):
            for res in r.get("resources", []):
                for v in r.get("verbs", []):
                    s.add((g, res, v))
    return s


EXPECTED_PROBE_RULES = {
    ("imapprobe.dev", "imapprobes", "get"), ("imapprobe.dev", "imapprobes", "list"),
    ("imapprobe.dev", "imapprobes", "watch"),
    ("imapprobe.dev", "imapprobes/status", "get"), ("imapprobe.dev", "imapprobes/status", "patch"),
    ("", "secrets", "get"),
    ("events.k8s.io", "events", "create"), ("events.k8s.io", "events", "patch"),
}


def bound_cluster_roles(docs):
    return {b["roleRef"]["name"] for b in kinds(docs, "ClusterRoleBinding")}


def check_multi_location(mode, docs, ns, spec, args):
    """location: a remote location (no RBAC here, the hub kubeconfig mounted);
    hub: a location on the hub granting two remote locations access."""
    expect("--multi-location=true" in args and "--leader-elect=false" in args,
           f"--multi-location=true, no leader election: {args}")
    expect("--location-entry-retention=24h" in args,
           f"--location-entry-retention from multiLocation.entryRetention: {args}")
    expect("--identity=$(POD_NAME)" in args, "identity from POD_NAME")
    expect(spec["strategy"]["type"] == "RollingUpdate", "RollingUpdate for a location")
    pod = spec["template"]["spec"]
    mounts = {m["name"]: m for m in pod["containers"][0].get("volumeMounts", [])}
    vols = {v["name"]: v for v in pod.get("volumes", [])}
    if mode == "location":
        expect("--location=ap-south" in args, f"--location=ap-south: {args}")
        expect("--kubeconfig=/etc/imapprobe/hub/kubeconfig" in args, f"hub kubeconfig flag: {args}")
        expect("--leader-election-namespace=imapprobe-hub" in args, f"Leases on the hub: {args}")
        expect(mounts.get("hub", {}).get("mountPath") == "/etc/imapprobe/hub"
               and mounts["hub"].get("readOnly") is True, f"hub mount: {mounts}")
        expect(vols.get("hub", {}).get("secret", {}).get("secretName") == "hub-kubeconfig", f"hub volume: {vols}")
        rbac = [d for d in docs if d.get("kind") in ("Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding")]
        expect(not rbac, f"a remote location creates no RBAC here: {[d['metadata']['name'] for d in rbac]}")
        return
    expect("--location=eu-west" in args, f"--location=eu-west: {args}")
    expect(f"--leader-election-namespace={ns}" in args, f"Leases in the release namespace: {args}")
    expect("hub" not in mounts and "hub" not in vols, "no hub kubeconfig on the hub")
    shard_roles = [r for r in kinds(docs, "Role") if r["metadata"]["name"].endswith("-shard")]
    expect(len(shard_roles) == 1, "the hub's own location holds Leases")
    sas = sorted(s["metadata"]["name"] for s in kinds(docs, "ServiceAccount") if "-location-" in s["metadata"]["name"])
    expect([a.rsplit("-location-", 1)[1] for a in sas] == ["ap-south", "us-east"], f"location ServiceAccounts: {sas}")
    tokens = [s for s in kinds(docs, "Secret") if s.get("type") == "kubernetes.io/service-account-token"]
    expect(len(tokens) == 2, f"a token Secret per location: {len(tokens)}")
    cr = [r for r in kinds(docs, "ClusterRole") if r["metadata"]["name"].endswith("-location")]
    expect(len(cr) == 1 and probe_rule_set(cr[0]["rules"]) == EXPECTED_PROBE_RULES,
           f"the location ClusterRole grants the probe rules only: {cr}")
    lr = [r for r in kinds(docs, "Role") if r["metadata"]["name"].endswith("-location-leases")]
    expect(len(lr) == 1 and lr[0]["metadata"]["namespace"] == ns
           and probe_rule_set(lr[0]["rules"]) == {("coordination.k8s.io", "leases", v)
                                                  for v in ("get", "list", "create", "update", "delete")},
           f"the locations' Lease Role: {lr}")
    crbs = sorted(b["subjects"][0]["name"] for b in kinds(docs, "ClusterRoleBinding")
                  if b["roleRef"]["name"].endswith("-location"))
    expect(crbs == sas, f"each location bound to the location ClusterRole: {crbs}")


def check(mode, docs, ns):
    spec, args, c = deployment_checks(docs, ns)
    if not spec:
        return
    if mode in ("location", "hub"):
        check_multi_location(mode, docs, ns, spec, args)
        return
    le_on = mode not in ("no-leader-election", "sharded")
    lease_roles = [r for r in kinds(docs, "Role") if r["metadata"]["name"].endswith("-leader-election")]
    shard_roles = [r for r in kinds(docs, "Role") if r["metadata"]["name"].endswith("-shard")]
    if mode == "sharded":
        expect("--shard=true" in args and "--leader-elect=false" in args, f"--shard=true, no leader election: {args}")
        expect("--location=eu-west" in args, f"--location=eu-west missing: {args}")
        expect(f"--leader-election-namespace={ns}" in args, f"Lease namespace flag missing: {args}")
        expect("--identity=$(POD_NAME)" in args, "identity from POD_NAME")
        expect(not lease_roles, "no leader-election Role when sharded")
        expect(len(shard_roles) == 1 and shard_roles[0]["metadata"]["namespace"] == ns,
               "one shard Role in the release namespace")
        sr = shard_roles[0]["rules"] if shard_roles else []
        expect(probe_rule_set(sr) == {("coordination.k8s.io", "leases", v)
                                      for v in ("get", "list", "create", "update", "delete")},
               f"shard Lease rules: {sr}")
        expect(spec["strategy"]["type"] == "RollingUpdate", "RollingUpdate when sharded")
        expect(spec["replicas"] == 3, "replicas 3")
        pdb = one(docs, "PodDisruptionBudget")
        expect(pdb.get("spec", {}).get("maxUnavailable") == 1, "PDB maxUnavailable 1")
        tsc = spec["template"]["spec"].get("topologySpreadConstraints", [])
        expect(len(tsc) == 1 and tsc[0]["topologyKey"] == "kubernetes.io/hostname", f"topology spread: {tsc}")
    else:
        expect(not shard_roles, "no shard Role unless sharded")
        expect("--location=default" in args, f"--location=default missing: {args}")
    if mode == "sharded":
        pass
    elif le_on:
        expect("--leader-elect=true" in args, f"--leader-elect=true missing: {args}")
        expect(f"--leader-election-namespace={ns}" in args, f"lease namespace flag missing: {args}")
        expect("--identity=$(POD_NAME)" in args, "identity from POD_NAME")
        expect(len(lease_roles) == 1 and lease_roles[0]["metadata"]["namespace"] == ns,
               "one leader-election Role in the release namespace")
        expect(spec["strategy"]["type"] == "RollingUpdate", "RollingUpdate with leader election")
    else:
        expect("--leader-elect=false" in args, f"--leader-elect=false missing: {args}")
        expect(not lease_roles, "no leader-election Role without leader election")
        expect(spec["strategy"]["type"] == "Recreate", "Recreate without leader election")
    if mode == "no-metrics":
        expect(not any(a.startswith("--metrics-addr") for a in args), "no --metrics-addr when metrics are off")
        expect(not kinds(docs, "Service"), "no metrics Service when metrics are off")
    else:
        expect("--metrics-addr=:8080" in args, f"--metrics-addr=:8080 missing: {args}")
        ports = {p["name"]: p["containerPort"] for p in c.get("ports", [])}
        expect(ports.get("metrics") == 8080, f"metrics port: {ports}")
        svc = one(docs, "Service")
        if svc:
            expect([p["name"] for p in svc["spec"]["ports"]] == ["metrics"], "Service port named metrics")
            expect(svc["spec"]["ports"][0]["targetPort"] == "metrics", "Service targets the metrics port")

    bound = bound_cluster_roles(docs)
    if mode == "namespaced":
        expect(not bound, f"namespaced mode must bind no ClusterRole: {bound}")
        probe_roles = [r for r in kinds(docs, "Role") if not r["metadata"]["name"].endswith(("-leader-election", "-shard"))]
        nss = sorted(r["metadata"]["namespace"] for r in probe_roles)
        expect(nss == ["mail-a", "mail-b"], f"probe Roles in mail-a and mail-b: {nss}")
        for r in probe_roles:
            expect(probe_rule_set(r["rules"]) == EXPECTED_PROBE_RULES, f"Role rules in {r['metadata']['namespace']}: {r['rules']}")
        rbs = sorted(b["metadata"]["namespace"] for b in kinds(docs, "RoleBinding")
                     if not b["metadata"]["name"].endswith(("-leader-election", "-shard")))
        expect(rbs == ["mail-a", "mail-b"], f"RoleBindings in mail-a and mail-b: {rbs}")
        expect([a for a in args if a.startswith("--namespace=")] == ["--namespace=mail-a", "--namespace=mail-b"],
               f"--namespace flags: {args}")
    else:
        expect(not any(a.startswith("--namespace") for a in args), "cluster-wide mode passes no --namespace")
        expect(len(bound) == 1, f"one ClusterRoleBinding: {bound}")
        for cr in kinds(docs, "ClusterRole"):
            if cr["metadata"]["name"] in bound:
                expect(probe_rule_set(cr["rules"]) == EXPECTED_PROBE_RULES, f"ClusterRole rules: {cr['rules']}")
    # The aggregated view/edit roles are never bound to the operator.
    for cr in kinds(docs, "ClusterRole"):
        if cr["metadata"]["name"].endswith(("-view", "-edit")):
            expect(cr["metadata"]["name"] not in bound, "aggregated roles are not bound to the operator")
    if le_on:
        lr = lease_roles[0]["rules"] if lease_roles else []
        expect(probe_rule_set(lr) == {("coordination.k8s.io", "leases", v) for v in ("get", "create", "update")},
               f"lease rules: {lr}")

    if mode == "monitoring":
        sm = one(docs, "ServiceMonitor")
        pr = one(docs, "PrometheusRule")
        if sm:
            expect(sm["apiVersion"] == "monitoring.coreos.com/v1", "ServiceMonitor apiVersion")
            expect(sm["spec"]["endpoints"][0]["port"] == "metrics", "ServiceMonitor scrapes the metrics port")
            expect(sm["metadata"]["labels"].get("release") == "kube-prometheus-stack", "ServiceMonitor extra labels")
        if pr:
            alerts = {r["alert"]: r for g in pr["spec"]["groups"] for r in g["rules"]}
            expect(sorted(alerts) == sorted(["ImapProbeFailing", "ImapProbeCertificateExpiringSoon",
                                             "ImapProbeSlow", "ImapProbeStalled", "ImapProbeOperatorDown"]), f"alerts: {sorted(alerts)}")
            f = alerts.get("ImapProbeFailing", {})
            expect(f.get("expr") == 'imapprobe_probe_failure_reason{namespace=~"mail-.*",reason!~"SlowResponse|CertificateExpiringSoon|CertificateExpired"} == 1'
                   and f.get("for") == "5m", f"ImapProbeFailing: {f}")
            s = alerts.get("ImapProbeSlow", {})
            expect(s.get("expr") == 'imapprobe_probe_slow{namespace=~"mail-.*"} == 1' and s.get("for") == "15m", f"ImapProbeSlow: {s}")
            st = alerts.get("ImapProbeStalled", {})
            expect(st.get("expr") == 'imapprobe_probe_stalled{namespace=~"mail-.*"} == 1' and st.get("for") == "15m", f"ImapProbeStalled: {st}")
            e = alerts.get("ImapProbeCertificateExpiringSoon", {})
            expect("imapprobe_probe_certificate_expiry_timestamp_seconds" in e.get("expr", "") and "21 * 86400" in e.get("expr", ""), f"cert alert: {e}")
            o = alerts.get("ImapProbeOperatorDown", {})
            expect('up{job="' in o.get("expr", "") and o.get("for") == "5m", f"operator down: {o}")
            expect(all(r["labels"].get("team") == "mail" for r in alerts.values()), "additionalLabels on every alert")
        pdb = one(docs, "PodDisruptionBudget")
        expect(pdb.get("spec", {}).get("maxUnavailable") == 1, "default PDB maxUnavailable 1")
    else:
        expect(not kinds(docs, "ServiceMonitor") and not kinds(docs, "PrometheusRule"),
               "no ServiceMonitor/PrometheusRule unless enabled")

    if mode == "ha":
        expect(spec["replicas"] == 2, "replicas 2")
        expect("--leader-election-name=imap-probe-operator-ha" in args, "custom lease name")
        lr = lease_roles[0]["rules"] if lease_roles else []
        expect(any(r.get("resourceNames") == ["imap-probe-operator-ha"] for r in lr), "lease Role limited to the lease name")
        pdb = one(docs, "PodDisruptionBudget")
        expect(pdb.get("spec", {}).get("minAvailable") == 1, "PDB minAvailable 1")
        pod = spec["template"]["spec"]
        expect(pod.get("priorityClassName") == "system-cluster-critical", "priorityClassName")
        expect(pod.get("nodeSelector") == {"kubernetes.io/os": "linux"}, "nodeSelector")
        expect(pod.get("tolerations") and pod.get("affinity"), "tolerations and affinity")
        expect(spec["template"]["metadata"].get("annotations", {}).get("example.com/owner") == "mail-team", "podAnnotations")
        expect(c["image"] == "ghcr.io/imapprobe/imap-probe-operator:0.1.0-rc1" and c["imagePullPolicy"] == "Always", "image values")
    if mode == "default":
        expect(spec["replicas"] == 1, "replicas default 1")
        expect(c["image"] == "ghcr.io/imapprobe/imap-probe-operator:0.1.0", f"default image: {c['image']}")
        expect(c["imagePullPolicy"] == "IfNotPresent", "default pullPolicy")
        expect(not kinds(docs, "PodDisruptionBudget"), "no PDB by default")
        expect("--log-format=text" in args and "--log-level=info" in args, "default log flags")
        expect(c["resources"] == {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "128Mi"}},
               f"default resources: {c['resources']}")
    if mode == "namespaced":
        expect("--log-format=json" in args and "--log-level=debug" in args, "log flags from values")


def main():
    mode, path = sys.argv[1], sys.argv[2]
    docs = load(path)
    if mode == "rules":
        pr = one(docs, "PrometheusRule")
        with open(sys.argv[3], "w") as f:
            yaml.safe_dump(pr.get("spec", {}), f, sort_keys=False)
    elif mode == "pod":
        dep = one(docs, "Deployment")
        tmpl = dep["spec"]["template"]
        pod = {"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": dep["metadata"]["name"] + "-podcheck",
                            "namespace": dep["metadata"]["namespace"],
                            "labels": tmpl["metadata"].get("labels", {})},
               "spec": tmpl["spec"]}
        with open(sys.argv[3], "w") as f:
            json.dump(pod, f)
    else:
        check(mode, docs, sys.argv[3] if len(sys.argv) > 3 else "imapprobe-system")
    for p in problems:
        print(p)
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
