#!/usr/bin/env python3
"""Print the SNS messages an SQS queue received: one line each (subject, change, severity,
rule), then the email a person would read for the first few of them.

The SQS subscriber gets the `default` body (the finding JSON). The `email` body SNS would
send to an email subscriber is read from the local emulator's own record of what was
published (moto's /moto-api/data.json, matched by MessageId); without it, a summary of the
finding JSON is shown instead.
"""
import argparse
import ast
import json
import urllib.request

import boto3


def published_bodies(endpoint):
    """MessageId -> the published MessageStructure=json body, from moto's state dump."""
    try:
        with urllib.request.urlopen(endpoint + "/moto-api/data.json", timeout=30) as response:
            data = json.loads(response.read().decode())
    except Exception:
        return {}
    bodies = {}
    for topic in data.get("sns", {}).get("Topic", []):
        sent = topic.get("sent_notifications", "[]")
        try:
            sent = ast.literal_eval(sent) if isinstance(sent, str) else sent
        except (ValueError, SyntaxError):
            continue
        for entry in sent:
            if isinstance(entry, (list, tuple)) and len(entry) >= 2:
                try:
                    bodies[entry[0]] = json.loads(entry[1])
                except (TypeError, ValueError):
                    pass
    return bodies


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--queue-url", required=True)
    parser.add_argument("--show-email", type=int, default=1, help="print the email body of the first N finding messages")
    parser.add_argument("--show-digest", action="store_true", help="print the email body of the first digest part")
    args = parser.parse_args()
    sqs = boto3.client("sqs", endpoint_url=args.endpoint, region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")
    messages = []
    while True:
        got = sqs.receive_message(QueueUrl=args.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
        if not got:
            break
        for m in got:
            messages.append(json.loads(m["Body"]))
            sqs.delete_message(QueueUrl=args.queue_url, ReceiptHandle=m["ReceiptHandle"])
    print(f"{len(messages)} message(s) delivered to the subscribed SQS queue")
    for envelope in messages:
        attrs = {k: v["Value"] for k, v in envelope.get("MessageAttributes", {}).items()}
        print(f"  {attrs.get('change', '?'):<8}  {envelope.get('Subject')}")
    if not messages:
        return
    bodies = published_bodies(args.endpoint)
    shown = 0
    for envelope in messages:
        attrs = {k: v["Value"] for k, v in envelope.get("MessageAttributes", {}).items()}
        digest = attrs.get("change") == "digest"
        if digest and not args.show_digest:
            continue
        if not digest and shown >= args.show_email:
            continue
        if digest:
            args.show_digest = False
        else:
            shown += 1
        print(f"\n----- email: {envelope.get('Subject')}")
        email = bodies.get(envelope.get("MessageId"), {}).get("email")
        if email:
            print(email.rstrip())
            continue
        body = json.loads(envelope.get("Message", "{}"))
        finding = body.get("finding", {})
        print(finding.get("message", json.dumps(body)[:400]))
        if finding.get("remediation"):
            print("Fix:\n  " + finding["remediation"].replace("\n", "\n  "))


if __name__ == "__main__":
    main()
