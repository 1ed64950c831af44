#!/usr/bin/env python3
"""Print the SNS messages an SQS queue received (subject, attributes, email text)."""
import argparse
import json

import boto3


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--queue-url", required=True)
    parser.add_argument("--show-email", type=int, default=1, help="print the email body of the first N messages")
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
        print(f"  {envelope.get('Subject')}  [{attrs.get('change')}, {attrs.get('severity')}, {attrs.get('rule_id')}]")
    shown = 0
    for envelope in messages:
        attrs = {k: v["Value"] for k, v in envelope.get("MessageAttributes", {}).items()}
        if shown >= args.show_email or attrs.get("change") == "digest":
            continue
        body = json.loads(envelope.get("Message", "{}"))
        finding = body.get("finding", {})
        print("\n--- " + envelope.get("Subject", ""))
        print(finding.get("message", ""))
        print("Fix:\n  " + finding.get("remediation", "").replace("\n", "\n  "))
        shown += 1

if __name__ == "__main__":
    main()
