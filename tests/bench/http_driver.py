#!/usr/bin/env python3
"""Drives blackbox_exporter's /probe endpoint for tests/bench/run.sh.

--count probes in total, --concurrency threads; thread i always asks for
module <prefix><i> (one bench user per module), over its own keep-alive HTTP
connection to the exporter on loopback. Bounded by --count and --deadline.
Prints key=value lines: probes, failures, first_failure, wall_seconds,
probes_per_second, and the exporter's own probe_duration_seconds p50/p99 (ms).
"""
import argparse
import http.client
import re
import sys
import threading
import time

DURATION = re.compile(rb"^probe_duration_seconds ([0-9.eE+-]+)$", re.M)
SUCCESS = re.compile(rb"^probe_success ([01])$", re.M)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--exporter", required=True, help="host:port of blackbox_exporter")
    ap.add_argument("--target", required=True, help="host:port of the IMAPS server")
    ap.add_argument("--module-prefix", default="imap")
    ap.add_argument("--count", type=int, required=True)
    ap.add_argument("--concurrency", type=int, required=True)
    ap.add_argument("--deadline", type=float, default=300, help="seconds; stop issuing after")
    a = ap.parse_args()

    host, port = a.exporter.rsplit(":", 1)
    lock = threading.Lock()
    state = {"issued": 0, "done": 0, "failures": 0, "first_failure": ""}
    durations = []
    t0 = time.monotonic()
    stop_at = t0 + a.deadline

    def worker(slot):
        conn = http.client.HTTPConnection(host, int(port), timeout=30)
        path = "/probe?module=%s%d&target=%s" % (a.module_prefix, slot, a.target)
        while True:
            with lock:
                if state["issued"] >= a.count or time.monotonic() > stop_at:
                    break
                state["issued"] += 1
            ok, why, dur = False, "", None
            try:
                conn.request("GET", path)
                resp = conn.getresponse()
                body = resp.read()
                m = SUCCESS.search(body)
                d = DURATION.search(body)
                dur = float(d.group(1)) if d else None
                ok = resp.status == 200 and m is not None and m.group(1) == b"1"
                if not ok:
                    why = "HTTP %d module %s%d: %s" % (
                        resp.status, a.module_prefix, slot,
                        body.decode(errors="replace").replace("\n", " ")[:300])
            except Exception as e:  # noqa: BLE001 - reported, counted as a failure
                why = "%s: %s" % (type(e).__name__, e)
                conn.close()
                conn = http.client.HTTPConnection(host, int(port), timeout=30)
            with lock:
                state["done"] += 1
                if dur is not None:
                    durations.append(dur * 1000.0)
                if not ok:
                    state["failures"] += 1
                    if not state["first_failure"]:
                        state["first_failure"] = why
        conn.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(a.concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.monotonic() - t0

    def pct(q):
        if not durations:
            return 0.0
        v = sorted(durations)
        k = max(1, min(len(v), int(q * len(v) + 0.999999)))
        return v[k - 1]

    print("probes=%d" % state["done"])
    print("failures=%d" % state["failures"])
    if state["first_failure"]:
        print("first_failure=%s" % state["first_failure"])
    print("wall_seconds=%.3f" % wall)
    print("probes_per_second=%.1f" % (state["done"] / wall if wall > 0 else 0))
    print("total_ms_p50=%.3f" % pct(0.5))
    print("total_ms_p99=%.3f" % pct(0.99))
    return 0 if state["failures"] == 0 and state["done"] == a.count else 1


if __name__ == "__main__":
    sys.exit(main())
