"""The check of the deploy step's manifest against the schema of the runner's Rust type."""

import unittest

from manifest_schema import problems

QUEUE = {"url": "http://q/sauce-q", "arn": "arn:aws:sqs:us-east-1:1:sauce-q", "visibility_timeout_seconds": 60}


def manifest():
    return {
        "stack_name": "shop",
        "region": "us-east-1",
        "functions": [
            {
                "logical_id": "SauceFunction",
                "name": "shop-sauce",
                "binary": "topping",
                "timeout_seconds": 10,
                "memory_mb": 128,
                "reserved_concurrency": None,
                "environment": {"STAGE": "sauce"},
                "event_sources": [
                    {
                        "kind": "sqs",
                        "queue": QUEUE,
                        "maximum_concurrency": 2,
                        "batch_size": 10,
                        "batching_window_seconds": 1,
                        "report_batch_item_failures": True,
                        "enabled": False,
                    }
                ],
            }
        ],
        "routes": [],
        "queues": {"SauceQueue": QUEUE},
        "topics": {"PizzaTopic": "arn:aws:sns:us-east-1:1:pizza"},
        "tables": {"OrdersTable": {"name": "orders", "stream_arn": None}},
    }


class ManifestSchemaTest(unittest.TestCase):
    def test_a_manifest_the_runner_reads_passes(self):
        self.assertEqual(problems(manifest()), [])

    def test_a_missing_field_and_a_wrong_type_are_named(self):
        drifted = manifest()
        del drifted["queues"]
        drifted["functions"][0]["timeout_seconds"] = "10"
        found = problems(drifted)
        self.assertEqual(len(found), 2, found)
        self.assertTrue(any("'queues' is a required property" in problem for problem in found), found)
        self.assertTrue(any(problem.startswith("functions/0/timeout_seconds") for problem in found), found)

    def test_an_event_source_of_an_unknown_kind_is_caught(self):
        drifted = manifest()
        drifted["functions"][0]["event_sources"][0]["kind"] = "kinesis"
        self.assertNotEqual(problems(drifted), [])


if __name__ == "__main__":
    unittest.main()
