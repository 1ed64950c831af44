#!/usr/bin/env python3
"""Summarise an iam-assurance run JSON (stdin) in a few lines."""
import json
import sys

run = json.load(sys.stdin)
trigger = {k: v for k, v in run["trigger"].items() if v is not None}
print("trigger:", json.dumps(trigger))
print("rules:", ", ".join(f"{r['rule_id']}={r['status']}" for r in run["rules"]) or "-")
for f in run["findings"]:
    print(f"  [{f['severity']}] {f['rule_id']} ({f['status']}): {f['message']}")
print("AWS calls:", run["api_calls_total"], json.dumps(run["api_calls"]))
if run.get("published"):
    print("published:", json.dumps(run["published"]))
