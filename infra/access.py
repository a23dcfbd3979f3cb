"""Least-privilege IAM statements for each of raspa's functions: only the calls its code makes."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Aws
from aws_cdk import aws_iam as iam

from infra.data import Data, object_arn

__all__ = ["CONSUME_ACTIONS", "TABLE_ACTIONS", "Access"]

#: Item reads and writes of PynamoDB's models: get/batch_get/save/update/delete/batch_write,
#: queries and counts on the tables and the queue index, and TransactWrite (which needs the
#: per-item actions, ConditionCheckItem included). No Scan, no DescribeTable, no table admin.
TABLE_ACTIONS = (
    "dynamodb:GetItem",
    "dynamodb:BatchGetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:BatchWriteItem",
    "dynamodb:ConditionCheckItem",
    "dynamodb:Query",
)
#: What a Lambda SQS event source needs of its queue, plus the worker's retry back-off.
CONSUME_ACTIONS = (
    "sqs:ReceiveMessage",
    "sqs:DeleteMessage",
    "sqs:GetQueueAttributes",
    "sqs:ChangeMessageVisibility",
)


@dataclass(frozen=True)
class Access:
    """Builds statements against the stack's data resources and its WebSocket API."""

    data: Data
    websocket_api_id: str
    websocket_stage: str

    def tables(self, *names: str) -> iam.PolicyStatement:
        """Item access to the tables ``names`` (all of them if none) and their indexes."""
        chosen = names or tuple(self.data.tables)
        arns = [self.data.tables[name].table_arn for name in chosen]
        return iam.PolicyStatement(
            sid="Tables",
            actions=list(TABLE_ACTIONS),
            resources=arns + self.data.index_arns(*chosen),
        )

    def send(self, *queue_names: str) -> iam.PolicyStatement:
        return iam.PolicyStatement(
            sid="Send",
            actions=["sqs:SendMessage"],
            resources=[self.data.queue(name).queue_arn for name in queue_names],
        )

    def consume(self, *queue_names: str) -> iam.PolicyStatement:
        return iam.PolicyStatement(
            sid="Consume",
            actions=list(CONSUME_ACTIONS),
            resources=[self.data.queue(name).queue_arn for name in queue_names],
        )

    def read_objects(self, prefix: str) -> iam.PolicyStatement:
        return iam.PolicyStatement(
            sid="ReadObjects", actions=["s3:GetObject"], resources=[self._objects(prefix)]
        )

    def write_objects(self, prefix: str) -> iam.PolicyStatement:
        return iam.PolicyStatement(
            sid="WriteObjects", actions=["s3:PutObject"], resources=[self._objects(prefix)]
        )

    def portal_secret(self) -> iam.PolicyStatement:
        return iam.PolicyStatement(
            sid="PortalSecret",
            actions=["secretsmanager:GetSecretValue"],
            resources=[self.data.secret.secret_arn],
        )

    def manage_connections(self) -> iam.PolicyStatement:
        """Post to any open connection of the stack's WebSocket API (ids are not known ahead)."""
        return iam.PolicyStatement(
            sid="ManageConnections",
            actions=["execute-api:ManageConnections"],
            resources=[self.connections_arn],
        )

    @property
    def connections_arn(self) -> str:
        return (
            f"arn:{Aws.PARTITION}:execute-api:{Aws.REGION}:{Aws.ACCOUNT_ID}:"
            f"{self.websocket_api_id}/{self.websocket_stage}/POST/@connections/*"
        )

    @staticmethod
    def tracing() -> iam.PolicyStatement:
        """X-Ray has no resource-level permissions: its actions take ``*`` only."""
        return iam.PolicyStatement(
            sid="Tracing",
            actions=["xray:PutTraceSegments", "xray:PutTelemetryRecords"],
            resources=["*"],
        )

    @staticmethod
    def logs(log_group_arn: str) -> iam.PolicyStatement:
        return iam.PolicyStatement(
            sid="Logs",
            actions=["logs:CreateLogStream", "logs:PutLogEvents"],
            resources=[log_group_arn],
        )

    def _objects(self, prefix: str) -> str:
        assert self.data.bucket is not None, "the spec declares no batch bucket"
        return object_arn(self.data.spec.bucket.name, prefix)  # type: ignore[union-attr]
