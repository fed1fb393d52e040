"""The sauce stage the usual Python way, for `make bench` to compare with the Rust stage.

Powertools' BatchProcessor reports partial batch failures; `idempotent_function` keeps one
record per event in a DynamoDB table (written IN_PROGRESS before, COMPLETED after); each
record reserves its ingredient in one small transaction (the stock's conditional decrement
and a reservation item, so a pizza holds at most one unit) and is published with its own
SNS Publish. The same guarantees as the Rust stage, one record at a time.
"""

import json
import os
import random
import uuid
from datetime import UTC, datetime

import boto3
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)

INVENTORY_TABLE = os.environ["INVENTORY_TABLE"]
OUTPUT_TOPIC_ARN = os.environ["OUTPUT_TOPIC_ARN"]
SAUCES = os.environ["SAUCES"].split(",")

dynamodb = boto3.client("dynamodb")
sns = boto3.client("sns")
persistence = DynamoDBPersistenceLayer(table_name=os.environ["IDEMPOTENCY_TABLE"])
config = IdempotencyConfig(event_key_jmespath="id")
processor = BatchProcessor(event_type=EventType.SQS)


def reserve(order_id, pizza_id):
    for sauce in random.sample(SAUCES, len(SAUCES)):
        try:
            dynamodb.transact_write_items(
                TransactItems=[
                    {
                        "Update": {
                            "TableName": INVENTORY_TABLE,
                            "Key": {"pk": {"S": f"STOCK#{sauce}"}, "sk": {"S": "STOCK"}},
                            "UpdateExpression": "SET available = available - :one",
                            "ConditionExpression": "available >= :one",
                            "ExpressionAttributeValues": {":one": {"N": "1"}},
                        }
                    },
                    {
                        "Put": {
                            "TableName": INVENTORY_TABLE,
                            "Item": {
                                "pk": {"S": f"ORDER#{order_id}"},
                                "sk": {"S": f"RESPY#sauce#{pizza_id}"},
                                "ingredient": {"S": sauce},
                            },
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    },
                ]
            )
            return sauce
        except dynamodb.exceptions.TransactionCanceledException:
            continue
    return None


@idempotent_function(data_keyword_argument="event", config=config, persistence_store=persistence)
def add_sauce(event):
    data = event["data"]
    sauce = reserve(data["order_id"], data["pizza_id"])
    if sauce is None:
        raise RuntimeError("out of every sauce")
    added = {
        "id": str(uuid.uuid5(uuid.UUID(event["id"]), "sauce")),
        "type": "IngredientAdded",
        "version": 1,
        "occurred_at": datetime.now(UTC).isoformat(),
        "source": "sauce",
        "correlation_id": event["correlation_id"],
        "causation_id": event["id"],
        "data": {
            "order_id": data["order_id"],
            "pizza_id": data["pizza_id"],
            "stage": "sauce",
            "ingredients": [{"stage": "sauce", "name": sauce}],
        },
    }
    sns.publish(TopicArn=OUTPUT_TOPIC_ARN, Message=json.dumps(added))
    return added["id"]


def record_handler(record):
    return add_sauce(event=json.loads(record.body))


def handler(event, context):
    config.register_lambda_context(context)
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
