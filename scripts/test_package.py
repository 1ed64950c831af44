#!/usr/bin/env python3
"""Run the built Lambda package (its `bootstrap`) under cargo-lambda's Runtime API emulator,
against a local AWS emulator (moto) on 127.0.0.1, and check what it answers and publishes.

    make package ARCH=x86_64 && make test-package ARCH=x86_64

1. moto on a free loopback port, seeded with an account (an administrator with MFA, bob with a
   console password and no MFA), the finding-state table, and the findings topic with an SQS
   queue subscribed to it;
2. `cargo lambda watch --only-lambda-apis` (the Runtime API, without building anything) and the
   packaged `bootstrap` as the function, with the environment Lambda and the template give it;
3. `cargo lambda invoke` with events/schedule.json: a sweep that evaluates the rules, finds
   bob's missing MFA, publishes every finding as new (and a digest) and records the state;
   then a CloudTrail CreateUser event (events/create-user.json) for a user created with a
   console password and no MFA: exactly one new finding, published at once; then the sweep
   again: nothing new is published;
4. the function's stdout holds one metric document (CloudWatch EMF) per run, its stderr the
   JSON logs with the request ids.

Exits non-zero with the reason on the first check that fails; prints 'N passed, 0 failed'.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import boto3

ROOT = Path(__file__).resolve().parents[1]
ACCOUNT = "123456789012"
ELF_MACHINES = {62: "x86_64", 183: "aarch64"}

passed = 0


def check(condition: bool, what: str, detail: object = "") -> None:
    global passed
    if not condition:
        raise SystemExit(f"FAIL: {what}\n{detail}")
    passed += 1
    print(f"ok: {what}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(what: str, ready, seconds: float = 60) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline:
        if ready():
            return
        time.sleep(0.2)
    raise SystemExit(f"FAIL: {what} did not start within {seconds:.0f} s")


def listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def elf_machine(path: Path) -> str:
    header = path.read_bytes()[:20]
    if header[:4] != b"\x7fELF":
        raise SystemExit(f"FAIL: {path} is not an ELF executable")
    return ELF_MACHINES.get(int.from_bytes(header[18:20], "little"), "unknown")


def seed(endpoint: str) -> dict:
    kw = dict(endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")
    iam = boto3.client("iam", **kw)
    iam.create_group(GroupName="admins")
    iam.attach_group_policy(GroupName="admins", PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess")
    for user in ("alice", "bob"):
        iam.create_user(UserName=user)
        iam.create_login_profile(UserName=user, Password=f"Sample-Passw0rd!{user}")
    iam.add_user_to_group(GroupName="admins", UserName="alice")
    serial = iam.create_virtual_mfa_device(VirtualMFADeviceName="alice")["VirtualMFADevice"]["SerialNumber"]
    iam.enable_mfa_device(UserName="alice", SerialNumber=serial, AuthenticationCode1="123456", AuthenticationCode2="654321")
    dynamodb = boto3.client("dynamodb", **kw)
    dynamodb.create_table(
        TableName="iam-assurance-state",
        AttributeDefinitions=[{"AttributeName": "fingerprint", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "fingerprint", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    sns = boto3.client("sns", **kw)
    sqs = boto3.client("sqs", **kw)
    topic = sns.create_topic(Name="iam-assurance-findings")["TopicArn"]
    queue = sqs.create_queue(QueueName="findings-inbox")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    return {"iam": iam, "sqs": sqs, "topic": topic, "queue": queue}


def drain(sqs, queue: str) -> list[dict]:
    messages = []
    while True:
        got = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
        if not got:
            return messages
        for m in got:
            envelope = json.loads(m["Body"])
            envelope["attributes"] = {k: v["Value"] for k, v in envelope.get("MessageAttributes", {}).items()}
            messages.append(envelope)
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=m["ReceiptHandle"])


def invoke(cargo_lambda: str, port: int, event: Path, function: subprocess.Popen) -> dict:
    """Invoke through the emulator; fail at once if the function is not running."""
    call = subprocess.Popen(
        [cargo_lambda, "lambda", "invoke", "-A", "127.0.0.1", "-P", str(port), "--data-file", str(event), "_"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    deadline = time.time() + 600
    while call.poll() is None:
        if function.poll() is not None or time.time() > deadline:
            call.kill()
            call.wait()
            raise SystemExit(f"FAIL: invoking {event.name}: the function exited ({function.returncode}) or did not answer in 600 s")
        time.sleep(0.2)
    out = subprocess.CompletedProcess(call.args, call.returncode, *call.communicate())
    if out.returncode != 0:
        raise SystemExit(f"FAIL: cargo lambda invoke {event.name} exited {out.returncode}\n{out.stdout}\n{out.stderr}")
    return json.loads(out.stdout)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bootstrap", required=True, type=Path)
    parser.add_argument("--cargo-lambda", required=True, help="the cargo-lambda executable")
    parser.add_argument("--moto-server", default=str(Path(sys.executable).parent / "moto_server"))
    args = parser.parse_args()

    if not args.bootstrap.is_file():
        raise SystemExit(f"FAIL: no package at {args.bootstrap}: run `make package` first")
    machine = elf_machine(args.bootstrap)
    host = {"amd64": "x86_64", "arm64": "aarch64"}.get(platform.machine().lower(), platform.machine().lower())
    if machine != host:
        raise SystemExit(f"FAIL: the package is built for {machine}; this {host} machine can run only ARCH={'x86_64' if host == 'x86_64' else 'arm64'}")
    print(f"package: {args.bootstrap} ({machine}, {args.bootstrap.stat().st_size / 1e6:.1f} MB)")

    processes: list[subprocess.Popen] = []
    work = Path(tempfile.mkdtemp(prefix="iam-assurance-package-"))
    try:
        moto_port = free_port()
        processes.append(
            subprocess.Popen(
                [args.moto_server, "-H", "127.0.0.1", "-p", str(moto_port)],
                env=dict(os.environ, MOTO_IAM_LOAD_MANAGED_POLICIES="true"),
                cwd=work,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        endpoint = f"http://127.0.0.1:{moto_port}"

        def moto_up() -> bool:
            try:
                urllib.request.urlopen(endpoint + "/moto-api/", timeout=2)
                return True
            except OSError:
                return False

        wait_for("moto", moto_up)
        world = seed(endpoint)

        api_port = free_port()
        processes.append(
            subprocess.Popen(
                [args.cargo_lambda, "lambda", "watch", "--only-lambda-apis", "--timeout", "600", "-A", "127.0.0.1", "-P", str(api_port)],
                cwd=ROOT,
                stdout=open(work / "watch.log", "w"),
                stderr=subprocess.STDOUT,
            )
        )
        wait_for("cargo lambda watch", lambda: listening(api_port))
        function_env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "AWS_LAMBDA_RUNTIME_API": f"http://127.0.0.1:{api_port}/.rt",
            "AWS_LAMBDA_FUNCTION_NAME": "_",
            "AWS_LAMBDA_FUNCTION_VERSION": "1",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
            "AWS_LAMBDA_LOG_FORMAT": "JSON",
            "AWS_LAMBDA_LOG_LEVEL": "INFO",
            "AWS_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_ENDPOINT_URL": endpoint,
            "SETTINGS_PREFIX": "/iam-assurance",
            "FINDINGS_TOPIC_ARN": world["topic"],
            "STATE_TABLE": "iam-assurance-state",
        }
        stdout_path, stderr_path = work / "function.stdout", work / "function.stderr"
        function = subprocess.Popen(
            [str(args.bootstrap)], env=function_env, cwd=work, stdout=open(stdout_path, "w"), stderr=open(stderr_path, "w")
        )
        processes.append(function)

        # ---- a sweep
        sweep = invoke(args.cargo_lambda, api_port, ROOT / "events" / "schedule.json", function)
        rules = {r["rule_id"]: r for r in sweep["rules"]}
        evaluated = [r for r in rules.values() if r["status"] == "evaluated"]
        check(sweep["trigger"]["kind"] == "schedule", "the schedule event runs a sweep", sweep["trigger"])
        check(len(rules) == 29 and len(evaluated) >= 18, f"the sweep ran the 29 rules, {len(evaluated)} evaluated", rules.keys())
        check(rules["user-mfa"]["status"] == "evaluated" and rules["user-mfa"]["failed"] == 1, "user-mfa evaluated, one failure", rules["user-mfa"])
        mfa = [f for f in sweep["findings"] if f["rule_id"] == "user-mfa"]
        check([f["resource_name"] for f in mfa] == ["bob"], "bob's missing MFA is found", mfa)
        open_findings = [f for f in sweep["findings"] if f["status"] == "open"]
        published = sweep.get("published", {})
        check(published.get("state") == "dynamodb", "the sweep keeps finding state in the table", published)
        check(published["changes"]["new"] == len(open_findings) > 0, f"every open finding ({len(open_findings)}) is published as new", published)
        delivered = drain(world["sqs"], world["queue"])
        new = [m for m in delivered if m["attributes"].get("change") == "new"]
        digests = [m for m in delivered if m["attributes"].get("change") == "digest"]
        check(len(delivered) == published["messages"], f"SNS delivered the {published['messages']} messages published", len(delivered))
        check(len(new) == len(open_findings) and len(digests) == published["digest_parts"] >= 1, "one message per new finding, and the digest", [m["Subject"] for m in delivered])
        check(any(m["attributes"]["rule_id"] == "user-mfa" and "bob" in m["Subject"] for m in new), "bob's finding reached the queue", [m["Subject"] for m in new])

        # ---- an IAM change from CloudTrail: a new user with a console password and no MFA
        world["iam"].create_user(UserName="contractor-bob")
        world["iam"].create_login_profile(UserName="contractor-bob", Password="Sample-Passw0rd!c")
        event = invoke(args.cargo_lambda, api_port, ROOT / "events" / "create-user.json", function)
        check(event["trigger"]["kind"] == "cloudtrail" and event["trigger"]["entity"] == {"type": "user", "name": "contractor-bob"}, "the CreateUser event is evaluated for contractor-bob", event["trigger"])
        check(event["api_calls"].get("iam:GetAccountAuthorizationDetails", 0) == 0, "the event reads the one user, not the account", event["api_calls"])
        event_mfa = [f for f in event["findings"] if f["rule_id"] == "user-mfa"]
        check([f["resource_name"] for f in event_mfa] == ["contractor-bob"], "the event finds contractor-bob's missing MFA", event["findings"])
        check(event["published"]["changes"]["new"] == len([f for f in event["findings"] if f["status"] == "open"]) >= 1, "the event publishes what it newly found", event["published"])
        delivered = drain(world["sqs"], world["queue"])
        check(
            any(m["attributes"].get("change") == "new" and m["attributes"].get("rule_id") == "user-mfa" and "contractor-bob" in m["Subject"] for m in delivered),
            "contractor-bob's finding reached the queue at once",
            [m["Subject"] for m in delivered],
        )

        # ---- the sweep again: nothing changed but contractor-bob, already published
        again = invoke(args.cargo_lambda, api_port, ROOT / "events" / "schedule.json", function)
        check(again["published"]["changes"] == {"new": 0, "resolved": 0, "reminder": 0}, "a second sweep publishes nothing new", again["published"])
        check(drain(world["sqs"], world["queue"]) == [], "and SNS delivered nothing")

        function.terminate()
        function.wait(timeout=30)
        docs = [json.loads(line) for line in stdout_path.read_text().splitlines() if line.strip()]
        runs = [d for d in docs if "Severity" not in d]
        check([d["Trigger"] for d in runs] == ["schedule", "cloudtrail", "schedule"], "one metric document per run on stdout", runs)
        check(all(d["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "IamAssurance" for d in docs), "EMF documents of the IamAssurance namespace")
        not_evaluated = [r for r in sweep["rules"] if r["status"] == "not_evaluated"]
        check(runs[0]["RulesNotEvaluated"] == len(not_evaluated) and runs[0]["SweepsCompleted"] == 1, "the sweep's metrics: rules not evaluated, heartbeat", runs[0])
        check(runs[0]["FindingsNew"] == published["changes"]["new"] and runs[1]["FindingsNew"] == event["published"]["changes"]["new"], "findings new, per run", runs)
        logs = [json.loads(line) for line in stderr_path.read_text().splitlines() if line.strip()]
        warned = {l["rule_id"] for l in logs if l.get("level") == "WARN" and "rule_id" in l and l.get("requestId") == runs[0]["requestId"]}
        check(warned == {r["rule_id"] for r in not_evaluated}, "a WARN line per rule the sweep could not evaluate", warned)
        check([l["cold_start"] for l in logs if l.get("message") == "run complete"] == [True, False, False], "cold_start on the first invocation only")
    finally:
        for process in reversed(processes):
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        shutil.rmtree(work, ignore_errors=True)
    print(f"{passed} passed, 0 failed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
