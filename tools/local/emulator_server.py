"""moto's server, with DynamoDB requests made atomic.

moto's server handles requests on threads, and its DynamoDB backend has no locking: two
concurrent conditional updates of one item can both read the old value, both pass their
condition, and one write is lost (two pizzas stored at once counted as one; two
reservations both taking the last unit of stock). DynamoDB itself serializes writes to an
item, and our idempotency and stock rules rely on that. So DynamoDB requests run one at a
time here; everything else (SQS long polls above all) stays concurrent.

CloudFormation requests run one at a time too: moto builds a stack's resources across
backends without locks, and two stacks created at once could crash each other.

moto rolls a failed transaction back by deep-copying every table the transaction names
before it starts: a cost that grows with the table (and with the stream records it keeps),
so a long run slows to a crawl. Here a transaction remembers only the items it touches and
the length of each table's stream, and a rollback restores exactly those: the same
all-or-nothing outcome, at the cost of the items involved.

moto also forwards a table's stream to the Lambda functions mapped to it, even when the
mapping is disabled, and then empties the stream: nothing would be left for the local
runner, which reads the stream itself as Lambda's poller would. That forwarding is off here.

moto has Firehose delivery streams with S3 destinations, but its CloudFormation cannot
create one and its SNS does not deliver to one. Here a stack's delivery stream is created
like any other resource, and a topic's `firehose` subscription delivers each message into
it as AWS does: the SNS envelope (or the raw message) as one record, a newline after it.
Records are buffered per stream and written to S3 together at most a second later, as
Firehose's buffering does (over a shorter interval), so an order's events are a few objects
rather than one object each. The envelope is built here with the fields AWS documents for
Firehose (no signature): moto's signs a new certificate per message, which under load made
every publish to an archived topic wait a tenth of a second.

moto's server runs on one interpreter, so its CPU time is every request's latency under
load. Costs that change no answer are cut: it found each request's service under one
lock, listing its package directory on the way (the answer is now remembered per host); it
built every attribute of a queue, counting its messages, for each message it received and
each it sent (the retention check now reads the one it needs, and a send to a standard
queue none); and it logged every request. And a batch
published to a topic lands in each subscribed queue at once for a receive waiting on it,
rather than message by message with the receive woken at the first. DynamoDB's
expressions are read once per text (`expression_cache`), not lexed again on every request,
and a client's connection serves its next request instead of closing (`keep_alive`).
DynamoDB, about half of that CPU time, is answered by a second moto process behind the same
address (`dynamodb_process`), so the two halves run on two cores.

Usage: python emulator_server.py -H 127.0.0.1 -p 4566   (the arguments of moto_server)
"""

import contextlib
import copy
import gzip
import json
import logging
import sys
import threading

import dynamodb_process
import expression_cache  # noqa: F401  (installs itself)
import keep_alive  # noqa: F401  (installs itself)
from moto.awslambda.models import LambdaBackend, LambdaFunction
from moto.cloudformation.responses import CloudFormationResponse
from moto.core.common_models import CloudFormationModel
from moto.core.utils import iso_8601_datetime_with_milliseconds, unix_time
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
from moto.firehose.models import firehose_backends
from moto.moto_server.werkzeug_app import DomainDispatcherApplication
from moto.server import main
from moto.sns.models import SNSBackend, Subscription
from moto.sqs.exceptions import QueueDoesNotExist
from moto.sqs.models import Queue, SQSBackend, sqs_backends


def _one_at_a_time(response_class):
    """Makes a service's requests run one at a time, under a lock of its own (returned)."""
    lock = threading.Lock()
    call_action = response_class.call_action

    def serialised(self):
        with lock:
            return call_action(self)

    response_class.call_action = serialised
    return lock


_dynamodb = _one_at_a_time(DynamoHandler)

# moto's CloudFormation builds a stack's resources across backends that have no locking
# either: two stacks created at once (the system tests deploy several in parallel) can
# crash one another ("dictionary changed size during iteration" over IAM's roles while the
# other adds its own). AWS creates stacks independently; here they are built one at a time.
_cloudformation = _one_at_a_time(CloudFormationResponse)


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
                self.put_item(
                    name,
                    op["Item"],
                    condition_expression=condition,
                    expression_attribute_names=names,
                    expression_attribute_values=values,
                )
            elif op_type == "Delete":
                self.delete_item(
                    name,
                    key,
                    condition_expression=condition,
                    expression_attribute_names=names,
                    expression_attribute_values=values,
                )
            elif op_type == "Update":
                self.update_item(
                    name,
                    key,
                    update_expression=op["UpdateExpression"],
                    condition_expression=condition,
                    expression_attribute_names=names,
                    expression_attribute_values=values,
                )
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

_update_configuration = LambdaFunction.update_configuration


def _update_configuration_with_tracing(self, config_updates):
    """moto keeps a function's tracing mode from its creation and drops it from an update
    (and its CloudFormation drops it from the template): the deploy step sets each
    function's mode from the template through this update, as Lambda would keep it."""
    if "TracingConfig" in config_updates:
        self.tracing_config = config_updates["TracingConfig"]
    return _update_configuration(self, config_updates)


LambdaFunction.update_configuration = _update_configuration_with_tracing


class DeliveryStream(CloudFormationModel):
    """`AWS::KinesisFirehose::DeliveryStream` for moto's CloudFormation: DirectPut streams
    into S3, created in moto's own Firehose backend."""

    # moto files each model under the service its module names.
    __module__ = "moto.firehose.cloudformation"

    def __init__(self, account_id: str, region: str, name: str, arn: str):
        self.account_id, self.region, self.name, self.arn = account_id, region, name, arn

    @staticmethod
    def cloudformation_name_type() -> str:
        return "DeliveryStreamName"

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::KinesisFirehose::DeliveryStream"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr == "Arn"

    def get_cfn_attribute(self, attribute_name: str) -> str:
        if attribute_name == "Arn":
            return self.arn
        raise NotImplementedError(f"Fn::GetAtt {{0}}.{attribute_name}")

    @property
    def physical_resource_id(self) -> str:
        return self.name

    @classmethod
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        props = cloudformation_json.get("Properties", {})
        backend = firehose_backends[account_id][region_name]
        arn = backend.create_delivery_stream(
            region_name,
            props.get("DeliveryStreamName", resource_name),
            props.get("DeliveryStreamType", "DirectPut"),
            kinesis_stream_source_configuration=None,
            delivery_stream_encryption_configuration_input=props.get("DeliveryStreamEncryptionConfigurationInput"),
            s3_destination_configuration=props.get("S3DestinationConfiguration"),
            extended_s3_destination_configuration=props.get("ExtendedS3DestinationConfiguration"),
            redshift_destination_configuration=None,
            elasticsearch_destination_configuration=None,
            splunk_destination_configuration=None,
            http_endpoint_destination_configuration=None,
            snowflake_destination_configuration=None,
            iceberg_destination_configuration=None,
            tags=[],
        )
        return cls(account_id, region_name, props.get("DeliveryStreamName", resource_name), arn)

    @classmethod
    def update_from_cloudformation_json(
        cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name
    ):
        return original_resource

    @classmethod
    def delete_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name):
        firehose_backends[account_id][region_name].delete_delivery_stream(resource_name)


class _FirehoseBuffer:
    """Records waiting for their stream's next write to S3, by (account, region, stream)."""

    FLUSH_SECONDS = 1.0

    def __init__(self):
        self.lock = threading.Lock()
        self.records = {}
        self.timer = None

    def add(self, account_id: str, region: str, stream: str, data: bytes) -> None:
        with self.lock:
            self.records.setdefault((account_id, region, stream), []).append({"Data": data})
            if self.timer is None:
                self.timer = threading.Timer(self.FLUSH_SECONDS, self.flush)
                self.timer.daemon = True
                self.timer.start()

    def take(self) -> dict:
        """Everything buffered, by (account, region, stream), leaving the buffer empty and
        no write pending."""
        with self.lock:
            records, self.records = self.records, {}
            if self.timer is not None:
                self.timer.cancel()  # a no-op when the timer itself is flushing
                self.timer = None
        return records

    def flush(self) -> None:
        for (account_id, region, stream), batch in self.take().items():
            backend = firehose_backends[account_id][region]
            try:
                backend.put_record_batch(stream, _as_written(backend, stream, batch))
            except Exception as err:  # noqa: BLE001 - a deleted stream or bucket drops its records, as on AWS
                print(f"emulator: firehose {stream}: {len(batch)} record(s) not delivered: {err}", flush=True)


def _as_written(backend, stream: str, batch: list) -> list:
    """A batch as Firehose writes it: one gzipped object when the stream's S3 destination
    says `CompressionFormat: GZIP` (moto writes the records as they came)."""
    delivery = backend.delivery_streams.get(stream)
    destinations = delivery.destinations if delivery else []
    gzipped = any(
        (destination.get(kind) or {}).get("CompressionFormat") == "GZIP"
        for destination in destinations
        for kind in ("ExtendedS3", "S3")
    )
    if not gzipped:
        return batch
    return [{"Data": gzip.compress(b"".join(record["Data"] for record in batch))}]


def _firehose_envelope(subscription, message, message_id, subject, message_attributes) -> dict:
    """The envelope SNS writes into a Firehose stream when raw delivery is off: the fields
    AWS documents for it, and no signature. (moto's `get_post_data`, meant for HTTP
    endpoints, signs a fresh certificate for every message: milliseconds of CPU each,
    holding the interpreter while every other request waits.)"""
    region = subscription.topic.sns_backend.region_name
    envelope = {
        "Type": "Notification",
        "MessageId": message_id,
        "TopicArn": subscription.topic.arn,
        "Message": message,
        "Timestamp": iso_8601_datetime_with_milliseconds(),
        "UnsubscribeURL": f"https://sns.{region}.amazonaws.com/?Action=Unsubscribe&SubscriptionArn={subscription.arn}",
    }
    if subject:
        envelope["Subject"] = subject
    if message_attributes:
        envelope["MessageAttributes"] = message_attributes
    return envelope


_firehose_buffer = _FirehoseBuffer()
_publish = Subscription.publish


def _publish_to_firehose(self, message, message_id, subject=None, message_attributes=None, *args, **kwargs):
    if self.protocol != "firehose":
        return _publish(self, message, message_id, subject, message_attributes, *args, **kwargs)
    if self._filter_policy_matcher is not None and not self._filter_policy_matcher.matches(message_attributes, message):
        return None
    if str(self.attributes.get("RawMessageDelivery", "false")).lower() == "true":
        record = message
    else:
        record = json.dumps(_firehose_envelope(self, message, message_id, subject, message_attributes))
    region, stream = self.endpoint.split(":")[3], self.endpoint.rsplit("/", 1)[-1]
    _firehose_buffer.add(self.account_id, region, stream, (record + "\n").encode())
    return None


Subscription.publish = _publish_to_firehose


# moto's server finds the service of every request under one lock, and on the way lists its
# own package directory from disk and tries every service's URL patterns in turn: the
# busiest lock in the server under load, held for work whose answer never changes. The
# answer is remembered here, by host (a handful: one per service and region).
_backend_for_host = DomainDispatcherApplication.get_backend_for_host
_backends_by_host = {}


def _remembered_backend_for_host(self, host):
    if host not in _backends_by_host:
        _backends_by_host[host] = _backend_for_host(self, host)
    return _backends_by_host[host]


DomainDispatcherApplication.get_backend_for_host = _remembered_backend_for_host


def _within_retention(self, queue_name, message):
    """moto's check, without building every attribute of the queue (counting its messages
    twice over) for each message a receive hands out."""
    retention = self.get_queue(queue_name).message_retention_period
    return int(retention) + message.sent_timestamp / 1000 > unix_time()


SQSBackend.is_message_valid_based_on_retention_period = _within_retention

# moto's send reads `queue.attributes` (every attribute, its messages counted) only to learn
# whether the queue deduplicates by content, which only a FIFO queue can: for a standard
# queue, the queue being sent to (on this thread) answers with no attributes instead.
_all_attributes = Queue.attributes.fget
_sending_to = threading.local()
_send_message = SQSBackend.send_message


def _attributes_unless_sending(self):
    if getattr(_sending_to, "queue", None) is self and not self.fifo_queue:
        return {}
    return _all_attributes(self)


def _send_without_counting(self, queue_name, *args, **kwargs):
    _sending_to.queue = self.get_queue(queue_name)
    try:
        return _send_message(self, queue_name, *args, **kwargs)
    finally:
        _sending_to.queue = None


Queue.attributes = property(_attributes_unless_sending)
SQSBackend.send_message = _send_without_counting

_publish_batch = SNSBackend.publish_batch


def _publish_batch_at_once(self, topic_arn, publish_batch_request_entries):
    """A batch lands in each subscribed queue at once, for a receive waiting on the queue:
    moto delivers it message by message and wakes a waiting receive at the first, so
    Lambda's poller got one message a receive. (A receive that scans the queue while the
    batch lands can still see part of it; AWS promises nothing either way.)"""
    queues = sorted(_subscribed_queues(self, topic_arn), key=lambda queue: queue.queue_arn)
    with contextlib.ExitStack() as held:
        for queue in queues:
            held.enter_context(queue._messages_lock)
        return _publish_batch(self, topic_arn, publish_batch_request_entries)


def _subscribed_queues(backend, topic_arn):
    subscriptions, _ = backend.list_subscriptions_by_topic(topic_arn=topic_arn)
    for subscription in subscriptions:
        if subscription.protocol != "sqs":
            continue
        # The queue moto delivers to (`Subscription.publish`): its account, the ARN's region
        # and name.
        parts = subscription.endpoint.split(":")
        with contextlib.suppress(QueueDoesNotExist):
            yield sqs_backends[subscription.account_id][parts[3]].get_queue(parts[-1])


SNSBackend.publish_batch = _publish_batch_at_once

_receive_message = SQSBackend.receive_message


def _receive_whole_batches(self, queue_name, *args, **kwargs):
    """A receive scans and takes a queue's messages under the lock a landing batch holds
    (released while it waits for messages): it takes all of a batch or none of it, and
    two receives woken by one batch do not share it out. In moto both could scan at once
    and split it, and Lambda's pollers, each holding part of a batch, both waited out
    their batching windows for the rest."""
    with self.get_queue(queue_name)._messages_lock:
        return _receive_message(self, queue_name, *args, **kwargs)


SQSBackend.receive_message = _receive_whole_batches

# One log line per request costs the server a tenth of its time under load; warnings and
# errors still reach the log.
logging.getLogger("werkzeug").setLevel(logging.WARNING)

if __name__ == "__main__":
    if dynamodb_process.DYNAMODB_PROCESS_FLAG in sys.argv:
        sys.argv.remove(dynamodb_process.DYNAMODB_PROCESS_FLAG)
        dynamodb_process.serve_for_main_process(_dynamodb)
    elif dynamodb_process.wanted():
        dynamodb_process.forward_to(dynamodb_process.start(__file__))
    main()
