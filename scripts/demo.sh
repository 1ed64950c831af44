#!/usr/bin/env bash
# The demo: an offline audit of the sample account, then the live path against a local AWS
# emulator (moto server on 127.0.0.1): seed an account, sweep it (new findings published),
# sweep again (nothing published), fix one thing and sweep (one resolved), replay CloudTrail
# events through the Lambda handler's code path (a duplicate delivery alerts once), and show
# what SNS delivered, with the emails people would read. Stops what it starts.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="${CARGO_TARGET_DIR:-target}/debug/iam-assurance"
PY="${PYTHON:-python3}"
MOTO="${MOTO_SERVER:-moto_server}"
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "1. Offline audit of the sample account (files as the AWS CLI writes them)"
S=tests/fixtures/sample-account
"$BIN" audit --authorization-details $S/authorization-details.json --credential-report $S/credential-report.csv \
  --password-policy $S/password-policy.json --account-summary $S/account-summary.json \
  --server-certificates $S/server-certificates.json --settings-file $S/settings.json --now 2026-11-23T12:00:00Z

say "2. Live path against a local AWS emulator"
PORT=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
MOTO_IAM_LOAD_MANAGED_POLICIES=true "$MOTO" -H 127.0.0.1 -p "$PORT" >/tmp/iam-assurance-demo-moto.log 2>&1 &
MOTO_PID=$!
trap 'kill $MOTO_PID 2>/dev/null || true; wait $MOTO_PID 2>/dev/null || true' EXIT
export AWS_ENDPOINT_URL="http://127.0.0.1:$PORT" AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_EC2_METADATA_DISABLED=true
"$PY" - "$AWS_ENDPOINT_URL" <<'PYEOF'
import sys, time, urllib.request
for _ in range(300):
    try:
        urllib.request.urlopen(sys.argv[1] + "/moto-api/", timeout=2)
        break
    except Exception:
        time.sleep(0.2)
PYEOF
eval "$("$PY" scripts/seed_demo.py --endpoint "$AWS_ENDPOINT_URL")"
echo "emulator on $AWS_ENDPOINT_URL; topic $FINDINGS_TOPIC_ARN; state table $STATE_TABLE; settings in SSM under /iam-assurance/"

say "2a. Hourly sweep: settings from SSM, finding state in DynamoDB, what changed to SNS"
echo "(the first sweep: every open finding is new, each one message, plus a digest)"
"$BIN" sweep --publish --format text
"$PY" scripts/read_queue.py --endpoint "$AWS_ENDPOINT_URL" --queue-url "$DEMO_QUEUE_URL" --show-email 1 --show-digest

published() { "$PY" -c 'import json, sys; r = json.load(sys.stdin); p = r["published"]; print("published:", json.dumps({k: p[k] for k in ("changes", "digest_parts", "messages") if k in p}))'; }

say "2b. The next hourly sweep: nothing changed, nothing published"
"$BIN" sweep --publish --format json | published
"$PY" scripts/read_queue.py --endpoint "$AWS_ENDPOINT_URL" --queue-url "$DEMO_QUEUE_URL"

say "2c. Someone fixes one thing (deletes the empty group old-contractors); the next sweep says so once"
"$PY" -c 'import boto3, os; boto3.client("iam", endpoint_url=os.environ["AWS_ENDPOINT_URL"], region_name="us-east-1").delete_group(GroupName="old-contractors")'
"$BIN" sweep --publish --format json | published
"$PY" scripts/read_queue.py --endpoint "$AWS_ENDPOINT_URL" --queue-url "$DEMO_QUEUE_URL" --show-email 1 --show-digest

say "2d. CloudTrail events through the Lambda handler's code path (EventBridge may deliver one twice)"
echo "(first, someone attaches AdministratorAccess to alice directly: the change events/attach-user-policy.json records)"
"$PY" -c 'import boto3, os; boto3.client("iam", endpoint_url=os.environ["AWS_ENDPOINT_URL"], region_name="us-east-1").attach_user_policy(UserName="alice", PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess")'
for e in attach-user-policy attach-user-policy root-console-signin root-console-signin failed-call unrelated; do
  echo "--- events/$e.json"
  "$BIN" invoke "events/$e.json" | "$PY" scripts/show_run.py
done
"$PY" scripts/read_queue.py --endpoint "$AWS_ENDPOINT_URL" --queue-url "$DEMO_QUEUE_URL" --show-email 1
say "done: emulator stopped"
