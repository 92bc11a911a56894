#!/usr/bin/env python3
"""Every query of docs/grafana-dashboard.json parses as PromQL.

Each panel target becomes a recording rule (the dashboard's $variables
replaced by a match-all regex) and `promtool check rules` parses them all, so
a renamed metric or a broken expression in the dashboard fails a test
instead of showing an empty panel. JSON is YAML, so no YAML library is needed.
"""
import json
import os
import re
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main():
    with open(os.path.join(ROOT, "docs", "grafana-dashboard.json")) as f:
        dashboard = json.load(f)
    rules = []
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            expr = target["expr"].replace("$namespace", ".*").replace("$probe", ".*")
            rules.append({"record": f"dashboard:panel{panel['id']}:{target['refId']}", "expr": expr})
    if not rules:
        print("no queries found in the dashboard")
        return 1
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump({"groups": [{"name": "dashboard", "rules": rules}]}, f)
        path = f.name
    try:
        result = subprocess.run(["promtool", "check", "rules", path], capture_output=True, text=True)
    finally:
        os.unlink(path)
    print(result.stdout + result.stderr)
    if result.returncode != 0:
        return 1
    # Every metric the dashboard names must be one the operator exports.
    with open(os.path.join(ROOT, "src", "controller", "metrics.cpp")) as f:
        exported = f.read()
    missing = []
    for rule in rules:
        for name in re.findall(r"imapprobe_[a-z_]+", rule["expr"]):
            base = name
            for suffix in ("_bucket", "_sum", "_count"):
                if base.endswith(suffix):
                    base = base[: -len(suffix)]
            if f'"{base}' not in exported:
                missing.append(base)
    if missing:
        print("metrics the operator does not export:", sorted(set(missing)))
        return 1
    print(f"{len(rules)} dashboard queries parse and name exported metrics")
    return 0


if __name__ == "__main__":
    sys.exit(main())
