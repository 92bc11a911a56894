#!/usr/bin/env python3
"""Compares `imapprobe check --output json` step durations with packet times.

Input: a CSV made by tshark from a loopback capture of the IMAPS port, and the
JSON results of the checks in the order they ran (one connection each, run one
after another, so the k-th TCP stream is the k-th check).

Per connection, from the client's point of view (client = the side whose port
is not --port):
  connect   client SYN -> client's ACK of the SYN-ACK (connect() returns then)
  tls       ClientHello (first client payload) -> the client's next payload
            (TLS 1.3: ChangeCipherSpec + encrypted Finished; the handshake is
            done for the client once it has sent Finished)
  greeting  client Finished -> the last server payload before the client's
            next payload (session tickets and the greeting)
  login, select, search, fetch, logout
            each IMAP command is one client payload (AUTHENTICATE with SASL-IR,
            EXAMINE, SEARCH, FETCH, LOGOUT); the step ends at the last server
            payload before the client's next payload (or, for LOGOUT, before
            the first FIN)
  fetch+logout
            when LOGOUT is pipelined behind FETCH (one client payload), the
            two replies cannot be told apart on the wire: their sum is
            compared with the span from that payload to the last server
            payload before the first FIN
  total     client SYN -> the first FIN
Payload = a TCP segment with data; the records are encrypted, so order is all
that is used. Prints key=value lines per step: n, max |engine - wire| in ms,
the mean signed difference and the wire p50.
"""
import argparse
import csv
import json
import sys

STEPS = ["connect", "tls", "greeting", "login", "select", "search", "fetch", "logout",
         "fetch+logout", "total"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--csv", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("results", nargs="+", help="JSON outputs, in run order")
    a = ap.parse_args()

    streams = {}
    with open(a.csv, newline="") as f:
        for row in csv.reader(f):
            if len(row) < 8 or not row[0]:
                continue
            t, stream, sport, dport, syn, ack, fin, length = row[:8]
            s = streams.setdefault(int(stream), [])
            s.append({
                "t": float(t),
                "client": int(dport) == a.port,
                "syn": syn in ("1", "True"),
                "ack": ack in ("1", "True"),
                "fin": fin in ("1", "True"),
                "len": int(length or 0),
            })
    ordered = [streams[k] for k in sorted(streams) if streams[k] and streams[k][0]["syn"]
               and streams[k][0]["client"]]

    results = []
    for path in a.results:
        with open(path) as f:
            results.append(json.load(f))
    if len(ordered) != len(results):
        print("wire_error=captured %d connections for %d checks" % (len(ordered), len(results)))
        return 1

    diffs = {s: [] for s in STEPS}
    wire_all = {s: [] for s in STEPS}
    problems = 0
    for pkts, res in zip(ordered, results):
        if res.get("outcome") != "Success":
            problems += 1
            continue
        w = wire_steps(pkts)
        if w is None:
            problems += 1
            continue
        d = dict(res.get("durations", {}))
        if "fetch" in d and "logout" in d:
            d["fetch+logout"] = float(d["fetch"]) + float(d["logout"])
        for s in STEPS:
            if s in w and s in d:
                diffs[s].append((float(d[s]) - w[s]) * 1000.0)
                wire_all[s].append(w[s] * 1000.0)

    print("wire_connections=%d" % len(ordered))
    print("wire_unmatched=%d" % problems)
    for s in STEPS:
        v = diffs[s]
        if not v:
            continue
        ws = sorted(wire_all[s])
        print("wire_%s_n=%d" % (s, len(v)))
        print("wire_%s_max_abs_diff_ms=%.3f" % (s, max(abs(x) for x in v)))
        print("wire_%s_mean_diff_ms=%.3f" % (s, sum(v) / len(v)))
        print("wire_%s_p50_ms=%.3f" % (s, ws[len(ws) // 2]))
    return 0 if problems == 0 else 1


def wire_steps(pkts):
    syn = pkts[0]["t"]
    # connect: the client's first pure ACK after its SYN
    ack = next((p["t"] for p in pkts[1:] if p["client"] and p["ack"] and not p["syn"]), None)
    fin = next((p["t"] for p in pkts if p["fin"]), None)
    data = [p for p in pkts if p["len"] > 0]
    client_idx = [i for i, p in enumerate(data) if p["client"]]
    # ClientHello, Finished, AUTHENTICATE, EXAMINE, SEARCH, FETCH, LOGOUT;
    # six payloads when LOGOUT rides behind FETCH
    if ack is None or fin is None or len(client_idx) < 6:
        return None
    pipelined = len(client_idx) == 6

    def last_server_before(i_next, limit_t=None):
        """Time of the last server payload between client payload k and the next one."""
        end = None
        for p in data[i_next:]:
            if p["client"]:
                break
            if limit_t is not None and p["t"] > limit_t:
                break
            end = p["t"]
        return end

    w = {"connect": ack - syn}
    t_hello = data[client_idx[0]]["t"]
    t_fin = data[client_idx[1]]["t"]
    w["tls"] = t_fin - t_hello
    names = ["greeting", "login", "select", "search"]
    names += ["fetch+logout"] if pipelined else ["fetch", "logout"]
    for k, name in enumerate(names):
        i = client_idx[k + 1]
        start = data[i]["t"]
        last = name in ("logout", "fetch+logout")
        end = last_server_before(i + 1, fin if last else None)
        if end is None:
            return None
        w[name] = end - start
    w["total"] = fin - syn
    return w


if __name__ == "__main__":
    sys.exit(main())
