#!/usr/bin/env python3
"""API server CPU per ImapProbe status write, measured directly.

Creates --objects light ImapProbes in --namespace (if missing), gives each a
status, then sends --writes server-side applies (or JSON merge patches) of a
status like the operator's to them in turn, over one keep-alive connection,
and prints the kube-apiserver's CPU per write (from /proc/<pid>/stat, so the
API server must run on this machine). Used to compare CRD variants back to
back on one server (docs/benchmarks.md, "Where the API server's CPU per run
goes"); bounded by --writes, talks to the kubeconfig's server only.

  python3 tests/bench/status_write_cost.py --kubectl K --kubeconfig F \\
      --apiserver-pid PID [--namespace bench] [--objects 1000] [--writes 3000] [--patch apply|merge]
      [--field-validation Ignore|Warn|Strict|""]
"""
import argparse
import base64
import http.client
import json
import os
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.parse

GROUP = "/apis/imapprobe.dev/v1alpha1"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kubectl", required=True)
    ap.add_argument("--kubeconfig", required=True)
    ap.add_argument("--apiserver-pid", type=int, required=True)
    ap.add_argument("--namespace", default="bench")
    ap.add_argument("--objects", type=int, default=1000)
    ap.add_argument("--writes", type=int, default=3000)
    ap.add_argument("--patch", choices=["apply", "merge"], default="apply")
    # The operator sends Ignore (no second, strict parse of its own body);
    # "" leaves the API server's default (Warn), for comparison.
    ap.add_argument("--field-validation", choices=["Ignore", "Warn", "Strict", ""], default="Ignore")
    a = ap.parse_args()

    kc = json.loads(subprocess.check_output(
        [a.kubectl, "--kubeconfig", a.kubeconfig, "config", "view", "--raw", "--minify", "-o", "json"]))
    cluster, user = kc["clusters"][0]["cluster"], kc["users"][0]["user"]
    tmp = tempfile.mkdtemp()

    def pem(name, b64):
        path = os.path.join(tmp, name)
        with open(path, "wb") as f:
            f.write(base64.b64decode(b64))
        return path

    ctx = ssl.create_default_context(cafile=pem("ca.crt", cluster["certificate-authority-data"]))
    ctx.load_cert_chain(pem("tls.crt", user["client-certificate-data"]), pem("tls.key", user["client-key-data"]))
    url = urllib.parse.urlparse(cluster["server"])
    conn = http.client.HTTPSConnection(url.hostname, url.port, context=ctx, timeout=60)

    def call(method, path, body, content_type, ok=(200, 201)):
        conn.request(method, path, json.dumps(body, separators=(",", ":")),
                     {"Content-Type": content_type, "Accept": "application/json"})
        r = conn.getresponse()
        data = r.read()
        if r.status not in ok:
            sys.exit(f"{method} {path}: {r.status} {data[:300]!r}")
        return r.status

    ns, names = a.namespace, [f"p{k:05d}" for k in range(a.objects)]
    call("POST", "/api/v1/namespaces", {"metadata": {"name": ns}}, "application/json", ok=(201, 409))
    for name in names:
        call("POST", f"{GROUP}/namespaces/{ns}/imapprobes", {
            "apiVersion": "imapprobe.dev/v1alpha1", "kind": "ImapProbe",
            "metadata": {"name": name, "namespace": ns},
            "spec": {"server": {"host": "127.0.0.1", "port": 1143, "tls": "None"},
                     "auth": {"mechanism": "None"}, "interval": "60s", "timeout": "8s"}},
             "application/json", ok=(201, 409))

    def status(i):
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        conditions = [
            {"type": t, "status": s, "reason": r, "message": m, "observedGeneration": 1,
             "lastTransitionTime": "2026-12-03T16:37:52Z"}
            for t, s, r, m in [("Available", "True", "Succeeded", "connected"),
                               ("Degraded", "False", "AsExpected", "every step within its thresholds"),
                               ("Ready", "True", "Reporting",
                                "probe ran for generation 1; the service state is in Available"),
                               ("Stalled", "False", "Running", "spec valid and Secret readable")]]
        ms = lambda x: f"{x:.1f}ms"
        return {"observedGeneration": 1, "conditions": conditions, "consecutiveFailures": 0,
                "consecutiveSuccesses": i,
                "lastRun": {"time": now, "outcome": "Success", "reason": "Succeeded", "message": "connected",
                            "remoteAddress": "127.0.0.1:1143",
                            "durations": {"connect": ms(1 + i % 7 / 10), "greeting": ms(0.7),
                                          "logout": ms(0.6), "total": ms(2.7 + i % 5 / 10)}},
                "lastSuccessTime": now, "nextRunTime": now,
                "baseline": {"connect": ms(1.4), "greeting": ms(0.7), "logout": ms(0.6), "total": ms(2.7),
                             "samples": i}}

    def write(i):
        name = names[i % len(names)]
        path = f"{GROUP}/namespaces/{ns}/imapprobes/{name}/status?fieldManager=imapprobe-operator"
        if a.field_validation:
            path += "&fieldValidation=" + a.field_validation
        if a.patch == "apply":
            body = {"apiVersion": "imapprobe.dev/v1alpha1", "kind": "ImapProbe",
                    "metadata": {"name": name, "namespace": ns}, "status": status(i)}
            call("PATCH", path + "&force=true", body, "application/apply-patch+yaml")
        else:
            call("PATCH", path, {"status": status(i)}, "application/merge-patch+json")

    def ticks():
        with open(f"/proc/{a.apiserver_pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])  # utime + stime

    for i in range(len(names)):
        write(i)  # every object has a status before the measured writes
    time.sleep(2)
    t0, c0 = time.time(), ticks()
    for i in range(a.writes):
        write(len(names) + i)
    c1, t1 = ticks(), time.time()
    cpu_ms = (c1 - c0) * 1000 / os.sysconf("SC_CLK_TCK")
    print(f"writes={a.writes} objects={len(names)} patch={a.patch} "
          f"field_validation={a.field_validation or 'default'} wall_seconds={t1 - t0:.1f} "
          f"apiserver_cpu_ms_per_write={cpu_ms / a.writes:.2f}")


if __name__ == "__main__":
    main()
