"""Checks of the SAM templates (template.yaml, infra/*.yaml).

(a) the execution role grants exactly the IAM actions the code calls, nothing broader;
(b) the EventBridge patterns route the sample events in events/*.json to the right rule,
    checked through moto's EventBridge (PutEvents -> rule -> SQS target) on loopback and
    through a small local matcher for the pattern syntax the template uses. moto 5.2's
    TestEventPattern is not implemented (it raises NotImplementedError), hence PutEvents;
(c) every rule of the catalog has its SSM settings parameter holding its defaults.

Templates are read with cfn-lint's own loader, which understands !Ref, !Sub and friends.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import re
import socket
import tomllib
from pathlib import Path

import pytest
from cfnlint.decode import decode

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
INFRA = ROOT / "infra"
EVENTS = ROOT / "events"
PERMISSIONS_RS = ROOT / "crates" / "aws" / "src" / "permissions.rs"
EVENTS_MD = ROOT / "docs" / "events.md"

FUNCTION = "IamAssuranceFunction"
IAM_RULE = "IamChange"
ROOT_RULE = "RootActivity"


# ----------------------------------------------------------------------------- loading


def load(path: Path) -> dict:
    template, matches = decode(str(path))
    assert not matches, f"{path}: {matches}"
    assert template is not None
    return template


@pytest.fixture(scope="module")
def root() -> dict:
    return load(TEMPLATE)


@pytest.fixture(scope="module")
def settings_stack() -> dict:
    return load(INFRA / "settings.yaml")


@pytest.fixture(scope="module")
def notifications_stack() -> dict:
    return load(INFRA / "notifications.yaml")


def as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def rust_const(name: str) -> list[str]:
    text = PERMISSIONS_RS.read_text()
    found = re.search(rf"pub const {name}\s*:\s*&\[&str\]\s*=\s*&\[(.*?)\];", text, re.S)
    assert found, f"const {name} not found in {PERMISSIONS_RS}"
    body = re.sub(r"//[^\n]*", "", found.group(1))
    return re.findall(r'"([^"]+)"', body)


def function(root: dict) -> dict:
    return root["Resources"][FUNCTION]


def events_of(root: dict) -> dict:
    return function(root)["Properties"]["Events"]


def patterns(root: dict) -> dict[str, dict]:
    return {
        name: json.loads(json.dumps(event["Properties"]["Pattern"]))
        for name, event in events_of(root).items()
        if event["Type"] == "EventBridgeRule"
    }


NO_VALUE = {"Ref": "AWS::NoValue"}


def resolve(value, conditions: dict):
    """The template value with `Fn::If` of the given conditions decided (others left as they
    are), and `AWS::NoValue` dropped from lists and objects."""
    if isinstance(value, dict):
        if set(value) == {"Fn::If"} and value["Fn::If"][0] in conditions:
            condition, when_true, when_false = value["Fn::If"]
            return resolve(when_true if conditions[condition] else when_false, conditions)
        out = {k: resolve(v, conditions) for k, v in value.items()}
        return {k: v for k, v in out.items() if v != NO_VALUE}
    if isinstance(value, list):
        return [v for v in (resolve(item, conditions) for item in value) if v != NO_VALUE]
    return value


#: The single-account stack (no OrganizationId) and the organization's hub.
SINGLE = {"IsOrganization": False}
ORGANIZATION = {"IsOrganization": True}


def role_statements(root: dict, conditions: dict = SINGLE) -> list[dict]:
    role = root["Resources"]["FunctionRole"]
    assert role["Type"] == "AWS::IAM::Role"
    props = resolve(role["Properties"], conditions)
    assert not props.get("ManagedPolicyArns"), "the role uses inline, scoped statements only"
    statements = []
    for policy in props["Policies"]:
        statements.extend(as_list(policy["PolicyDocument"]["Statement"]))
    return statements


# ----------------------------------------------------------------------------- (a) role


def test_function_uses_the_role(root):
    assert function(root)["Properties"]["Role"] == {"Fn::GetAtt": ["FunctionRole", "Arn"]}


def test_role_iam_actions_are_exactly_permissions_rs(root):
    expected = rust_const("IAM_ACTIONS")
    assert expected and len(expected) == len(set(expected))
    granted = [a for s in role_statements(root) for a in as_list(s["Action"]) if a.lower().startswith("iam:")]
    assert len(granted) == len(set(granted)), "an IAM action is granted twice"
    assert set(granted) == set(expected), (
        f"missing: {sorted(set(expected) - set(granted))}, extra: {sorted(set(granted) - set(expected))}"
    )
    assert all(a.startswith("iam:Get") or a.startswith("iam:List") or a.startswith("iam:Generate") for a in granted)


def test_role_ssm_and_sns_actions_match_permissions_rs(root):
    statements = role_statements(root)
    for service, const in (("ssm", "SSM_ACTIONS"), ("sns", "SNS_ACTIONS")):
        granted = {a for s in statements for a in as_list(s["Action"]) if a.startswith(f"{service}:")}
        assert granted == set(rust_const(const)), service


def test_role_has_no_wildcards_and_scopes_every_non_iam_statement(root):
    for statement in role_statements(root):
        sid = statement.get("Sid", statement)
        assert statement["Effect"] == "Allow", sid
        assert "NotAction" not in statement and "NotResource" not in statement, sid
        actions = as_list(statement["Action"])
        for action in actions:
            assert "*" not in action, f"{sid}: wildcard action {action}"
            assert action != "iam:*"
        resources = as_list(statement["Resource"])
        if "*" in resources:
            # access-analyzer:ListAnalyzers accepts no resource ARN either.
            assert all(a.startswith("iam:") or a == "access-analyzer:ListAnalyzers" for a in actions), (
                f"{sid}: Resource '*' outside the IAM read calls"
            )
        if any(a.startswith(("ssm:", "sns:", "kms:", "dynamodb:", "sqs:", "logs:")) for a in actions):
            assert "*" not in resources, f"{sid}: must be scoped to a resource"


def test_role_ssm_is_scoped_to_the_settings_prefix(root):
    prefix = "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter${SettingsPrefix}"
    for statement in role_statements(root):
        if any(a.startswith("ssm:") for a in as_list(statement["Action"])):
            resources = [r["Fn::Sub"] for r in as_list(statement["Resource"])]
            assert sorted(resources) == sorted([prefix, prefix + "/*"])


def test_role_sns_publishes_to_the_one_topic_and_kms_goes_through_the_service(root):
    for statement in role_statements(root):
        actions = as_list(statement["Action"])
        if "sns:Publish" in actions:
            assert statement["Resource"] == {"Fn::GetAtt": ["Notifications", "Outputs.TopicArn"]}
        if any(a.startswith("kms:") for a in actions):
            via = statement["Condition"]["StringEquals"]["kms:ViaService"]["Fn::Sub"]
            assert via in ("ssm.${AWS::Region}.amazonaws.com", "sns.${AWS::Region}.amazonaws.com")
            if via.startswith("ssm."):
                assert actions == ["kms:Decrypt"]


def test_role_account_actions_are_exactly_permissions_rs(root):
    """Access Analyzer's ListAnalyzers (no resource ARN) and the account's own contact and regions."""
    expected = rust_const("ACCOUNT_ACTIONS")
    statements = role_statements(root)
    granted = [a for s in statements for a in as_list(s["Action"]) if a.startswith(("access-analyzer:", "account:"))]
    assert sorted(granted) == sorted(expected)
    for statement in statements:
        actions = as_list(statement["Action"])
        if any(a.startswith("account:") for a in actions):
            assert [r["Fn::Sub"] for r in as_list(statement["Resource"])] == ["arn:${AWS::Partition}:account::${AWS::AccountId}:account"]
        if "access-analyzer:ListAnalyzers" in actions:
            assert actions == ["access-analyzer:ListAnalyzers"] and statement["Resource"] == "*"


def test_role_state_table_actions_are_exactly_permissions_rs(root):
    statements = [s for s in role_statements(root) if any(a.startswith("dynamodb:") for a in as_list(s["Action"]))]
    assert len(statements) == 1
    granted = as_list(statements[0]["Action"])
    expected = rust_const("DYNAMODB_ACTIONS")
    assert expected and len(granted) == len(set(granted))
    assert set(granted) == set(expected), (
        f"missing: {sorted(set(expected) - set(granted))}, extra: {sorted(set(granted) - set(expected))}"
    )
    assert statements[0]["Resource"] == {"Fn::GetAtt": ["StateTable", "Arn"]}


def test_permissions_rs_all_lists_every_service():
    """`iam-assurance permissions` (permissions::all) prints every list the role must grant."""
    text = PERMISSIONS_RS.read_text()
    found = re.search(r"pub fn all\(\)[^{]*\{(.*?)\n\}", text, re.S)
    assert found, "permissions::all not found"
    for const in ("IAM_ACTIONS", "ACCOUNT_ACTIONS", "SSM_ACTIONS", "SNS_ACTIONS", "DYNAMODB_ACTIONS", "SECURITY_HUB_ACTIONS"):
        assert const in found.group(1), const


def test_security_hub_import_is_opt_in_and_exactly_permissions_rs_on_the_default_product(root):
    """Off by default; on, the role may call exactly SECURITY_HUB_ACTIONS, on this account's
    default product in this region, and nothing else of Security Hub."""
    param = root["Parameters"]["SecurityHubExport"]
    assert param["Default"] == "false" and param["AllowedValues"] == ["false", "true"]
    assert root["Conditions"]["SecurityHubExportEnabled"] == {"Fn::Equals": [{"Ref": "SecurityHubExport"}, "true"]}
    assert not any(
        a.startswith("securityhub:") for s in role_statements(root) for a in as_list(s["Action"])
    ), "Security Hub is granted only by the conditional policy"
    policies = [r for r in root["Resources"].values() if r["Type"] in ("AWS::IAM::RolePolicy", "AWS::IAM::Policy")]
    assert len(policies) == 1
    (policy,) = policies
    assert policy["Condition"] == "SecurityHubExportEnabled"
    assert policy["Properties"]["RoleName"] == {"Ref": "FunctionRole"}
    (statement,) = as_list(policy["Properties"]["PolicyDocument"]["Statement"])
    assert statement["Effect"] == "Allow"
    assert as_list(statement["Action"]) == rust_const("SECURITY_HUB_ACTIONS") == ["securityhub:BatchImportFindings"]
    assert statement["Resource"] == {
        "Fn::Sub": "arn:${AWS::Partition}:securityhub:${AWS::Region}:${AWS::AccountId}:product/${AWS::AccountId}/default"
    }


def test_teams_channel_beside_slack(root, notifications_stack):
    """The Teams parameters reach the notifications stack, which posts the same topic to the
    channel through the same notifications-only role."""
    passed = root["Resources"]["Notifications"]["Properties"]["Parameters"]
    for name in ("TeamsTenantId", "TeamsTeamId", "TeamsChannelId"):
        assert root["Parameters"][name]["Default"] == ""
        assert passed[name] == {"Ref": name}
    guid = root["Parameters"]["TeamsTenantId"]["AllowedPattern"]
    assert re.fullmatch(guid, "") and re.fullmatch(guid, "a1b2c3d4-1111-2222-3333-444455556666")
    assert not re.fullmatch(guid, "not-a-guid")
    teams = notifications_stack["Resources"]["TeamsChannel"]
    slack = notifications_stack["Resources"]["SlackChannel"]
    assert teams["Type"] == "AWS::Chatbot::MicrosoftTeamsChannelConfiguration"
    props = teams["Properties"]
    assert props["SnsTopicArns"] == slack["Properties"]["SnsTopicArns"] == [{"Ref": "Topic"}]
    assert props["IamRoleArn"] == slack["Properties"]["IamRoleArn"]
    assert props["GuardrailPolicies"] == slack["Properties"]["GuardrailPolicies"]
    assert (props["TeamsTenantId"], props["TeamId"], props["TeamsChannelId"]) == (
        {"Ref": "TeamsTenantId"},
        {"Ref": "TeamsTeamId"},
        {"Ref": "TeamsChannelId"},
    )
    assert props["ConfigurationName"] != slack["Properties"]["ConfigurationName"]


# ----------------------------------------------------------------------------- function shape


def test_function_build_and_runtime(root):
    fn = function(root)
    assert fn["Type"] == "AWS::Serverless::Function"
    assert fn["Metadata"]["BuildMethod"] == "rust-cargolambda"
    cargo = tomllib.loads((ROOT / "Cargo.toml").read_text())
    binaries = [b["name"] for b in cargo.get("bin", [])]
    assert fn["Metadata"]["BuildProperties"]["Binary"] == "iam-assurance"
    assert binaries == ["iam-assurance"], "the package has one binary, named iam-assurance"
    props = fn["Properties"]
    # A staged copy of the sources only (make stage-source), never the repository root.
    assert props["CodeUri"] == ".build/lambda-source"
    assert props["Runtime"] == "provided.al2023"
    assert props["Architectures"] == [{"Ref": "Architecture"}]
    assert root["Parameters"]["Architecture"]["Default"] == "arm64"
    assert root["Parameters"]["Architecture"]["AllowedValues"] == ["arm64", "x86_64"]
    assert props["Timeout"] == {"Ref": "FunctionTimeout"}
    assert props["MemorySize"] == {"Ref": "FunctionMemorySize"}
    params = root["Parameters"]
    assert params["FunctionTimeout"]["Default"] == 600
    assert params["FunctionMemorySize"]["Default"] == 512
    assert props["LoggingConfig"]["LogFormat"] == "JSON"
    assert props["LoggingConfig"]["LogGroup"] == {"Ref": "FunctionLogGroup"}
    assert root["Resources"]["FunctionLogGroup"]["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionInDays"}
    assert params["LogRetentionInDays"]["Default"] == 90


def test_samconfig():
    text = (ROOT / "samconfig.toml").read_text()
    config = tomllib.loads(text)["default"]
    assert config["global"]["parameters"] == {"stack_name": "iam-assurance", "region": "us-east-1"}
    assert config["validate"]["parameters"]["lint"] is True
    assert config["build"]["parameters"]["beta_features"] is True, "rust-cargolambda is a SAM beta feature"
    deploy = config["deploy"]["parameters"]
    assert set(deploy["capabilities"].split()) == {"CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"}
    assert deploy["confirm_changeset"] is True and deploy["resolve_s3"] is True
    # The tracked file holds no one's parameters: no overrides, no email address.
    for section in config.values():
        assert "parameter_overrides" not in section.get("parameters", {})
    assert not re.search(r"[^@\s]+@[^@\s]+\.[a-z]", text)


def test_function_environment(root):
    env = resolve(function(root)["Properties"]["Environment"]["Variables"], SINGLE)
    assert env == {
        "SETTINGS_PREFIX": {"Ref": "SettingsPrefix"},
        "FINDINGS_TOPIC_ARN": {"Fn::GetAtt": ["Notifications", "Outputs.TopicArn"]},
        "STATE_TABLE": {"Ref": "StateTable"},
        "SECURITY_HUB_EXPORT": {"Ref": "SecurityHubExport"},
    }
    org = resolve(function(root)["Properties"]["Environment"]["Variables"], ORGANIZATION)
    assert org == {
        "SETTINGS_PREFIX": {"Ref": "SettingsPrefix"},
        "FINDINGS_TOPIC_ARN": {"Fn::GetAtt": ["Notifications", "Outputs.TopicArn"]},
        "STATE_TABLE": {"Ref": "OrganizationStateTable"},
        "ORGANIZATION_MODE": "true",
        "MEMBER_ROLE_NAME": {"Ref": "MemberRoleName"},
        "ACCOUNTS_QUEUE_URL": {"Ref": "AccountsQueue"},
        "SECURITY_HUB_EXPORT": {"Ref": "SecurityHubExport"},
    }
    assert root["Parameters"]["SettingsPrefix"]["Default"] == "/iam-assurance"
    assert root["Resources"]["Settings"]["Properties"]["Parameters"]["SettingsPrefix"] == {"Ref": "SettingsPrefix"}


def test_failure_handling(root):
    invoke = function(root)["Properties"]["EventInvokeConfig"]
    assert invoke["MaximumRetryAttempts"] == 2
    on_failure = invoke["DestinationConfig"]["OnFailure"]
    assert on_failure == {"Type": "SQS", "Destination": {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]}}
    resources = root["Resources"]
    assert resources["DeadLetterQueue"]["Properties"]["SqsManagedSseEnabled"] is True
    alarms = {
        r["Properties"]["MetricName"]: r["Properties"]
        for r in resources.values()
        if r["Type"] == "AWS::CloudWatch::Alarm" and "MetricName" in r["Properties"]
    }
    assert {"Errors", "ApproximateNumberOfMessagesVisible"} <= set(alarms)
    assert alarms["Errors"]["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": FUNCTION}}]
    assert alarms["ApproximateNumberOfMessagesVisible"]["Dimensions"][0]["Value"] == {
        "Fn::GetAtt": ["DeadLetterQueue", "QueueName"]
    }
    for alarm in alarms.values():
        assert alarm["AlarmActions"], "alarms notify the ops topic"


def test_state_table(root):
    table = root["Resources"]["StateTable"]["Properties"]
    assert table["KeySchema"] == [{"AttributeName": "fingerprint", "KeyType": "HASH"}]
    assert table["AttributeDefinitions"] == [{"AttributeName": "fingerprint", "AttributeType": "S"}]
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert table["SSESpecification"]["SSEEnabled"] is True
    assert table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}


def test_topic_is_encrypted_with_its_own_rotating_key(notifications_stack):
    resources = notifications_stack["Resources"]
    assert resources["Topic"]["Properties"]["KmsMasterKeyId"] == {"Fn::GetAtt": ["TopicKey", "Arn"]}
    assert resources["TopicKey"]["Properties"]["EnableKeyRotation"] is True
    assert resources["EmailSubscription"]["Condition"] == "HasEmail"
    assert resources["SlackChannel"]["Condition"] == "HasSlack"
    assert resources["ChatbotRole"]["Condition"] == "HasChatChannel"
    assert resources["TeamsChannel"]["Condition"] == "HasTeams"
    assert set(notifications_stack["Outputs"]) >= {"TopicArn", "TopicKeyArn"}


# ----------------------------------------------------------------------------- (b) triggers

# What each sample event must trigger (EventBridge pattern rules only; the schedule rule
# has no pattern and is checked separately). Failed calls are excluded by the IAM rule's
# pattern (`errorCode` must not exist); root's IAM calls go to the root rule only.
EXPECTED = {
    "schedule.json": set(),
    "create-user.json": {IAM_RULE},
    "create-access-key.json": {IAM_RULE},
    "create-login-profile.json": {IAM_RULE},
    "attach-user-policy.json": {IAM_RULE},
    "attach-role-policy.json": {IAM_RULE},
    "attach-group-policy.json": {IAM_RULE},
    "put-user-policy.json": {IAM_RULE},
    "add-user-to-group.json": {IAM_RULE},
    "delete-user.json": {IAM_RULE},
    "failed-call.json": set(),
    "root-console-signin.json": {ROOT_RULE},
    "root-api-call.json": {ROOT_RULE},
    "unrelated.json": set(),
}


def sample(name: str) -> dict:
    path = EVENTS / name
    assert path.exists(), f"missing sample event {path}"
    return json.loads(path.read_text())


def all_samples() -> list[str]:
    return sorted(set(EXPECTED) | {p.name for p in EVENTS.glob("*.json")})


# A small matcher for the pattern syntax the template uses: exact values, lists of
# alternatives, nested objects, `exists` and `anything-but`. EventBridge semantics: every
# key of the pattern must match; a missing field matches only `exists: false`.
_MISSING = object()


def local_matches(pattern: dict, event) -> bool:
    for key, condition in pattern.items():
        value = event.get(key, _MISSING) if isinstance(event, dict) else _MISSING
        if isinstance(condition, dict):
            if not isinstance(value, dict) or not local_matches(condition, value):
                return False
        elif not any(_alternative_matches(alt, value) for alt in condition):
            return False
    return True


def _alternative_matches(alternative, value) -> bool:
    if isinstance(alternative, dict):
        ((operator, argument),) = alternative.items()
        if operator == "exists":
            return (value is not _MISSING) is argument
        if value is _MISSING or value is None:
            return False
        if operator == "anything-but":
            excluded = as_list(argument)
            values = value if isinstance(value, list) else [value]
            return not any(v in excluded for v in values)
        raise NotImplementedError(f"pattern operator {operator!r}: extend the local matcher")
    if value is _MISSING:
        return False
    return alternative in value if isinstance(value, list) else value == alternative


def _free_port() -> int:
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class MotoRouter:
    """The template's pattern rules on moto's default event bus, each with its own SQS
    queue as target; `route(event)` says which rules a sample event reaches."""

    def __init__(self, endpoint: str, rule_patterns: dict[str, dict]):
        import boto3

        kwargs = dict(
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        self.events = boto3.client("events", **kwargs)
        self.sqs = boto3.client("sqs", **kwargs)
        self.queues: dict[str, str] = {}
        for name, pattern in rule_patterns.items():
            url = self.sqs.create_queue(QueueName=f"rule-{name}")["QueueUrl"]
            arn = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            self.events.put_rule(Name=name, EventPattern=json.dumps(pattern), State="ENABLED")
            self.events.put_targets(Rule=name, Targets=[{"Id": "queue", "Arn": arn}])
            self.queues[name] = url

    def route(self, event: dict) -> set[str]:
        entry = {
            "Source": event["source"],
            "DetailType": event["detail-type"],
            "Detail": json.dumps(event["detail"]),
            "Resources": event.get("resources", []),
        }
        answer = self.events.put_events(Entries=[entry])
        assert answer["FailedEntryCount"] == 0, answer
        reached = set()
        for name, url in self.queues.items():
            messages = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get(
                "Messages", []
            )
            for message in messages:
                delivered = json.loads(message["Body"])
                assert delivered["detail"] == event["detail"]
                self.sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
            if messages:
                reached.add(name)
        return reached


@pytest.fixture(scope="module")
def moto_router(root):
    pytest.importorskip("boto3")
    server_module = pytest.importorskip("moto.server")
    server = None
    for _ in range(5):
        port = _free_port()
        candidate = server_module.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        try:
            candidate.start()
        except OSError:
            continue
        server = candidate
        break
    assert server is not None, "could not start moto on a free loopback port"
    try:
        yield MotoRouter(f"http://127.0.0.1:{port}", patterns(root))
    finally:
        server.stop()


@pytest.fixture(params=["moto", "local"])
def route(request, root):
    if request.param == "moto":
        router = request.getfixturevalue("moto_router")
        return router.route
    rule_patterns = patterns(root)
    return lambda event: {name for name, pattern in rule_patterns.items() if local_matches(pattern, event)}


def test_pattern_rules_are_the_iam_and_root_rules(root):
    assert set(patterns(root)) == {IAM_RULE, ROOT_RULE}


def test_schedule_rule_uses_the_rate_parameter(root):
    schedules = {n: e for n, e in events_of(root).items() if e["Type"] == "Schedule"}
    assert list(schedules) == ["Sweep"]
    props = schedules["Sweep"]["Properties"]
    assert props["Schedule"] == {"Ref": "ScheduleExpression"}
    assert props.get("State", "ENABLED") == "ENABLED"
    assert root["Parameters"]["ScheduleExpression"]["Default"] == "rate(1 hour)"
    event = sample("schedule.json")
    assert event["detail-type"] == "Scheduled Event" and event["source"] == "aws.events"


@pytest.mark.parametrize("name", all_samples())
def test_sample_event_reaches_the_expected_rule(route, name):
    event = sample(name)
    reached = route(event)
    if name in EXPECTED:
        assert reached == EXPECTED[name], f"{name}: reached {sorted(reached)}"
    else:
        assert len(reached) <= 1, f"{name} would invoke the function more than once: {sorted(reached)}"


def test_every_iam_event_name_in_the_pattern_reaches_the_iam_rule(route, root):
    base = sample("create-user.json")
    for event_name in patterns(root)[IAM_RULE]["detail"]["eventName"]:
        event = copy.deepcopy(base)
        event["detail"]["eventName"] = event_name
        assert route(event) == {IAM_RULE}, event_name


def test_read_calls_and_other_services_do_not_reach_the_iam_rule(route):
    base = sample("create-user.json")
    for event_name, source in (("GetUser", "iam.amazonaws.com"), ("CreateUser", "sso.amazonaws.com")):
        event = copy.deepcopy(base)
        event["detail"]["eventName"] = event_name
        event["detail"]["eventSource"] = source
        assert route(event) == set(), (event_name, source)


def test_root_iam_call_invokes_once_through_the_root_rule(route):
    event = sample("create-user.json")
    event["detail"]["userIdentity"] = dict(sample("root-api-call.json")["detail"]["userIdentity"])
    assert event["detail"]["userIdentity"]["type"] == "Root"
    assert route(event) == {ROOT_RULE}


def test_failed_root_call_still_reaches_the_root_rule(route):
    event = sample("root-api-call.json")
    event["detail"]["errorCode"] = "AccessDenied"
    assert route(event) == {ROOT_RULE}


def handled_events() -> set[str]:
    """The IAM events the function handles: the rows of docs/events.md, which a Rust test
    (tests/generated.rs) keeps equal to the router's table (src/change.rs `EVENTS`)."""
    names = set(re.findall(r"^\| `([A-Z][A-Za-z0-9]+)` \|", EVENTS_MD.read_text(), re.M))
    assert len(names) >= 40, f"docs/events.md lists {len(names)} events"
    return names


def test_iam_pattern_names_what_the_router_handles(root):
    """The IAM rule's eventName list and the function's router handle the same events: a name
    only in the router would never arrive, a name only in the pattern would invoke the function
    for nothing."""
    handled = handled_events()
    listed = set(patterns(root)[IAM_RULE]["detail"]["eventName"])
    assert listed == handled, f"only in pattern: {sorted(listed - handled)}, only in router: {sorted(handled - listed)}"


def test_iam_rule_is_us_east_1_only(root):
    iam = events_of(root)[IAM_RULE]["Properties"]
    assert iam["State"] == {"Fn::If": ["IsUsEast1", "ENABLED", "DISABLED"]}
    assert root["Conditions"]["IsUsEast1"] == {"Fn::Equals": [{"Ref": "AWS::Region"}, "us-east-1"]}
    assert root["Parameters"]["AllowOtherRegions"]["Default"] == "false"
    rule = root["Rules"]["IamEventsOnlyInUsEast1"]
    assert rule["RuleCondition"] == {"Fn::Equals": [{"Ref": "AllowOtherRegions"}, "false"]}
    assert rule["Assertions"][0]["Assert"] == {"Fn::Equals": [{"Ref": "AWS::Region"}, "us-east-1"]}


def test_rule_targets_have_a_dead_letter_queue(root):
    for name, event in events_of(root).items():
        assert event["Properties"]["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]}}, name


# ----------------------------------------------------------------------------- (c) settings


def catalog() -> list[dict]:
    """The rule catalog as the binary prints it (`iam-assurance rules --format json`): the
    built binary (`make test` builds it before these tests), else `cargo run`."""
    import subprocess

    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    binary = target / "debug" / "iam-assurance"
    command = [str(binary)] if binary.is_file() else ["cargo", "run", "--quiet", "--bin", "iam-assurance", "--"]
    out = subprocess.run(command + ["rules", "--format", "json"], capture_output=True, text=True, timeout=1800, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def default_settings(rule: dict) -> dict:
    """What a rule's SSM parameter holds at its defaults: `enabled` for opt-in rules, then its
    parameters."""
    expected = {name: spec["default"] for name, spec in rule["params"].items()}
    if not rule["enabled_by_default"]:
        expected["enabled"] = False
    return expected


def test_catalog_has_the_rules_with_their_defaults():
    rules = {rule["id"]: default_settings(rule) for rule in catalog()}
    documented = re.findall(r"^## ([a-z0-9-]+)$", (ROOT / "docs" / "rules.md").read_text(), re.M)
    assert list(rules) == documented, "docs/rules.md lists the catalog's rules, in order"
    assert rules["password-policy"] == {
        "min_length": 14,
        "require_uppercase": True,
        "require_lowercase": True,
        "require_numbers": True,
        "require_symbols": True,
        "max_age_days": 90,
        "reuse_prevention": 24,
    }
    assert rules["user-service-inactivity"] == {"enabled": False, "max_unused_days": 90}
    assert rules["approved-users"] == {"approved": []}
    assert rules["root-access-keys"] == {}


GLOBAL_PARAMETER = "${SettingsPrefix}/global"


def settings_parameters(stack: dict) -> dict[str, dict]:
    """Rule id -> the value of its settings parameter (the global parameter aside)."""
    out = {}
    for logical_id, resource in stack["Resources"].items():
        if resource["Type"] != "AWS::SSM::Parameter":
            continue
        props = resource["Properties"]
        name = props["Name"]["Fn::Sub"]
        if name == GLOBAL_PARAMETER:
            continue
        match = re.fullmatch(r"\$\{SettingsPrefix\}/rules/([a-z0-9-]+)", name)
        assert match, f"{logical_id}: unexpected parameter name {name}"
        assert props["Type"] == "String", logical_id
        assert match.group(1) not in out, f"duplicate parameter for {match.group(1)}"
        out[match.group(1)] = json.loads(props["Value"])
    return out


def test_every_rule_has_its_settings_parameter_with_defaults(settings_stack):
    """infra/settings.yaml (generated from the catalog) holds one parameter per rule of the
    binary's catalog, with its defaults."""
    expected = {rule["id"]: default_settings(rule) for rule in catalog()}
    actual = settings_parameters(settings_stack)
    assert set(actual) == set(expected), (
        f"missing: {sorted(set(expected) - set(actual))}, unknown: {sorted(set(actual) - set(expected))}"
    )
    for rule_id, params in expected.items():
        assert actual[rule_id] == params, rule_id
    assert actual["user-service-inactivity"] == {"enabled": False, "max_unused_days": 90}
    assert actual["role-service-inactivity"] == {"enabled": False, "max_unused_days": 90}


def test_settings_prefix_defaults_agree(root, settings_stack):
    assert settings_stack["Parameters"]["SettingsPrefix"]["Default"] == root["Parameters"]["SettingsPrefix"]["Default"]


def test_global_settings_parameter_holds_the_defaults(settings_stack):
    """<prefix>/global exists with the defaults the code uses (crates/rules/src/settings.rs)."""
    found = [
        r["Properties"]
        for r in settings_stack["Resources"].values()
        if r["Type"] == "AWS::SSM::Parameter" and r["Properties"]["Name"] == {"Fn::Sub": GLOBAL_PARAMETER}
    ]
    assert len(found) == 1
    assert found[0]["Type"] == "String"
    assert json.loads(found[0]["Value"]) == {"renotify_hours": 24, "notify_min_severity": "info"}
    code = (ROOT / "crates" / "rules" / "src" / "settings.rs").read_text()
    assert "GlobalSettings { renotify_hours: 24, notify_min_severity: Severity::Info }" in code


# ----------------------------------------------------------------------------- (d) operations

TELEMETRY_RS = ROOT / "src" / "telemetry.rs"
ALARM_ACTION = {"Fn::If": ["HasAlarmTopic", {"Ref": "AlarmTopicArn"}, {"Fn::GetAtt": ["Notifications", "Outputs.TopicArn"]}]}
FUNCTION_DIMENSION = {"Name": "FunctionName", "Value": {"Ref": FUNCTION}}


@pytest.fixture(scope="module")
def trail_stack() -> dict:
    return load(INFRA / "trail.yaml")


@pytest.fixture(scope="module")
def forwarder_stack() -> dict:
    return load(INFRA / "root-forwarder.yaml")


def all_stacks() -> dict[str, dict]:
    return {path.name: load(path) for path in [TEMPLATE, *sorted(INFRA.glob("*.yaml"))]}


def alarm(root: dict, name: str) -> dict:
    resource = root["Resources"][name]
    assert resource["Type"] == "AWS::CloudWatch::Alarm", name
    props = resource["Properties"]
    assert props["AlarmActions"] == [ALARM_ACTION] and props["OKActions"] == [ALARM_ACTION], name
    assert props["AlarmDescription"], name
    return props


def telemetry_constant(name: str) -> str:
    found = re.search(rf'pub const {name}: &str = "([^"]+)";', TELEMETRY_RS.read_text())
    assert found, f"{name} not found in {TELEMETRY_RS}"
    return found.group(1)


def test_every_alarm_notifies_the_alarm_topic(root):
    for name, resource in root["Resources"].items():
        if resource["Type"] == "AWS::CloudWatch::Alarm":
            alarm(root, name)


def test_rules_not_evaluated_alarm_reads_the_functions_own_metric(root):
    props = alarm(root, "RulesNotEvaluatedAlarm")
    assert props["Namespace"] == telemetry_constant("NAMESPACE") == "IamAssurance"
    assert props["MetricName"] == telemetry_constant("RULES_NOT_EVALUATED")
    # By function alone: the metric is also published under that dimension set, so every
    # trigger (sweeps and events) counts.
    assert props["Dimensions"] == [FUNCTION_DIMENSION]
    assert props["Statistic"] == "Maximum"
    assert props["Threshold"] == {"Ref": "RulesNotEvaluatedThreshold"}
    assert props["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert root["Parameters"]["RulesNotEvaluatedThreshold"]["Default"] == 1
    assert props["Period"] == {"Ref": "SchedulePeriodSeconds"}


def test_heartbeat_alarm_fires_when_no_sweep_completed_for_two_periods(root):
    props = alarm(root, "SweepHeartbeatAlarm")
    assert props["Namespace"] == "IamAssurance"
    assert props["MetricName"] == telemetry_constant("SWEEPS_COMPLETED")
    assert props["Dimensions"] == [FUNCTION_DIMENSION, {"Name": "Trigger", "Value": "schedule"}]
    assert props["Statistic"] == "Sum"
    assert props["Period"] == {"Ref": "SchedulePeriodSeconds"}
    assert props["EvaluationPeriods"] == 2 and props["DatapointsToAlarm"] == 2
    assert props["Threshold"] == 1 and props["ComparisonOperator"] == "LessThanThreshold"
    assert props["TreatMissingData"] == "breaching"
    period = root["Parameters"]["SchedulePeriodSeconds"]
    assert period["Default"] == 3600 and root["Parameters"]["ScheduleExpression"]["Default"] == "rate(1 hour)"
    # CloudWatch: at most a day of evaluation below an hour's period, a week above.
    for seconds in period["AllowedValues"]:
        assert seconds % 60 == 0
        assert seconds * 2 <= (86400 if seconds < 3600 else 604800)


@pytest.mark.parametrize(
    "name, metric, statistic, threshold",
    [
        ("AsyncEventAgeAlarm", "AsyncEventAge", "Maximum", 1800000),
        ("AsyncEventsDroppedAlarm", "AsyncEventsDropped", "Sum", 1),
        ("DestinationDeliveryFailuresAlarm", "DestinationDeliveryFailures", "Sum", 1),
    ],
)
def test_lambda_async_alarms(root, name, metric, statistic, threshold):
    props = alarm(root, name)
    assert (props["Namespace"], props["MetricName"], props["Statistic"]) == ("AWS/Lambda", metric, statistic)
    assert props["Dimensions"] == [FUNCTION_DIMENSION]
    assert props["Threshold"] == threshold
    assert props["TreatMissingData"] == "notBreaching"


def test_duration_alarm_compares_with_the_timeout(root):
    props = alarm(root, "DurationNearTimeoutAlarm")
    metrics = {m["Id"]: m for m in props["Metrics"]}
    stat = metrics["duration"]["MetricStat"]
    assert stat["Metric"]["Namespace"] == "AWS/Lambda" and stat["Metric"]["MetricName"] == "Duration"
    assert stat["Metric"]["Dimensions"] == [FUNCTION_DIMENSION] and stat["Stat"] == "Maximum"
    assert metrics["duration"]["ReturnData"] is False and metrics["share"]["ReturnData"] is True
    expression = metrics["share"]["Expression"]["Fn::Sub"]
    assert expression == "duration / (${FunctionTimeout} * 1000)"
    assert props["Threshold"] == 0.8 and props["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"


def test_root_rule_sees_every_management_event(root):
    rule = events_of(root)[ROOT_RULE]["Properties"]
    assert rule["State"] == "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS"


def test_root_forwarder_sends_the_same_events_to_the_functions_region(root, forwarder_stack):
    resources = forwarder_stack["Resources"]
    rule = resources["RootActivityForwarder"]["Properties"]
    assert rule["State"] == "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS"
    assert json.loads(json.dumps(rule["EventPattern"])) == patterns(root)[ROOT_RULE]
    ((target,),) = [rule["Targets"]]
    bus = "arn:${AWS::Partition}:events:${TargetRegion}:${AWS::AccountId}:event-bus/default"
    assert target["Arn"] == {"Fn::Sub": bus}
    assert target["RoleArn"] == {"Fn::GetAtt": ["ForwarderRole", "Arn"]}
    assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": ["ForwarderDeadLetterQueue", "Arn"]}}
    role = resources["ForwarderRole"]["Properties"]
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "events.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}
    ((statement,),) = [p["PolicyDocument"]["Statement"] for p in role["Policies"]]
    assert statement["Action"] == "events:PutEvents" and statement["Resource"] == {"Fn::Sub": bus}
    assert forwarder_stack["Parameters"]["TargetRegion"]["Default"] == "us-east-1"
    assertion = forwarder_stack["Rules"]["NotInTheTargetRegion"]["Assertions"][0]["Assert"]
    assert assertion == {"Fn::Not": [{"Fn::Equals": [{"Ref": "AWS::Region"}, {"Ref": "TargetRegion"}]}]}


def test_forwarded_root_events_reach_the_root_rule(route):
    """A root event forwarded from another region keeps its detail-type and detail."""
    event = sample("root-api-call.json")
    event["region"] = "eu-west-1"
    event["detail"]["awsRegion"] = "eu-west-1"
    event["detail"]["readOnly"] = True
    assert route(event) == {ROOT_RULE}


def test_reserved_concurrency_is_a_parameter_with_no_default(root):
    param = root["Parameters"]["ReservedConcurrency"]
    assert param["Default"] == "" and param["Type"] == "String"
    assert re.fullmatch(param["AllowedPattern"], "") and re.fullmatch(param["AllowedPattern"], "5")
    assert not re.fullmatch(param["AllowedPattern"], "-1")
    assert function(root)["Properties"]["ReservedConcurrentExecutions"] == {
        "Fn::If": ["HasReservedConcurrency", {"Ref": "ReservedConcurrency"}, {"Ref": "AWS::NoValue"}]
    }
    assert root["Conditions"]["HasReservedConcurrency"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "ReservedConcurrency"}, ""]}]}


def test_every_role_takes_the_permissions_boundary(root):
    boundary = {"Fn::If": ["HasPermissionsBoundary", {"Ref": "PermissionsBoundaryArn"}, {"Ref": "AWS::NoValue"}]}
    roles = 0
    for name, stack in all_stacks().items():
        for logical_id, resource in stack["Resources"].items():
            if resource["Type"] == "AWS::IAM::Role":
                roles += 1
                assert resource["Properties"].get("PermissionsBoundary") == boundary, f"{name}: {logical_id}"
                assert stack["Parameters"]["PermissionsBoundaryArn"]["Default"] == ""
            assert not (resource["Type"] == "AWS::Serverless::Function" and "Role" not in resource["Properties"]), (
                f"{name}: {logical_id} would get a role SAM creates, without the boundary"
            )
    assert roles >= 3
    assert root["Resources"]["Notifications"]["Properties"]["Parameters"]["PermissionsBoundaryArn"] == {
        "Ref": "PermissionsBoundaryArn"
    }


# Actions that accept no resource ARN (the service authorization reference): "*" is the only choice.
IAM_ACTIONS_WITHOUT_RESOURCES = {
    "iam:GetAccountAuthorizationDetails",
    "iam:GenerateCredentialReport",
    "iam:GetCredentialReport",
    "iam:GetAccountSummary",
    "iam:GetAccountPasswordPolicy",
    "iam:ListServerCertificates",
    "iam:ListVirtualMFADevices",
    "iam:GetServiceLastAccessedDetails",
}


def test_iam_actions_that_accept_arns_are_pinned_to_the_account(root):
    account = "arn:${AWS::Partition}:iam::${AWS::AccountId}:"
    for statement in role_statements(root):
        actions = [a for a in as_list(statement["Action"]) if a.startswith("iam:")]
        if not actions:
            continue
        resources = as_list(statement["Resource"])
        if resources == ["*"]:
            assert set(actions) <= IAM_ACTIONS_WITHOUT_RESOURCES, statement.get("Sid")
            continue
        assert not set(actions) & IAM_ACTIONS_WITHOUT_RESOURCES, statement.get("Sid")
        arns = sorted(r["Fn::Sub"] for r in resources)
        assert arns == sorted(
            [account + "user/*", account + "group/*", account + "role/*", account + "policy/*", "arn:${AWS::Partition}:iam::aws:policy/*"]
        )


def test_no_ssm_get_parameter(root):
    assert "ssm:GetParameter" not in {a for s in role_statements(root) for a in as_list(s["Action"])}


def test_topic_key_serves_only_this_accounts_alarms(notifications_stack):
    statements = notifications_stack["Resources"]["TopicKey"]["Properties"]["KeyPolicy"]["Statement"]
    (cloudwatch,) = [s for s in statements if s.get("Sid") == "CloudWatchAlarms"]
    assert cloudwatch["Condition"]["StringEquals"]["aws:SourceAccount"] == {"Ref": "AWS::AccountId"}


def test_created_trail_is_encrypted_and_its_bucket_access_logged(trail_stack):
    resources = trail_stack["Resources"]
    trail = resources["Trail"]["Properties"]
    assert trail["KMSKeyId"] == {"Fn::GetAtt": ["TrailKey", "Arn"]}
    key = resources["TrailKey"]["Properties"]
    assert key["EnableKeyRotation"] is True
    encrypt = [s for s in key["KeyPolicy"]["Statement"] if s.get("Sid") == "CloudTrailEncrypt"][0]
    assert encrypt["Principal"] == {"Service": "cloudtrail.amazonaws.com"} and encrypt["Condition"]["StringEquals"]["aws:SourceArn"]
    logging = resources["TrailBucket"]["Properties"]["LoggingConfiguration"]
    assert logging["DestinationBucketName"] == {"Ref": "AccessLogBucket"}
    log_bucket = resources["AccessLogBucket"]["Properties"]
    assert log_bucket["PublicAccessBlockConfiguration"]["RestrictPublicBuckets"] is True
    statements = resources["AccessLogBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    (delivery,) = [s for s in statements if s["Effect"] == "Allow"]
    assert delivery["Principal"] == {"Service": "logging.s3.amazonaws.com"}
    assert delivery["Resource"] == {"Fn::Sub": "${AccessLogBucket.Arn}/" + logging["LogFilePrefix"] + "*"}
    assert delivery["Condition"]["StringEquals"]["aws:SourceAccount"] == {"Ref": "AWS::AccountId"}


def test_every_checkov_skip_says_why():
    skips = 0
    for name, stack in all_stacks().items():
        for logical_id, resource in stack["Resources"].items():
            for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", []):
                skips += 1
                assert re.fullmatch(r"CKV2?_AWS_\d+", skip["id"]), (name, logical_id, skip)
                assert len(skip.get("comment", "").split()) >= 8, f"{name}: {logical_id} skips {skip['id']} without a reason"
    assert skips >= 1


def test_make_deploy_is_non_interactive_and_passes_parameters_and_tags():
    import shutil
    import subprocess

    if not shutil.which("make"):
        pytest.skip("make not installed")
    out = subprocess.run(
        ["make", "-n", "--no-print-directory", "deploy", "DEPLOY_PARAMETERS=AlertEmail=ops@example.com CreateTrail=true",
         "STACK_TAGS=team=secops cost-center=1234", "ARCH=x86_64"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )
    assert out.returncode == 0, out.stderr
    text = " ".join(out.stdout.replace("\\\n", " ").split())
    assert "deploy --no-confirm-changeset" in text and "--guided" not in text, text
    assert "--parameter-overrides Architecture=x86_64 AlertEmail=ops@example.com CreateTrail=true" in text
    assert "--tags team=secops cost-center=1234" in text
    assert "build --beta-features --parameter-overrides Architecture=x86_64" in text
    guided = subprocess.run(["make", "-n", "--no-print-directory", "deploy-guided"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert "--guided --config-file samconfig.local.toml" in guided.stdout


# ----------------------------------------------------------------------------- (d) organization


@pytest.fixture(scope="module")
def member_stack() -> dict:
    return load(INFRA / "member.yaml")


ORGANIZATION_RESOURCES = {
    "OrganizationStateTable",
    "CentralEventBus",
    "CentralEventBusPolicy",
    "OrganizationIamChangeRule",
    "OrganizationRootActivityRule",
    "OrganizationIamChangePermission",
    "OrganizationRootActivityPermission",
    "AccountsQueue",
    "AccountsDeadLetterQueue",
    "AccountsEventSourceMapping",
    "AccountsDeadLetterAlarm",
}


def test_without_an_organization_id_the_stack_is_the_single_account_one(root):
    conditional = {name for name, r in root["Resources"].items() if r.get("Condition") == "IsOrganization"}
    assert conditional == ORGANIZATION_RESOURCES
    assert root["Parameters"]["OrganizationId"]["Default"] == ""
    assert root["Conditions"]["IsOrganization"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "OrganizationId"}, ""]}]}
    single = {a for s in role_statements(root) for a in as_list(s["Action"])}
    assert not {a for a in single if a.split(":")[0] in ("organizations", "sts", "sqs") and a != "sqs:SendMessage"}, single
    assert resolve(root["Resources"]["FunctionRole"]["Properties"], SINGLE).get("RoleName") is None


def test_the_hub_grants_exactly_the_organization_actions(root):
    statements = {s.get("Sid"): s for s in role_statements(root, ORGANIZATION)}
    granted = {a for s in statements.values() for a in as_list(s["Action"]) if a.split(":")[0] in ("organizations", "sts")}
    expected = {a for a in rust_const("ORGANIZATION_ACTIONS") if a.split(":")[0] in ("organizations", "sts")}
    assert granted == expected
    assume = statements["AssumeMemberRoles"]
    assert assume["Resource"] == {"Fn::Sub": "arn:${AWS::Partition}:iam::*:role/${MemberRoleName}"}
    assert assume["Condition"] == {"StringEquals": {"aws:ResourceOrgID": {"Ref": "OrganizationId"}}}
    queue = statements["AccountsQueue"]
    assert "sqs:SendMessage" in as_list(queue["Action"]) and queue["Resource"] == {"Fn::GetAtt": ["AccountsQueue", "Arn"]}
    state = statements["FindingState"]
    assert state["Resource"] == {"Fn::GetAtt": ["OrganizationStateTable", "Arn"]}
    rounds = statements["OrganizationRounds"]
    assert set(as_list(rounds["Action"])) == {a for a in rust_const("ORGANIZATION_ACTIONS") if a.startswith("dynamodb:")}
    assert rounds["Resource"] == {"Fn::GetAtt": ["OrganizationStateTable", "Arn"]}


def test_the_central_bus_accepts_only_the_organization(root):
    policy = root["Resources"]["CentralEventBusPolicy"]["Properties"]
    assert policy["Statement"]["Action"] == "events:PutEvents"
    assert policy["Statement"]["Condition"] == {"StringEquals": {"aws:PrincipalOrgID": {"Ref": "OrganizationId"}}}
    for name in ("OrganizationIamChangeRule", "OrganizationRootActivityRule"):
        rule = root["Resources"][name]["Properties"]
        assert rule["EventBusName"] == {"Ref": "CentralEventBus"}
        assert rule["Targets"][0]["Arn"] == {"Fn::GetAtt": ["IamAssuranceFunction", "Arn"]}
    iam = root["Resources"]["OrganizationIamChangeRule"]["Properties"]["EventPattern"]["detail"]["eventName"]
    assert set(iam) == handled_events()


def test_the_accounts_queue_reports_failures_alone_and_dead_letters(root):
    mapping = root["Resources"]["AccountsEventSourceMapping"]["Properties"]
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["ScalingConfig"] == {"MaximumConcurrency": {"Ref": "AccountsMaxConcurrency"}}
    assert mapping["BatchSize"] == 1
    queue = root["Resources"]["AccountsQueue"]["Properties"]
    assert queue["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": ["AccountsDeadLetterQueue", "Arn"]},
        "maxReceiveCount": {"Ref": "AccountsMaxReceiveCount"},
    }
    assert queue["VisibilityTimeout"] >= root["Parameters"]["FunctionTimeout"]["MaxValue"]
    table = root["Resources"]["OrganizationStateTable"]["Properties"]
    assert table["KeySchema"] == [{"AttributeName": "account", "KeyType": "HASH"}, {"AttributeName": "fingerprint", "KeyType": "RANGE"}]


def test_the_member_role_grants_exactly_the_read_actions_and_trusts_only_the_hub_function(root, member_stack):
    role = member_stack["Resources"]["ReaderRole"]
    assert role["Condition"] == "IsUsEast1", "IAM is global: one role, from the us-east-1 stack instance"
    props = role["Properties"]
    trust = props["AssumeRolePolicyDocument"]["Statement"]
    assert len(trust) == 1 and trust[0]["Action"] == "sts:AssumeRole"
    assert trust[0]["Principal"] == {"AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${HubAccountId}:root"}}
    assert trust[0]["Condition"] == {
        "ArnEquals": {"aws:PrincipalArn": {"Fn::Sub": "arn:${AWS::Partition}:iam::${HubAccountId}:role/${HubFunctionRoleName}"}}
    }
    def granted(export: bool) -> list[str]:
        policies = resolve(props["Policies"], {"SecurityHubExportEnabled": export})
        return [a for p in policies for s in as_list(p["PolicyDocument"]["Statement"]) for a in as_list(s["Action"])]

    reads = set(rust_const("IAM_ACTIONS")) | set(rust_const("ACCOUNT_ACTIONS"))
    assert len(granted(False)) == len(set(granted(False))) and set(granted(False)) == reads
    # With the export on, the member's own findings are imported through the role (Security Hub
    # takes a finding only from the account it is about), on the member's default product only.
    assert set(granted(True)) == reads | set(rust_const("SECURITY_HUB_ACTIONS"))
    imports = [s for p in resolve(props["Policies"], {"SecurityHubExportEnabled": True})
               for s in as_list(p["PolicyDocument"]["Statement"]) if s["Action"] == "securityhub:BatchImportFindings"]
    assert [s["Resource"] for s in imports] == [
        {"Fn::Sub": "arn:${AWS::Partition}:securityhub:*:${AWS::AccountId}:product/${AWS::AccountId}/default"}
    ]
    assert member_stack["Parameters"]["SecurityHubExport"]["Default"] == "false"
    # The hub's role is named so that the member's default trusts it (stack `iam-assurance`).
    hub_role = resolve(root["Resources"]["FunctionRole"]["Properties"], ORGANIZATION)["RoleName"]
    assert hub_role == {"Fn::Sub": "${AWS::StackName}-function"}
    assert member_stack["Parameters"]["HubFunctionRoleName"]["Default"] == "iam-assurance-function"
    assert member_stack["Parameters"]["MemberRoleName"]["Default"] == root["Parameters"]["MemberRoleName"]["Default"]


def test_the_member_forwards_iam_changes_and_root_activity_to_the_hub(member_stack):
    resources = member_stack["Resources"]
    iam = resources["IamChangeRule"]
    assert iam["Condition"] == "IsUsEast1"
    assert set(iam["Properties"]["EventPattern"]["detail"]["eventName"]) == handled_events()
    root_rule = resources["RootActivityRule"]
    assert "Condition" not in root_rule, "root activity is forwarded from every region the StackSet deploys to"
    assert root_rule["Properties"]["State"] == "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS"
    for rule in (iam, root_rule):
        target = rule["Properties"]["Targets"][0]
        assert target["Arn"] == {"Ref": "HubEventBusArn"} and target["RoleArn"] == {"Fn::GetAtt": ["ForwarderRole", "Arn"]}
    forwarder = resources["ForwarderRole"]["Properties"]
    statement = forwarder["Policies"][0]["PolicyDocument"]["Statement"][0]
    assert statement == {"Effect": "Allow", "Action": "events:PutEvents", "Resource": {"Ref": "HubEventBusArn"}}
    assert "Transform" not in member_stack, "service-managed StackSets reject the SAM transform"
