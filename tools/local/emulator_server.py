"""moto's server, with DynamoDB requests made atomic.

moto's server handles requests on threads, and its DynamoDB backend has no locking: two
concurrent conditional updates of one item can both read the old value, both pass their
condition, and one write is lost (two pizzas stored at once counted as one; two
reservations both taking the last unit of stock). DynamoDB itself serializes writes to an
item, and our idempotency and stock rules rely on that. So DynamoDB requests run one at a
time here; everything else (SQS long polls above all) stays concurrent.

moto rolls a failed transaction back by deep-copying every table the transaction names
before it starts: a cost that grows with the table (and with the stream records it keeps),
so a long run slows to a crawl. Here a transaction remembers only the items it touches and
the length of each table's stream, and a rollback restores exactly those: the same
all-or-nothing outcome, at the cost of the items involved.

moto also forwards a table's stream to the Lambda functions mapped to it, even when the
mapping is disabled, and then empties the stream: nothing would be left for the local
runner, which reads the stream itself as Lambda's poller would. That forwarding is off here.

Usage: python emulator_server.py -H 127.0.0.1 -p 4566   (the arguments of moto_server)
"""

import copy
import threading

from moto.awslambda.models import LambdaBackend
from moto.dynamodb.comparisons import get_filter_expression
from moto.dynamodb.exceptions import (
    ConditionalCheckFailed,
    MockValidationException,
    MultipleTransactionsException,
    TooManyTransactionsException,
    TransactionCanceledException,
    TransactWriteSingleOpException,
)
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.responses import DynamoHandler
from moto.server import main

_dynamodb = threading.Lock()
_call_action = DynamoHandler.call_action


def _one_at_a_time(self):
    with _dynamodb:
        return _call_action(self)


DynamoHandler.call_action = _one_at_a_time


class _UndoLog:
    """The items a transaction changed, as they were, and where each stream stood."""

    def __init__(self):
        self.items = []
        self.streams = {}

    def remember(self, backend, table, key):
        hash_value, range_value = backend.get_keys_value(table, key)
        before = table.get_item(hash_value, range_value)
        self.items.append((table, hash_value, range_value, copy.deepcopy(before)))
        if table.stream_shard is not None:
            self.streams.setdefault(id(table), (table.stream_shard, len(table.stream_shard.items)))

    def roll_back(self):
        for table, hash_value, range_value, before in reversed(self.items):
            if range_value is None:
                table.items.pop(hash_value, None)
                if before is not None:
                    table.items[hash_value] = before
            else:
                table.items[hash_value].pop(range_value, None)
                if before is not None:
                    table.items[hash_value][range_value] = before
        for shard, length in self.streams.values():
            del shard.items[length:]


def _key_of(table, op_type, op):
    if op_type != "Put":
        return op["Key"]
    attributes = op["Item"]
    key = {table.hash_key_attr: attributes[table.hash_key_attr]}
    if table.range_key_attr is not None:
        key[table.range_key_attr] = attributes[table.range_key_attr]
    return key


def _transact_write_items(self, transact_items):
    if len(transact_items) > 100:
        raise TooManyTransactionsException()
    undo = _UndoLog()
    targets = set()
    errors = []  # per action: (code, message, old item) or (None, None, None)
    for action in transact_items:
        if len(action) > 1:
            raise TransactWriteSingleOpException
        op_type, op = next(iter(action.items()))
        old = None
        try:
            if op_type not in ("ConditionCheck", "Put", "Delete", "Update"):
                raise ValueError("Unsupported transaction operation")
            name = op["TableName"]
            table = self.get_table(name)
            key = _key_of(table, op_type, op)
            target = (name, str(sorted(key.items())))
            if target in targets:
                raise MultipleTransactionsException()
            targets.add(target)
            names = op.get("ExpressionAttributeNames")
            values = op.get("ExpressionAttributeValues")
            condition = op.get("ConditionExpression")
            current = self.get_item(name, key)
            if condition is not None and not get_filter_expression(condition, names, values).expr(current):
                if op.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and current:
                    old = current.to_json()["Attributes"]
                raise ConditionalCheckFailed(item=old)
            if op_type != "ConditionCheck":
                undo.remember(self, table, key)
            if op_type == "Put":
                self.put_item(name, op["Item"], condition_expression=condition,
                              expression_attribute_names=names, expression_attribute_values=values)
            elif op_type == "Delete":
                self.delete_item(name, key, condition_expression=condition,
                                 expression_attribute_names=names, expression_attribute_values=values)
            elif op_type == "Update":
                self.update_item(name, key, update_expression=op["UpdateExpression"], condition_expression=condition,
                                 expression_attribute_names=names, expression_attribute_values=values)
            errors.append((None, None, None))
        except (MultipleTransactionsException, MockValidationException):
            undo.roll_back()
            raise
        except ConditionalCheckFailed as e:
            errors.append(("ConditionalCheckFailed", str(e.message), old))
        except Exception as e:  # noqa: BLE001 - DynamoDB reports any failure per action
            errors.append((type(e).__name__, str(e), old))
    if any(code is not None for code, _, _ in errors):
        undo.roll_back()
        raise TransactionCanceledException(errors)


DynamoDBBackend.transact_write_items = _transact_write_items


def _leave_the_stream_to_the_runner(self, function_arn, items, source):
    return ""


LambdaBackend.send_dynamodb_items = _leave_the_stream_to_the_runner

if __name__ == "__main__":
    main()
