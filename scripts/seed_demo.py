#!/usr/bin/env python3
"""Seed a small demo account into the local AWS emulator (moto server).

Creates users with and without MFA, access keys, console passwords, groups, an admin role,
an unapproved policy in use, a weak password policy, rule settings in SSM, the finding-state
DynamoDB table (as the SAM template defines it), and an SNS topic with an SQS queue subscribed
(so delivered messages can be read back).

Prints `export` lines for FINDINGS_TOPIC_ARN, STATE_TABLE and DEMO_QUEUE_URL.
"""
import argparse
import json

import boto3


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--prefix", default="/iam-assurance")
    args = parser.parse_args()
    kw = dict(endpoint_url=args.endpoint, region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")
    iam = boto3.client("iam", **kw)
    ssm = boto3.client("ssm", **kw)
    sns = boto3.client("sns", **kw)
    sqs = boto3.client("sqs", **kw)
    dynamodb = boto3.client("dynamodb", **kw)

    admin = "arn:aws:iam::aws:policy/AdministratorAccess"
    # alice: console + MFA, admin through the admins group.
    iam.create_group(GroupName="admins")
    iam.attach_group_policy(GroupName="admins", PolicyArn=admin)
    iam.create_user(UserName="alice")
    iam.add_user_to_group(GroupName="admins", UserName="alice")
    iam.create_login_profile(UserName="alice", Password="Demo-Passw0rd!-alice")
    mfa = iam.create_virtual_mfa_device(VirtualMFADeviceName="alice")["VirtualMFADevice"]["SerialNumber"]
    iam.enable_mfa_device(UserName="alice", SerialNumber=mfa, AuthenticationCode1="123456", AuthenticationCode2="654321")
    # bob: console password without MFA, two active keys, an inline policy.
    iam.create_user(UserName="bob")
    iam.create_login_profile(UserName="bob", Password="Demo-Passw0rd!-bob")
    iam.create_access_key(UserName="bob")
    iam.create_access_key(UserName="bob")
    iam.put_user_policy(UserName="bob", PolicyName="scratch-bucket", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::bob-scratch/*"}]}))
    # deploy-bot: a service user with a key and a directly attached (unapproved) policy.
    iam.create_user(UserName="deploy-bot")
    iam.create_access_key(UserName="deploy-bot")
    iam.attach_user_policy(UserName="deploy-bot", PolicyArn="arn:aws:iam::aws:policy/AmazonRDSFullAccess")
    # developers: read-only plus the unapproved policy; an empty legacy group.
    iam.create_group(GroupName="developers")
    iam.attach_group_policy(GroupName="developers", PolicyArn="arn:aws:iam::aws:policy/ReadOnlyAccess")
    iam.attach_group_policy(GroupName="developers", PolicyArn="arn:aws:iam::aws:policy/AmazonRDSFullAccess")
    iam.add_user_to_group(GroupName="developers", UserName="bob")
    iam.create_group(GroupName="old-contractors")
    # Roles: an admin CI role, and a customer-managed policy granting * on *.
    trust = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"}, "Action": "sts:AssumeRole"}]})
    iam.create_role(RoleName="ci-deployer", AssumeRolePolicyDocument=trust)
    iam.attach_role_policy(RoleName="ci-deployer", PolicyArn=admin)
    full = iam.create_policy(PolicyName="FullAdmin", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))["Policy"]["Arn"]
    iam.create_role(RoleName="break-glass", AssumeRolePolicyDocument=trust)
    iam.attach_role_policy(RoleName="break-glass", PolicyArn=full)
    iam.create_role(RoleName="etl-runner", AssumeRolePolicyDocument=trust)
    iam.attach_role_policy(RoleName="etl-runner", PolicyArn="arn:aws:iam::aws:policy/AmazonRDSFullAccess")
    # A weak password policy.
    iam.update_account_password_policy(MinimumPasswordLength=8, RequireNumbers=True, RequireUppercaseCharacters=True,
                                       RequireLowercaseCharacters=True, RequireSymbols=False, AllowUsersToChangePassword=True)

    # Settings in SSM Parameter Store.
    settings = {
        "approved-users": {"approved": ["alice", "bob", "deploy-bot"]},
        "unapproved-policy-in-use": {"unapproved": ["AmazonRDSFullAccess"]},
        "max-admins": {"max": 2},
        "multiple-access-keys": {"exceptions": [{"resource": "arn:aws:iam::123456789012:user/bob", "reason": "key rotation in progress", "expires": "2099-01-31"}]},
        # The emulator implements neither IAM Access Analyzer nor account:ListRegions: with the
        # rule on, every sweep would say that source could not be read (exit 4).
        "access-analyzer-enabled": {"enabled": False},
    }
    for rule, value in settings.items():
        ssm.put_parameter(Name=f"{args.prefix}/rules/{rule}", Value=json.dumps(value), Type="String", Overwrite=True)

    # Finding state: partition key `fingerprint`, TTL on `expires_at` (template.yaml StateTable).
    table = "iam-assurance-state"
    dynamodb.create_table(TableName=table, BillingMode="PAY_PER_REQUEST",
                          AttributeDefinitions=[{"AttributeName": "fingerprint", "AttributeType": "S"}],
                          KeySchema=[{"AttributeName": "fingerprint", "KeyType": "HASH"}])
    dynamodb.update_time_to_live(TableName=table, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"})

    # Findings topic with an SQS queue subscribed.
    topic = sns.create_topic(Name="iam-assurance-findings")["TopicArn"]
    queue = sqs.create_queue(QueueName="iam-assurance-demo")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    print(f"export FINDINGS_TOPIC_ARN={topic}")
    print(f"export STATE_TABLE={table}")
    print(f"export DEMO_QUEUE_URL={queue}")


if __name__ == "__main__":
    main()
