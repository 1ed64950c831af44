#!/usr/bin/env python3
"""Benchmark: API calls, wall time and peak memory of iam-assurance sweeps and events, side by
side with a peer (Prowler's IAM checks), on synthetic accounts in a local AWS emulator.

Run it through `make bench` (which builds the release binary, installs the peer and runs the
rules-core benchmark first). What it does, for each account size:

1. starts moto in this process (`ThreadedMotoServer` on 127.0.0.1, a free port) and seeds a
   synthetic account directly in moto's IAM backend (users, roles, groups, customer managed
   policies, access keys, console passwords, MFA devices, attachments, inline policies,
   back-dated creation times), three rule settings in SSM and an SNS topic;
2. sweeps it with the release binary (`iam-assurance sweep --publish --format json`, settings
   from SSM, findings published to the topic), counting calls twice: the binary's own counter
   (`api_calls` in its run JSON) and moto's request recorder;
3. replays CloudTrail events (`EVENTS`: keys, attachments, group membership, roles, inline
   policies, boundaries, managed policies, a deleted user) through `iam-assurance invoke`, as
   deployed (with the finding state) and again without it;
4. audits the same account with the peer, measured the same way;
5. prints the tables and writes them, with every raw number, as JSON (`latest.json`), as text
   (`latest.txt`) and as the Markdown tables of docs/benchmarks.md (`latest.md`).

Each measured program runs as a child process; its wall time is taken around it and its peak
resident memory comes from GNU time's `%M` (without it, VmHWM polled from /proc).
Everything runs on 127.0.0.1 and everything started here is stopped here.

moto and IAM differ (see docs/benchmarks.md). Two differences are patched here, on purpose:

- moto's GetAccountAuthorizationDetails ignores `MaxItems` and returns all 1,485 AWS managed
  policies, attached or not. The bench fixture pages it (`MaxItems`, default 100, and `Marker`)
  and returns AWS managed policies only when attached, so the page count a client pays grows
  with the account as it does against IAM.
- moto's ListEntitiesForPolicy looks for the policy only among the first `MaxItems` roles (by
  their random role ids), answers `IsTruncated: false` and no `Marker`: at 10,000 users (2,500
  roles) a role holding the policy was missed or not at random, and an event's finding differed
  from the sweep's in some runs. The bench fixture looks at every user, group and role and pages
  the answer as IAM does.

`--raw-moto` turns both patches off.
"""
from __future__ import annotations

import argparse
import base64
import json
import math
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ACCOUNT = "123456789012"
REGION = "us-east-1"
PREFIX = "/iam-assurance"
ADMINISTRATOR_ACCESS = "arn:aws:iam::aws:policy/AdministratorAccess"
READ_ONLY_ACCESS = "arn:aws:iam::aws:policy/ReadOnlyAccess"
CLOUDSHELL_FULL_ACCESS = "arn:aws:iam::aws:policy/AWSCloudShellFullAccess"
SUPPORT_ACCESS = "arn:aws:iam::aws:policy/AWSSupportAccess"


def policy_doc(i: int) -> str:
    services = ["s3", "dynamodb", "sqs", "sns", "lambda", "logs", "ec2", "kms"]
    a, b = services[i % 8], services[(i // 8) % 8]
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": "Read", "Effect": "Allow", "Action": [f"{a}:Get*", f"{a}:List*", f"{b}:Describe*"], "Resource": "*"},
        {"Sid": "Write", "Effect": "Allow", "Action": f"{a}:Put*", "Resource": f"arn:aws:{a}:::bench-{i}/*"},
    ]})


# CreateAccessKey reads one user live; AttachUserPolicy of AdministratorAccess (on the
# unapproved list here) recounts administrators through the roster the sweep kept, with the user
# and the policy's attachments read now; of ReadOnlyAccess it cannot change them and reads only
# the policy and the user. The sample files in events/, plus others written from
# attach-user-policy.json into the work folder (`DERIVED_EVENTS`): AdministratorAccess attached
# to a group (its members read now) and to a role, a user added to the group that holds
# AdministratorAccess and one removed from another group (each group read now with its members),
# and a role created (read now: GetRole, its attached policies, its inline policy names); an
# inline policy put on a user, a role and a group (the policy and its owner read now), a role's
# permissions boundary put (the role read now), a customer managed policy created and a new
# default version of one (the policy read now), and a user deleted (events/delete-user.json:
# GetUser finds no such user, GetAccountSummary counts the users left). The events of the rules
# about one AWS managed policy and of tags: AWSCloudShellFullAccess detached from a group (the
# policy and the group read now), AWSSupportAccess detached from a role (the policy and the roles
# it is attached to read now) and a user's tags removed (the user read now with its tags).
EVENTS = ["create-access-key.json", "attach-user-policy.json", "attach-user-policy-read-only.json",
          "attach-group-policy.json", "attach-role-policy.json", "add-user-to-group.json", "remove-user-from-group.json",
          "create-role.json", "put-user-policy.json", "put-role-policy.json", "put-group-policy.json",
          "put-role-permissions-boundary.json", "create-policy.json", "create-policy-version.json", "delete-user.json",
          "detach-group-policy-cloudshell.json", "detach-role-policy-support.json", "untag-user.json"]
DERIVED_EVENTS = {
    "attach-group-policy.json": ("AttachGroupPolicy", {"groupName": "bench-group-00001", "policyArn": ADMINISTRATOR_ACCESS}),
    "attach-role-policy.json": ("AttachRolePolicy", {"roleName": "bench-role-00003", "policyArn": ADMINISTRATOR_ACCESS}),
    "add-user-to-group.json": ("AddUserToGroup", {"groupName": "bench-group-00000", "userName": "deploy-bot"}),
    "remove-user-from-group.json": ("RemoveUserFromGroup", {"groupName": "bench-group-00002", "userName": "user-00005"}),
    "create-role.json": ("CreateRole", {"roleName": "bench-role-00001"}),
    # Replays of what the seed put (`seed_iam`), as CloudTrail records them (with the document).
    "put-user-policy.json": ("PutUserPolicy", {"userName": "user-00007", "policyName": "user-inline",
                                               "policyDocument": policy_doc(7)}),
    "put-role-policy.json": ("PutRolePolicy", {"roleName": "bench-role-00001", "policyName": "role-inline",
                                               "policyDocument": policy_doc(1)}),
    "put-group-policy.json": ("PutGroupPolicy", {"groupName": "bench-group-00003", "policyName": "group-inline",
                                                 "policyDocument": policy_doc(3)}),
    "put-role-permissions-boundary.json": ("PutRolePermissionsBoundary", {"roleName": "bench-role-00005",
                                                                          "permissionsBoundary": READ_ONLY_ACCESS}),
    "create-policy.json": ("CreatePolicy", {"policyName": "bench-policy-00002", "path": "/", "policyDocument": policy_doc(2)}),
    "create-policy-version.json": ("CreatePolicyVersion", {"policyArn": f"arn:aws:iam::{ACCOUNT}:policy/bench-policy-00001",
                                                           "policyDocument": policy_doc(1), "setAsDefault": True}),
    # Detaches of policies the seed never attached: the state they leave is the seeded one.
    "detach-group-policy-cloudshell.json": ("DetachGroupPolicy", {"groupName": "bench-group-00003",
                                                                  "policyArn": CLOUDSHELL_FULL_ACCESS}),
    "detach-role-policy-support.json": ("DetachRolePolicy", {"roleName": "bench-role-00003", "policyArn": SUPPORT_ACCESS}),
    "untag-user.json": ("UntagUser", {"userName": "user-00007", "tagKeys": ["bench-absent"]}),
}


def event_file(work: Path, name: str) -> Path:
    """A sample event of events/, or one of `DERIVED_EVENTS` written into the work folder."""
    if name not in DERIVED_EVENTS:
        return ROOT / "events" / name
    event_name, params = DERIVED_EVENTS[name]
    event = json.loads((ROOT / "events" / "attach-user-policy.json").read_text())
    event["detail"]["eventName"] = event_name
    event["detail"]["requestParameters"] = params
    path = work / "events" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(event))
    return path


def roster_bytes(endpoint: str):
    """The size of the administrator roster the sweeps kept (its JSON), or None."""
    import boto3

    kw = dict(endpoint_url=endpoint, region_name=REGION, aws_access_key_id="testing", aws_secret_access_key="testing")
    item = boto3.client("dynamodb", **kw).get_item(TableName=STATE_TABLE, Key={"fingerprint": {"S": "roster#administrators"}},
                                                   ConsistentRead=True).get("Item")
    return len(item["roster"]["S"].encode()) if item else None

# Targets of issue #6 (shown, not asserted).
TARGET_SWEEP_VS_MIN = 1.2
TARGET_PEER_CALLS = 50.0
TARGET_PEER_WALL = 10.0
TARGET_EVENT_CALLS = 6
TARGET_EVENT_SECONDS = 1.0
TARGET_RULES_CORE_SECONDS = 1.0
TARGET_RSS_MB = 100.0
TARGET_BINARY_MB = 15.0


# ----------------------------------------------------------------------------- helpers

def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(method: str, url: str, body: bytes = b"") -> bytes:
    req = urllib.request.Request(url, data=body if method == "POST" else None, method=method)
    with urllib.request.urlopen(req, timeout=120) as resp:
        return resp.read()


def loadavg() -> list[float]:
    try:
        return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]
    except OSError:
        return []


GNU_TIME = "/usr/bin/time"


def run_measured(argv: list[str], env: dict, cwd: Path, stdout: Path, stderr: Path, timeout: float) -> dict:
    """Run one child; wall time, peak RSS, CPU time, exit code. A child still running after
    `timeout` is stopped (its whole process group) and reported as timed out.

    Peak RSS comes from GNU time (`%M`: the rusage of the program it forks, and of the
    program's own waited-for children), not from this process's `wait4()`: a child forked
    from this Python process (which holds moto and the seeded account) would be charged for
    the parent's pages it carried until `exec`. Without GNU time, the program's own VmHWM is
    polled from /proc (its peak after `exec`, sampled every 10 ms)."""
    result: dict = {}
    rss_file = stdout.with_suffix(".rss")
    rss_file.unlink(missing_ok=True)
    use_time = os.access(GNU_TIME, os.X_OK)
    command = [GNU_TIME, "-f", "%M", "-o", str(rss_file), *argv] if use_time else argv
    with open(stdout, "wb") as out, open(stderr, "wb") as err:
        load_before = loadavg()
        started = time.perf_counter()
        proc = subprocess.Popen(command, env=env, cwd=cwd, stdout=out, stderr=err, start_new_session=True)
        hwm_kb = [0]

        def poll_hwm() -> None:
            status = Path(f"/proc/{proc.pid}/status")
            while "status" not in result:
                try:
                    for line in status.read_text().splitlines():
                        if line.startswith("VmHWM:"):
                            hwm_kb[0] = max(hwm_kb[0], int(line.split()[1]))
                except (OSError, ValueError):
                    pass
                time.sleep(0.01)

        if not use_time:
            threading.Thread(target=poll_hwm, daemon=True).start()

        def reap() -> None:
            _, status, usage = os.wait4(proc.pid, 0)
            result["wall_s"] = time.perf_counter() - started
            result["status"] = status
            result["usage"] = usage

        waiter = threading.Thread(target=reap, daemon=True)
        waiter.start()
        waiter.join(timeout)
        timed_out = waiter.is_alive()
        if timed_out:
            for sig, grace in ((signal.SIGTERM, 10), (signal.SIGKILL, 30)):
                try:
                    os.killpg(proc.pid, sig)
                except ProcessLookupError:
                    pass
                waiter.join(grace)
                if not waiter.is_alive():
                    break
        proc.returncode = os.waitstatus_to_exitcode(result["status"]) if "status" in result else -9
    usage = result.get("usage")
    peak_kb = None
    if use_time:
        try:
            peak_kb = int(rss_file.read_text().strip().splitlines()[-1])
        except (OSError, ValueError, IndexError):
            peak_kb = None
    elif hwm_kb[0]:
        peak_kb = hwm_kb[0]
    return {
        "argv": [str(a) for a in argv],
        "exit_code": proc.returncode,
        "timed_out": timed_out,
        "wall_s": round(result.get("wall_s", time.perf_counter() - started), 4),
        "peak_rss_mb": round(peak_kb / 1024, 1) if peak_kb else None,
        "peak_rss_from": "GNU time %M" if use_time else "VmHWM polled every 10 ms",
        "user_cpu_s": round(usage.ru_utime, 3) if usage else None,
        "sys_cpu_s": round(usage.ru_stime, 3) if usage else None,
        "load_before": load_before,
        "load_after": loadavg(),
    }


def aws_env(endpoint: str, home: Path) -> dict:
    """A clean environment: standard AWS variables pointing at the emulator, nothing else."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "TZ": "UTC",
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": str(home / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(home / "no-aws-credentials"),
    }


# ----------------------------------------------------------------------------- moto

class Emulator:
    """moto in this process, on 127.0.0.1, with its request recorder writing into `workdir`."""

    def __init__(self, workdir: Path, page_aad: bool):
        self.recording = workdir / "moto_recording"
        os.environ["MOTO_IAM_LOAD_MANAGED_POLICIES"] = "true"
        os.environ["MOTO_RECORDER_FILEPATH"] = str(self.recording)
        import logging

        from moto.server import ThreadedMotoServer  # noqa: import after the environment is set

        # Requests moto does not implement (the peer's organizations calls) are answered 500;
        # their tracebacks would drown the table.
        logging.getLogger("werkzeug").setLevel(logging.CRITICAL)

        if page_aad:
            patch_authorization_details_paging()
            patch_entities_for_policy()
        patch_transactions()
        self.port = free_port()
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self.server.start()
        self.endpoint = f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.stop()

    def reset(self) -> None:
        http("POST", f"{self.endpoint}/moto-api/reset")

    def iam(self):
        from moto.iam.models import iam_backends

        return iam_backends[ACCOUNT]["aws"]

    def record(self):
        http("POST", f"{self.endpoint}/moto-api/recorder/reset-recording")
        http("POST", f"{self.endpoint}/moto-api/recorder/start-recording")

    def stop_recording(self) -> dict:
        """Stop recording; count the recorded requests by `service:Action`."""
        http("POST", f"{self.endpoint}/moto-api/recorder/stop-recording")
        counts: dict[str, int] = {}
        if self.recording.exists():
            with open(self.recording) as f:
                for line in f:
                    if line.strip():
                        key = classify(json.loads(line))
                        counts[key] = counts.get(key, 0) + 1
        return dict(sorted(counts.items()))


def classify(entry: dict) -> str:
    """`service:Action` of one recorded request (SigV4 credential scope, then the action from
    X-Amz-Target, the form body or the query string)."""
    headers = {k.lower(): v for k, v in (entry.get("headers") or {}).items()}
    service = "unknown"
    auth = headers.get("authorization", "")
    if "Credential=" in auth:
        scope = auth.split("Credential=", 1)[1].split(",", 1)[0].split("/")
        if len(scope) >= 4:
            service = scope[3]
    action = None
    target = headers.get("x-amz-target")
    if target:
        action = target.rsplit(".", 1)[-1]
    if action is None:
        body = entry.get("body") or ""
        if entry.get("body_encoded"):
            try:
                body = base64.b64decode(body).decode("utf-8", "replace")
            except ValueError:
                body = ""
        if isinstance(body, str) and "Action=" in body:
            action = urllib.parse.parse_qs(body).get("Action", [None])[0]
    if action is None:
        query = urllib.parse.urlparse(entry.get("url", "")).query
        action = urllib.parse.parse_qs(query).get("Action", [None])[0]
    if action is None:
        path = urllib.parse.urlparse(entry.get("url", "")).path
        action = REST_ACTIONS.get((service, entry.get("method", "?"), path), f"{entry.get('method', '?')} {path}")
    return f"{service}:{action}"


#: The operations of the REST APIs the code calls, by method and path (their requests name no
#: action): Account, IAM Access Analyzer, Security Hub.
REST_ACTIONS = {
    ("account", "POST", "/getAlternateContact"): "GetAlternateContact",
    ("account", "POST", "/listRegions"): "ListRegions",
    ("access-analyzer", "GET", "/analyzer"): "ListAnalyzers",
    ("securityhub", "POST", "/findings/import"): "BatchImportFindings",
}


def page_of(items: list, keys: list[str], max_items: int, offset: int) -> dict:
    """One page of an IAM list answer as IAM pages it: `items` are (list key, item) pairs in
    order; the page holds `max_items` of them from `offset`, each under its key, with
    `IsTruncated` and, when truncated, the next offset as `Marker`."""
    result: dict = {key: [] for key in keys}
    for key, item in items[offset : offset + max_items]:
        result[key].append(item)
    truncated = offset + max_items < len(items)
    result["IsTruncated"] = truncated
    if truncated:
        result["Marker"] = str(offset + max_items)
    return result


def patch_authorization_details_paging() -> None:
    """Make moto's GetAccountAuthorizationDetails page like IAM's: `MaxItems` (default 100) items
    per page across the four lists, `IsTruncated` and `Marker`; AWS managed policies only when
    attached to something."""
    from moto.core.responses import ActionResult
    from moto.iam.responses import IamResponse

    if getattr(IamResponse, "_bench_paged", False):
        return

    def paged(self):
        filters = self._get_param("Filter", [])
        max_items = int(self._get_param("MaxItems") or 100)
        offset = int(self._get_param("Marker") or 0)
        details = self.backend.get_account_authorization_details(filters)
        aws_managed = {p.arn for p in self.backend.aws_managed_policies}
        policies = [p for p in details["managed_policies"] if p.arn not in aws_managed or p.attachment_count > 0]
        items = (
            [("UserDetailList", u) for u in details["users"]]
            + [("GroupDetailList", g) for g in details["groups"]]
            + [("RoleDetailList", r) for r in details["roles"]]
            + [("Policies", p) for p in policies]
        )
        return ActionResult(page_of(items, ["UserDetailList", "GroupDetailList", "RoleDetailList", "Policies"], max_items, offset))

    IamResponse.get_account_authorization_details = paged
    IamResponse._bench_paged = True


def patch_transactions() -> None:
    """moto's TransactWriteItems deep-copies every table it touches before writing, to roll back
    on a failed condition: each transaction costs the size of the whole table, so a round writing
    thousands of findings into an organization's table takes quadratic time (tens of minutes)
    in the emulator, which DynamoDB does not. Same answers without the copy: every condition is
    checked first, and nothing is written unless all hold (then no rollback is needed);
    ConditionalCheckFailed and TransactionCanceledException as moto reports them. Transactions
    with an Update are left to moto's own code."""
    from moto.dynamodb.comparisons import get_filter_expression
    from moto.dynamodb.exceptions import (MultipleTransactionsException, TooManyTransactionsException,
                                          TransactionCanceledException)
    from moto.dynamodb.models import DynamoDBBackend

    original = DynamoDBBackend.transact_write_items

    def transact_write_items(self, transact_items):
        if len(transact_items) > 100:
            raise TooManyTransactionsException()
        if any(next(iter(item)) not in ("Put", "Delete", "ConditionCheck") for item in transact_items):
            return original(self, transact_items)
        seen, errors, plan = set(), [], []
        for item in transact_items:
            op_type, op = next(iter(item.items()))
            table = self.get_table(op["TableName"])
            if op_type == "Put":
                attrs = op["Item"]
                key = {table.hash_key_attr: attrs[table.hash_key_attr]}
                if table.range_key_attr is not None:
                    key[table.range_key_attr] = attrs[table.range_key_attr]
            else:
                key = op["Key"]
            ident = (op["TableName"], str(sorted((k, str(v)) for k, v in key.items())))
            if ident in seen:
                raise MultipleTransactionsException()
            seen.add(ident)
            holds = True
            if op.get("ConditionExpression") is not None:
                current = self.get_item(op["TableName"], key)
                holds = get_filter_expression(op["ConditionExpression"], op.get("ExpressionAttributeNames"),
                                              op.get("ExpressionAttributeValues")).expr(current)
            errors.append((None, None, None) if holds else ("ConditionalCheckFailed", "The conditional request failed", None))
            plan.append((op_type, op, key))
        if any(code is not None for code, _, _ in errors):
            raise TransactionCanceledException(errors)
        for op_type, op, key in plan:
            if op_type == "Put":
                self.put_item(op["TableName"], op["Item"])
            elif op_type == "Delete":
                self.delete_item(op["TableName"], key)

    DynamoDBBackend.transact_write_items = transact_write_items


def patch_entities_for_policy() -> None:
    """Make moto's ListEntitiesForPolicy answer as IAM's: every user, group and role the policy
    is attached to (moto's looks only at the first `MaxItems` roles, by random role id, and says
    the answer is complete), paged by `MaxItems` (default 100) with `IsTruncated` and `Marker`."""
    from moto.core.responses import ActionResult
    from moto.iam.responses import IamResponse

    if getattr(IamResponse, "_bench_entities", False):
        return

    def entities(self):
        arn = self._get_param("PolicyArn")
        kind = self._get_param("EntityFilter")
        max_items = int(self._get_param("MaxItems") or 100)
        offset = int(self._get_param("Marker") or 0)
        items = []
        if kind in (None, "", "User"):
            items += [("PolicyUsers", u) for u in self.backend.users.values() if arn in u.managed_policies]
        if kind in (None, "", "Group"):
            items += [("PolicyGroups", g) for g in self.backend.groups.values() if arn in g.managed_policies]
        if kind in (None, "", "Role"):
            items += [("PolicyRoles", r) for r in self.backend.roles.values() if arn in r.managed_policies]
        return ActionResult(page_of(items, ["PolicyUsers", "PolicyGroups", "PolicyRoles"], max_items, offset))

    IamResponse.list_entities_for_policy = entities
    IamResponse._bench_entities = True


# ----------------------------------------------------------------------------- the account

def shape(users: int) -> dict:
    return {
        "users": users,
        "roles": max(2, users // 4),
        "groups": max(2, users // 10),
        "policies": max(2, users // 10),
    }


ADMIN_DOC = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})
TRUST_DOC = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "sts:AssumeRole"}]})


def seed_iam(backend, n_users: int) -> dict:
    """A synthetic account in moto's IAM backend, written directly (the API would take minutes
    at 10,000 users). Deterministic: entity i always looks the same.

    Users: `deploy-bot` (two keys, as after the CreateAccessKey event), `alice` (the user of the
    AttachUserPolicy event), then `user-NNNNN`. 30 % have a console password (half of them MFA),
    60 % one access key, 10 % two; every user is in a group (a third in two; 5 % of the groups
    stay empty); 10 % have a customer managed policy attached directly, 5 % an inline policy.
    Roles: one customer managed policy each, a quarter with an inline policy, `bench-role-00005`
    with ReadOnlyAccess as its permissions boundary. Creation dates
    and key ages are spread over 0-600 days; some keys were used, some never."""
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    sh = shape(n_users)
    policies = []
    for p in range(sh["policies"]):
        doc = ADMIN_DOC if p % 100 == 99 else policy_doc(p)
        policies.append(backend.create_policy("bench policy", "/", doc, f"bench-policy-{p:05d}", []))
    managed = {p.arn: p for p in backend.managed_policies.values()}

    def attach(arn: str, entity) -> None:
        policy = managed[arn]
        if arn not in entity.managed_policies:
            policy.attach_to(entity)

    groups = []
    populated = max(1, sh["groups"] - sh["groups"] // 20)
    for g in range(sh["groups"]):
        group = backend.create_group(f"bench-group-{g:05d}", "/")
        attach(policies[g % len(policies)].arn, group)
        if g == 0:
            attach(ADMINISTRATOR_ACCESS, group)
        if g % 10 == 3:
            backend.put_group_policy(group.name, "group-inline", policy_doc(g))
        groups.append(group)

    names = ["deploy-bot", "alice"] + [f"user-{i:05d}" for i in range(2, n_users)]
    keys = 0
    for i, name in enumerate(names):
        user = backend.create_user(REGION, name, "/")
        user.create_date = now - timedelta(days=(i * 37) % 600, hours=1)
        backend.add_user_to_group(groups[i % populated].name, name)
        if i % 3 == 0 and populated > 1:
            backend.add_user_to_group(groups[(i * 7 + 1) % populated].name, name)
        if i % 10 == 0:
            attach(policies[(i // 10) % len(policies)].arn, user)
        if i % 10 == 5:
            attach(READ_ONLY_ACCESS, user)
        if i % 2500 == 17:
            attach(ADMINISTRATOR_ACCESS, user)
        if i % 20 == 7:
            backend.put_user_policy(name, "user-inline", policy_doc(i))
        if i % 10 < 3:
            backend.create_login_profile(name, f"Bench-Passw0rd!-{i}")
            if i % 2 == 0:
                device = backend.create_virtual_mfa_device(name, "/")
                backend.enable_mfa_device(name, device.serial_number, "123456", "654321")
        n_keys = 2 if (i % 10 == 6 or name == "deploy-bot") else (1 if i % 10 < 6 else 0)
        for k in range(n_keys):
            key = backend.create_access_key(name)
            # IAM lists keys in creation order: the first key is the older one.
            key.create_date = now - timedelta(days=(i * 13) % 400 + (n_keys - 1 - k) * 200, hours=1)
            keys += 1
    for r in range(sh["roles"]):
        # One role is capped by a permissions boundary (ReadOnlyAccess).
        boundary = READ_ONLY_ACCESS if r == 5 else None
        role = backend.create_role(f"bench-role-{r:05d}", TRUST_DOC, "/", boundary, "bench role", [], None)
        role.create_date = now - timedelta(days=(r * 29) % 500, hours=1)
        attach(policies[(r * 3) % len(policies)].arn, role)
        if r % 4 == 1:
            backend.put_role_policy(role.name, "role-inline", policy_doc(r))
        if r == 11:
            attach(ADMINISTRATOR_ACCESS, role)
    backend.update_account_password_policy(True, False, 90, 8, 0, True, True, False, True)
    # The report exists (IAM keeps one for 4 hours): the hourly sweep's common case.
    backend.generate_report()

    aws_attached = sum(1 for p in backend.aws_managed_policies if p.attachment_count > 0)
    return {
        "users": len(names),
        "roles": sh["roles"],
        "groups": sh["groups"],
        "customer_policies": sh["policies"],
        "aws_managed_policies_attached": aws_attached,
        "aws_managed_policies_in_emulator": len(backend.aws_managed_policies),
        "access_keys": keys,
        "entities": len(names) + sh["roles"] + sh["groups"] + sh["policies"] + aws_attached,
    }


STATE_TABLE = "iam-assurance-state"
#: The state table of the sweeps with the Security Hub export on (a fresh one: their first sweep
#: finds every finding new, as a deployment that turns the export on from the start).
EXPORT_TABLE = "iam-assurance-state-export"


def seed_settings_topic_and_state(endpoint: str) -> str:
    """Three rule settings in SSM, the findings topic, and the finding-state table as the SAM
    template creates it (hash key `fingerprint`)."""
    import boto3

    kw = dict(endpoint_url=endpoint, region_name=REGION, aws_access_key_id="testing", aws_secret_access_key="testing")
    ssm = boto3.client("ssm", **kw)
    settings = {
        "access-key-rotation": {"max_age_days": 90},
        "approved-users": {"approved": ["user-*", "deploy-bot", "alice"]},
        "unapproved-policy-in-use": {"unapproved": ["AdministratorAccess"]},
        # moto does not implement IAM Access Analyzer nor account:ListRegions (404): with the rule
        # on, every sweep would report that source as uncollected (exit 4).
        "access-analyzer-enabled": {"enabled": False},
    }
    for rule, value in settings.items():
        ssm.put_parameter(Name=f"{PREFIX}/rules/{rule}", Type="String", Value=json.dumps(value), Overwrite=True)
    create_state_table(endpoint, STATE_TABLE)
    return boto3.client("sns", **kw).create_topic(Name="iam-assurance-findings")["TopicArn"]


def create_state_table(endpoint: str, name: str) -> None:
    import boto3

    kw = dict(endpoint_url=endpoint, region_name=REGION, aws_access_key_id="testing", aws_secret_access_key="testing")
    boto3.client("dynamodb", **kw).create_table(
        TableName=name, BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "fingerprint", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "fingerprint", "KeyType": "HASH"}])


def enable_security_hub(endpoint: str) -> None:
    import boto3

    kw = dict(endpoint_url=endpoint, region_name=REGION, aws_access_key_id="testing", aws_secret_access_key="testing")
    boto3.client("securityhub", **kw).enable_security_hub()


def minimum_sweep_calls(entities: int) -> dict:
    """The fewest IAM calls a full sweep can make: GetAccountAuthorizationDetails pages of 1,000,
    the credential report (GenerateCredentialReport, then GetCredentialReport), the account
    summary, the password policy and the server certificates (one page each)."""
    pages = max(1, math.ceil(entities / 1000))
    return {"authorization_pages": pages, "credential_report": 2, "summary": 1, "password_policy": 1,
            "server_certificates": 1, "total": pages + 5}


def by_service(calls: dict) -> dict:
    out: dict[str, int] = {}
    for key, n in calls.items():
        service = key.split(":", 1)[0]
        out[service] = out.get(service, 0) + n
    return out


# ----------------------------------------------------------------------------- the runs

def run_ours(emu: Emulator, binary: Path, work: Path, topic: str, args: list[str], name: str, timeout: float,
             state: bool = True, extra_env: dict | None = None) -> dict:
    """One run of the binary; `state`: with the finding-state table (STATE_TABLE), as deployed;
    `extra_env` added to (or replacing) its environment."""
    env = aws_env(emu.endpoint, work / "home")
    env["SETTINGS_PREFIX"] = PREFIX
    env["FINDINGS_TOPIC_ARN"] = topic
    if state:
        env["STATE_TABLE"] = STATE_TABLE
    env.update(extra_env or {})
    # As deployed, the function knows its account from its own ARN; the CLI would otherwise ask
    # STS (GetCallerIdentity) once per process, which the function never does.
    env["AWS_ACCOUNT_ID"] = ACCOUNT
    env["RUST_LOG"] = "error"
    out, err = work / f"{name}.json", work / f"{name}.stderr"
    emu.record()
    m = run_measured([str(binary), *args], env, work, out, err, timeout)
    recorded = emu.stop_recording()
    m["recorded_calls"] = recorded
    m["recorded_by_service"] = by_service(recorded)
    m["recorded_total"] = sum(recorded.values())
    try:
        run = json.loads(out.read_text())
    except (OSError, ValueError) as e:
        m["error"] = f"no run JSON ({e}); stderr: {err.read_text()[-2000:]}"
        return m
    calls = run.get("api_calls") or {}
    m["counter_calls"] = calls
    m["counter_by_service"] = by_service(calls)
    m["counter_total"] = run.get("api_calls_total", sum(calls.values()))
    findings = run.get("findings") or []
    m["findings_open"] = sum(1 for f in findings if f.get("status") == "open")
    m["findings_suppressed"] = sum(1 for f in findings if f.get("status") == "suppressed")
    by_rule: dict[str, int] = {}
    for f in findings:
        by_rule[f.get("rule_id", "?")] = by_rule.get(f.get("rule_id", "?"), 0) + 1
    m["findings_by_rule"] = dict(sorted(by_rule.items(), key=lambda kv: -kv[1]))
    m["rules_not_evaluated"] = sorted(r["rule_id"] for r in run.get("rules", []) if r.get("status") == "not_evaluated")
    published = run.get("published") or {}
    m["published"] = {k: published.get(k) for k in ("state", "messages", "batches", "changes", "state_items", "state_updates",
                                                               "security_hub")
                      if k in published}
    m["errors"] = run.get("errors", [])[:10]
    return m


def prowler_bin() -> Path:
    return ROOT / ".peers" / "prowler" / "bin" / "prowler"


def run_prowler(emu: Emulator, work: Path, name: str, timeout: float) -> dict:
    outdir = work / f"{name}-out"
    shutil.rmtree(outdir, ignore_errors=True)
    outdir.mkdir(parents=True)
    env = aws_env(emu.endpoint, work / "home")
    argv = [str(prowler_bin()), "aws", "--services", "iam", "-f", REGION, "--no-banner",
            "-M", "json-ocsf", "-o", str(outdir), "--ignore-exit-code-3"]
    emu.record()
    m = run_measured(argv, env, work, work / f"{name}.stdout", work / f"{name}.stderr", timeout)
    recorded = emu.stop_recording()
    m["peer"] = "prowler"
    m["recorded_calls"] = recorded
    m["recorded_by_service"] = by_service(recorded)
    m["recorded_total"] = sum(recorded.values())
    fail = total = 0
    checks = set()
    for path in outdir.rglob("*.ocsf.json"):
        try:
            items = json.loads(path.read_text() or "[]")
        except ValueError:
            continue
        for item in items:
            total += 1
            fail += item.get("status_code") == "FAIL"
            checks.add(((item.get("metadata") or {}).get("event_code")) or (item.get("finding_info") or {}).get("title"))
    m["findings_fail"] = fail
    m["results_total"] = total
    m["checks"] = len(checks)
    if m["exit_code"] not in (0, 3) or total == 0:
        m["error"] = (work / f"{name}.stderr").read_text(errors="replace")[-3000:]
    return m


def peer_version() -> str | None:
    """From the package metadata (`prowler --version` would ask the internet for the latest)."""
    python = prowler_bin().parent / "python"
    code = "import importlib.metadata as m; print(m.version('prowler'))"
    try:
        out = subprocess.run([str(python), "-c", code], capture_output=True, text=True, timeout=120)
        return f"Prowler {out.stdout.strip()}" if out.returncode == 0 and out.stdout.strip() else None
    except (OSError, subprocess.TimeoutExpired):
        return None


# ----------------------------------------------------------------------------- report

def fmt(v, digits=2) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:,.{digits}f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def table(headers: list[str], rows: list[list]) -> str:
    cells = [[str(h) for h in headers]] + [[fmt(c) if not isinstance(c, str) else c for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = []
    for n, row in enumerate(cells):
        lines.append("  ".join(c.rjust(w) if n and i else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths))))
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def cpu(m: dict):
    """User + system CPU seconds of the measured program (and its children)."""
    if m.get("user_cpu_s") is None:
        return None
    return round(m["user_cpu_s"] + (m.get("sys_cpu_s") or 0), 2)


def ratio(a, b):
    return round(a / b, 1) if a is not None and b not in (None, 0) else None


def render(result: dict) -> str:
    out = []
    m = result["machine"]
    out.append(f"iam-assurance benchmark, {result['finished_at']}")
    out.append(f"machine: {m['cpu']} x{m['cores']}, {m['memory_gb']} GB; load average at start {m['load_start']}, end {m['load_end']}")
    out.append(f"emulator: moto {m['moto']} in-process on 127.0.0.1 "
               + ("(GetAccountAuthorizationDetails paged like IAM)" if result["aad_paging"] else "(raw: one page)")
               + f"; peer: {m.get('peer') or 'none'}")
    out.append("")
    out.append("Full sweep (collect, evaluate, print the run JSON; settings from SSM): IAM calls from the binary's counter and")
    out.append("from moto's recorder (rec), beside the minimum for the account's size")
    rows = []
    for s in result["sizes"]:
        o = s["ours"]["sweep"]
        c, r = o.get("counter_by_service", {}), o.get("recorded_by_service", {})
        rows.append([
            s["account"]["users"], s["account"]["entities"], s["minimum"]["total"],
            c.get("iam"), r.get("iam"), ratio(c.get("iam"), s["minimum"]["total"]), c.get("ssm", 0), o.get("recorded_total"),
            o["wall_s"], cpu(o), o["peak_rss_mb"], o.get("findings_open"),
        ])
    out.append(table(["users", "entities", "min IAM", "IAM", "IAM rec", "x min", "SSM", "all rec",
                      "wall s", "CPU s", "RSS MB", "findings"], rows))
    out.append("")
    out.append("Sweep and publish through the finding state (as deployed): the first sweep finds every finding new,")
    out.append("the second runs with nothing changed")
    rows = []
    for s in result["sizes"]:
        for p in s["ours"].get("publish", []):
            c = p.get("counter_by_service", {})
            rows.append([s["account"]["users"], p["run"], c.get("iam"), c.get("ssm", 0), c.get("dynamodb", 0), c.get("sns", 0),
                         p.get("counter_total"), p.get("recorded_total"), p["wall_s"], cpu(p), p["peak_rss_mb"],
                         (p.get("published") or {}).get("messages")])
    out.append(table(["users", "sweep", "IAM", "SSM", "DynamoDB", "SNS", "total", "total rec", "wall s", "CPU s", "RSS MB",
                      "messages"], rows))
    sizes = [f"{s['account']['users']:,} users: {fmt(s['ours'].get('roster_bytes'))} bytes" for s in result["sizes"]]
    out.append("Administrator roster kept in the state table: " + "; ".join(sizes))
    out.append("")
    out.append("The same with the Security Hub export on (SECURITY_HUB_EXPORT=true, a fresh state table)")
    out.append(table(["users", "sweep", "IAM", "DynamoDB", "SNS", "Security Hub", "total", "wall s", "CPU s", "RSS MB",
                      "imported"], export_rows(result["sizes"], fmt)))
    out.append("")
    for key, title in (("events", "CloudTrail events (iam-assurance invoke), as deployed: settings from SSM, finding state, publishing;"
                                  " after the sweeps"),
                       ("events_without_state", "The same events without the finding state (STATE_TABLE unset)")):
        out.append(title)
        rows = []
        for s in result["sizes"]:
            for e in s["ours"].get(key, []):
                c = e.get("counter_by_service", {})
                rows.append([s["account"]["users"], e["event"], c.get("iam"), c.get("ssm", 0), c.get("dynamodb", 0), c.get("sns", 0),
                             e.get("counter_total"), e.get("recorded_total"), e["wall_s"], cpu(e), e["peak_rss_mb"],
                             e.get("findings_open")])
        out.append(table(["users", "event", "IAM", "SSM", "DynamoDB", "SNS", "total", "total rec", "wall s", "CPU s", "RSS MB",
                          "findings"], rows))
        out.append("")
    peers = [s for s in result["sizes"] if s.get("peer")]
    if peers:
        out.append(f"Peer: {result['machine'].get('peer')} (--services iam), same accounts, same run; calls from moto's recorder")
        rows = []
        for s in peers:
            p, o = s["peer"], s["ours"]["sweep"]
            pr = p.get("recorded_by_service", {})
            rows.append([
                s["account"]["users"], pr.get("iam"), p.get("recorded_total"),
                ("TIMEOUT " if p.get("timed_out") else "") + fmt(p["wall_s"]), cpu(p), p["peak_rss_mb"], p.get("findings_fail"),
                ratio(pr.get("iam"), o.get("recorded_by_service", {}).get("iam")),
                ratio(p["wall_s"], o["wall_s"]), ratio(p["peak_rss_mb"], o["peak_rss_mb"]),
            ])
        out.append(table(["users", "IAM", "total", "wall s", "CPU s", "RSS MB", "FAIL", "IAM calls x", "wall x", "RSS x"], rows))
    rc = result.get("rules_core")
    if rc:
        out.append("")
        line = f"Rules core (criterion, one thread): evaluate() over {fmt(rc.get('entities'))} synthetic entities"
        if rc.get("criterion_mean_s") is not None:
            line += f": mean {rc['criterion_mean_s']:.3f} s"
            if rc.get("criterion_ci_s"):
                line += f" (95 % CI {rc['criterion_ci_s'][0]:.3f}-{rc['criterion_ci_s'][1]:.3f} s)"
        if rc.get("once"):
            line += f"; single run {rc['once']['evaluate_seconds']:.3f} s, {fmt(rc['once']['findings'])} findings"
        out.append(line)
        for size, mean in sorted((rc.get("criterion_by_size") or {}).items(), key=lambda kv: int(kv[0])):
            out.append(f"  {int(size):>7,} entities: {mean:.4f} s")
        if rc.get("once", {}).get("slowest_rules"):
            out.append("  slowest rules alone: " + ", ".join(f"{r['rule_id']} {r['seconds']:.2f} s" for r in rc["once"]["slowest_rules"]))
    b = result.get("binary")
    if b:
        out.append("")
        out.append(f"Release binary: {b['path']} {b['mb']:.2f} MB ({b['arch']}); {b['note']}")
    out.append("")
    out.append("Targets")
    out.append(table(["target", "measured", "met"], [[t["target"], t["measured"], "-" if t["met"] is None else "yes" if t["met"] else "NO"]
                                                     for t in result["targets"]]))
    text = "\n".join(out)
    while "\n\n\n" in text:
        text = text.replace("\n\n\n", "\n\n")
    return text


def export_rows(sizes: list, mb) -> list[list]:
    """The sweeps with the Security Hub export on: calls by service and what was imported."""
    rows = []
    for s in sizes:
        for p in s["ours"].get("export", []):
            c = p.get("counter_by_service", {})
            stats = (p.get("published") or {}).get("security_hub") or {}
            imported = sum((stats.get("imported") or {}).values()) if isinstance(stats.get("imported"), dict) else stats.get("imported")
            rows.append([s["account"]["users"], p["run"], c.get("iam"), c.get("dynamodb", 0), c.get("sns", 0), c.get("securityhub", 0),
                         p.get("counter_total"), p["wall_s"], cpu(p), mb(p["peak_rss_mb"]), imported])
    return rows


def md_table(headers: list[str], rows: list[list], right_from: int = 1) -> str:
    """A Markdown table: the first `right_from` columns left-aligned, the rest right-aligned."""
    cells = [[fmt(c) if not isinstance(c, str) else c for c in row] for row in rows]
    align = ["---" if i < right_from else "---:" for i in range(len(headers))]
    return "\n".join("| " + " | ".join(r) + " |" for r in [headers, align] + cells)


def per_size(values: list) -> str:
    """One value when every size gave the same, else each size's, slash-separated."""
    shown = [fmt(v) for v in values]
    return shown[0] if len(set(shown)) == 1 else " / ".join(shown)


def render_markdown(result: dict) -> str:
    """The result tables of docs/benchmarks.md, from one run."""
    def r1(v):  # ratios and megabytes: one decimal
        return fmt(v, 1) if isinstance(v, float) else fmt(v)
    out = []
    sizes = result["sizes"]
    users = " / ".join(f"{s['account']['users']:,}" for s in sizes)
    rows = []
    for s in sizes:
        o = s["ours"]["sweep"]
        c, r = o.get("counter_by_service", {}), o.get("recorded_by_service", {})
        rows.append([s["account"]["users"], s["account"]["entities"], s["minimum"]["total"], c.get("iam"), r.get("iam"),
                     ratio(c.get("iam"), s["minimum"]["total"]), c.get("ssm", 0), o["wall_s"], cpu(o), r1(o["peak_rss_mb"]),
                     o.get("findings_open")])
    out += ["### Full sweep", "", md_table(["users", "entities", "min IAM", "IAM", "IAM rec", "× min", "SSM", "wall s", "CPU s",
                                            "peak RSS MB", "findings"], rows, 0), ""]
    peers = [s for s in sizes if s.get("peer")]
    if peers:
        rows = []
        for s in peers:
            p, o = s["peer"], s["ours"]["sweep"]
            pr = p.get("recorded_by_service", {})
            rows.append([s["account"]["users"], pr.get("iam"), ("timed out after " if p.get("timed_out") else "") + fmt(p["wall_s"]),
                         cpu(p), r1(p["peak_rss_mb"]), p.get("findings_fail"),
                         r1(ratio(pr.get("iam"), o.get("recorded_by_service", {}).get("iam"))), r1(ratio(p["wall_s"], o["wall_s"])),
                         r1(ratio(p["peak_rss_mb"], o["peak_rss_mb"]))])
        out += ["### Beside the peer", "", md_table(["users", "peer IAM calls", "wall s", "CPU s", "peak RSS MB", "FAIL results",
                                                     "IAM calls × ours", "wall × ours", "RSS × ours"], rows, 0), ""]
    rows = []
    for s in sizes:
        for p in s["ours"].get("publish", []):
            c = p.get("counter_by_service", {})
            rows.append([s["account"]["users"], p["run"], c.get("iam"), c.get("ssm", 0), c.get("dynamodb", 0), c.get("sns", 0),
                         p.get("counter_total"), p["wall_s"], cpu(p), r1(p["peak_rss_mb"]), (p.get("published") or {}).get("messages")])
    out += ["### Sweeps as deployed", "", md_table(["users", "sweep", "IAM", "SSM", "DynamoDB", "SNS", "total", "wall s", "CPU s",
                                                    "peak RSS MB", "messages"], rows, 0), ""]
    rows = export_rows(sizes, r1)
    if rows:
        out += ["### Sweeps as deployed with the Security Hub export on", "",
                md_table(["users", "sweep", "IAM", "DynamoDB", "SNS", "Security Hub", "total", "wall s", "CPU s", "peak RSS MB",
                          "findings imported"], rows, 0), ""]
    for key, title in (("events", "### CloudTrail events as deployed"), ("events_without_state", "### CloudTrail events without the state table")):
        names = [e["event"] for e in sizes[0]["ours"].get(key, [])]
        if not names:
            continue
        rows = []
        for name in names:
            runs = [next((e for e in s["ours"].get(key, []) if e["event"] == name), {}) for s in sizes]
            by = [r.get("counter_by_service") or {} for r in runs]
            rows.append([name] + [per_size([b.get(svc, 0) if r else None for b, r in zip(by, runs)])
                                  for svc in ("iam", "ssm", "dynamodb", "sns")]
                        + [per_size([r.get("counter_total") for r in runs]), fmt(max(r.get("wall_s") or 0 for r in runs)),
                           r1(max(r.get("peak_rss_mb") or 0.0 for r in runs))])
        out += [title, "", f"Calls at {users} users (one figure when every size made the same); wall time and RSS: the "
                           "largest over the sizes.", "",
                md_table(["event", "IAM", "SSM", "DynamoDB", "SNS", "total", "wall s (max)", "peak RSS MB (max)"], rows), ""]
    # One row per event and size in the text; here one row for all the events' limits and one
    # for their agreement with the sweeps, plus every event row that missed.
    rows, limits, agree = [], [], []
    for t in result["targets"]:
        if t["target"].startswith("event ") and t["met"]:
            (agree if "agrees with the sweep" in t["target"] else limits).append(t)
        else:
            rows.append(t)
    summary = []
    if limits:
        summary.append({"target": f"every event as deployed, every size: <= {TARGET_EVENT_CALLS} calls, <= {TARGET_EVENT_SECONDS:.0f} s",
                        "measured": f"{len(limits)} runs within", "met": True})
    if agree:
        summary.append({"target": "every event as deployed agrees with the sweeps (nothing new, resolved or rewritten)",
                        "measured": f"{len(agree)} runs agree", "met": True})
    rows = rows[:3] + summary + rows[3:]
    out += ["### Targets", "", md_table(["target", "measured", "met"],
                                        [[t["target"], t["measured"], "—" if t["met"] is None else "yes" if t["met"] else "**no**"]
                                         for t in rows]), ""]
    return "\n".join(out)


def targets(result: dict) -> list[dict]:
    t = []
    worst = max((ratio(s["ours"]["sweep"].get("counter_by_service", {}).get("iam"), s["minimum"]["total"]) or 0, s["account"]["users"])
                for s in result["sizes"])
    t.append({"target": f"sweep IAM calls <= {TARGET_SWEEP_VS_MIN} x minimum, every size",
              "measured": f"worst {worst[0]} x (at {worst[1]:,} users)", "met": worst[0] <= TARGET_SWEEP_VS_MIN})
    ref = next((s for s in result["sizes"] if s["account"]["users"] == 1000 and s.get("peer")), None)
    if ref:
        p, o = ref["peer"], ref["ours"]["sweep"]
        calls = ratio(p.get("recorded_by_service", {}).get("iam"), o.get("recorded_by_service", {}).get("iam"))
        wall = ratio(p["wall_s"], o["wall_s"])
        t.append({"target": f">= {TARGET_PEER_CALLS:.0f} x fewer IAM calls than the peer (1,000 users)", "measured": f"{calls} x",
                  "met": calls is not None and calls >= TARGET_PEER_CALLS})
        t.append({"target": f">= {TARGET_PEER_WALL:.0f} x less wall time than the peer (1,000 users)", "measured": f"{wall} x",
                  "met": wall is not None and wall >= TARGET_PEER_WALL})
    def within(e: dict) -> bool:
        calls = e.get("counter_total")
        return calls is not None and calls <= TARGET_EVENT_CALLS and e["wall_s"] <= TARGET_EVENT_SECONDS

    # The event target is the function as deployed: the SAM template always gives it the
    # finding-state table, which keeps the administrator roster.
    for s in result["sizes"]:
        for e in s["ours"].get("events", []):
            iam = (e.get("counter_by_service") or {}).get("iam")
            t.append({"target": f"event {e['event']} at {s['account']['users']:,} users: "
                                f"<= {TARGET_EVENT_CALLS} calls, <= {TARGET_EVENT_SECONDS:.0f} s",
                      "measured": f"{e.get('counter_total')} calls ({iam} IAM), {e['wall_s']:.3f} s", "met": within(e)})
    # Without the state table (the CLI with STATE_TABLE unset) there is no roster: shown for what
    # it is, not as a target.
    for s in result["sizes"]:
        stateless = s["ours"].get("events_without_state", [])
        if not stateless:
            continue
        over = [e for e in stateless if not within(e)]
        worst = max(stateless, key=lambda e: (e.get("counter_total") or 0, e["wall_s"]))
        t.append({"target": f"events without the state table (CLI only, not as deployed) at {s['account']['users']:,} users: "
                            f"<= {TARGET_EVENT_CALLS} calls, <= {TARGET_EVENT_SECONDS:.0f} s",
                  "measured": f"{len(stateless) - len(over)} of {len(stateless)}; worst {worst['event']}: "
                              f"{worst.get('counter_total')} calls, {worst['wall_s']:.3f} s",
                  "met": None})
    # The events replay changes the sweeps already saw: an event that finds something new,
    # resolves something or rewrites a finding's item saw the account differently.
    for s in result["sizes"]:
        for e in s["ours"].get("events", []):
            pub = e.get("published") or {}
            changes = pub.get("changes") or {}
            moved = sum(changes.get(k) or 0 for k in ("new", "resolved")) + ((pub.get("state_updates") or {}).get("written") or 0)
            t.append({"target": f"event {e['event']} at {s['account']['users']:,} users agrees with the sweep "
                                f"(nothing new, resolved or rewritten)",
                      "measured": f"{changes.get('new')} new, {changes.get('resolved')} resolved, "
                                  f"{(pub.get('state_updates') or {}).get('written')} rewritten",
                      "met": bool(pub) and moved == 0})
    rc = result.get("rules_core") or {}
    secs = rc.get("criterion_mean_s")
    if secs is None and rc.get("once"):
        secs = rc["once"]["evaluate_seconds"]
    if secs is not None:
        t.append({"target": f"rules core: {fmt(rc.get('entities'))} entities <= {TARGET_RULES_CORE_SECONDS:.0f} s on one core",
                  "measured": f"{secs:.3f} s", "met": secs <= TARGET_RULES_CORE_SECONDS})
    big = max(result["sizes"], key=lambda s: s["account"]["users"])
    rss = big["ours"]["sweep"].get("peak_rss_mb")
    t.append({"target": f"peak RSS <= {TARGET_RSS_MB:.0f} MB on the {big['account']['users']:,}-user sweep", "measured": f"{rss} MB",
              "met": rss is not None and rss <= TARGET_RSS_MB})
    for p in big["ours"].get("publish", []):
        t.append({"target": f"peak RSS <= {TARGET_RSS_MB:.0f} MB, {big['account']['users']:,}-user sweep publishing ({p['run']})",
                  "measured": f"{p.get('peak_rss_mb')} MB", "met": (p.get("peak_rss_mb") or 1e9) <= TARGET_RSS_MB})
    b = result.get("binary")
    if b:
        t.append({"target": f"release binary <= {TARGET_BINARY_MB:.0f} MB", "measured": f"{b['mb']:.2f} MB ({b['arch']})",
                  "met": b["mb"] <= TARGET_BINARY_MB})
    return t


def machine_info() -> dict:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = None
    try:
        kb = int(next(l for l in Path("/proc/meminfo").read_text().splitlines() if l.startswith("MemTotal")).split()[1])
        mem = round(kb / 1024 / 1024, 1)
    except (OSError, StopIteration, ValueError):
        pass
    import moto

    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gb": mem, "os": platform.platform(),
            "python": platform.python_version(), "moto": moto.__version__, "load_start": loadavg()}


def binary_info(binary: Path) -> dict:
    arch = platform.machine()
    try:
        installed = subprocess.run(["rustup", "target", "list", "--installed"], capture_output=True, text=True, timeout=60).stdout.split()
    except (OSError, subprocess.TimeoutExpired):
        installed = []
    has_arm = any(t.startswith("aarch64") for t in installed)
    note = ("the function is deployed for arm64 (cargo lambda build --release --arm64); "
            + ("an aarch64 target is installed but this size is the host build" if has_arm
               else "no aarch64 Rust target or cross linker on this machine, so this is the host build's size"))
    return {"path": str(binary.relative_to(ROOT)) if binary.is_relative_to(ROOT) else str(binary),
            "bytes": binary.stat().st_size, "mb": binary.stat().st_size / 1e6, "arch": arch, "note": note}


def rules_core_info(criterion_dir: Path, once_json: Path | None) -> dict | None:
    info: dict = {"entities": 100_000}
    by_size = {}
    group = criterion_dir / "evaluate"
    if group.is_dir():
        for sub in group.iterdir():
            est = sub / "new" / "estimates.json"
            if sub.name.isdigit() and est.exists():
                e = json.loads(est.read_text())
                by_size[sub.name] = e["mean"]["point_estimate"] / 1e9
                if sub.name == "100000":
                    info["criterion_mean_s"] = e["mean"]["point_estimate"] / 1e9
                    ci = e["mean"].get("confidence_interval") or {}
                    if ci:
                        info["criterion_ci_s"] = [ci["lower_bound"] / 1e9, ci["upper_bound"] / 1e9]
    if by_size:
        info["criterion_by_size"] = by_size
    if once_json and once_json.exists():
        try:
            info["once"] = json.loads(once_json.read_text().strip().splitlines()[-1])
        except (ValueError, IndexError):
            pass
    return info if len(info) > 1 else None


# ----------------------------------------------------------------------------- main

def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="100,1000,10000", help="user counts, comma-separated")
    ap.add_argument("--binary", default=str(Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "release" / "iam-assurance"))
    ap.add_argument("--peer", choices=["prowler", "none"], default="prowler")
    ap.add_argument("--peer-max-users", type=int, default=1000,
                    help="run the peer only on accounts up to this many users (the peer takes ~20 min at 10,000)")
    ap.add_argument("--peer-timeout", type=float, default=1800, help="seconds before the peer is stopped and reported as timed out")
    ap.add_argument("--raw-moto", action="store_true", help="moto as it is: GetAccountAuthorizationDetails in one page, ListEntitiesForPolicy missing roles")
    ap.add_argument("--criterion-dir", default=str(Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "criterion"))
    ap.add_argument("--rules-core-once", default=None, help="JSON line written by rules-core-once")
    ap.add_argument("--out", default=str(ROOT / "bench-results"))
    args = ap.parse_args()

    binary = Path(args.binary).resolve()
    if not binary.exists():
        print(f"error: {binary} not found (make bench builds it)", file=sys.stderr)
        return 2
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    peer = args.peer
    if peer == "prowler" and not prowler_bin().exists():
        print(f"note: {prowler_bin()} is not installed (make bench installs it); running without the peer", file=sys.stderr)
        peer = "none"

    # Every path is made absolute before moving into the temporary folder.
    out_dir = Path(args.out).resolve()
    criterion_dir = Path(args.criterion_dir).resolve()
    once_json = Path(args.rules_core_once).resolve() if args.rules_core_once else None
    out_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="iam-assurance-bench-"))
    (work / "home").mkdir()
    os.chdir(work)  # moto's recorder and anything else that writes to the cwd stay here
    started = time.time()
    emu = Emulator(work, page_aad=not args.raw_moto)
    result: dict = {"started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"), "aad_paging": not args.raw_moto,
                    "machine": machine_info(), "sizes": []}
    if peer == "prowler":
        result["machine"]["peer"] = peer_version() or "prowler"
    try:
        for n in sizes:
            print(f"[bench] {n:,} users: seeding", file=sys.stderr, flush=True)
            emu.reset()
            t0 = time.perf_counter()
            account = seed_iam(emu.iam(), n)
            topic = seed_settings_topic_and_state(emu.endpoint)
            account["seed_seconds"] = round(time.perf_counter() - t0, 1)
            size = {"account": account, "minimum": minimum_sweep_calls(account["entities"]), "ours": {}}
            print(f"[bench] {n:,} users: sweep ({account['entities']:,} entities, seeded in {account['seed_seconds']} s)",
                  file=sys.stderr, flush=True)
            # The sweep alone (collect, evaluate, print): what the targets and the peer compare.
            size["ours"]["sweep"] = run_ours(emu, binary, work, topic, ["sweep", "--format", "json"], f"sweep-{n}", 900, state=False)
            # As deployed: through the finding state. The first sweep finds everything new; the
            # second is the steady state (nothing changed since).
            size["ours"]["publish"] = []
            for run in ("first", "steady"):
                p = run_ours(emu, binary, work, topic, ["sweep", "--publish", "--format", "json"], f"sweep-{run}-{n}", 1800)
                p["run"] = run
                size["ours"]["publish"].append(p)
            size["ours"]["roster_bytes"] = roster_bytes(emu.endpoint)
            # Events as deployed (with the finding state), then the same without it (STATE_TABLE
            # unset: no state to load, every open finding of the event published as new).
            for key, state in (("events", True), ("events_without_state", False)):
                size["ours"][key] = []
                for event in EVENTS:
                    e = run_ours(emu, binary, work, topic, ["invoke", str(event_file(work, event))], f"{key}-{n}-{event}", 900,
                                 state=state)
                    e["event"] = event.removesuffix(".json")
                    size["ours"][key].append(e)
            # With the Security Hub export on: a fresh state table, a first and a steady sweep
            # (one BatchImportFindings request per 100 findings whose Security Hub record changed).
            enable_security_hub(emu.endpoint)
            create_state_table(emu.endpoint, EXPORT_TABLE)
            size["ours"]["export"] = []
            for run in ("first", "steady"):
                p = run_ours(emu, binary, work, topic, ["sweep", "--publish", "--format", "json"], f"export-{run}-{n}", 1800,
                             extra_env={"STATE_TABLE": EXPORT_TABLE, "SECURITY_HUB_EXPORT": "true"})
                p["run"] = run
                size["ours"]["export"].append(p)
            if peer == "prowler" and n <= args.peer_max_users:
                print(f"[bench] {n:,} users: prowler", file=sys.stderr, flush=True)
                size["peer"] = run_prowler(emu, work, f"prowler-{n}", args.peer_timeout)
            result["sizes"].append(size)
    finally:
        emu.stop()
        if os.environ.get("BENCH_KEEP_WORK"):
            print(f"[bench] kept the work folder (every run's JSON): {work}", file=sys.stderr, flush=True)
        else:
            shutil.rmtree(work, ignore_errors=True)

    result["machine"]["load_end"] = loadavg()
    result["rules_core"] = rules_core_info(criterion_dir, once_json)
    result["binary"] = binary_info(binary)
    result["finished_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    result["duration_s"] = round(time.time() - started, 1)
    result["targets"] = targets(result)
    text = render(result)
    print(text)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    for name in (f"bench-{stamp}.json", "latest.json"):
        (out_dir / name).write_text(json.dumps(result, indent=2, default=str) + "\n")
    (out_dir / "latest.txt").write_text(text + "\n")
    (out_dir / "latest.md").write_text(render_markdown(result) + "\n")
    print(f"\nwritten: {out_dir / ('bench-' + stamp + '.json')} (and latest.json, latest.txt)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
