"""Least privilege: no wildcard grants anywhere, and each function may call only what it calls."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.adapters.dynamo.models import QUEUE_INDEX
from infra.access import CONSUME_ACTIONS, TABLE_ACTIONS
from infra.functions import (
    API,
    AUTHORIZER,
    FUNCTIONS,
    INGEST,
    WORKER,
    WS_CONNECT,
    WS_DISCONNECT,
    WS_MESSAGE,
)
from tests.infra.cfn import least_privilege_problems, ref_id, statements

LOGS = ("logs:CreateLogStream", "logs:PutLogEvents")
XRAY = ("xray:PutTelemetryRecords", "xray:PutTraceSegments")
CONNECTIONS = "execute-api:ManageConnections"
BUCKET = "arn:<AWS::Partition>:s3:::raspa-batches-<AWS::AccountId>-<AWS::Region>"


def grants(synthesized: Any, function: str) -> dict[str, set[str]]:
    """What ``function``'s role allows: action → the resources it applies to."""
    role = ref_id(synthesized.props(function)["Role"])
    allowed: dict[str, set[str]] = {}
    for st in statements(synthesized.body):
        if st.owner == role and st.allows:
            for action in st.actions:
                allowed.setdefault(action, set()).update(st.resources)
    return allowed


def names(synthesized: Any, kind: str, name_property: str) -> dict[str, str]:
    """Resource name → logical id, for tables and queues."""
    return {r["Properties"][name_property]: k for k, r in synthesized.resources(kind).items()}


def arns(ids: list[str]) -> set[str]:
    return {f"<{logical_id}.Arn>" for logical_id in ids}


def test_no_policy_grants_a_wildcard_action_or_a_wildcard_data_resource(
    synthesized: Any,
) -> None:
    owners = {st.owner for st in statements(synthesized.body)}
    holders = [
        "AWS::IAM::Role",
        "AWS::SQS::QueuePolicy",
        "AWS::S3::BucketPolicy",
        "AWS::SNS::TopicPolicy",
        "AWS::KMS::Key",
    ]
    assert owners == {k for kind in holders for k in synthesized.resources(kind)}
    assert least_privilege_problems(synthesized.body) == []


@pytest.mark.parametrize(
    ("statement", "problem"),
    [
        ({"Effect": "Allow", "Action": "*", "Resource": "arn:aws:sns:r:1:t"}, "wildcard action"),
        (
            {"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::b/p/*"},
            "wildcard action",
        ),
        ({"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": "*"}, "wildcard resource"),
        (
            {
                "Effect": "Allow",
                "Action": "dynamodb:GetItem",
                "Resource": "arn:aws:dynamodb:r:1:table/*",
            },
            "wildcard resource",
        ),
        (
            {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::bucket/*"},
            "wildcard resource",
        ),
        (
            {
                "Effect": "Allow",
                "Action": "secretsmanager:GetSecretValue",
                "Resource": "arn:aws:secretsmanager:*:1:secret:x",
            },
            "wildcard resource",
        ),
        ({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}, "NotAction"),
    ],
)
def test_the_least_privilege_walk_flags_what_it_must(statement: dict, problem: str) -> None:
    template = {
        "Resources": {
            "Role": {
                "Type": "AWS::IAM::Role",
                "Properties": {"Policies": [{"PolicyDocument": {"Statement": [statement]}}]},
            }
        }
    }
    found = least_privilege_problems(template)
    assert len(found) >= 1 and problem in found[0]


def test_the_least_privilege_walk_accepts_named_resources_prefixes_and_denials() -> None:
    fine = [
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::bucket/results/*"},
        {"Effect": "Allow", "Action": "xray:PutTraceSegments", "Resource": "*"},
        {"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": {"Fn::GetAtt": ["Q", "Arn"]}},
        {"Effect": "Deny", "Action": "s3:*", "Resource": "*"},
    ]
    template = {
        "Resources": {
            "Policy": {
                "Type": "AWS::IAM::Policy",
                "Properties": {"PolicyDocument": {"Statement": fine}},
            }
        }
    }
    assert least_privilege_problems(template) == []


def test_each_function_may_call_exactly_what_its_code_calls(
    synthesized: Any, settings: Any
) -> None:
    tables = names(synthesized, "AWS::DynamoDB::Table", "TableName")
    queues = names(synthesized, "AWS::SQS::Queue", "QueueName")
    every_table = arns(list(tables.values())) | {
        f"<{tables[settings.tasks_table]}.Arn>/index/{QUEUE_INDEX}"
    }
    session_tables = arns([tables[settings.tasks_table], tables[settings.connections_table]]) | {
        f"<{tables[settings.tasks_table]}.Arn>/index/{QUEUE_INDEX}"
    }
    scrape = arns([queues[settings.queue_name]])
    ingest = arns([queues[settings.ingest_queue_name]])
    dlq = arns([queues[settings.dlq_name]])
    connections = {
        "arn:<AWS::Partition>:execute-api:<AWS::Region>:<AWS::AccountId>:<WebsocketAPI>"
        "/api/POST/@connections/*"
    }
    secret = {f"<{next(iter(synthesized.resources('AWS::SecretsManager::Secret')))}>"}

    def expected(name: str, tables_: set[str] | None, **extra: set[str]) -> dict[str, set[str]]:
        group = f"<{ref_id(synthesized.props(name)['LoggingConfig']['LogGroup'])}.Arn>"
        rights = {action: {group} for action in LOGS}
        if tables_:
            rights |= {action: tables_ for action in TABLE_ACTIONS}
        if FUNCTIONS[name].tracing:
            rights |= {action: {"*"} for action in XRAY}
        return rights | extra

    consume = {action: scrape for action in CONSUME_ACTIONS}
    consume_ingest = {action: ingest for action in CONSUME_ACTIONS}
    want = {
        API: expected(
            API,
            every_table,
            **{
                "sqs:SendMessage": scrape,
                "s3:PutObject": {f"{BUCKET}/batches/*"},
                "s3:GetObject": {f"{BUCKET}/results/*"},
            },
        ),
        AUTHORIZER: expected(AUTHORIZER, None),
        WS_CONNECT: expected(WS_CONNECT, session_tables),
        WS_DISCONNECT: expected(WS_DISCONNECT, session_tables),
        WS_MESSAGE: expected(WS_MESSAGE, every_table, **{CONNECTIONS: connections}),
        WORKER: expected(
            WORKER,
            every_table,
            **consume,
            **{
                # wake-ups and retries, a failed task's letter, a batch's finalize
                "sqs:SendMessage": scrape | dlq | ingest,
                "sqs:GetQueueUrl": dlq,  # the DLQ is found by name
                "secretsmanager:GetSecretValue": secret,
                CONNECTIONS: connections,
            },
        ),
        INGEST: expected(
            INGEST,
            every_table,
            **consume_ingest,
            **{
                "sqs:SendMessage": scrape | ingest,
                "s3:GetObject": {f"{BUCKET}/batches/*"},
                "s3:PutObject": {f"{BUCKET}/results/*"},
                CONNECTIONS: connections,
            },
        ),
    }
    for name in FUNCTIONS:
        assert grants(synthesized, name) == want[name], name


def test_only_the_worker_consumes_the_scrape_queue_and_writes_to_the_dlq(
    synthesized: Any, settings: Any
) -> None:
    queues = names(synthesized, "AWS::SQS::Queue", "QueueName")
    dlq = f"<{queues[settings.dlq_name]}.Arn>"
    scrape = f"<{queues[settings.queue_name]}.Arn>"
    writers = [n for n in FUNCTIONS if dlq in grants(synthesized, n).get("sqs:SendMessage", ())]
    consumers = [
        n for n in FUNCTIONS if scrape in grants(synthesized, n).get("sqs:ReceiveMessage", ())
    ]
    assert writers == consumers == [WORKER]


def test_only_the_worker_may_read_the_portal_secret(synthesized: Any) -> None:
    readers = [
        name for name in FUNCTIONS if "secretsmanager:GetSecretValue" in grants(synthesized, name)
    ]
    assert readers == [WORKER]


def test_pynamodb_needs_no_table_administration(synthesized: Any) -> None:
    for name in FUNCTIONS:
        actions = set(grants(synthesized, name))
        assert not {a for a in actions if a.startswith("dynamodb:")} - set(TABLE_ACTIONS)
        assert not actions & {"dynamodb:Scan", "dynamodb:DescribeTable", "dynamodb:DeleteTable"}
