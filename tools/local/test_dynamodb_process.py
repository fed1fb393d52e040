"""DynamoDB answers from a process of its own, behind the emulator's one address."""

import io
import json
import os
import signal
import socket
import subprocess
import time
import unittest
import zipfile
from pathlib import Path

import boto3
from real_emulator import SIGNED, client_settings, free_port, start_emulator

# One table with a stream and an index, and the stream's ARN as CloudFormation sees it.
TEMPLATE = {
    "Resources": {
        "Orders": {
            "Type": "AWS::DynamoDB::Table",
            "Properties": {
                "TableName": "split-orders",
                "BillingMode": "PAY_PER_REQUEST",
                "StreamSpecification": {"StreamViewType": "NEW_IMAGE"},
                "AttributeDefinitions": [
                    {"AttributeName": "pk", "AttributeType": "S"},
                    {"AttributeName": "watch", "AttributeType": "S"},
                ],
                "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
                "GlobalSecondaryIndexes": [
                    {
                        "IndexName": "watched",
                        "KeySchema": [{"AttributeName": "watch", "KeyType": "HASH"}],
                        "Projection": {"ProjectionType": "KEYS_ONLY"},
                    }
                ],
            },
        }
    },
    "Outputs": {"StreamArn": {"Value": {"Fn::GetAtt": ["Orders", "StreamArn"]}}},
}


def children_of(pid):
    found = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True, check=False)
    return [int(child) for child in found.stdout.split()]


def wait_until_gone(pid, seconds=10):
    """Whether the process ends within `seconds` (a zombie not yet reaped has ended)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            return True
        if state in ("Z", "X"):
            return True
        time.sleep(0.05)
    return False


class DynamoDBProcessTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.port = free_port()
        cls.server = start_emulator(cls.port)
        settings = client_settings(cls.port)
        cls.dynamodb = boto3.client("dynamodb", **settings)
        cls.streams = boto3.client("dynamodbstreams", **settings)
        cls.cloudformation = boto3.client("cloudformation", **settings)
        cls.awslambda = boto3.client("lambda", **settings)
        cls.function = cls._a_function(boto3.client("iam", **settings))

    @classmethod
    def tearDownClass(cls):
        cls.server.terminate()
        cls.server.wait(timeout=10)

    def test_dynamodb_is_answered_by_a_second_process(self):
        [child] = children_of(self.server.pid)
        self.dynamodb.create_table(
            TableName="split-direct",
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        )
        self.dynamodb.put_item(TableName="split-direct", Item={"pk": {"S": "a"}, "n": {"N": "1"}})
        answer = self.dynamodb.update_item(
            TableName="split-direct",
            Key={"pk": {"S": "a"}},
            UpdateExpression="ADD n :one",
            ConditionExpression="n = :one",
            ExpressionAttributeValues={":one": {"N": "1"}},
            ReturnValues="ALL_NEW",
        )
        self.assertEqual(answer["Attributes"]["n"], {"N": "2"})
        with self.assertRaises(self.dynamodb.exceptions.ConditionalCheckFailedException):
            self.dynamodb.put_item(
                TableName="split-direct", Item={"pk": {"S": "a"}}, ConditionExpression="attribute_not_exists(pk)"
            )
        # The table lives in the second process only: it answers there too.
        direct = boto3.client("dynamodb", **{**client_settings(self.port), "endpoint_url": self._child_url(child)})
        self.assertIn("split-direct", direct.list_tables()["TableNames"])

    def test_a_stacks_table_and_its_stream_are_the_second_processs(self):
        self.cloudformation.create_stack(StackName="split", TemplateBody=json.dumps(TEMPLATE))
        [output] = self.cloudformation.describe_stacks(StackName="split")["Stacks"][0]["Outputs"]
        table = self.dynamodb.describe_table(TableName="split-orders")["Table"]
        self.assertEqual(output["OutputValue"], table["LatestStreamArn"], "CloudFormation names the served stream")
        self.assertEqual([index["IndexName"] for index in table["GlobalSecondaryIndexes"]], ["watched"])

        self.dynamodb.put_item(TableName="split-orders", Item={"pk": {"S": "o-1"}})
        stream = self.streams.describe_stream(StreamArn=output["OutputValue"])["StreamDescription"]
        iterator = self.streams.get_shard_iterator(
            StreamArn=output["OutputValue"],
            ShardId=stream["Shards"][0]["ShardId"],
            ShardIteratorType="TRIM_HORIZON",
        )["ShardIterator"]
        records = self.streams.get_records(ShardIterator=iterator)["Records"]
        self.assertEqual([r["dynamodb"]["NewImage"]["pk"] for r in records], [{"S": "o-1"}])

        self.cloudformation.delete_stack(StackName="split")
        self.assertNotIn("split-orders", self.dynamodb.list_tables()["TableNames"])

    def test_lambda_maps_the_streams_of_tables_made_through_the_api_too(self):
        table = {
            "BillingMode": "PAY_PER_REQUEST",
            "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
        }
        self.dynamodb.create_table(TableName="split-later-stream", **table)
        described = self.dynamodb.update_table(
            TableName="split-later-stream", StreamSpecification={"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"}
        )["TableDescription"]
        self._map(described["LatestStreamArn"])

        # Deleted and made again under the same name: the new table's stream.
        self.dynamodb.delete_table(TableName="split-later-stream")
        again = self.dynamodb.create_table(
            TableName="split-later-stream",
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
            **table,
        )["TableDescription"]
        self._map(again["LatestStreamArn"])

    def test_a_stack_may_make_a_table_the_api_deleted(self):
        stack = json.loads(json.dumps(TEMPLATE).replace("split-orders", "split-recreated"))
        self.cloudformation.create_stack(StackName="split-api-deleted", TemplateBody=json.dumps(stack))
        self.dynamodb.delete_table(TableName="split-recreated")
        self.cloudformation.delete_stack(StackName="split-api-deleted")
        self.cloudformation.create_stack(StackName="split-again", TemplateBody=json.dumps(stack))
        [output] = self.cloudformation.describe_stacks(StackName="split-again")["Stacks"][0]["Outputs"]
        self._map(output["OutputValue"])
        self.cloudformation.delete_stack(StackName="split-again")

    def test_a_chunked_request_is_forwarded_whole(self):
        body = json.dumps({"Limit": 5}).encode()
        head = [
            "POST / HTTP/1.1",
            f"Host: 127.0.0.1:{self.port}",
            "Content-Type: application/x-amz-json-1.0",
            "X-Amz-Target: DynamoDB_20120810.ListTables",
            f"Authorization: {SIGNED.format('dynamodb')}",
            "Transfer-Encoding: chunked",
            "Connection: close",
        ]
        chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as connection:
            connection.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + chunked)
            answer = b""
            while chunk := connection.recv(65536):
                answer += chunk
        status, _, rest = answer.partition(b"\r\n")
        self.assertIn(b" 200 ", status, answer)
        self.assertIn("TableNames", json.loads(rest.partition(b"\r\n\r\n")[2]))

    def _map(self, stream_arn):
        mapping = self.awslambda.create_event_source_mapping(
            EventSourceArn=stream_arn, FunctionName=self.function, StartingPosition="LATEST", Enabled=False
        )
        self.assertEqual(mapping["EventSourceArn"], stream_arn)
        self.awslambda.delete_event_source_mapping(UUID=mapping["UUID"])

    @classmethod
    def _a_function(cls, iam):
        role = iam.create_role(RoleName="split-role", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        code = io.BytesIO()
        with zipfile.ZipFile(code, "w") as archive:
            archive.writestr("bootstrap", "")
        return cls.awslambda.create_function(
            FunctionName="split-function",
            Runtime="provided.al2023",
            Role=role,
            Handler="bootstrap",
            Code={"ZipFile": code.getvalue()},
        )["FunctionName"]

    def _child_url(self, child):
        arguments = Path(f"/proc/{child}/cmdline").read_bytes().decode().split("\0")
        host, port = arguments[arguments.index("-H") + 1], arguments[arguments.index("-p") + 1]
        return f"http://{host}:{port}"


class LifecycleTest(unittest.TestCase):
    def test_the_dynamodb_process_stops_when_the_emulator_is_killed(self):
        server = start_emulator(free_port())
        [child] = children_of(server.pid)
        server.send_signal(signal.SIGKILL)
        server.wait(timeout=10)
        self.assertTrue(wait_until_gone(child), "the DynamoDB process outlived the emulator")

    def test_the_emulator_stops_when_its_dynamodb_process_dies(self):
        server = start_emulator(free_port())
        [child] = children_of(server.pid)
        os.kill(child, signal.SIGKILL)
        self.assertEqual(server.wait(timeout=10), 1, "the emulator went on without DynamoDB")

    def test_one_process_when_asked(self):
        server = start_emulator(free_port(), EMULATOR_PROCESSES="1")
        try:
            self.assertEqual(children_of(server.pid), [])
        finally:
            server.terminate()
            server.wait(timeout=10)


if __name__ == "__main__":
    unittest.main()
