"""The emulator wrapper's corrections of moto, against moto in this process."""

import json
import os
import sys
import threading
import time
import unittest
from unittest import mock

import boto3
import emulator_server
from moto import mock_aws

REGION = "us-east-1"


class InProcessMoto(unittest.TestCase):
    def setUp(self):
        # moto mocks AWS's own addresses: an emulator's (the suite's AWS_ENDPOINT_URL) would
        # send these clients to the network instead.
        local = {name: value for name, value in os.environ.items() if not name.startswith("AWS_ENDPOINT_URL")}
        patched = mock.patch.dict(os.environ, local, clear=True)
        patched.start()
        self.addCleanup(patched.stop)


def topic_into_queue():
    """A topic and a queue subscribed to it (raw delivery), in the mocked account."""
    sns = boto3.client("sns", region_name=REGION)
    sqs = boto3.client("sqs", region_name=REGION)
    topic = sns.create_topic(Name="pizza")["TopicArn"]
    queue = sqs.create_queue(QueueName="sauce-q")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "true"})
    return sns, sqs, topic, queue


class PublishBatchTest(InProcessMoto):
    def test_a_waiting_receive_gets_the_whole_batch(self):
        with mock_aws():
            sns, sqs, topic, queue = topic_into_queue()

            received = []

            def long_poll():
                answer = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=5)
                received.extend(answer.get("Messages", []))

            poller = threading.Thread(target=long_poll)
            poller.start()
            time.sleep(0.3)  # the receive is waiting before the batch is published
            entries = [{"Id": str(n), "Message": json.dumps({"pizza": n})} for n in range(10)]
            # Threads take turns as often as they can, as under a loaded server: a receive
            # woken by the first message would run before the second lands.
            switching = sys.getswitchinterval()
            sys.setswitchinterval(1e-6)
            try:
                sns.publish_batch(TopicArn=topic, PublishBatchRequestEntries=entries)
                poller.join(timeout=10)
            finally:
                sys.setswitchinterval(switching)

            self.assertEqual(sorted(json.loads(m["Body"])["pizza"] for m in received), list(range(10)))

    def test_two_receives_waiting_on_a_queue_do_not_share_out_a_batch(self):
        with mock_aws():
            sns, sqs, topic, queue = topic_into_queue()
            batches = 30
            # Every batch is ten messages and every receive asks for ten: a queue that
            # gains whole batches, and hands each out whole, answers ten or nothing.
            sizes = []

            def receive(client):
                deadline = time.monotonic() + 60
                while sum(sizes) < batches * 10 and time.monotonic() < deadline:
                    answer = client.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=1)
                    if answer.get("Messages"):
                        sizes.append(len(answer["Messages"]))

            # Two pollers, as Lambda runs, each waiting when a batch lands.
            pollers = [threading.Thread(target=receive, args=(boto3.client("sqs", region_name=REGION),)) for _ in "ab"]
            switching = sys.getswitchinterval()
            sys.setswitchinterval(1e-6)
            try:
                for poller in pollers:
                    poller.start()
                for batch in range(batches):
                    entries = [{"Id": str(n), "Message": f"{batch}-{n}"} for n in range(10)]
                    sns.publish_batch(TopicArn=topic, PublishBatchRequestEntries=entries)
                for poller in pollers:
                    poller.join(timeout=70)
            finally:
                sys.setswitchinterval(switching)

            self.assertEqual(sum(sizes), batches * 10)
            self.assertEqual(set(sizes), {10}, f"receives took part batches: {sizes}")


class FirehoseSubscriptionTest(InProcessMoto):
    def test_a_message_is_archived_in_the_envelope_aws_documents(self):
        buffer = emulator_server._firehose_buffer
        with mock_aws(), mock.patch.object(buffer, "FLUSH_SECONDS", 3600):
            sns = boto3.client("sns", region_name=REGION)
            topic = sns.create_topic(Name="orders")["TopicArn"]
            sns.subscribe(
                TopicArn=topic,
                Protocol="firehose",
                Endpoint=f"arn:aws:firehose:{REGION}:123456789012:deliverystream/archive",
                Attributes={"SubscriptionRoleArn": "arn:aws:iam::123456789012:role/archive"},
            )
            trace = "00-5759e988bd862e3fe1be46a994272793-53995c3f42cd8ad8-01"
            traceparent = {"DataType": "String", "StringValue": trace}
            sns.publish(TopicArn=topic, Message='{"event": 1}', MessageAttributes={"traceparent": traceparent})
            records = buffer.take()

        [(key, [record])] = records.items()
        self.assertEqual(key[2], "archive")
        envelope = json.loads(record["Data"])
        documented = {"Type", "MessageId", "TopicArn", "Message", "Timestamp", "UnsubscribeURL", "MessageAttributes"}
        self.assertEqual(set(envelope), documented)
        self.assertEqual((envelope["TopicArn"], envelope["Message"]), (topic, '{"event": 1}'))
        self.assertEqual(envelope["MessageAttributes"]["traceparent"]["Value"], traceparent["StringValue"])


if __name__ == "__main__":
    unittest.main()


class SendTest(InProcessMoto):
    def test_a_send_to_a_standard_queue_counts_no_messages_and_a_fifo_queue_still_deduplicates(self):
        with mock_aws():
            sqs = boto3.client("sqs", region_name=REGION)
            standard = sqs.create_queue(QueueName="store-q")["QueueUrl"]
            fifo = sqs.create_queue(
                QueueName="store.fifo", Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"}
            )["QueueUrl"]
            counted = []
            every_attribute = emulator_server._all_attributes

            def counting(queue):
                counted.append(queue.name)
                return every_attribute(queue)

            with mock.patch.object(emulator_server, "_all_attributes", counting):
                for body in ("a", "b"):
                    sqs.send_message(QueueUrl=standard, MessageBody=body)
                self.assertEqual(counted, [], "no attribute was built for the standard queue")
                for _ in range(2):
                    sqs.send_message(QueueUrl=fifo, MessageBody="same", MessageGroupId="g")
                self.assertIn("store.fifo", counted, "a FIFO queue's send reads its attributes")

            got = sqs.receive_message(QueueUrl=standard, MaxNumberOfMessages=10)["Messages"]
            self.assertEqual(sorted(m["Body"] for m in got), ["a", "b"])
            got = sqs.receive_message(QueueUrl=fifo, MaxNumberOfMessages=10)["Messages"]
            self.assertEqual([m["Body"] for m in got], ["same"], "deduplicated by content")
            attributes = sqs.get_queue_attributes(QueueUrl=standard, AttributeNames=["All"])["Attributes"]
            self.assertEqual(attributes["ApproximateNumberOfMessagesNotVisible"], "2", "and the queue still counts")


class CloudFormationTest(InProcessMoto):
    def test_a_stack_is_not_built_while_another_request_of_cloudformation_runs(self):
        template = json.dumps({"Resources": {"Queue": {"Type": "AWS::SQS::Queue", "Properties": {}}}})
        with mock_aws():
            cloudformation = boto3.client("cloudformation", region_name=REGION)
            created = threading.Event()

            def create():
                cloudformation.create_stack(StackName="second", TemplateBody=template)
                created.set()

            with emulator_server._cloudformation:  # another stack being built
                creating = threading.Thread(target=create)
                creating.start()
                self.assertFalse(created.wait(timeout=0.5), "it waits for the other")
            self.assertTrue(created.wait(timeout=10), "and goes on once the other is done")
            creating.join()
            self.assertEqual(cloudformation.describe_stacks(StackName="second")["Stacks"][0]["StackName"], "second")
