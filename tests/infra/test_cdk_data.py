"""Queues, tables, the batch bucket and the portal secret: as ``infra.spec`` defines them."""

from __future__ import annotations

from typing import Any

from tests.infra.cfn import as_list, ref_id, render

AWS_MANAGED_SSE = {"SSEEnabled": True}


def queue_ids(synthesized: Any) -> dict[str, str]:
    """Queue name → logical id."""
    return {
        r["Properties"]["QueueName"]: logical_id
        for logical_id, r in synthesized.resources("AWS::SQS::Queue").items()
    }


def batch_bucket(synthesized: Any) -> tuple[str, dict[str, Any]]:
    (found,) = [
        (logical_id, r["Properties"])
        for logical_id, r in synthesized.resources("AWS::S3::Bucket").items()
        if render(r["Properties"].get("BucketName", "")).startswith("raspa-batches-")
    ]
    return found


def policy_of(synthesized: Any, kind: str, target_key: str, logical_id: str) -> dict[str, Any]:
    """The policy document of the queue or bucket ``logical_id``."""
    (document,) = [
        r["Properties"]["PolicyDocument"]
        for r in synthesized.resources(kind).values()
        if logical_id in [ref_id(t) for t in as_list(r["Properties"][target_key])]
    ]
    return document


def denies_plain_http(document: dict[str, Any]) -> bool:
    return any(
        s["Effect"] == "Deny" and s.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}
        for s in document["Statement"]
    )


# ------------------------------------------------------------------- queues
def test_given_the_spec_then_every_queue_exists_with_its_name_visibility_and_retention(
    synthesized: Any, spec: Any
) -> None:
    ids = queue_ids(synthesized)
    assert set(ids) == {q.name for q in spec.queues}
    for queue in spec.queues:
        props = synthesized.props(ids[queue.name])
        assert props["VisibilityTimeout"] == queue.visibility_timeout, queue.name
        assert props["MessageRetentionPeriod"] == queue.retention_seconds, queue.name


def test_every_queue_is_encrypted_and_redrives_to_the_dlq(synthesized: Any, spec: Any) -> None:
    ids = queue_ids(synthesized)
    (dlq,) = [q for q in spec.queues if any(o.dead_letter == q.name for o in spec.queues)]
    for queue in spec.queues:
        props = synthesized.props(ids[queue.name])
        assert props.get("SqsManagedSseEnabled") is True, f"{queue.name} is not encrypted"
        if queue.name == dlq.name:
            assert "RedrivePolicy" not in props, "the DLQ must not redrive anywhere"
            continue
        redrive = props["RedrivePolicy"]
        assert ref_id(redrive["deadLetterTargetArn"]) == ids[dlq.name], queue.name
        assert redrive["maxReceiveCount"] == queue.max_receive_count, queue.name


def test_the_one_scrape_queue_redrives_after_the_real_attempts_plus_the_throttle_allowance(
    synthesized: Any, settings: Any
) -> None:
    ids = queue_ids(synthesized)
    assert set(ids) == {settings.queue_name, settings.ingest_queue_name, settings.dlq_name}
    redrive = synthesized.props(ids[settings.queue_name])["RedrivePolicy"]
    assert redrive["maxReceiveCount"] == settings.max_attempts + 6 == 10


def test_every_queue_refuses_requests_without_tls(synthesized: Any) -> None:
    for name, logical_id in queue_ids(synthesized).items():
        document = policy_of(synthesized, "AWS::SQS::QueuePolicy", "Queues", logical_id)
        assert denies_plain_http(document), name


# ------------------------------------------------------------------- tables
def test_every_table_is_on_demand_with_its_ttl_point_in_time_recovery_and_encryption(
    synthesized: Any, spec: Any
) -> None:
    tables = {
        r["Properties"]["TableName"]: r
        for r in synthesized.resources("AWS::DynamoDB::Table").values()
    }
    assert set(tables) == {t.name for t in spec.tables}
    for table in spec.tables:
        resource = tables[table.name]
        props = resource["Properties"]
        assert props["BillingMode"] == "PAY_PER_REQUEST", table.name
        assert props["TimeToLiveSpecification"] == {
            "AttributeName": table.ttl_attribute,
            "Enabled": True,
        }
        assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
        assert props["SSESpecification"] == AWS_MANAGED_SSE, table.name
        assert props["KeySchema"] == [{"AttributeName": table.hash_key[0], "KeyType": "HASH"}]
        assert resource["DeletionPolicy"] == "Retain", f"{table.name} holds data: keep it"


def test_the_tasks_table_has_the_queue_index_the_position_queries_use(
    synthesized: Any, spec: Any
) -> None:
    tables = {
        r["Properties"]["TableName"]: r["Properties"]
        for r in synthesized.resources("AWS::DynamoDB::Table").values()
    }
    for table in spec.tables:
        declared = tables[table.name].get("GlobalSecondaryIndexes", [])
        assert [i["IndexName"] for i in declared] == [i.name for i in table.indexes]
        for index, built in zip(table.indexes, declared, strict=True):
            keys = [{"AttributeName": index.hash_key[0], "KeyType": "HASH"}]
            if index.range_key:
                keys.append({"AttributeName": index.range_key[0], "KeyType": "RANGE"})
            assert built["KeySchema"] == keys


# ------------------------------------------------------------------- bucket
def test_the_batch_bucket_blocks_public_access_requires_tls_and_is_encrypted(
    synthesized: Any,
) -> None:
    logical_id, props = batch_bucket(synthesized)
    assert props["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    (rule,) = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    assert props["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    document = policy_of(synthesized, "AWS::S3::BucketPolicy", "Bucket", logical_id)
    assert denies_plain_http(document)
    assert synthesized.body["Resources"][logical_id]["DeletionPolicy"] == "Retain"


def test_the_batch_bucket_expires_uploads_and_results_by_their_prefixes(
    synthesized: Any, spec: Any
) -> None:
    _, props = batch_bucket(synthesized)
    rules = {r["Prefix"]: r for r in props["LifecycleConfiguration"]["Rules"]}
    bucket = spec.bucket
    assert rules[bucket.upload_prefix]["ExpirationInDays"] == bucket.upload_expiry_days == 7
    assert rules[bucket.results_prefix]["ExpirationInDays"] == bucket.results_expiry_days == 30
    assert all(r["Status"] == "Enabled" for r in rules.values())
    assert rules[bucket.upload_prefix]["AbortIncompleteMultipartUpload"] == {
        "DaysAfterInitiation": 1
    }


def test_an_uploaded_csv_under_batches_notifies_the_ingest_queue(
    synthesized: Any, spec: Any
) -> None:
    _, props = batch_bucket(synthesized)
    ingest_id = queue_ids(synthesized)[spec.bucket.notify_queue]
    (notification,) = props["NotificationConfiguration"]["QueueConfigurations"]
    assert notification["Event"] == "s3:ObjectCreated:*"
    assert ref_id(notification["Queue"]) == ingest_id
    rules = {r["Name"]: r["Value"] for r in notification["Filter"]["S3Key"]["Rules"]}
    assert rules == {"prefix": "batches/", "suffix": ".csv"}
    assert (spec.bucket.upload_prefix, spec.bucket.upload_suffix) == ("batches/", ".csv")
    # The ingest function is the queue's consumer (app.py's batch_ingest handler).
    sources = synthesized.resources("AWS::Lambda::EventSourceMapping").values()
    consumers = [
        ref_id(s["Properties"]["FunctionName"])
        for s in sources
        if ref_id(s["Properties"]["EventSourceArn"]) == ingest_id
    ]
    assert consumers == ["BatchIngest"]


def test_only_s3_from_this_bucket_and_account_may_send_to_the_ingest_queue(
    synthesized: Any, spec: Any
) -> None:
    bucket_id, _ = batch_bucket(synthesized)
    ingest_id = queue_ids(synthesized)[spec.bucket.notify_queue]
    document = policy_of(synthesized, "AWS::SQS::QueuePolicy", "Queues", ingest_id)
    (allow,) = [s for s in document["Statement"] if s["Effect"] == "Allow"]
    assert allow["Principal"] == {"Service": "s3.amazonaws.com"}
    assert allow["Action"] == "sqs:SendMessage"
    assert ref_id(allow["Resource"]) == ingest_id
    source = render(allow["Condition"]["ArnLike"]["aws:SourceArn"])
    assert source == "arn:<AWS::Partition>:s3:::raspa-batches-<AWS::AccountId>-<AWS::Region>"
    assert allow["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    # S3 checks it may send when the notification is set: the policy must exist first.
    policy_id = next(
        k
        for k, r in synthesized.resources("AWS::SQS::QueuePolicy").items()
        if ref_id(r["Properties"]["Queues"][0]) == ingest_id
    )
    assert policy_id in synthesized.body["Resources"][bucket_id]["DependsOn"]


def test_the_batch_bucket_logs_access_and_lets_only_the_page_origin_upload(
    synthesized: Any,
) -> None:
    _, props = batch_bucket(synthesized)
    assert ref_id(props["LoggingConfiguration"]["DestinationBucketName"]) is not None
    (cors,) = props["CorsConfiguration"]["CorsRules"]
    assert sorted(cors["AllowedMethods"]) == ["GET", "PUT"]
    assert [render(o) for o in cors["AllowedOrigins"]] == [
        "https://<RestAPI>.execute-api.<AWS::Region>.<AWS::URLSuffix>"
    ]


# ------------------------------------------------------------------- secret
def test_the_portal_secret_has_the_name_the_worker_reads_and_survives_a_teardown(
    synthesized: Any, settings: Any
) -> None:
    (resource,) = synthesized.resources("AWS::SecretsManager::Secret").values()
    assert resource["Properties"]["Name"] == settings.portal_secret_name
    assert resource["DeletionPolicy"] == "Retain"
    generated = resource["Properties"]["GenerateSecretString"]
    assert generated["GenerateStringKey"] == "password"
    assert '"username"' in generated["SecretStringTemplate"]
