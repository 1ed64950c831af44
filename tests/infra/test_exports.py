"""The export files (`--format asff`, `ocsf`, `csv` of `audit` and `sweep`) checked against the
published definitions of their formats by tools we did not write:

- ASFF: botocore's parameter validation of Security Hub's BatchImportFindings (the service
  model AWS publishes), plus Security Hub's documented limits (100 findings a request, 240 KB a
  finding, text lengths);
- OCSF: the JSON Schema of the Compliance Finding class (2003) with the `cloud` profile, from
  the OCSF schema that ocsf-json-schema packages, checked by `jsonschema` (Draft 2020-12);
- CSV: Python's csv module reads back every row and cell.

The built binary runs the offline audit of the sample account, and a sweep of a small account
in moto on 127.0.0.1.
"""

from __future__ import annotations

import csv
import io
import json
import os
import socket
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "tests" / "fixtures" / "sample-account"
OCSF_VERSION = "1.8.0"


def binary() -> list[str]:
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    built = target / "debug" / "iam-assurance"
    return [str(built)] if built.is_file() else ["cargo", "run", "--quiet", "--bin", "iam-assurance", "--"]


def run(args: list[str], env: dict | None = None) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k != "AWS_LAMBDA_RUNTIME_API"}
    environment.update(env or {})
    return subprocess.run(binary() + args, capture_output=True, text=True, timeout=1800, cwd=ROOT, env=environment)


AUDIT = [
    "audit",
    "--authorization-details", str(SAMPLE / "authorization-details.json"),
    "--credential-report", str(SAMPLE / "credential-report.csv"),
    "--password-policy", str(SAMPLE / "password-policy.json"),
    "--account-summary", str(SAMPLE / "account-summary.json"),
    "--server-certificates", str(SAMPLE / "server-certificates.json"),
    "--settings-file", str(SAMPLE / "settings.json"),
    "--now", "2026-11-23T12:00:00Z",
]
# Only the two required files: the rules that need the others are not evaluated.
PARTIAL_AUDIT = AUDIT[:5] + ["--now", "2026-11-23T12:00:00Z"]


def audit(fmt: str, args: list[str] = AUDIT) -> str:
    out = run(args + ["--format", fmt], {"AWS_REGION": "eu-west-1"})
    assert out.returncode == 0, out.stderr
    return out.stdout


@pytest.fixture(scope="module")
def run_json() -> dict:
    return json.loads(audit("json"))


# ----------------------------------------------------------------------------- ASFF


def asff_errors(findings: list[dict]) -> str:
    """botocore's validation of a BatchImportFindings request: the empty string when valid."""
    import botocore.session
    from botocore.validate import ParamValidator

    model = botocore.session.get_session().get_service_model("securityhub")
    shape = model.operation_model("BatchImportFindings").input_shape
    report = ParamValidator().validate({"Findings": findings}, shape)
    return report.generate_report() if report.has_errors() else ""


def check_asff(findings: list[dict], account: str, region: str) -> None:
    for start in range(0, len(findings), 100):
        assert asff_errors(findings[start : start + 100]) == ""
    ids = [f["Id"] for f in findings]
    assert len(ids) == len(set(ids)), "one finding per problem"
    for f in findings:
        assert len(json.dumps(f).encode()) <= 240 * 1024
        assert f["ProductArn"] == f"arn:aws:securityhub:{region}:{account}:product/{account}/default"
        assert f["AwsAccountId"] == account
        assert len(f["Title"]) <= 256 and len(f["Description"]) <= 1024
        assert len(f["Remediation"]["Recommendation"]["Text"]) <= 512
        assert f["Resources"][0]["Type"] in {"AwsIamUser", "AwsIamRole", "AwsIamGroup", "AwsIamPolicy", "AwsAccount", "Other"}
        assert f["Severity"]["Label"] in {"CRITICAL", "HIGH", "MEDIUM", "LOW", "INFORMATIONAL"}
        assert f["FindingProviderFields"]["Severity"] == f["Severity"]


def test_asff_of_an_audit_is_a_valid_batch_import(run_json):
    findings = json.loads(audit("asff"))
    check_asff(findings, "123456789012", "eu-west-1")
    by_id = {f["Id"]: f for f in findings}
    for finding in run_json["findings"]:
        asff = by_id[finding["fingerprint"]]
        assert asff["GeneratorId"] == f"iam-assurance/{finding['rule_id']}"
        assert asff["Severity"]["Original"] == finding["severity"]
        if finding["status"] == "open":
            assert (asff["RecordState"], asff["Workflow"]["Status"], asff["Compliance"]["Status"]) == ("ACTIVE", "NEW", "FAILED")
        else:
            assert (asff["RecordState"], asff["Workflow"]["Status"]) == ("ARCHIVED", "SUPPRESSED")
            assert finding["suppression"]["reason"] in asff["Note"]["Text"]
    skipped = [r for r in run_json["rules"] if r["status"] == "not_evaluated"]
    assert len(findings) == len(run_json["findings"]) + len(skipped)
    assert any(f["Workflow"]["Status"] == "SUPPRESSED" for f in findings), "the sample has an exception"
    types = {f["Resources"][0]["Type"] for f in findings}
    assert {"AwsIamUser", "AwsAccount", "AwsIamPolicy"} <= types, types


def test_asff_says_which_rules_were_not_evaluated():
    run_json = json.loads(audit("json", PARTIAL_AUDIT))
    skipped = {r["rule_id"] for r in run_json["rules"] if r["status"] == "not_evaluated"}
    assert skipped
    findings = json.loads(audit("asff", PARTIAL_AUDIT))
    check_asff(findings, "123456789012", "eu-west-1")
    unavailable = {f["ProductFields"]["iam-assurance/RuleId"] for f in findings if f["Compliance"]["Status"] == "NOT_AVAILABLE"}
    assert unavailable == skipped


def test_the_validator_refuses_a_broken_finding():
    findings = json.loads(audit("asff"))
    broken = dict(findings[0])
    del broken["Resources"]
    assert "Resources" in asff_errors([broken])
    assert asff_errors([{**findings[0], "Severity": {"Label": 3}}])


# ----------------------------------------------------------------------------- OCSF


@pytest.fixture(scope="module")
def ocsf_validator():
    from jsonschema import Draft202012Validator
    from ocsf_json_schema import OcsfJsonSchemaEmbedded, get_ocsf_schema

    schema = OcsfJsonSchemaEmbedded(get_ocsf_schema(version=OCSF_VERSION)).get_class_schema(
        class_name="compliance_finding", profiles=["cloud"]
    )
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def ocsf_errors(validator, event: dict) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(event)]


def check_ocsf(validator, events: list[dict]) -> None:
    assert events
    for event in events:
        assert ocsf_errors(validator, event) == [], event["finding_info"]["uid"]
        assert event["class_uid"] == 2003 and event["metadata"]["version"] == OCSF_VERSION


def test_ocsf_of_an_audit_matches_the_compliance_finding_schema(ocsf_validator, run_json):
    events = json.loads(audit("ocsf"))
    check_ocsf(ocsf_validator, events)
    by_uid = {e["finding_info"]["uid"]: e for e in events}
    for finding in run_json["findings"]:
        event = by_uid[finding["fingerprint"]]
        assert event["resources"][0]["uid"] == finding["resource_arn"]
        assert event["status"] == ("New" if finding["status"] == "open" else "Suppressed")
        assert event["compliance"]["status"] == "Fail"


def test_ocsf_says_which_rules_were_not_evaluated(ocsf_validator):
    events = json.loads(audit("ocsf", PARTIAL_AUDIT))
    check_ocsf(ocsf_validator, events)
    assert any(e["compliance"]["status_id"] == 0 and e["compliance"]["status_details"] for e in events)


def test_the_ocsf_validator_refuses_a_broken_event(ocsf_validator):
    event = json.loads(audit("ocsf"))[0]
    assert ocsf_errors(ocsf_validator, {k: v for k, v in event.items() if k != "finding_info"})
    assert ocsf_errors(ocsf_validator, {**event, "severity_id": 42})
    assert ocsf_errors(ocsf_validator, {**event, "not_an_attribute": 1})


# ----------------------------------------------------------------------------- CSV

HEADER = [
    "account_id", "evaluated_at", "status", "severity", "rule_id", "title", "resource_type", "resource_name",
    "resource_arn", "message", "remediation", "controls", "exception", "exception_reason", "exception_expires",
    "fingerprint",
]


def read_csv(text: str) -> list[dict]:
    reader = csv.DictReader(io.StringIO(text, newline=""), strict=True)
    assert reader.fieldnames == HEADER
    rows = list(reader)
    for row in rows:
        assert None not in row and None not in row.values(), "every row has every column, no more"
    return rows


def test_csv_of_an_audit_reads_back_cell_for_cell(run_json):
    rows = read_csv(audit("csv"))
    skipped = [r for r in run_json["rules"] if r["status"] == "not_evaluated"]
    assert len(rows) == len(run_json["findings"]) + len(skipped)
    assert [r["rule_id"] for r in rows if r["status"] == "not_evaluated"] == [r["rule_id"] for r in skipped]
    for row, finding in zip(rows, run_json["findings"]):
        assert row["fingerprint"] == finding["fingerprint"]
        assert row["message"] == finding["message"], "commas, quotes and line breaks survive"
        assert row["remediation"] == finding["remediation"]
        assert row["status"] == finding["status"]
        if finding.get("suppression"):
            assert row["exception_reason"] == finding["suppression"]["reason"]


def test_csv_says_which_rules_were_not_evaluated():
    rows = read_csv(audit("csv", PARTIAL_AUDIT))
    assert any(r["status"] == "not_evaluated" and r["message"] for r in rows)


# ----------------------------------------------------------------------------- sweep


@pytest.fixture(scope="module")
def moto_account():
    """A small account in moto on 127.0.0.1: a user with a console password and no MFA, an
    access key, a group with a policy that grants everything."""
    server_module = pytest.importorskip("moto.server")
    import boto3

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = server_module.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        endpoint = f"http://127.0.0.1:{port}"
        env = {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_EC2_METADATA_DISABLED": "true",
        }
        iam = boto3.client("iam", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")
        iam.create_user(UserName="bob")
        iam.create_login_profile(UserName="bob", Password="Sample-Passw0rd!b")
        iam.create_access_key(UserName="bob")
        document = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
        policy = iam.create_policy(PolicyName="everything", PolicyDocument=json.dumps(document))["Policy"]["Arn"]
        iam.create_group(GroupName="admins")
        iam.attach_group_policy(GroupName="admins", PolicyArn=policy)
        yield env
    finally:
        server.stop()


def sweep(env: dict, fmt: str, tmp_path: Path) -> str:
    settings = tmp_path / "settings.json"
    settings.write_text(json.dumps({"user-mfa": {"exceptions": [{"resource": "arn:aws:iam::123456789012:user/bob", "reason": "token on order"}]}}))
    out = run(["sweep", "--settings-file", str(settings), "--format", fmt], env)
    assert out.returncode in (0, 4), out.stderr  # 4: a source moto cannot produce (named on stderr)
    return out.stdout


def test_sweep_formats_are_valid(moto_account, ocsf_validator, tmp_path):
    findings = json.loads(sweep(moto_account, "asff", tmp_path))
    assert findings
    check_asff(findings, "123456789012", "us-east-1")
    assert any(f["Workflow"]["Status"] == "SUPPRESSED" for f in findings)
    check_ocsf(ocsf_validator, json.loads(sweep(moto_account, "ocsf", tmp_path)))
    rows = read_csv(sweep(moto_account, "csv", tmp_path))
    assert {r["fingerprint"] for r in rows if r["status"] != "not_evaluated"} == {
        f["Id"] for f in findings if f["Compliance"]["Status"] != "NOT_AVAILABLE"
    }
