#!/usr/bin/env python3
"""Seed the fuzz corpora from the repository's test data: fuzz/seeds/<target>/ (git-ignored),
rewritten on every run. The fuzzer reads the seeds and grows fuzz/corpus/<target>/ from them.

Sources: the sample account and the real-format audit inputs (tests/fixtures), the sample
EventBridge events (events/), the policy documents inside the authorization details (as JSON
objects and URL-encoded, as IAM returns them), and a few small hand-written inputs for the
files no fixture has.
"""
import json
import shutil
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "fuzz" / "seeds"
FIXTURES = ROOT / "tests" / "fixtures"


def write(target, name, data):
    folder = SEEDS / target
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(data if isinstance(data, bytes) else data.encode())


def documents(aad):
    """Every policy document of an authorization details file."""
    for user in aad.get("UserDetailList", []):
        yield from (p.get("PolicyDocument") for p in user.get("UserPolicyList", []))
    for group in aad.get("GroupDetailList", []):
        yield from (p.get("PolicyDocument") for p in group.get("GroupPolicyList", []))
    for role in aad.get("RoleDetailList", []):
        yield role.get("AssumeRolePolicyDocument")
        yield from (p.get("PolicyDocument") for p in role.get("RolePolicyList", []))
    for policy in aad.get("Policies", []):
        yield from (v.get("Document") for v in policy.get("PolicyVersionList", []))


def main():
    shutil.rmtree(SEEDS, ignore_errors=True)
    aads = [FIXTURES / "sample-account" / "authorization-details.json", FIXTURES / "real-format" / "filtered-authorization-details.json"]
    reports = [FIXTURES / "sample-account" / "credential-report.csv"] + sorted((FIXTURES / "real-format").glob("credential-report*"))
    for i, path in enumerate(aads):
        write("authorization_details", path.name, path.read_bytes())
        for j, doc in enumerate(d for d in documents(json.loads(path.read_text())) if d is not None):
            text = doc if isinstance(doc, str) else json.dumps(doc)
            plain = urllib.parse.unquote(text) if text.startswith("%") else text
            write("policy_document", f"{i}-{j}.json", plain)
            write("policy_document", f"{i}-{j}.url", urllib.parse.quote(plain, safe=""))
            write("policy_document", f"{i}-{j}.string.json", json.dumps(plain))
    for path in reports:
        write("credential_report", path.name, path.read_bytes())
    for aad in aads:
        for report in reports:
            write("audit", f"{aad.stem}+{report.name}", aad.read_bytes() + b"\0" + report.read_bytes())
    sample = FIXTURES / "sample-account"
    write("password_policy", "password-policy.json", (sample / "password-policy.json").read_bytes())
    write("password_policy", "empty.json", "{}")
    write("account_summary", "account-summary.json", (sample / "account-summary.json").read_bytes())
    write("server_certificates", "server-certificates.json", (sample / "server-certificates.json").read_bytes())
    write(
        "virtual_mfa_devices",
        "devices.json",
        json.dumps({"VirtualMFADevices": [
            {"SerialNumber": "arn:aws:iam::123456789012:mfa/root-account-mfa-device",
             "User": {"Arn": "arn:aws:iam::123456789012:root", "UserName": "root", "CreateDate": "2021-03-04T09:00:00+00:00"},
             "EnableDate": "2021-03-04T09:05:00+00:00"},
            {"SerialNumber": "arn:aws:iam::123456789012:mfa/alice"},
        ]}, indent=4),
    )
    write("settings", "settings.json", (sample / "settings.json").read_bytes())
    write("settings", "global.json", json.dumps({
        "global": {"renotify_hours": 6, "notify_min_severity": "high"},
        "password-policy": {"min_length": 16, "require_symbols": False},
        "max-admins": {"max": 3, "severity": "critical"},
        "root-mfa": {"require_hardware": True},
        "admin-policy": {"exceptions": [{"resource": "arn:aws:iam::*:policy/break-glass", "reason": "reviewed", "expires": "2027-01-31"}]},
    }))
    for path in sorted((ROOT / "events").glob("*.json")):
        write("event_route", path.name, path.read_bytes())


if __name__ == "__main__":
    main()
