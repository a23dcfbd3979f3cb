"""Create raspa's resources from ``infra.spec`` with boto3 (local stack, tests). Idempotent."""

from __future__ import annotations

import contextlib
import json
from typing import Any

from chalicelib.adapters.aws import AwsClients
from chalicelib.config import Settings
from infra.spec import BucketSpec, QueueSpec, TableSpec, resources

__all__ = ["create_all", "named", "queue_urls"]


def named(prefix: str) -> dict[str, str]:
    """Settings (environment variables) that give every table, queue, bucket and secret a
    name starting with ``prefix``: a fresh set of resources beside the others."""
    return {
        "RASPA_OS_TABLE": f"{prefix}-os",
        "RASPA_TASKS_TABLE": f"{prefix}-tasks",
        "RASPA_CONNECTIONS_TABLE": f"{prefix}-connections",
        "RASPA_QUEUE_NAME": f"{prefix}-scrape",
        "RASPA_DLQ_NAME": f"{prefix}-dlq",
        "RASPA_PRIORITY_QUEUE_NAME": f"{prefix}-vip",
        "RASPA_BATCH_QUEUE_NAME": f"{prefix}-batch",
        "RASPA_INGEST_QUEUE_NAME": f"{prefix}-ingest",
        "RASPA_BATCH_BUCKET": f"{prefix}-batches",
        "RASPA_PORTAL_SECRET_NAME": f"{prefix}-portal",
    }


def create_all(
    settings: Settings, clients: AwsClients, *, credentials: dict[str, str] | None = None
) -> dict[str, str]:
    """Create tables, queues, the batch bucket and the portal secret with ``clients``;
    returns the queue URLs."""
    spec = resources(settings)
    ddb = clients.client("dynamodb")
    for table in spec.tables:
        _create_table(ddb, table)
    sqs = clients.client("sqs")
    urls: dict[str, str] = {}
    for queue in spec.queues:
        urls[queue.name] = _create_queue(sqs, queue, urls)
    if spec.bucket is not None:
        _create_bucket(clients.client("s3"), sqs, spec.bucket, urls)
    if credentials is not None:
        sm = clients.client("secretsmanager")
        try:
            sm.create_secret(Name=spec.secret_name, SecretString=json.dumps(credentials))
        except sm.exceptions.ResourceExistsException:
            sm.put_secret_value(SecretId=spec.secret_name, SecretString=json.dumps(credentials))
    return urls


def queue_urls(settings: Settings, clients: AwsClients) -> dict[str, str]:
    """The URLs of ``settings``' queues, created earlier, by name."""
    sqs = clients.client("sqs")
    return {
        queue.name: sqs.get_queue_url(QueueName=queue.name)["QueueUrl"]
        for queue in resources(settings).queues
    }


def _create_table(ddb: Any, table: TableSpec) -> None:
    attrs = {table.hash_key}
    for index in table.indexes:
        attrs.add(index.hash_key)
        if index.range_key:
            attrs.add(index.range_key)
    kwargs: dict[str, Any] = {
        "TableName": table.name,
        "KeySchema": [{"AttributeName": table.hash_key[0], "KeyType": "HASH"}],
        "AttributeDefinitions": [
            {"AttributeName": n, "AttributeType": t} for n, t in sorted(attrs)
        ],
        "BillingMode": "PAY_PER_REQUEST",
    }
    if table.indexes:
        kwargs["GlobalSecondaryIndexes"] = [
            {
                "IndexName": index.name,
                "KeySchema": [{"AttributeName": index.hash_key[0], "KeyType": "HASH"}]
                + (
                    [{"AttributeName": index.range_key[0], "KeyType": "RANGE"}]
                    if index.range_key
                    else []
                ),
                "Projection": {"ProjectionType": "ALL"},
            }
            for index in table.indexes
        ]
    try:
        ddb.create_table(**kwargs)
    except ddb.exceptions.ResourceInUseException:
        return
    ddb.get_waiter("table_exists").wait(TableName=table.name)
    ddb.update_time_to_live(
        TableName=table.name,
        TimeToLiveSpecification={"Enabled": True, "AttributeName": table.ttl_attribute},
    )


def _create_queue(sqs: Any, queue: QueueSpec, urls: dict[str, str]) -> str:
    attributes = {
        "VisibilityTimeout": str(queue.visibility_timeout),
        "MessageRetentionPeriod": str(queue.retention_seconds),
    }
    if queue.dead_letter:
        dlq_arn = sqs.get_queue_attributes(
            QueueUrl=urls[queue.dead_letter], AttributeNames=["QueueArn"]
        )["Attributes"]["QueueArn"]
        attributes["RedrivePolicy"] = json.dumps(
            {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(queue.max_receive_count)}
        )
    return sqs.create_queue(QueueName=queue.name, Attributes=attributes)["QueueUrl"]


def _create_bucket(s3: Any, sqs: Any, bucket: BucketSpec, urls: dict[str, str]) -> None:
    """The batch bucket, notifying the ingest queue of uploads as the deployed one does."""
    with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
        s3.create_bucket(Bucket=bucket.name)
    queue_arn = sqs.get_queue_attributes(
        QueueUrl=urls[bucket.notify_queue], AttributeNames=["QueueArn"]
    )["Attributes"]["QueueArn"]
    s3.put_bucket_notification_configuration(
        Bucket=bucket.name,
        NotificationConfiguration={
            "QueueConfigurations": [
                {
                    "Id": "batch-uploads",
                    "QueueArn": queue_arn,
                    "Events": ["s3:ObjectCreated:*"],
                    "Filter": {
                        "Key": {
                            "FilterRules": [
                                {"Name": "prefix", "Value": bucket.upload_prefix},
                                {"Name": "suffix", "Value": bucket.upload_suffix},
                            ]
                        }
                    },
                }
            ]
        },
    )
    # The page uploads straight to the bucket (a presigned PUT) and downloads results.
    s3.put_bucket_cors(
        Bucket=bucket.name,
        CORSConfiguration={
            "CORSRules": [
                {
                    "AllowedMethods": ["PUT", "GET"],
                    "AllowedOrigins": ["*"],
                    "AllowedHeaders": ["*"],
                    "MaxAgeSeconds": 600,
                }
            ]
        },
    )
