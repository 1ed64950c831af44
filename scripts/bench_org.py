#!/usr/bin/env python3
"""Benchmark of organization mode: an organization of member accounts in a local AWS emulator,
a round of sweeps (the fan-out, then a pool of workers standing in for Lambda's concurrency on
the accounts queue), and what the round cost in calls, time, memory, state and messages.

Run it through `make bench-org` (which builds the release binary first). What it does:

1. starts moto in this process as scripts/bench.py does (its `Emulator`: `ThreadedMotoServer` on
   127.0.0.1, a free port, GetAccountAuthorizationDetails and ListEntitiesForPolicy paged as IAM
   pages them), creates an organization (the hub, 123456789012, is its management account) with
   `--accounts` member accounts through moto's Organizations API, and seeds every account's IAM
   directly in moto's backend with bench.py's `seed_iam` (small accounts of 5 to 20 users, and
   `--large-members` accounts of `--large-users` users); the rule settings and the findings
   topic with bench.py's `seed_settings_topic_and_state`, the organization's state table
   (partition key `account`, sort key `fingerprint`) and the accounts queue as the SAM template
   creates them;
2. for each concurrency C (`--concurrency`, default 10 and 50) on a fresh state table: a first
   round (every finding new) and a steady round (nothing changed since). A round is the
   fan-out (`iam-assurance invoke` of a scheduled event, in organization mode) and then C worker
   threads, each receiving one message at a time from the accounts queue (as the event source
   mapping does, batch size 1), running `iam-assurance invoke` on it as an SQS event, and
   deleting the message when the run reports no batch item failure, until the queue is empty;
3. counts every call twice (each run's own `api_calls`, and moto's request recorder: the
   workers' own SQS calls, the event source mapping's part, are told apart by their access
   key), the state items per partition before and after the round, the SNS messages moto
   received, each run's wall time, CPU time and peak RSS (bench.py's `run_measured`), and
   estimates the DynamoDB read and write request units of the round from the recorded requests
   and the item sizes (see `capacity_units`);
4. prints the tables and writes them, with every raw number, to `org.json`, `org.txt` and
   `org.md` (the Markdown tables of docs/benchmarks.md#organizations) in `--out`.

Everything runs on 127.0.0.1; the emulator and every process started here are stopped here.

The member accounts hold, of the 1,485 AWS managed policies moto can load into each account, only
the ones the seed attaches (`--member-aws-policies attached`, the default): each account's
backend would otherwise take ~4.5 MB and ~0.4 s to load them all. The bench serves
GetAccountAuthorizationDetails with the AWS managed policies that are attached only (as IAM
does), and no other call a sweep makes lists them, so the answers are the same;
`--member-aws-policies all` loads them all.
"""
from __future__ import annotations

import argparse
import base64
import json
import math
import os
import re
import shutil
import statistics
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench  # noqa: E402  (scripts/bench.py: the emulator, the seed, the measured runs)

ROOT = bench.ROOT
HUB = bench.ACCOUNT
REGION = bench.REGION
PREFIX = bench.PREFIX
ORG_TABLE = "iam-assurance-org-state"
QUEUE = "iam-assurance-accounts"
MEMBER_ROLE = "iam-assurance-reader"
# The workers' own calls (the event source mapping's polling) carry this access key, so that
# moto's recorder tells them from the function's.
POLLER_KEY = "AKIABENCHPOLLER00000"
SMALL_USERS = (5, 10, 15, 20)
ROUND_PARTITIONS = "#rounds"

# Targets of the organization mode (shown, not asserted).
TARGET_STS_PER_ACCOUNT = 2
TARGET_ROUND_SECONDS = 600
TARGET_ROUND_ACCOUNTS = 1000
TARGET_ROUND_CONCURRENCY = 50


# ----------------------------------------------------------------------------- the organization

def client(endpoint: str, service: str, key: str = "testing"):
    import boto3

    return boto3.client(service, endpoint_url=endpoint, region_name=REGION, aws_access_key_id=key,
                        aws_secret_access_key="testing")


def keep_attached_managed_policies_only(names: set[str]) -> None:
    """Member accounts' IAM backends hold only the AWS managed policies named (the hub's hold
    them all): see the module's docstring."""
    from moto.iam.aws_managed_policies import aws_managed_policies_data
    from moto.iam.models import AWSManagedPolicy, IAMBackend
    from moto.settings import load_iam_aws_managed_policies

    parsed = {name: data for name, data in json.loads(aws_managed_policies_data).items() if name in names}
    missing = names - set(parsed)
    if missing:
        raise SystemExit(f"error: moto has no AWS managed policy {sorted(missing)}")
    original = IAMBackend._init_aws_policies

    def init(self):
        if self.account_id == HUB or not load_iam_aws_managed_policies():
            return original(self)
        return [AWSManagedPolicy.from_data(name, self.account_id, self.region_name, data) for name, data in parsed.items()]

    IAMBackend._init_aws_policies = init


def serialize_recorder() -> None:
    """moto's recorder appends each request to its file in two buffered writes from the
    request's thread; with dozens of concurrent requests, lines longer than the buffer could
    interleave. One at a time here."""
    from moto.moto_api import recorder

    lock = threading.Lock()
    record = recorder._record_request

    def locked(*args, **kwargs):
        with lock:
            return record(*args, **kwargs)

    recorder._record_request = locked


def seed_organization(emu: bench.Emulator, members: int, large_members: int, large_users: int) -> list[dict]:
    """The organization (the hub its management account) and its member accounts through moto's
    Organizations API; every account's IAM seeded directly (bench.py's `seed_iam`). Returns one
    entry per account: id, users, entities, the single-account minimum of a sweep's IAM calls."""
    from moto.iam.models import iam_backends

    org = client(emu.endpoint, "organizations")
    org.create_organization(FeatureSet="ALL")
    accounts = [{"account_id": HUB, "name": "hub", "users": SMALL_USERS[1]}]
    for i in range(members + large_members):
        large = i >= members
        name = f"large-{i - members:03d}" if large else f"member-{i:04d}"
        status = org.create_account(AccountName=name, Email=f"{name}@example.com")["CreateAccountStatus"]
        if status.get("State") not in (None, "SUCCEEDED") or not status.get("AccountId"):
            raise SystemExit(f"error: the emulator did not create account {name}: {status}")
        accounts.append({"account_id": status["AccountId"], "name": name,
                         "users": large_users if large else SMALL_USERS[i % len(SMALL_USERS)]})
    for a in accounts:
        seeded = bench.seed_iam(iam_backends[a["account_id"]]["aws"], a["users"])
        a["entities"] = seeded["entities"]
        a["access_keys"] = seeded["access_keys"]
        a["minimum_iam_calls"] = bench.minimum_sweep_calls(seeded["entities"])["total"]
    return accounts


def create_org_table(endpoint: str) -> None:
    """The organization's state table as the SAM template creates it."""
    ddb = client(endpoint, "dynamodb")
    ddb.create_table(
        TableName=ORG_TABLE, BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "account", "AttributeType": "S"},
                              {"AttributeName": "fingerprint", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "account", "KeyType": "HASH"}, {"AttributeName": "fingerprint", "KeyType": "RANGE"}])


def fresh_org_table(endpoint: str) -> None:
    ddb = client(endpoint, "dynamodb")
    if ORG_TABLE in ddb.list_tables()["TableNames"]:
        ddb.delete_table(TableName=ORG_TABLE)
    create_org_table(endpoint)


def template_memory_mb() -> int:
    """The function's memory as template.yaml sets it by default (FunctionMemorySize)."""
    text = (ROOT / "template.yaml").read_text()
    m = re.search(r"^  FunctionMemorySize:\n(?:    .*\n)*?    Default: (\d+)", text, re.M)
    return int(m.group(1)) if m else 512


# ----------------------------------------------------------------------------- item sizes and units

def number_size(text: str) -> int:
    """DynamoDB's size of a number: about one byte per two significant digits, plus one."""
    digits = text.lstrip("-").replace(".", "").lstrip("0").rstrip("0") or "0"
    return (len(digits) + 1) // 2 + 1


def value_size(value: dict) -> int:
    """The size DynamoDB counts for an attribute value (DynamoDB JSON), per its documented rules:
    strings and binaries their UTF-8 / byte length, numbers ~1 byte per 2 digits + 1, booleans and
    nulls 1, lists and maps 3 bytes plus 1 per element plus the elements (and, in maps, their
    names)."""
    (kind, v), = value.items()
    if kind == "S":
        return len(v.encode())
    if kind == "N":
        return number_size(v)
    if kind == "B":
        return len(base64.b64decode(v)) if isinstance(v, str) else len(v)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(s.encode()) for s in v)
    if kind == "NS":
        return sum(number_size(s) for s in v)
    if kind == "BS":
        return sum(len(base64.b64decode(b)) for b in v)
    if kind == "L":
        return 3 + sum(1 + value_size(e) for e in v)
    if kind == "M":
        return 3 + sum(1 + len(k.encode()) + value_size(e) for k, e in v.items())
    return len(json.dumps(v))


def item_size(item: dict) -> int:
    return sum(len(name.encode()) + value_size(value) for name, value in item.items())


def table_snapshot(endpoint: str) -> dict:
    """Every item of the organization's table: (account, fingerprint) -> size in bytes."""
    ddb = client(endpoint, "dynamodb")
    items: dict = {}
    kwargs = {"TableName": ORG_TABLE, "ConsistentRead": True}
    while True:
        out = ddb.scan(**kwargs)
        for item in out.get("Items", []):
            items[(item["account"]["S"], item["fingerprint"]["S"])] = item_size(item)
        if not out.get("LastEvaluatedKey"):
            return items
        kwargs["ExclusiveStartKey"] = out["LastEvaluatedKey"]


def partitions(snapshot: dict) -> dict:
    """partition -> (items, bytes)."""
    out: dict = {}
    for (partition, _), size in snapshot.items():
        n, b = out.get(partition, (0, 0))
        out[partition] = (n + 1, b + size)
    return out


def sorted_partitions(snapshot: dict) -> dict:
    """partition -> [(sort key, size)] in DynamoDB's order (the sort key's UTF-8 bytes)."""
    out: dict = {}
    for (partition, fingerprint), size in snapshot.items():
        out.setdefault(partition, []).append((fingerprint.encode(), size))
    for items in out.values():
        items.sort()
    return out


PAGE_BYTES = 1024 * 1024


def query_page_bytes(items: list, start_after: str | None, below: str | None = None) -> int:
    """What one Query page reads: from the item after `start_after` (the request's
    ExclusiveStartKey), items until 1 MB has been read or the partition (or the sort-key range,
    keys below `below`) ends."""
    start = 0
    if start_after is not None:
        key = start_after.encode()
        start = next((i for i, (k, _) in enumerate(items) if k > key), len(items))
    read = 0
    for key, size in items[start:]:
        if below is not None and key >= below.encode():
            break
        read += size
        if read >= PAGE_BYTES:
            break
    return read


def query_target(body: dict) -> tuple[str, str | None]:
    """A Query's partition and its sort key's upper bound, if any, from its key condition
    (`#p = :x`, and `#k < :y` when it reads the finding heads only)."""
    condition = body.get("KeyConditionExpression", "")
    values = body.get("ExpressionAttributeValues") or {}
    bounds = {op: values.get(name, {}).get("S") for op, name in re.findall(r"#\w+\s*(=|<)\s*(:\w+)", condition)}
    return bounds.get("=") or "", bounds.get("<")


def read_units(size: int, consistent: bool) -> float:
    units = max(1, math.ceil(size / 4096))
    return units if consistent else units / 2


def write_units(size: int) -> int:
    return max(1, math.ceil(size / 1024))


def key_of(key: dict) -> tuple:
    return (key.get("account", {}).get("S", ""), key.get("fingerprint", {}).get("S", ""))


def capacity_units(requests: list[tuple[str, dict]], before: dict, after: dict) -> dict:
    """Estimated DynamoDB request units of the recorded requests (on-demand billing), from their
    bodies and the item sizes of the table before and after the round:

    - a read of an item or partition as it was before the round (a sweep reads its account's
      state, its roster and the rounds before writing them), but the Query of a round's
      summaries (`#rounds#<round>`), which the run completing the round makes after every
      account reported: as it is after the round;
    - strongly consistent reads: 1 unit per 4 KB (half when eventually consistent); GetItem and
      each key of a BatchGetItem rounded up on its own, a Query page on the total it reads (from
      its ExclusiveStartKey, until 1 MB or the partition's end; a projection reads no less); at
      least 1 per request or key (a read that finds nothing still consumes);
    - writes: 1 unit per 1 KB, at least 1; a PutItem the larger of the item written (from the
      request) and the item it replaces; an UpdateItem the larger of the item before and after;
      a DeleteItem the item deleted; a write whose condition fails still consumes (counted as
      if applied); a TransactWriteItems twice the units of its writes;
    - a Query whose key condition bounds the sort key (`< :bodies`: a finding's heads, not its
      bodies) reads the items of that range only."""
    parts_before, parts_after = sorted_partitions(before), sorted_partitions(after)
    reads = writes = 0.0
    by_op: dict[str, dict] = {}

    def add(op: str, r: float = 0.0, w: float = 0.0) -> None:
        nonlocal reads, writes
        reads += r
        writes += w
        e = by_op.setdefault(op, {"requests": 0, "read_units": 0.0, "write_units": 0.0})
        e["requests"] += 1
        e["read_units"] += r
        e["write_units"] += w

    for op, body in requests:
        consistent = bool(body.get("ConsistentRead"))
        if op == "GetItem":
            add(op, r=read_units(before.get(key_of(body.get("Key", {})), 0), consistent))
        elif op == "BatchGetItem":
            r = 0.0
            for ka in body.get("RequestItems", {}).values():
                for key in ka.get("Keys", []):
                    r += read_units(before.get(key_of(key), 0), bool(ka.get("ConsistentRead")))
            add(op, r=r)
        elif op == "Query":
            partition, below = query_target(body)
            parts = parts_after if partition.startswith(ROUND_PARTITIONS + "#") else parts_before
            start = (body.get("ExclusiveStartKey") or {}).get("fingerprint", {}).get("S")
            add(op, r=read_units(query_page_bytes(parts.get(partition, []), start, below), consistent))
        elif op == "Scan":
            add(op, r=read_units(sum(before.values()), consistent))
        elif op == "PutItem":
            item = body.get("Item", {})
            add(op, w=write_units(max(item_size(item), before.get(key_of(item), 0))))
        elif op == "UpdateItem":
            key = key_of(body.get("Key", {}))
            add(op, w=write_units(max(before.get(key, 0), after.get(key, 0))))
        elif op == "DeleteItem":
            add(op, w=write_units(before.get(key_of(body.get("Key", {})), 0)))
        elif op == "TransactWriteItems":
            # Twice the units of the same writes outside a transaction.
            w = 0
            for entry in body.get("TransactItems", []):
                if "Put" in entry:
                    item = entry["Put"]["Item"]
                    w += 2 * write_units(max(item_size(item), before.get(key_of(item), 0)))
                elif "Delete" in entry:
                    w += 2 * write_units(before.get(key_of(entry["Delete"]["Key"]), 0))
                elif "Update" in entry:
                    key = key_of(entry["Update"]["Key"])
                    w += 2 * write_units(max(before.get(key, 0), after.get(key, 0)))
            add(op, w=w)
        elif op == "BatchWriteItem":
            w = 0
            for reqs in body.get("RequestItems", {}).values():
                for req in reqs:
                    if "PutRequest" in req:
                        item = req["PutRequest"]["Item"]
                        w += write_units(max(item_size(item), before.get(key_of(item), 0)))
                    elif "DeleteRequest" in req:
                        w += write_units(before.get(key_of(req["DeleteRequest"]["Key"]), 0))
            add(op, w=w)
        else:
            add(op)
    return {"read_units": reads, "write_units": writes, "by_operation": by_op}


# ----------------------------------------------------------------------------- the recording

def body_text(entry: dict) -> str:
    body = entry.get("body") or ""
    if entry.get("body_encoded"):
        try:
            return base64.b64decode(body).decode("utf-8", "replace")
        except ValueError:
            return ""
    return body if isinstance(body, str) else ""


def access_key(entry: dict) -> str:
    auth = {k.lower(): v for k, v in (entry.get("headers") or {}).items()}.get("authorization", "")
    return auth.split("Credential=", 1)[1].split("/", 1)[0] if "Credential=" in auth else ""


def sns_payload_bytes(text: str) -> list[int]:
    """The payload of each message of a recorded SNS Publish / PublishBatch (form-encoded): its
    message and its attributes' names and values, as SNS bills them."""
    form = urllib.parse.parse_qs(text)
    sizes: dict[str, int] = {}
    for name, values in form.items():
        if name == "Message":
            sizes["single"] = sizes.get("single", 0) + len(values[0].encode())
        m = re.match(r"PublishBatchRequestEntries\.member\.(\d+)\.(Message|MessageAttributes\..*\.(Name|Value\.StringValue))$", name)
        if m:
            sizes[m.group(1)] = sizes.get(m.group(1), 0) + len(values[0].encode())
        elif name.startswith("MessageAttributes.") and (name.endswith(".Name") or name.endswith(".StringValue")):
            sizes["single"] = sizes.get("single", 0) + len(values[0].encode())
    return list(sizes.values())


def read_recording(emu: bench.Emulator) -> dict:
    """Stop recording; the requests by `service:Action`, the function's and the pollers' apart,
    and the bodies the estimates need (DynamoDB requests, SNS payloads)."""
    bench.http("POST", f"{emu.endpoint}/moto-api/recorder/stop-recording")
    function: dict[str, int] = {}
    poller: dict[str, int] = {}
    dynamodb: list[tuple[str, dict]] = []
    sns_requests: list[list[int]] = []
    unreadable = 0
    if emu.recording.exists():
        with open(emu.recording) as f:
            for line in f:
                if not line.strip():
                    continue
                try:
                    entry = json.loads(line)
                except ValueError:
                    unreadable += 1
                    continue
                key = bench.classify(entry)
                counts = poller if access_key(entry) == POLLER_KEY else function
                counts[key] = counts.get(key, 0) + 1
                if key.startswith("dynamodb:"):
                    try:
                        dynamodb.append((key.split(":", 1)[1], json.loads(body_text(entry) or "{}")))
                    except ValueError:
                        dynamodb.append((key.split(":", 1)[1], {}))
                elif key in ("sns:Publish", "sns:PublishBatch"):
                    sns_requests.append(sns_payload_bytes(body_text(entry)))
    return {"function": dict(sorted(function.items())), "poller": dict(sorted(poller.items())),
            "dynamodb_requests": dynamodb, "sns_requests": sns_requests, "unreadable_lines": unreadable}


def sns_notifications(topic: str) -> list:
    from moto.sns.models import sns_backends

    return sns_backends[HUB][REGION].topics[topic].sent_notifications


def digest_of(message: str) -> dict:
    """A digest part's JSON: the `default` of a message published with MessageStructure=json."""
    try:
        outer = json.loads(message)
        return json.loads(outer["default"]) if isinstance(outer, dict) and "default" in outer else outer
    except (ValueError, TypeError):
        return {"unreadable": message[:200]}


def change_of(attributes) -> str:
    value = (attributes or {}).get("change") or {}
    return value.get("Value") or value.get("StringValue") or "?"


# ----------------------------------------------------------------------------- a round

class Org:
    """What every round needs."""

    def __init__(self, emu: bench.Emulator, binary: Path, work: Path, topic: str, queue_url: str, queue_arn: str,
                 timeout: float):
        self.emu, self.binary, self.work, self.topic = emu, binary, work, topic
        self.queue_url, self.queue_arn, self.timeout = queue_url, queue_arn, timeout

    def env(self) -> dict:
        env = bench.aws_env(self.emu.endpoint, self.work / "home")
        env.update({
            "SETTINGS_PREFIX": PREFIX, "FINDINGS_TOPIC_ARN": self.topic, "STATE_TABLE": ORG_TABLE,
            "ORGANIZATION_MODE": "true", "ACCOUNTS_QUEUE_URL": self.queue_url, "MEMBER_ROLE_NAME": MEMBER_ROLE,
            # As deployed, the function knows its account from its own ARN (no GetCallerIdentity).
            "AWS_ACCOUNT_ID": HUB, "RUST_LOG": "error",
        })
        return env


def by_service(calls: dict) -> dict:
    return bench.by_service(calls)


def summarize_run(m: dict, out: Path) -> dict:
    """One consumer run: its measures and, from its output, the account's run."""
    r = {k: m[k] for k in ("exit_code", "timed_out", "wall_s", "peak_rss_mb", "user_cpu_s", "sys_cpu_s")}
    try:
        output = json.loads(out.read_text())
    except (OSError, ValueError) as e:
        r["error"] = f"no output ({e}); stderr: {out.with_suffix('.stderr').read_text(errors='replace')[-1500:]}"
        return r
    r["batch_item_failures"] = len(output.get("batchItemFailures") or [])
    runs = output.get("runs") or []
    if len(runs) != 1:
        r["error"] = f"{len(runs)} runs for one message"
        return r
    run = runs[0]
    if "error" in run:
        r["error"] = run["error"]
        return r
    calls = run.get("api_calls") or {}
    pub = run.get("published") or {}
    findings = run.get("findings") or []
    r.update({
        "account_id": run.get("account_id"),
        "api_calls": calls,
        "calls_by_service": by_service(calls),
        "findings_open": sum(1 for f in findings if f.get("status") == "open"),
        # A finding is the run's account's: its account is the run's, and so is its resource's
        # (or the resource is an AWS managed policy, `arn:aws:iam::aws:policy/...`, used there).
        "foreign_findings": sum(1 for f in findings if f.get("account_id") != run.get("account_id")
                                or (f.get("resource_arn") or "").split(":")[4:5] not in ([run.get("account_id")], ["aws"])),
        "rules_not_evaluated": sorted(x["rule_id"] for x in run.get("rules", []) if x.get("status") == "not_evaluated"),
        "published": {k: pub.get(k) for k in ("messages", "batches", "changes", "digest_parts", "state_items") if k in pub},
        "errors": (run.get("errors") or [])[:5],
    })
    return r


def run_round(org: Org, label: str, concurrency: int) -> dict:
    """The fan-out, then `concurrency` workers on the queue until it is empty."""
    work, emu = org.work, org.emu
    event = json.loads((ROOT / "events" / "schedule.json").read_text())
    # Each round is its own scheduled event (EventBridge gives each invocation its id).
    event["id"] = f"bench-org-{label}-{uuid.uuid4()}"
    event["time"] = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    schedule = work / f"{label}-schedule.json"
    schedule.write_text(json.dumps(event))
    env = org.env()
    before = table_snapshot(emu.endpoint)
    sent_before = len(sns_notifications(org.topic))
    emu.record()
    started = time.perf_counter()
    fan = bench.run_measured([str(org.binary), "invoke", str(schedule)], env, work, work / f"{label}-fan-out.json",
                             work / f"{label}-fan-out.stderr", org.timeout)
    try:
        fan_run = json.loads((work / f"{label}-fan-out.json").read_text())
    except (OSError, ValueError) as e:
        bench.http("POST", f"{emu.endpoint}/moto-api/recorder/stop-recording")
        raise SystemExit(f"error: the fan-out printed no run ({e}): {(work / f'{label}-fan-out.stderr').read_text()[-2000:]}")
    fan["api_calls"] = fan_run.get("api_calls") or {}
    fan["fan_out"] = fan_run.get("fan_out") or {}
    fanned_at = time.perf_counter()

    runs: list[dict] = []
    lock = threading.Lock()
    counter = iter(range(10**9))

    def worker() -> None:
        sqs = client(emu.endpoint, "sqs", POLLER_KEY)
        while True:
            got = sqs.receive_message(QueueUrl=org.queue_url, MaxNumberOfMessages=1, WaitTimeSeconds=0,
                                      AttributeNames=["All"]).get("Messages", [])
            if not got:
                return
            message = got[0]
            with lock:
                n = next(counter)
            record = {"messageId": message["MessageId"], "receiptHandle": message["ReceiptHandle"], "body": message["Body"],
                      "attributes": message.get("Attributes") or {}, "messageAttributes": {},
                      "md5OfBody": message.get("MD5OfBody", ""), "eventSource": "aws:sqs",
                      "eventSourceARN": org.queue_arn, "awsRegion": REGION}
            path = work / f"{label}-message-{n:05d}.json"
            path.write_text(json.dumps({"Records": [record]}))
            out = work / f"{label}-run-{n:05d}.json"
            m = bench.run_measured([str(org.binary), "invoke", str(path)], env, work, out, out.with_suffix(".stderr"), org.timeout)
            r = summarize_run(m, out)
            r["message_body"] = message["Body"]
            if m["exit_code"] == 0 and r.get("batch_item_failures") == 0 and "error" not in r:
                sqs.delete_message(QueueUrl=org.queue_url, ReceiptHandle=message["ReceiptHandle"])
            with lock:
                runs.append(r)

    threads = [threading.Thread(target=worker, name=f"worker-{i}") for i in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    finished = time.perf_counter()
    recorded = read_recording(emu)
    after = table_snapshot(emu.endpoint)
    sent = sns_notifications(org.topic)[sent_before:]
    left = int(client(emu.endpoint, "sqs").get_queue_attributes(
        QueueUrl=org.queue_url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"].get("ApproximateNumberOfMessagesNotVisible", "0"))
    return {
        "label": label, "concurrency": concurrency,
        "wall_s": round(finished - started, 2), "fan_out_s": round(fanned_at - started, 2),
        "consume_s": round(finished - fanned_at, 2),
        "fan_out": fan, "runs": runs, "recorded": recorded,
        "state_before": before, "state_after": after,
        "sns": {"messages": len(sent), "by_change": count_by(change_of(s[3]) for s in sent),
                "digests": [digest_of(s[1]) for s in sent if change_of(s[3]) == "digest"]},
        "messages_left_in_flight": left,
        "load": bench.loadavg(),
    }


def count_by(values) -> dict:
    out: dict = {}
    for v in values:
        out[v] = out.get(v, 0) + 1
    return dict(sorted(out.items()))


# ----------------------------------------------------------------------------- analysis

def pct(values: list[float], q: float):
    if not values:
        return None
    s = sorted(values)
    return s[min(len(s) - 1, max(0, math.ceil(q * len(s)) - 1))]


def analyse(r: dict, accounts: list[dict], large_users: int) -> dict:
    """The round's figures, per account and in all, and its checks."""
    expected = {a["account_id"]: a for a in accounts}
    runs = [x for x in r["runs"] if x.get("account_id")]
    failed = [x for x in r["runs"] if not x.get("account_id") or x.get("error") or x.get("batch_item_failures")]
    swept = count_by(x["account_id"] for x in runs)
    fan_out = r["fan_out"]["fan_out"]
    parts = partitions(r["state_after"])
    iam_vs_min = []
    for x in runs:
        a = expected.get(x["account_id"])
        iam = x["calls_by_service"].get("iam", 0)
        iam_vs_min.append({"account_id": x["account_id"], "users": a["users"] if a else None, "iam": iam,
                           "minimum": a["minimum_iam_calls"] if a else None})
    mismatched = [e for e in iam_vs_min if e["iam"] != e["minimum"]]
    fan_sts = by_service(r["fan_out"]["api_calls"]).get("sts", 0)
    sts = {x["account_id"]: x["calls_by_service"].get("sts", 0) for x in runs}
    before, after = r["state_before"], r["state_after"]
    account_parts = {p: v for p, v in parts.items() if p in expected}
    rounds_parts = {p: v for p, v in parts.items() if p.startswith(ROUND_PARTITIONS)}
    units = capacity_units(r["recorded"]["dynamodb_requests"], before, after)
    per_partition = units_by_account(r, expected)
    overhead = per_partition.get("(round)") or {"read_units": 0.0, "write_units": 0.0}
    # The function's own calls: every run's counter, and the fan-out's, against the recorder.
    counted: dict[str, int] = dict(r["fan_out"]["api_calls"])
    for x in runs:
        for k, v in x["api_calls"].items():
            counted[k] = counted.get(k, 0) + v
    rec = r["recorded"]["function"]
    disagree = {k: (counted.get(k, 0), rec.get(k, 0)) for k in set(counted) | set(rec) if counted.get(k, 0) != rec.get(k, 0)}
    per_finding = sum(v for k, v in r["sns"]["by_change"].items() if k != "digest")
    new_total = sum(((x["published"].get("changes") or {}).get("new") or 0) for x in runs)
    sns_chunks = sum(max(1, math.ceil(sum(req) / 65536)) for req in r["recorded"]["sns_requests"])
    large = [x for x in runs if (expected.get(x["account_id"]) or {}).get("users") == large_users and large_users > max(SMALL_USERS)]
    small = [x for x in runs if x not in large]

    def group(xs: list[dict]) -> dict:
        if not xs:
            return {}
        walls = [x["wall_s"] for x in xs]
        cpus = [(x.get("user_cpu_s") or 0) + (x.get("sys_cpu_s") or 0) for x in xs]
        rss = [x["peak_rss_mb"] for x in xs if x.get("peak_rss_mb")]
        services = sorted({s for x in xs for s in x["calls_by_service"]})
        svc = {s: [x["calls_by_service"].get(s, 0) for x in xs] for s in services}
        acct_units = account_units(xs, per_partition)
        own = [parts.get(x["account_id"], (0, 0)) for x in xs]
        return {
            "accounts": len(xs),
            "wall_s": {"median": round(statistics.median(walls), 3), "p95": round(pct(walls, 0.95), 3), "max": round(max(walls), 3)},
            "cpu_s": {"median": round(statistics.median(cpus), 3), "max": round(max(cpus), 3), "total": round(sum(cpus), 2)},
            "peak_rss_mb": {"median": round(statistics.median(rss), 1) if rss else None, "max": max(rss) if rss else None},
            "calls_per_account": {s: {"min": min(v), "max": max(v), "mean": round(sum(v) / len(v), 2)} for s, v in sorted(svc.items())},
            "findings_open": {"min": min(x["findings_open"] for x in xs), "max": max(x["findings_open"] for x in xs)},
            "units_per_account": acct_units,
            "state_items_mean": round(sum(o[0] for o in own) / len(own), 1),
            "state_bytes_mean": round(sum(o[1] for o in own) / len(own)),
        }

    return {
        "label": r["label"], "concurrency": r["concurrency"],
        "accounts_expected": len(expected), "accounts_fanned_out": len(fan_out.get("accounts") or []),
        "round": fan_out.get("round"), "fan_out_messages": fan_out.get("messages"), "fan_out_source": fan_out.get("source"),
        "fan_out_calls": r["fan_out"]["api_calls"], "fan_out_wall_s": r["fan_out"]["wall_s"],
        "fan_out_rss_mb": r["fan_out"]["peak_rss_mb"],
        # SQS delivers a message at least once: an account swept twice (its second report merged
        # into the first, which the digest check below verifies) is said, not failed.
        "swept_every_account": sorted(swept) == sorted(expected),
        "swept_twice": sorted(a for a, v in swept.items() if v > 1),
        "fanned_out_every_account": sorted(fan_out.get("accounts") or []) == sorted(expected),
        "runs": len(r["runs"]), "failed_runs": [{k: x.get(k) for k in ("account_id", "error", "batch_item_failures", "message_body")}
                                                for x in failed][:10],
        "messages_left_in_flight": r["messages_left_in_flight"],
        "wall_s": r["wall_s"], "fan_out_s": r["fan_out_s"], "consume_s": r["consume_s"],
        "iam_equals_minimum": not mismatched and {e["account_id"] for e in iam_vs_min} == set(expected),
        "iam_mismatches": mismatched[:10],
        "sts_per_account_max": max(sts.values()) if sts else None,
        "sts_members": sum(1 for a, v in sts.items() if v == 1 and a != HUB), "sts_hub": sts.get(HUB),
        "sts_fan_out": fan_sts,
        "foreign_findings": sum(x.get("foreign_findings", 0) for x in runs),
        "small": group(small), "large": group(large),
        "worker_peak_rss_mb": max((x["peak_rss_mb"] for x in r["runs"] if x.get("peak_rss_mb")), default=None),
        "calls_function": by_service(rec), "calls_function_by_operation": rec,
        "calls_poller": r["recorded"]["poller"],
        "counter_vs_recorder_disagree": disagree, "unreadable_recorded_lines": r["recorded"]["unreadable_lines"],
        "sqs": {"messages": fan_out.get("messages"), "send_requests": rec.get("sqs:SendMessageBatch", 0) + rec.get("sqs:SendMessage", 0),
                "poller_requests": sum(r["recorded"]["poller"].values())},
        "sns": {"per_finding_messages": per_finding, "digest_messages": len(r["sns"]["digests"]), "by_change": r["sns"]["by_change"],
                "new_findings_reported": new_total, "publish_requests": len(r["recorded"]["sns_requests"]),
                "billed_64kb_chunks": sns_chunks,
                "digest_rounds": sorted({d.get("round") for d in r["sns"]["digests"]}, key=str),
                "digest_parts": sorted(d.get("part") for d in r["sns"]["digests"] if isinstance(d.get("part"), int)),
                "digest_parts_expected": max((d.get("parts") or 0 for d in r["sns"]["digests"]), default=0),
                "digest_accounts": sorted({d.get("accounts") for d in r["sns"]["digests"]}, key=str),
                "digest_missing": sorted({d.get("missing") for d in r["sns"]["digests"]}, key=str),
                "digest_new": max((d.get("new") or 0 for d in r["sns"]["digests"]), default=None)},
        "state": {
            "items": len(after), "bytes": sum(after.values()),
            "account_partitions": len(account_parts),
            "items_per_account": {"min": min((v[0] for v in account_parts.values()), default=0),
                                  "max": max((v[0] for v in account_parts.values()), default=0)},
            "bytes_per_account": {"min": min((v[1] for v in account_parts.values()), default=0),
                                  "max": max((v[1] for v in account_parts.values()), default=0)},
            "round_partitions": {p: {"items": v[0], "bytes": v[1]} for p, v in sorted(rounds_parts.items())},
            "other_partitions": sorted(p for p in parts if p not in expected and not p.startswith(ROUND_PARTITIONS)),
            "mean_item_bytes": round(sum(after.values()) / len(after), 1) if after else None,
        },
        # The round's own items (its count, each account's summary, the digest's Query), shared by
        # its accounts.
        "round_units_per_account": {"read_units": round(overhead["read_units"] / max(1, len(expected)), 3),
                                    "write_units": round(overhead["write_units"] / max(1, len(expected)), 3)},
        "capacity_units": {"read_units": round(units["read_units"], 1), "write_units": round(units["write_units"], 1),
                           "by_operation": {k: {kk: round(vv, 1) for kk, vv in v.items()} for k, v in sorted(units["by_operation"].items())}},
        "load_after": r["load"],
    }


def units_by_account(r: dict, expected: dict) -> dict:
    """Each account's own DynamoDB requests (its partition's), estimated as `capacity_units`
    does; the round's items (`#rounds...`) apart."""
    per: dict[str, list] = {}
    for op, body in r["recorded"]["dynamodb_requests"]:
        partition = partition_of(op, body)
        per.setdefault(partition if partition in expected else "(round)", []).append((op, body))
    return {p: capacity_units(reqs, r["state_before"], r["state_after"]) for p, reqs in per.items()}


def partition_of(op: str, body: dict) -> str:
    if op in ("GetItem", "UpdateItem", "DeleteItem"):
        return key_of(body.get("Key", {}))[0]
    if op == "PutItem":
        return key_of(body.get("Item", {}))[0]
    if op == "Query":
        return query_target(body)[0]
    if op == "TransactWriteItems":
        for entry in body.get("TransactItems", []):
            for write in entry.values():
                return key_of(write.get("Item") or write.get("Key") or {})[0]
    if op == "BatchGetItem":
        for ka in body.get("RequestItems", {}).values():
            for key in ka.get("Keys", []):
                return key_of(key)[0]
    return ""


def account_units(xs: list[dict], per_partition: dict) -> dict:
    reads = [per_partition[x["account_id"]]["read_units"] for x in xs if x["account_id"] in per_partition]
    writes = [per_partition[x["account_id"]]["write_units"] for x in xs if x["account_id"] in per_partition]
    if not reads:
        return {}
    return {"read_mean": round(sum(reads) / len(reads), 2), "read_max": max(reads),
            "write_mean": round(sum(writes) / len(writes), 2), "write_max": max(writes)}


def targets(rounds: list[dict]) -> list[dict]:
    t = []
    for a in rounds:
        name = a["label"]
        twice = f" ({len(a['swept_twice'])} delivered twice by the queue, swept twice: {', '.join(a['swept_twice'])})" if a["swept_twice"] else ""
        t.append({"target": f"{name}: every ACTIVE account fanned out once and swept",
                  "measured": f"{a['accounts_fanned_out']} fanned out, {a['runs']} runs{twice}, {len(a['failed_runs'])} failed, of {a['accounts_expected']}",
                  "met": a["fanned_out_every_account"] and a["swept_every_account"] and not a["failed_runs"]})
        t.append({"target": f"{name}: IAM calls per account = the single-account minimum for its size",
                  "measured": "every account" if a["iam_equals_minimum"] else f"{len(a['iam_mismatches'])}+ differ, e.g. {a['iam_mismatches'][:2]}",
                  "met": a["iam_equals_minimum"]})
        t.append({"target": f"{name}: STS calls per account per round <= {TARGET_STS_PER_ACCOUNT}",
                  "measured": f"max {a['sts_per_account_max']} (AssumeRole once per member, {a['sts_hub']} for the hub; fan-out {a['sts_fan_out']})",
                  "met": a["sts_per_account_max"] is not None and a["sts_per_account_max"] + a["sts_fan_out"] <= TARGET_STS_PER_ACCOUNT})
        s = a["sns"]
        t.append({"target": f"{name}: one organization digest for the round (its parts), every account in it, none missing",
                  "measured": f"{len(s['digest_rounds'])} round(s), parts {s['digest_parts']} of {s['digest_parts_expected']}, "
                              f"accounts {s['digest_accounts']}, missing {s['digest_missing']}, new {s['digest_new']}",
                  "met": s["digest_rounds"] == [a["round"]] and s["digest_parts"] == list(range(1, s["digest_parts_expected"] + 1))
                  and s["digest_accounts"] == [a["accounts_expected"]] and s["digest_missing"] == [0]
                  and s["digest_new"] == s["new_findings_reported"]})
        t.append({"target": f"{name}: every new finding published once (SNS per-finding messages = new findings reported)",
                  "measured": f"{a['sns']['per_finding_messages']} messages, {a['sns']['new_findings_reported']} new",
                  "met": a["sns"]["per_finding_messages"] == a["sns"]["new_findings_reported"]})
        t.append({"target": f"{name}: no finding attributed to another account",
                  "measured": f"{a['foreign_findings']}", "met": a["foreign_findings"] == 0})
        t.append({"target": f"{name}: the runs' call counters agree with the emulator's recorder",
                  "measured": "agree" if not a["counter_vs_recorder_disagree"] else f"differ: {a['counter_vs_recorder_disagree']}",
                  "met": not a["counter_vs_recorder_disagree"]})
    for a in rounds:
        per_account = a["consume_s"] / max(1, a["accounts_expected"])
        t.append({"target": f"{a['label']}: round of {TARGET_ROUND_ACCOUNTS:,} accounts <= {TARGET_ROUND_SECONDS} s at concurrency "
                            f"{TARGET_ROUND_CONCURRENCY} (here: {a['accounts_expected']} accounts at {a['concurrency']}, against the emulator)",
                  "measured": f"{a['wall_s']} s for the round; {TARGET_ROUND_ACCOUNTS:,} accounts at this rate: "
                              f"{per_account * TARGET_ROUND_ACCOUNTS:,.0f} s (emulator-bound: see docs/benchmarks.md#organizations)",
                  "met": None})
    return t


# ----------------------------------------------------------------------------- on paper: Lambda

# Published prices, us-east-1, looked up 2026-12-02 (sources in docs/benchmarks.md#organizations).
PRICES = {
    "lambda_gb_second_arm64": 0.0000133334,   # first 7.5 billion GB-s a month
    "lambda_request": 0.20 / 1e6,
    "dynamodb_write_unit": 0.625 / 1e6,       # on-demand, since 2024-11-01
    "dynamodb_read_unit": 0.125 / 1e6,
    "dynamodb_gb_month": 0.25,                # beyond the first 25 GB
    "sqs_request": 0.40 / 1e6,                # standard queue, per 64 KB chunk, beyond 1 million a month
    "sns_publish": 0.50 / 1e6,                # standard topic, per 64 KB chunk, beyond 1 million a month
}
ROUNDS_PER_MONTH = 730          # hourly (rate(1 hour), the template's default): 24 x 365 / 12
# Not measured here (the emulator answers on loopback): the time AWS takes to answer one request
# from a function in us-east-1, in seconds, the calls of a run counted one after the other (an
# upper bound: a sweep makes some at once).
LATENCY = {"iam": 0.15, "sts": 0.15, "ssm": 0.05, "organizations": 0.15, "dynamodb": 0.01, "sqs": 0.02, "sns": 0.03}
LAMBDA_START_S = 0.1            # a new execution environment's start (a Rust binary), counted every time
VCPU_MB = 1769                  # Lambda gives one vCPU at 1,769 MB, in proportion below
ESM_IDLE_REQUESTS = 5 * 3 * 60 * 730   # 5 pollers long-polling 20 s when the queue is empty, a month
STS_RATE_QUOTA = 600            # requests per second per account per Region (reported; see the docs)
ESM_RAMP_PER_MINUTE = 300       # concurrency the SQS event source mapping adds per minute, from 5


def duration_s(calls: dict, cpu_s: float, memory_mb: int) -> float:
    """A run's duration on Lambda, on paper: its start, its calls one after the other at
    `LATENCY`, and its CPU time (measured here) at Lambda's share of a vCPU for its memory."""
    share = min(1.0, memory_mb / VCPU_MB)
    return LAMBDA_START_S + sum(n * LATENCY.get(svc, 0.1) for svc, n in calls.items()) + cpu_s / share


def profile(g: dict, memory_mb: int, shared: dict | None = None) -> dict | None:
    """One account's round, from a measured group of the round (means per account), with its
    share of the round's own items (`shared`)."""
    if not g:
        return None
    calls = {svc: v["mean"] for svc, v in g["calls_per_account"].items()}
    d = duration_s(calls, g["cpu_s"]["median"], memory_mb)
    u = g.get("units_per_account") or {}
    share = shared or {}
    return {"calls": calls, "duration_s": round(d, 2), "cpu_s": g["cpu_s"]["median"],
            "read_units": round(u.get("read_mean", 0) + share.get("read_units", 0), 2),
            "write_units": round(u.get("write_mean", 0) + share.get("write_units", 0), 2), "state_bytes": g.get("state_bytes_mean", 0),
            "findings_open": g["findings_open"]["max"], "peak_rss_mb": g["peak_rss_mb"]["max"]}


def monthly_cost(p: dict, memory_mb: int) -> dict:
    """Per account and month, hourly rounds: Lambda (one invocation), DynamoDB (the units of its
    round, its state's storage), SQS (the fan-out's send, the event source mapping's receive and
    delete: 2.1 requests a message), SNS (its publish requests). Free: IAM, STS, Organizations,
    SSM standard parameters."""
    gb_s = memory_mb / 1024 * p["duration_s"]
    lam = ROUNDS_PER_MONTH * (gb_s * PRICES["lambda_gb_second_arm64"] + PRICES["lambda_request"])
    ddb = ROUNDS_PER_MONTH * (p["read_units"] * PRICES["dynamodb_read_unit"] + p["write_units"] * PRICES["dynamodb_write_unit"])
    storage = p["state_bytes"] / 1e9 * PRICES["dynamodb_gb_month"]
    sqs = ROUNDS_PER_MONTH * 2.1 * PRICES["sqs_request"]
    sns = ROUNDS_PER_MONTH * p["calls"].get("sns", 0) * PRICES["sns_publish"]
    parts = {"lambda": lam, "dynamodb_requests": ddb, "dynamodb_storage": storage, "sqs": sqs, "sns": sns}
    return {**{k: round(v, 5) for k, v in parts.items()}, "total": round(sum(parts.values()), 4),
            "lambda_gb_seconds": round(ROUNDS_PER_MONTH * gb_s, 1)}


def round_on_lambda(p: dict, accounts: int, concurrency: int) -> dict:
    """A round over `accounts` accounts of profile `p` at `concurrency`: the fan-out (ListAccounts
    by 20, SendMessageBatch by 10, one after the other), the event source mapping's ramp from 5
    (+300 a minute), then the sweeps; the STS and IAM request rates."""
    fan_out = (LAMBDA_START_S + math.ceil(accounts / 20) * LATENCY["organizations"] + math.ceil(accounts / 10) * LATENCY["sqs"]
               + 4 * LATENCY["dynamodb"] + LATENCY["ssm"])
    d = p["duration_s"]
    ramp_s = max(0.0, (concurrency - 5) / ESM_RAMP_PER_MINUTE * 60)
    swept_in_ramp = (5 + concurrency) / 2 * ramp_s / d
    rest = max(0.0, accounts - swept_in_ramp)
    sweeps = (ramp_s if rest > 0 else accounts * d / ((5 + concurrency) / 2)) + rest * d / concurrency
    return {"accounts": accounts, "concurrency": concurrency, "fan_out_s": round(fan_out, 1), "sweeps_s": round(sweeps, 1),
            "round_s": round(fan_out + sweeps, 1), "sts_per_s": round(concurrency / d, 1),
            "iam_per_s_per_account": round(p["calls"].get("iam", 0) / d, 1),
            "sts_limits_concurrency_to": int(STS_RATE_QUOTA * d)}


def estimate(result: dict) -> dict:
    """The paper estimate, from the last steady round measured (else the last round)."""
    memory = result["organization"]["function_memory_mb"]
    rounds = result["rounds"]
    steady = [a for a in rounds if a["label"].endswith("steady")] or rounds
    first = [a for a in rounds if a["label"].endswith("first")]
    base = steady[-1]
    out: dict = {"from_round": base["label"], "memory_mb": memory, "prices": PRICES, "latency_s": LATENCY,
                 "rounds_per_month": ROUNDS_PER_MONTH, "profiles": {}}
    for kind in ("small", "large"):
        p = profile(base[kind], memory, base.get("round_units_per_account"))
        if not p:
            continue
        p["month"] = monthly_cost(p, memory)
        p["rounds"] = [round_on_lambda(p, n, c) for n in (1000, 10000) for c in (50, 200)]
        f = first[-1][kind] if first and first[-1].get(kind) else None
        if f:
            fp = profile(f, memory, first[-1].get("round_units_per_account"))
            one = monthly_cost(fp, memory)
            # The first round, once: its month figures are per round here.
            p["first_round_once"] = {k: round(v / ROUNDS_PER_MONTH, 5) for k, v in one.items() if k not in ("total", "lambda_gb_seconds", "dynamodb_storage")}
            p["first_round_once"]["total"] = round(sum(p["first_round_once"].values()), 4)
            p["first_round_profile"] = fp
        out["profiles"][kind] = p
    out["organization_fixed_month"] = {"sqs_idle_polling": round(ESM_IDLE_REQUESTS * PRICES["sqs_request"], 2)}
    return out


# ----------------------------------------------------------------------------- report

def fmt(v, digits=2) -> str:
    return bench.fmt(v, digits)


def render(result: dict) -> str:
    out = []
    m = result["machine"]
    out.append(f"iam-assurance organization benchmark, {result['finished_at']}")
    out.append(f"machine: {m['cpu']} x{m['cores']}, {m['memory_gb']} GB; load average at start {m['load_start']}, end {m['load_end']}")
    o = result["organization"]
    out.append(f"organization: the hub and {o['members']} members of {o['small_users']} users, {o['large_members']} of "
               f"{o['large_users']:,} users: {o['accounts']} accounts; seeded in {o['seed_seconds']} s; moto {m['moto']}")
    out.append("")
    rows = []
    for a in result["rounds"]:
        rows.append([a["label"], a["concurrency"], a["accounts_expected"], a["wall_s"], a["fan_out_s"], a["consume_s"],
                     (a["small"].get("wall_s") or {}).get("median"), (a["small"].get("wall_s") or {}).get("p95"),
                     a["worker_peak_rss_mb"], len(a["failed_runs"])])
    out.append("Rounds: wall time (fan-out + consumers) against the emulator; per-account run wall time (small accounts)")
    out.append(bench.table(["round", "C", "accounts", "round s", "fan-out s", "consume s", "run s med", "run s p95",
                            "peak RSS MB", "failed"], rows))
    out.append("")
    rows = []
    for a in result["rounds"]:
        for kind in ("small", "large"):
            g = a[kind]
            if not g:
                continue
            c = g["calls_per_account"]
            rng = lambda s: (f"{c[s]['min']}" if c.get(s) and c[s]["min"] == c[s]["max"] else
                             f"{c[s]['min']}-{c[s]['max']}" if c.get(s) else "0")
            u = g.get("units_per_account") or {}
            rows.append([a["label"], kind, g["accounts"], rng("iam"), rng("sts"), rng("ssm"), rng("dynamodb"), rng("sns"),
                         f"{g['findings_open']['min']}-{g['findings_open']['max']}", u.get("read_mean"), u.get("write_mean"),
                         g["cpu_s"]["median"], g["peak_rss_mb"]["max"]])
    out.append("Per account (each run's own counter): calls by service, open findings, estimated DynamoDB units, CPU s, RSS")
    out.append(bench.table(["round", "accounts", "n", "IAM", "STS", "SSM", "DynamoDB", "SNS", "findings", "RRU", "WRU",
                            "CPU s", "RSS MB"], rows))
    out.append("")
    rows = []
    for a in result["rounds"]:
        s, q, st, cu = a["sns"], a["sqs"], a["state"], a["capacity_units"]
        rows.append([a["label"], q["messages"], q["send_requests"], q["poller_requests"], a["calls_function"].get("dynamodb", 0),
                     cu["read_units"], cu["write_units"], st["items"], f"{st['items_per_account']['min']}-{st['items_per_account']['max']}",
                     s["per_finding_messages"], s["digest_messages"], s["publish_requests"], a["sts_fan_out"],
                     a["fan_out_calls"].get("organizations:ListAccounts", 0)])
    out.append("Round totals: SQS, DynamoDB (calls, estimated read/write units, items at the end), SNS, the fan-out's own calls")
    out.append(bench.table(["round", "SQS msgs", "SQS sends", "poller reqs", "DDB calls", "RRU", "WRU", "items",
                            "items/acct", "SNS per-finding", "digests", "SNS requests", "fan-out STS", "ListAccounts"], rows))
    out.append("")
    for a in result["rounds"]:
        out.append(f"{a['label']}: DynamoDB by operation {json.dumps(a['capacity_units']['by_operation'])}")
        out.append(f"{a['label']}: round partitions {json.dumps(a['state']['round_partitions'])}; mean item {a['state']['mean_item_bytes']} bytes")
    out.append("")
    e = result.get("estimate")
    if e:
        out.append(f"On paper, on Lambda ({e['memory_mb']} MB, arm64; from round {e['from_round']}; assumed latency per call {e['latency_s']}):")
        rows = []
        for kind, p in e["profiles"].items():
            m = p["month"]
            rows.append([kind, p["findings_open"], p["duration_s"], p["read_units"], p["write_units"], m["lambda"], m["dynamodb_requests"],
                         m["dynamodb_storage"], m["sqs"], m["sns"], m["total"]])
        out.append(bench.table(["account", "findings", "run s", "RRU/round", "WRU/round", "Lambda $", "DynamoDB $", "storage $",
                                "SQS $", "SNS $", "$ per account-month"], rows))
        rows = []
        for kind, p in e["profiles"].items():
            for x in p["rounds"]:
                rows.append([kind, x["accounts"], x["concurrency"], x["fan_out_s"], x["round_s"], x["sts_per_s"], x["iam_per_s_per_account"],
                             x["sts_limits_concurrency_to"]])
        out.append(bench.table(["account", "accounts", "C", "fan-out s", "round s", "STS/s (hub)", "IAM/s (each member)",
                                "C at STS quota"], rows))
        out.append(f"organization, fixed: the accounts queue's idle polling ${e['organization_fixed_month']['sqs_idle_polling']} a month")
        out.append("")
    out.append("Targets")
    out.append(bench.table(["target", "measured", "met"], [[t["target"], t["measured"], "-" if t["met"] is None else "yes" if t["met"] else "NO"]
                                                           for t in result["targets"]]))
    return "\n".join(out)


def render_markdown(result: dict) -> str:
    o = result["organization"]
    out = [f"The hub and {o['members']} member accounts of {o['small_users']} users"
           + (f", and {o['large_members']} of {o['large_users']:,} users" if o["large_members"] else "")
           + f" ({o['accounts']} accounts); moto {result['machine']['moto']}, {result['machine']['cores']} cores.", ""]
    rows = []
    for a in result["rounds"]:
        g = a["small"]
        rows.append([a["label"], a["concurrency"], a["accounts_expected"], fmt(a["wall_s"]), fmt(a["fan_out_s"]),
                     fmt((g.get("wall_s") or {}).get("median"), 3), fmt(a["worker_peak_rss_mb"], 1), len(a["failed_runs"])])
    out += [bench.md_table(["round", "concurrency", "accounts", "round wall s", "fan-out s", "run wall s (median)", "worker peak RSS MB",
                            "failed"], rows, 1), ""]
    rows = []
    for a in result["rounds"]:
        for kind in ("small", "large"):
            g = a[kind]
            if not g:
                continue
            c = g["calls_per_account"]

            def rng(s):
                if not c.get(s):
                    return "0"
                return fmt(c[s]["min"]) if c[s]["min"] == c[s]["max"] else f"{c[s]['min']}-{c[s]['max']}"
            u = g.get("units_per_account") or {}
            rows.append([a["label"], kind, g["accounts"], rng("iam"), rng("sts"), rng("ssm"), rng("dynamodb"), rng("sns"),
                         f"{g['findings_open']['min']}-{g['findings_open']['max']}", fmt(u.get("read_mean"), 1), fmt(u.get("write_mean"), 1),
                         fmt(g["cpu_s"]["median"], 3), fmt(g["peak_rss_mb"]["max"], 1)])
    out += ["Per account (each run's own call counter; units estimated as described below):", "",
            bench.md_table(["round", "accounts", "n", "IAM", "STS", "SSM", "DynamoDB", "SNS", "open findings", "RRU", "WRU",
                            "CPU s (median)", "peak RSS MB"], rows, 2), ""]
    rows = []
    for a in result["rounds"]:
        s, q, st, cu = a["sns"], a["sqs"], a["state"], a["capacity_units"]
        rows.append([a["label"], q["messages"], q["send_requests"], q["poller_requests"], a["calls_function"].get("dynamodb", 0),
                     fmt(cu["read_units"], 1), fmt(cu["write_units"], 1), st["items"], s["per_finding_messages"], s["digest_messages"],
                     s["publish_requests"]])
    out += ["Round totals:", "",
            bench.md_table(["round", "SQS messages", "SQS send requests", "poller requests", "DynamoDB calls", "RRU", "WRU",
                            "state items", "SNS per-finding", "SNS digest", "SNS publish requests"], rows, 1), ""]
    e = result.get("estimate")
    if e:
        rows = []
        for kind, p in e["profiles"].items():
            m = p["month"]
            rows.append([kind, p["findings_open"], fmt(p["duration_s"]), fmt(p["read_units"], 1), fmt(p["write_units"], 1),
                         f"{m['lambda']:.4f}", f"{m['dynamodb_requests']:.4f}", f"{m['dynamodb_storage']:.4f}", f"{m['sqs']:.4f}",
                         f"{m['sns']:.4f}", f"**{m['total']:.4f}**"])
        out += [f"On paper (from round {e['from_round']}, {e['memory_mb']} MB arm64, hourly rounds; see below):", "",
                bench.md_table(["account", "open findings", "run s on Lambda", "RRU / round", "WRU / round", "Lambda $", "DynamoDB $",
                                "storage $", "SQS $", "SNS $", "$ / account-month"], rows, 1), ""]
        rows = []
        for kind, p in e["profiles"].items():
            for x in p["rounds"]:
                rows.append([kind, x["accounts"], x["concurrency"], fmt(x["fan_out_s"], 1), fmt(x["round_s"], 1), fmt(x["sts_per_s"], 1),
                             fmt(x["iam_per_s_per_account"], 1), x["sts_limits_concurrency_to"]])
        out += [bench.md_table(["account", "accounts", "concurrency", "fan-out s", "round s", "STS requests/s (hub)",
                                "IAM requests/s (each member)", "concurrency at the STS quota"], rows, 1), ""]
    out += ["Targets:", "", bench.md_table(["target", "measured", "met"],
                                           [[t["target"], t["measured"], "—" if t["met"] is None else "yes" if t["met"] else "**no**"]
                                            for t in result["targets"]]), ""]
    return "\n".join(out)


# ----------------------------------------------------------------------------- main

def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--accounts", type=int, default=int(os.environ.get("BENCH_ORG_ACCOUNTS") or 100),
                    help="member accounts of 5 to 20 users (default 100, or BENCH_ORG_ACCOUNTS)")
    ap.add_argument("--large-members", type=int, default=1, help="member accounts of --large-users users (default 1)")
    ap.add_argument("--large-users", type=int, default=1000, help="users of each large member account (default 1,000)")
    ap.add_argument("--concurrency", default="10,50", help="worker pool sizes, one fresh state table each (default 10,50)")
    ap.add_argument("--rounds", default="first,steady", help="rounds at each concurrency: first, or first,steady")
    ap.add_argument("--member-aws-policies", choices=["attached", "all"], default="attached",
                    help="AWS managed policies loaded into member accounts (see the docstring)")
    ap.add_argument("--timeout", type=float, default=900, help="seconds before one run is stopped")
    ap.add_argument("--binary", default=str(Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "release" / "iam-assurance"))
    ap.add_argument("--out", default=str(ROOT / "bench-results"))
    args = ap.parse_args()

    binary = Path(args.binary).resolve()
    if not binary.exists():
        print(f"error: {binary} not found (make bench-org builds it)", file=sys.stderr)
        return 2
    concurrencies = [int(c) for c in args.concurrency.split(",") if c.strip()]
    kinds = [k.strip() for k in args.rounds.split(",") if k.strip()]
    if not concurrencies or any(c < 1 for c in concurrencies) or not kinds or kinds[0] != "first" \
            or any(k not in ("first", "steady") for k in kinds):
        print("error: --concurrency takes positive numbers; --rounds is `first` or `first,steady`", file=sys.stderr)
        return 2
    out_dir = Path(args.out).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="iam-assurance-bench-org-"))
    (work / "home").mkdir()
    os.chdir(work)
    started = time.time()
    if args.member_aws_policies == "attached":
        keep_attached_managed_policies_only({"AdministratorAccess", "ReadOnlyAccess"})
    emu = bench.Emulator(work, page_aad=True)
    serialize_recorder()
    result: dict = {"started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"), "machine": bench.machine_info(),
                    "binary": str(binary), "rounds": []}
    try:
        print(f"[bench-org] seeding the hub and {args.accounts + args.large_members} member accounts", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        accounts = seed_organization(emu, args.accounts, args.large_members, args.large_users)
        topic = bench.seed_settings_topic_and_state(emu.endpoint)
        client(emu.endpoint, "dynamodb").delete_table(TableName=bench.STATE_TABLE)  # the single-account table: not used here
        sqs = client(emu.endpoint, "sqs")
        queue_url = sqs.create_queue(QueueName=QUEUE, Attributes={"VisibilityTimeout": str(int(args.timeout) + 60)})["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        result["organization"] = {
            "members": args.accounts, "large_members": args.large_members, "large_users": args.large_users,
            "small_users": "/".join(str(u) for u in SMALL_USERS), "accounts": len(accounts),
            "seed_seconds": round(time.perf_counter() - t0, 1), "member_aws_policies": args.member_aws_policies,
            "function_memory_mb": template_memory_mb(),
            "accounts_detail": [{k: a[k] for k in ("account_id", "users", "entities", "minimum_iam_calls")} for a in accounts],
        }
        org = Org(emu, binary, work, topic, queue_url, queue_arn, args.timeout)
        for c in concurrencies:
            fresh_org_table(emu.endpoint)
            for kind in kinds:
                label = f"c{c}-{kind}"
                print(f"[bench-org] round {label}: fan-out, then {c} workers", file=sys.stderr, flush=True)
                r = run_round(org, label, c)
                a = analyse(r, accounts, args.large_users)
                result["rounds"].append(a)
                print(f"[bench-org] round {label}: {a['wall_s']} s, {a['runs']} runs, {len(a['failed_runs'])} failed",
                      file=sys.stderr, flush=True)
    finally:
        emu.stop()
        if os.environ.get("BENCH_KEEP_WORK"):
            print(f"[bench-org] kept the work folder (every run's JSON): {work}", file=sys.stderr, flush=True)
        else:
            shutil.rmtree(work, ignore_errors=True)
    result["machine"]["load_end"] = bench.loadavg()
    result["finished_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    result["duration_s"] = round(time.time() - started, 1)
    result["targets"] = targets(result["rounds"])
    result["estimate"] = estimate(result) if result["rounds"] else None
    text = render(result)
    print(text)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    for name in (f"org-{stamp}.json", "org.json"):
        (out_dir / name).write_text(json.dumps(result, indent=2, default=str) + "\n")
    (out_dir / "org.txt").write_text(text + "\n")
    (out_dir / "org.md").write_text(render_markdown(result) + "\n")
    print(f"\nwritten: {out_dir / 'org.json'} (and org-{stamp}.json, org.txt, org.md); took {result['duration_s']} s")
    return 0 if all(t["met"] is not False for t in result["targets"]) else 1


if __name__ == "__main__":
    sys.exit(main())
