"""The local stack's moto fix: transactions stay all-or-nothing without copying tables."""

from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.dynamodb import models

from local.moto_fixes import install


@pytest.fixture
def table():
    install()
    with mock_aws():
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        ddb.create_table(
            TableName="t",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        yield ddb


def item(ddb, pk: str):
    return ddb.get_item(TableName="t", Key={"pk": {"S": pk}}).get("Item")


def test_a_cancelled_transaction_leaves_every_item_as_it_was(table):
    # Given an item to update, one to delete and one that makes the transaction fail
    table.put_item(TableName="t", Item={"pk": {"S": "a"}, "v": {"N": "1"}})
    table.put_item(TableName="t", Item={"pk": {"S": "b"}})
    table.put_item(TableName="t", Item={"pk": {"S": "c"}})
    # When a transaction puts, updates, deletes, then fails a condition
    with pytest.raises(ClientError) as raised:
        table.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": "t", "Item": {"pk": {"S": "new"}}}},
                {
                    "Update": {
                        "TableName": "t",
                        "Key": {"pk": {"S": "a"}},
                        "UpdateExpression": "SET v = :v",
                        "ExpressionAttributeValues": {":v": {"N": "2"}},
                    }
                },
                {"Delete": {"TableName": "t", "Key": {"pk": {"S": "b"}}}},
                {
                    "Put": {
                        "TableName": "t",
                        "Item": {"pk": {"S": "c"}},
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                },
            ]
        )
    # Then it is cancelled with the failing condition named, and nothing changed
    assert raised.value.response["Error"]["Code"] == "TransactionCanceledException"
    reasons = [r["Code"] for r in raised.value.response["CancellationReasons"]]
    assert reasons == ["None", "None", "None", "ConditionalCheckFailed"]
    assert item(table, "new") is None
    assert item(table, "a") == {"pk": {"S": "a"}, "v": {"N": "1"}}
    assert item(table, "b") == {"pk": {"S": "b"}}


def test_a_successful_transaction_applies_every_write(table):
    table.put_item(TableName="t", Item={"pk": {"S": "a"}})
    table.transact_write_items(
        TransactItems=[
            {"Put": {"TableName": "t", "Item": {"pk": {"S": "new"}}}},
            {"Delete": {"TableName": "t", "Key": {"pk": {"S": "a"}}}},
        ]
    )
    assert item(table, "new") == {"pk": {"S": "new"}} and item(table, "a") is None


def test_tables_are_no_longer_copied_for_a_transaction(table):
    # Given the fix, moto's backup of a table is the table itself (no deep copy)
    backend_table = models.dynamodb_backends["123456789012"]["us-east-1"].tables["t"]
    assert models.copy.deepcopy(backend_table) is backend_table
    assert models.copy.deepcopy({"x": [1]}) == {"x": [1]}
