#!/usr/bin/env python3
"""Compares the delivery check's latency with Postfix's own account of it.

Input: Postfix's mail log (delay_logging_resolution_limit = 3, so
"delays=a/b/c/d" is in milliseconds) and the `imapprobe check --output json`
results of delivery checks against that Postfix, delivering by LMTP to
Dovecot.

Postfix's delays for a message, from its log line "<queue id>: to=<...>,
relay=..., delays=a/b/c/d, ... status=sent": a = from the message's arrival
(MAIL FROM) until the queue manager took it, including the rest of the SMTP
transaction; b = in the queue manager; c = the LMTP connection set-up; d = the
LMTP transmission, until Dovecot's 250 (the message is stored). Their sum is
MAIL FROM until stored.

The probe's account of the same span is its smtpSend step (MAIL FROM until
the 250 to DATA) plus its delivery step (that 250 until the canary is visible
over IMAP). So diff = (smtpSend + delivery) - (a + b + c + d) is the time from
Dovecot storing the message until the probe saw it, plus the clocks' noise:
small and positive when the probe's figure is true. Prints key=value lines.
"""
import argparse
import json
import re
import statistics
import sys


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--log", required=True)
    ap.add_argument("results", nargs="+")
    a = ap.parse_args()

    delays = {}
    with open(a.log, errors="replace") as f:
        for line in f:
            m = re.search(r"\b([0-9A-F]{6,}): to=<[^>]*>.*\bdelays=([0-9.]+)/([0-9.]+)/([0-9.]+)/([0-9.]+).*status=sent", line)
            if m:
                delays[m.group(1)] = [float(x) for x in m.group(2, 3, 4, 5)]

    diffs, ours, postfix, unmatched = [], [], [], 0
    for path in a.results:
        try:
            with open(path) as f:
                r = json.load(f)
        except (OSError, ValueError):
            unmatched += 1
            continue
        qid = r.get("delivery", {}).get("queueId", "")
        d = r.get("durations", {})
        if r.get("outcome") == "Failure" or qid not in delays or "delivery" not in d or "smtpSend" not in d:
            unmatched += 1
            continue
        mine = (d["smtpSend"] + d["delivery"]) * 1000
        theirs = sum(delays[qid]) * 1000
        ours.append(mine)
        postfix.append(theirs)
        diffs.append(mine - theirs)

    print(f"delivery_n={len(diffs)}")
    print(f"delivery_unmatched={unmatched}")
    if diffs:
        print(f"delivery_ours_p50_ms={statistics.median(ours):.1f}")
        print(f"delivery_postfix_p50_ms={statistics.median(postfix):.1f}")
        print(f"delivery_mean_diff_ms={statistics.fmean(diffs):.1f}")
        print(f"delivery_min_diff_ms={min(diffs):.1f}")
        print(f"delivery_max_abs_diff_ms={max(abs(x) for x in diffs):.1f}")
    return 0 if diffs and unmatched == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
