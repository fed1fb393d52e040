"""Drives the baseline handler as Lambda's SQS poller would: receive up to ten messages,
call the handler with the SQS event, delete what succeeded. Prints what it measured as
JSON: records handled, failures, and the CPU time spent inside the handler.

Usage: run.py QUEUE_URL RECORDS   (the handler reads its tables and topic from the
environment; `pizza-bench` sets them).
"""

import json
import sys
import time
import uuid


class Context:
    function_name = "baseline-sauce"
    memory_limit_in_mb = 128
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:baseline-sauce"
    aws_request_id = ""

    def get_remaining_time_in_millis(self):
        return 60_000


def main():
    queue_url, wanted = sys.argv[1], int(sys.argv[2])
    import boto3  # after the environment is set
    import topping

    sqs = boto3.client("sqs")
    handled = failed = 0
    cpu = 0.0
    deadline = time.monotonic() + 120
    while handled < wanted and time.monotonic() < deadline:
        received = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        messages = received.get("Messages", [])
        if not messages:
            continue
        event = {
            "Records": [
                {
                    "messageId": m["MessageId"],
                    "receiptHandle": m["ReceiptHandle"],
                    "body": m["Body"],
                    "attributes": {},
                    "messageAttributes": {},
                    "md5OfBody": m["MD5OfBody"],
                    "eventSource": "aws:sqs",
                    "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:baseline",
                    "awsRegion": "us-east-1",
                }
                for m in messages
            ]
        }
        context = Context()
        context.aws_request_id = str(uuid.uuid4())
        started = time.process_time()
        response = topping.handler(event, context)
        cpu += time.process_time() - started
        failures = {f["itemIdentifier"] for f in response.get("batchItemFailures", [])}
        done = [m for m in messages if m["MessageId"] not in failures]
        if done:
            sqs.delete_message_batch(
                QueueUrl=queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)],
            )
        handled += len(done)
        failed += len(failures)
    print(json.dumps({"records": handled, "failures": failed, "cpu_seconds": cpu}))


if __name__ == "__main__":
    main()
