"""Queues, tables, the batch bucket and the portal secret, built from ``infra.spec``."""

from __future__ import annotations

from aws_cdk import Aws, Duration, RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sqs as sqs
from cdk_nag import NagPackSuppression, NagSuppressions
from constructs import Construct

from infra.spec import BucketSpec, QueueSpec, Resources, TableSpec

__all__ = ["Data", "object_arn"]

_ATTRIBUTE_TYPES = {
    "S": dynamodb.AttributeType.STRING,
    "N": dynamodb.AttributeType.NUMBER,
    "B": dynamodb.AttributeType.BINARY,
}
#: Browsers may cache a CORS preflight answer this long.
_CORS_MAX_AGE_SECONDS = 600
#: Server access logs of the batch bucket are kept this long.
_ACCESS_LOG_DAYS = 90


def object_arn(bucket_name: str, prefix: str) -> str:
    """The ARN of every object under ``prefix``, built from the name (no reference, no cycle)."""
    return f"arn:{Aws.PARTITION}:s3:::{bucket_name}/{prefix}*"


class Data(Construct):
    """Everything raspa's functions read and write, named and shaped as ``spec`` says."""

    def __init__(self, scope: Construct, construct_id: str, spec: Resources) -> None:
        super().__init__(scope, construct_id)
        self.spec = spec
        self.queues: dict[str, sqs.Queue] = {}
        for queue in spec.queues:
            self.queues[queue.name] = self._queue(queue)
        self.tables = {table.name: self._table(table) for table in spec.tables}
        self.secret = secretsmanager.Secret(
            self,
            "PortalSecret",
            secret_name=spec.secret_name,
            description="raspa's portal sign-in: {username, password}; set by ops after deploy",
            generate_secret_string=secretsmanager.SecretStringGenerator(
                secret_string_template='{"username": ""}',  # noqa: S106 - a placeholder
                generate_string_key="password",
            ),
            removal_policy=RemovalPolicy.RETAIN,
        )
        NagSuppressions.add_resource_suppressions(
            self.secret,
            [
                NagPackSuppression(
                    id="AwsSolutions-SMG4",
                    reason="The portal's own administrators issue and change this account's "
                    "password; there is no API a rotation function could call.",
                )
            ],
        )
        self.bucket: s3.Bucket | None = None
        if spec.bucket is not None:
            self.bucket = self._bucket(spec.bucket)

    # ------------------------------------------------------------------ queues
    def _queue(self, spec: QueueSpec) -> sqs.Queue:
        dead_letter = None
        if spec.dead_letter is not None:
            dead_letter = sqs.DeadLetterQueue(
                queue=self.queues[spec.dead_letter], max_receive_count=spec.max_receive_count or 1
            )
        return sqs.Queue(
            self,
            _construct_id(spec.name),
            queue_name=spec.name,
            visibility_timeout=Duration.seconds(spec.visibility_timeout),
            retention_period=Duration.seconds(spec.retention_seconds),
            dead_letter_queue=dead_letter,
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
        )

    def queue(self, name: str) -> sqs.Queue:
        return self.queues[name]

    @property
    def dead_letter_queue(self) -> sqs.Queue:
        """The queue every other queue redrives to."""
        (name,) = {q.dead_letter for q in self.spec.queues if q.dead_letter}
        return self.queues[name]

    # ------------------------------------------------------------------ tables
    def _table(self, spec: TableSpec) -> dynamodb.Table:
        table = dynamodb.Table(
            self,
            _construct_id(spec.name),
            table_name=spec.name,
            partition_key=_attribute(spec.hash_key),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            time_to_live_attribute=spec.ttl_attribute,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            removal_policy=RemovalPolicy.RETAIN,
        )
        for index in spec.indexes:
            table.add_global_secondary_index(
                index_name=index.name,
                partition_key=_attribute(index.hash_key),
                sort_key=_attribute(index.range_key) if index.range_key else None,
                projection_type=dynamodb.ProjectionType.ALL,
            )
        return table

    def index_arns(self, *table_names: str) -> list[str]:
        """The declared indexes of ``table_names`` (every table if none), by name: queries
        need the index's own ARN."""
        chosen = set(table_names or self.tables)
        return [
            f"{self.tables[t.name].table_arn}/index/{index.name}"
            for t in self.spec.tables
            if t.name in chosen
            for index in t.indexes
        ]

    # ------------------------------------------------------------------ bucket
    def _bucket(self, spec: BucketSpec) -> s3.Bucket:
        logs = s3.Bucket(
            self,
            "AccessLogs",
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            lifecycle_rules=[
                s3.LifecycleRule(id="expire-logs", expiration=Duration.days(_ACCESS_LOG_DAYS))
            ],
            removal_policy=RemovalPolicy.RETAIN,
        )
        NagSuppressions.add_resource_suppressions(
            logs,
            [
                NagPackSuppression(
                    id="AwsSolutions-S1",
                    reason="This bucket receives the batch bucket's server access logs; "
                    "logging it to itself would loop.",
                )
            ],
        )
        bucket = s3.Bucket(
            self,
            "Batches",
            bucket_name=spec.name,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            server_access_logs_bucket=logs,
            server_access_logs_prefix="batches-bucket/",
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="expire-uploads",
                    prefix=spec.upload_prefix,
                    expiration=Duration.days(spec.upload_expiry_days),
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                ),
                s3.LifecycleRule(
                    id="expire-results",
                    prefix=spec.results_prefix,
                    expiration=Duration.days(spec.results_expiry_days),
                ),
            ],
            removal_policy=RemovalPolicy.RETAIN,
        )
        self._notify_uploads(bucket, spec)
        return bucket

    def _notify_uploads(self, bucket: s3.Bucket, spec: BucketSpec) -> None:
        """S3 → SQS on every uploaded batch file, set on the bucket itself (no helper Lambda)."""
        queue = self.queues[spec.notify_queue]
        queue.add_to_resource_policy(
            iam.PolicyStatement(
                sid="BatchUploadNotifications",
                principals=[iam.ServicePrincipal("s3.amazonaws.com")],
                actions=["sqs:SendMessage"],
                resources=[queue.queue_arn],
                conditions={
                    "ArnLike": {"aws:SourceArn": f"arn:{Aws.PARTITION}:s3:::{spec.name}"},
                    "StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID},
                },
            )
        )
        cfn_bucket = bucket.node.default_child
        assert isinstance(cfn_bucket, s3.CfnBucket)
        cfn_bucket.notification_configuration = s3.CfnBucket.NotificationConfigurationProperty(
            queue_configurations=[
                s3.CfnBucket.QueueConfigurationProperty(
                    event="s3:ObjectCreated:*",
                    queue=queue.queue_arn,
                    filter=s3.CfnBucket.NotificationFilterProperty(
                        s3_key=s3.CfnBucket.S3KeyFilterProperty(
                            rules=[
                                s3.CfnBucket.FilterRuleProperty(
                                    name="prefix", value=spec.upload_prefix
                                ),
                                s3.CfnBucket.FilterRuleProperty(
                                    name="suffix", value=spec.upload_suffix
                                ),
                            ]
                        )
                    ),
                )
            ]
        )
        # S3 checks it may send to the queue when the notification is set.
        policy = queue.node.find_child("Policy").node.default_child
        assert isinstance(policy, sqs.CfnQueuePolicy)
        cfn_bucket.add_resource_dependency(policy)

    def allow_browser(self, origins: list[str]) -> None:
        """The page PUTs uploads to presigned URLs and GETs results: CORS for its origins."""
        assert self.bucket is not None
        self.bucket.add_cors_rule(
            allowed_methods=[s3.HttpMethods.PUT, s3.HttpMethods.GET],
            allowed_origins=origins,
            allowed_headers=["*"],
            max_age=_CORS_MAX_AGE_SECONDS,
        )


def _attribute(key: tuple[str, str]) -> dynamodb.Attribute:
    name, kind = key
    return dynamodb.Attribute(name=name, type=_ATTRIBUTE_TYPES[kind])


def _construct_id(name: str) -> str:
    """``raspa-scrape-dlq`` → ``RaspaScrapeDlq`` (stable logical ids from resource names)."""
    return "".join(part.capitalize() for part in name.replace("_", "-").split("-") if part)
