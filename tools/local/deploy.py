"""Deploys infra/template.yaml to an AWS emulator and writes the stack's manifest.

What `sam deploy` does on AWS, done for an emulator whose CloudFormation does not run the
SAM transform and skips a few resource types (docs/local-stack.md lists them):

1. package: each function's code is zipped (the `cargo lambda` build if there is one) and
   uploaded to the emulator's S3, and its CodeUri pointed there;
2. expand the SAM template locally with aws-sam-translator, the library SAM CLI uses;
3. create or update the stack from the expanded template;
4. apply, from that same template, what the emulator's CloudFormation skips: SNS
   subscriptions (raw delivery, filter policies), DynamoDB streams; and hand the
   queues and streams to the local runner: an emulator that cannot run the code (moto has
   no Docker here) would otherwise take the messages itself for its event source mappings,
   fail, and burn their receive counts;
5. read the deployed stack back (functions, their environment, memory and timeout, their
   event source mappings as the template configures them, queues and their dead-letter
   queues, tables and their streams; HTTP routes from the template) into a manifest, which
   the local runner, the tests, the benchmarks and the operator CLI use. Nothing about the
   topology is written anywhere but the template.

Usage: python deploy.py --template infra/template.yaml --stack-name pizza-shop \
           --manifest .local/pizza-shop.json [--parameter Key=Value ...]
The endpoint comes from AWS_ENDPOINT_URL, as for every AWS client here.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import sys
import time
import zipfile
from pathlib import Path

import boto3
from botocore.exceptions import ClientError
from intrinsics import Resolver, TemplateError
from manifest_schema import problems as manifest_problems
from samtranslator.translator.managed_policy_translator import ManagedPolicyLoader
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

# The issuer and audience of the local stack's sign-in tokens: any values do, as long as
# the tokens `pizza-local token` signs carry them (it reads them back from the manifest).
LOCAL_SIGN_IN = {"JwtIssuer": "https://issuer.pizza-shop.localhost", "JwtAudience": "pizza-shop-local"}

SERVERLESS_FUNCTION = "AWS::Serverless::Function"
STACK_POLL_SECONDS = 0.5
STACK_TIMEOUT_SECONDS = 300


def log(message: str) -> None:
    print(f"deploy: {message}", file=sys.stderr, flush=True)


class _NoManagedPolicies:
    """The template names no AWS managed policy, so expanding it needs no IAM lookup."""

    def load(self) -> dict[str, str]:
        return {}


def expand_offline(template_path: str, parameters: dict[str, str], out: str) -> None:
    """Expands the template as the deploy step would, without any AWS call, so that
    cfn-lint can check what the SAM transform produces (it catches a Ref to a missing
    resource inside a function's environment only there)."""
    template = yaml_parse(Path(template_path).read_text())
    for resource in template["Resources"].values():
        if resource["Type"] == SERVERLESS_FUNCTION:
            resource.setdefault("Properties", {})["CodeUri"] = "s3://artifacts/placeholder.zip"
    pseudo = {"AWS::Region": "us-east-1", "AWS::AccountId": "123456789012", "AWS::Partition": "aws"}
    expanded = transform(template, {**parameters, **pseudo}, _NoManagedPolicies())
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps(expanded, indent=2) + "\n")


class Deployment:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.session = boto3.session.Session()
        self.region = self.session.region_name or "us-east-1"
        self.client = lambda service: self.session.client(service, region_name=self.region)
        self.cfn = self.client("cloudformation")
        self.sqs = self.client("sqs")
        self.sns = self.client("sns")
        self.dynamodb = self.client("dynamodb")
        self.lambda_ = self.client("lambda")
        self.cloudwatch = self.client("cloudwatch")
        self.account = self.client("sts").get_caller_identity()["Account"]
        # Customers sign in at the local issuer (`pizza-local token`), not at a Cognito user
        # pool: the runner plays API Gateway's JWT authorizer with the issuer's own key.
        self.parameters = {**LOCAL_SIGN_IN, **dict(p.split("=", 1) for p in args.parameter)}
        self.physical: dict[str, str] = {}

    # -------------------------------------------------------------- 0. rules
    def check_rules(self, template: dict) -> None:
        """Refuses parameters that break the template's rules, as CloudFormation would
        before creating anything (moto does not check them)."""

        def not_a_parameter(*names: str) -> str:
            raise TemplateError(f"a rule may name parameters only, not {names[0]}")

        try:
            broken = Resolver(template, self.parameters, {}, not_a_parameter, not_a_parameter).broken_rules()
        except TemplateError as err:
            raise SystemExit(f"deploy: the template's rules cannot be checked: {err}") from err
        if broken:
            raise SystemExit("deploy: the parameters break the template's rules:\n" + "\n".join(broken))

    # -------------------------------------------------------------- 1. package
    def package(self, template: dict) -> None:
        bucket = f"{self.args.stack_name}-artifacts-{self.account}"
        s3 = self.client("s3")
        try:
            if self.region == "us-east-1":
                s3.create_bucket(Bucket=bucket)
            else:
                s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": self.region})
        except ClientError as err:
            if err.response["Error"]["Code"] not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                raise
        uploaded: dict[str, str] = {}
        for logical_id, resource in template["Resources"].items():
            if resource["Type"] != SERVERLESS_FUNCTION:
                continue
            binary = resource.get("Metadata", {}).get("BuildProperties", {}).get("Binary", logical_id)
            if binary not in uploaded:
                code = self._code_zip(binary)
                key = f"{binary}/{hashlib.sha256(code).hexdigest()}.zip"
                s3.put_object(Bucket=bucket, Key=key, Body=code)
                uploaded[binary] = f"s3://{bucket}/{key}"
            resource.setdefault("Properties", {})["CodeUri"] = uploaded[binary]

    def _code_zip(self, binary: str) -> bytes:
        built = Path(self.args.artifacts) / binary / "bootstrap.zip"
        if built.is_file():
            log(f"{binary}: uploading {built}")
            return built.read_bytes()
        # The emulator stores function code but never runs it: the local runner runs each
        # function's own binary, built for this machine. Without a `make build` (the
        # release zips for AWS), the package says so.
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            info = zipfile.ZipInfo("README.txt", date_time=(2026, 1, 1, 0, 0, 0))
            archive.writestr(
                info, f"{binary}: no cargo lambda build was found; the local runner runs target/debug/{binary}.\n"
            )
        return buffer.getvalue()

    # -------------------------------------------------------------- 2. expand
    def expand(self, template: dict) -> dict:
        pseudo = {"AWS::Region": self.region, "AWS::AccountId": self.account, "AWS::Partition": "aws"}
        return transform(template, {**self.parameters, **pseudo}, ManagedPolicyLoader(self.client("iam")))

    # -------------------------------------------------------------- 3. deploy
    def deploy_stack(self, expanded: dict) -> None:
        request = dict(
            StackName=self.args.stack_name,
            TemplateBody=json.dumps(expanded),
            Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in self.parameters.items()],
            Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"],
        )
        if self._stack_status() is None:
            log(f"creating stack {self.args.stack_name}")
            self.cfn.create_stack(**request)
        else:
            log(f"updating stack {self.args.stack_name}")
            try:
                self.cfn.update_stack(**request)
            except ClientError as err:
                if "No updates are to be performed" not in str(err):
                    raise
        self._wait_for_stack()
        for page in self.cfn.get_paginator("list_stack_resources").paginate(StackName=self.args.stack_name):
            for resource in page["StackResourceSummaries"]:
                if resource.get("PhysicalResourceId"):
                    self.physical[resource["LogicalResourceId"]] = resource["PhysicalResourceId"]

    def _stack_status(self) -> str | None:
        try:
            stacks = self.cfn.describe_stacks(StackName=self.args.stack_name)["Stacks"]
        except ClientError:
            return None
        status = stacks[0]["StackStatus"] if stacks else None
        return None if status in (None, "DELETE_COMPLETE") else status

    def _wait_for_stack(self) -> None:
        deadline = time.monotonic() + STACK_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            status = self._stack_status() or "MISSING"
            if status.endswith("_COMPLETE") and "ROLLBACK" not in status:
                log(f"stack {self.args.stack_name}: {status}")
                return
            if status.endswith("_FAILED") or "ROLLBACK" in status or status == "MISSING":
                events = self.cfn.describe_stack_events(StackName=self.args.stack_name)["StackEvents"]
                reasons = [
                    f"{e['LogicalResourceId']}: {e.get('ResourceStatusReason')}"
                    for e in events
                    if "FAILED" in e["ResourceStatus"]
                ]
                raise SystemExit(f"deploy: stack {self.args.stack_name} ended {status}: {reasons[:5]}")
            time.sleep(STACK_POLL_SECONDS)
        raise SystemExit(f"deploy: stack {self.args.stack_name} not ready after {STACK_TIMEOUT_SECONDS}s")

    # -------------------------------------------------------------- 4. what the emulator skips
    def resolver(self, expanded: dict) -> Resolver:
        pseudo = {
            "AWS::Region": self.region,
            "AWS::AccountId": self.account,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackName": self.args.stack_name,
        }
        return Resolver(
            expanded, self.parameters, pseudo, self._ref, lambda lid, att: self._get_att(expanded, lid, att)
        )

    def _ref(self, logical_id: str) -> str:
        if logical_id not in self.physical:
            raise SystemExit(f"deploy: the stack has no resource {logical_id} (skipped by the emulator?)")
        return self.physical[logical_id]

    def _get_att(self, expanded: dict, logical_id: str, attribute: str) -> str:
        kind = expanded["Resources"][logical_id]["Type"]
        physical = self._ref(logical_id)
        if kind == "AWS::SQS::Queue" and attribute == "Arn":
            return self.sqs.get_queue_attributes(QueueUrl=physical, AttributeNames=["QueueArn"])["Attributes"][
                "QueueArn"
            ]
        if kind == "AWS::SQS::Queue" and attribute == "QueueName":
            return physical.rsplit("/", 1)[-1]
        if kind == "AWS::SNS::Topic" and attribute == "TopicName":
            return physical.rsplit(":", 1)[-1]
        if kind == "AWS::SNS::Topic" and attribute == "TopicArn":
            return physical
        if kind == "AWS::S3::Bucket" and attribute == "Arn":
            return f"arn:aws:s3:::{physical}"
        if kind == "AWS::IAM::Role" and attribute == "Arn":
            return f"arn:aws:iam::{self.account}:role/{physical}"
        if kind == "AWS::KinesisFirehose::DeliveryStream" and attribute == "Arn":
            return f"arn:aws:firehose:{self.region}:{self.account}:deliverystream/{physical}"
        if kind == "AWS::DynamoDB::Table" and attribute in ("Arn", "StreamArn"):
            table = self.dynamodb.describe_table(TableName=physical)["Table"]
            return table["TableArn"] if attribute == "Arn" else table["LatestStreamArn"]
        raise SystemExit(f"deploy: cannot resolve Fn::GetAtt {logical_id}.{attribute} ({kind})")

    def apply_subscriptions(self, expanded: dict, resolver: Resolver) -> None:
        """Makes each topic's subscriptions exactly those the template declares."""
        wanted: dict[str, dict[tuple[str, str], dict[str, str]]] = {}
        for logical_id, resource in expanded["Resources"].items():
            if resource["Type"] != "AWS::SNS::Topic" or not resolver.is_deployed(resource):
                continue
            wanted[self._ref(logical_id)] = {}
        for resource in expanded["Resources"].values():
            if resource["Type"] != "AWS::SNS::Subscription" or not resolver.is_deployed(resource):
                continue
            props = resolver.resolve(resource["Properties"])
            attributes = {}
            for name in (
                "RawMessageDelivery",
                "FilterPolicy",
                "FilterPolicyScope",
                "RedrivePolicy",
                "SubscriptionRoleArn",
            ):
                if name in props:
                    value = props[name]
                    attributes[name] = (
                        json.dumps(value)
                        if isinstance(value, dict)
                        else str(value).lower()
                        if isinstance(value, bool)
                        else str(value)
                    )
            wanted.setdefault(props["TopicArn"], {})[(props["Protocol"], props["Endpoint"])] = attributes

        for topic, subscriptions in wanted.items():
            existing = {
                (s["Protocol"], s["Endpoint"]): s["SubscriptionArn"]
                for page in self.sns.get_paginator("list_subscriptions_by_topic").paginate(TopicArn=topic)
                for s in page["Subscriptions"]
            }
            for key, arn in existing.items():
                if key not in subscriptions:
                    self.sns.unsubscribe(SubscriptionArn=arn)
            for (protocol, endpoint), attributes in subscriptions.items():
                arn = existing.get((protocol, endpoint))
                if arn is None:
                    self.sns.subscribe(
                        TopicArn=topic,
                        Protocol=protocol,
                        Endpoint=endpoint,
                        Attributes=attributes,
                        ReturnSubscriptionArn=True,
                    )
                    continue
                current = self.sns.get_subscription_attributes(SubscriptionArn=arn)["Attributes"]
                for name, value in attributes.items():
                    if current.get(name) != value:
                        self.sns.set_subscription_attributes(
                            SubscriptionArn=arn, AttributeName=name, AttributeValue=value
                        )
                if "FilterPolicy" in current and "FilterPolicy" not in attributes:
                    self.sns.set_subscription_attributes(
                        SubscriptionArn=arn, AttributeName="FilterPolicy", AttributeValue=""
                    )
        log(f"subscriptions applied: {sum(len(s) for s in wanted.values())}")

    def tap_the_archive(self, expanded: dict, resolver: Resolver) -> dict | None:
        """fakecloud's SNS accepts a `firehose` subscription but delivers nothing to it (moto
        is taught to by tools/local/emulator_server.py). On fakecloud the local runner plays
        the archive's subscriptions instead: a queue of its own is subscribed to every
        archived topic, each message arriving as the SNS envelope Firehose would receive,
        and the runner forwards them into the delivery stream. Returns where, if tapped."""
        if os.environ.get("EMULATOR") != "fakecloud":
            return None
        topics, stream = [], None
        for resource in expanded["Resources"].values():
            if resource["Type"] != "AWS::SNS::Subscription" or not resolver.is_deployed(resource):
                continue
            props = resolver.resolve(resource["Properties"])
            if props["Protocol"] == "firehose":
                topics.append(props["TopicArn"])
                stream = props["Endpoint"].rsplit("/", 1)[-1]
        if not topics:
            return None
        url = self.sqs.create_queue(QueueName=f"{self.args.stack_name}-archive-tap")["QueueUrl"]
        arn = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        for topic in topics:
            self.sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
        log(f"archive: {len(topics)} topics tapped into {url} for the runner to deliver to {stream}")
        return {"queue_url": url, "delivery_stream": stream}

    def apply_streams(self, expanded: dict, resolver: Resolver) -> None:
        for logical_id, resource in expanded["Resources"].items():
            if resource["Type"] != "AWS::DynamoDB::Table" or not resolver.is_deployed(resource):
                continue
            spec = resolver.resolve(resource["Properties"].get("StreamSpecification"))
            if not spec:
                continue
            table = self._ref(logical_id)
            current = self.dynamodb.describe_table(TableName=table)["Table"].get("StreamSpecification", {})
            if current.get("StreamEnabled") and current.get("StreamViewType") == spec["StreamViewType"]:
                continue
            self.dynamodb.update_table(
                TableName=table, StreamSpecification={"StreamEnabled": True, "StreamViewType": spec["StreamViewType"]}
            )
            log(f"stream on {table} ({spec['StreamViewType']})")

    def apply_alarms(self, expanded: dict, resolver: Resolver) -> None:
        """Creates or updates every alarm the template declares (the emulator's
        CloudFormation skips them), named as CloudFormation would: stack-LogicalId."""
        fields = (
            "AlarmDescription",
            "Namespace",
            "MetricName",
            "Dimensions",
            "Statistic",
            "Period",
            "EvaluationPeriods",
            "Threshold",
            "ComparisonOperator",
            "TreatMissingData",
            "AlarmActions",
        )
        applied = 0
        for logical_id, resource in expanded["Resources"].items():
            if resource["Type"] != "AWS::CloudWatch::Alarm" or not resolver.is_deployed(resource):
                continue
            props = resolver.resolve(resource["Properties"])
            alarm = {name: props[name] for name in fields if name in props}
            for name in ("Period", "EvaluationPeriods"):
                alarm[name] = int(alarm[name])
            alarm["Threshold"] = float(alarm["Threshold"])
            self.cloudwatch.put_metric_alarm(
                AlarmName=props.get("AlarmName", f"{self.args.stack_name}-{logical_id}"), **alarm
            )
            applied += 1
        log(f"alarms applied: {applied}")

    def apply_function_configurations(self, expanded: dict, resolver: Resolver) -> None:
        """Two settings the emulator's CloudFormation gets wrong, mended in one read and at
        most one update per function:
        - Lambda keeps every environment value as a string; the emulator keeps a Number
          parameter's type, which the SDKs (and `cargo lambda deploy`) then cannot read
          back. Such values are rewritten as AWS would have stored them.
        - it drops a function's `TracingConfig`; each is set as the template does, so that
          Lambda's answer (which `make bench` prices traces from) is the template's."""
        for logical_id, resource in expanded["Resources"].items():
            if resource["Type"] != "AWS::Lambda::Function" or not resolver.is_deployed(resource):
                continue
            name = self._ref(logical_id)
            deployed = self.lambda_.get_function_configuration(FunctionName=name)
            updates = {}
            variables = deployed.get("Environment", {}).get("Variables", {})
            if not all(isinstance(value, str) for value in variables.values()):
                updates["Environment"] = {"Variables": {key: str(value) for key, value in variables.items()}}
                log(f"{name}: environment values stored as strings")
            mode = resolver.resolve(resource["Properties"]).get("TracingConfig", {}).get("Mode", "PassThrough")
            if deployed.get("TracingConfig", {}).get("Mode") != mode:
                updates["TracingConfig"] = {"Mode": mode}
                log(f"{name}: tracing {mode}")
            if updates:
                self.lambda_.update_function_configuration(FunctionName=name, **updates)

    def hand_polling_to_the_local_runner(self, expanded: dict, resolver: Resolver) -> dict[tuple[str, str], dict]:
        """Disables the emulator's own pollers; returns each mapping as the template
        configures it, by (function name, source ARN), for the local runner to honour (the
        emulator does not keep every setting: batching windows, scaling, filters)."""
        wanted = {}
        for resource in expanded["Resources"].values():
            if resource["Type"] != "AWS::Lambda::EventSourceMapping" or not resolver.is_deployed(resource):
                continue
            props = resolver.resolve(resource["Properties"])
            wanted[(props["FunctionName"], props["EventSourceArn"])] = props
        for function in {name for name, _ in wanted}:
            for mapping in self.lambda_.list_event_source_mappings(FunctionName=function)["EventSourceMappings"]:
                if mapping.get("State") != "Disabled":
                    self.lambda_.update_event_source_mapping(UUID=mapping["UUID"], Enabled=False)
        return wanted

    # -------------------------------------------------------------- 5. read back
    def manifest(
        self,
        template: dict,
        expanded: dict,
        resolver: Resolver,
        mappings: dict[tuple[str, str], dict],
        archive_tap: dict | None,
    ) -> dict:
        queues = {}
        for logical_id, resource in expanded["Resources"].items():
            if resource["Type"] == "AWS::SQS::Queue" and resolver.is_deployed(resource):
                queues[logical_id] = self._queue(self._ref(logical_id))
        functions = []
        for logical_id, resource in expanded["Resources"].items():
            if resource["Type"] != "AWS::Lambda::Function" or not resolver.is_deployed(resource):
                continue
            name = self._ref(logical_id)
            config = self.lambda_.get_function_configuration(FunctionName=name)
            sam = template["Resources"].get(logical_id, {})
            props = {
                k: resolver.resolve(v)
                for k, v in resource["Properties"].items()
                if k in ("MemorySize", "ReservedConcurrentExecutions")
            }
            functions.append(
                {
                    "logical_id": logical_id,
                    "name": name,
                    "arn": config.get("FunctionArn", ""),
                    "binary": sam.get("Metadata", {}).get("BuildProperties", {}).get("Binary", logical_id),
                    "timeout_seconds": int(config.get("Timeout", 3)),
                    "memory_mb": int(props.get("MemorySize", config.get("MemorySize", 128))),
                    "reserved_concurrency": props.get("ReservedConcurrentExecutions"),
                    "role": config.get("Role", ""),
                    "environment": config.get("Environment", {}).get("Variables", {}),
                    "event_sources": [
                        self._event_source(queues, source, settings)
                        for (function, source), settings in mappings.items()
                        if function == name
                    ]
                    + self._schedules(expanded, resolver, logical_id),
                }
            )
        tables = {}
        for lid, r in expanded["Resources"].items():
            if r["Type"] == "AWS::DynamoDB::Table" and resolver.is_deployed(r):
                description = self.dynamodb.describe_table(TableName=self._ref(lid))["Table"]
                tables[lid] = {"name": self._ref(lid), "stream_arn": description.get("LatestStreamArn")}
        return {
            "stack_name": self.args.stack_name,
            "region": self.region,
            "account": self.account,
            "endpoint_url": os.environ.get("AWS_ENDPOINT_URL", ""),
            "functions": functions,
            "routes": self._routes(template, expanded, resolver),
            "api_throttle": self._throttle(expanded, resolver),
            "jwt_authorizer": self._jwt_authorizer(expanded, resolver),
            "queues": queues,
            "topics": {
                lid: self._ref(lid)
                for lid, r in expanded["Resources"].items()
                if r["Type"] == "AWS::SNS::Topic" and resolver.is_deployed(r)
            },
            "tables": tables,
            "event_archive": self._event_archive(expanded, resolver),
            "archive_tap": archive_tap,
        }

    def _event_archive(self, expanded: dict, resolver: Resolver) -> dict | None:
        """Where the event archive's delivery stream writes: its bucket and key prefix."""
        for resource in expanded["Resources"].values():
            if resource["Type"] != "AWS::KinesisFirehose::DeliveryStream" or not resolver.is_deployed(resource):
                continue
            destination = resolver.resolve(resource["Properties"]["ExtendedS3DestinationConfiguration"])
            return {"bucket": destination["BucketARN"].rsplit(":", 1)[-1], "prefix": destination.get("Prefix", "")}
        return None

    def _event_source(self, queues: dict, source: str, settings: dict) -> dict:
        common = {
            "batch_size": int(settings.get("BatchSize", 10 if source.startswith("arn:aws:sqs:") else 100)),
            "batching_window_seconds": int(settings.get("MaximumBatchingWindowInSeconds", 0)),
            "report_batch_item_failures": "ReportBatchItemFailures" in settings.get("FunctionResponseTypes", []),
            "enabled": str(settings.get("Enabled", True)).lower() == "true",
            "filters": [json.loads(f["Pattern"]) for f in settings.get("FilterCriteria", {}).get("Filters", [])],
        }
        if source.startswith("arn:aws:sqs:"):
            scaling = settings.get("ScalingConfig", {})
            return {
                "kind": "sqs",
                "queue": self._queue_by_arn(queues, source),
                "maximum_concurrency": int(scaling["MaximumConcurrency"]) if "MaximumConcurrency" in scaling else None,
                **common,
            }
        on_failure = settings.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")
        return {
            "kind": "dynamodb_stream",
            "stream_arn": source,
            "starting_position": settings.get("StartingPosition", "LATEST"),
            "maximum_retry_attempts": int(settings.get("MaximumRetryAttempts", -1)),
            "bisect_on_error": str(settings.get("BisectBatchOnFunctionError", False)).lower() == "true",
            "on_failure_queue_url": self._queue_by_arn(queues, on_failure)["url"] if on_failure else None,
            **common,
        }

    @staticmethod
    def _schedules(expanded: dict, resolver: Resolver, function_id: str) -> list[dict]:
        """The EventBridge schedules that invoke a function, which the runner fires itself."""
        schedules = []
        for rule in expanded["Resources"].values():
            props = rule.get("Properties", {})
            if (
                rule["Type"] != "AWS::Events::Rule"
                or "ScheduleExpression" not in props
                or not resolver.is_deployed(rule)
            ):
                continue
            for target in props.get("Targets", []):
                arn = target.get("Arn")
                if isinstance(arn, dict) and arn.get("Fn::GetAtt", [None])[0] == function_id:
                    schedules.append(
                        {
                            "kind": "schedule",
                            "expression": resolver.resolve(props["ScheduleExpression"]),
                            "enabled": resolver.resolve(props.get("State", "ENABLED")) != "DISABLED",
                        }
                    )
        return schedules

    def _queue(self, url: str) -> dict:
        attributes = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        queue = {
            "url": url,
            "arn": attributes["QueueArn"],
            "visibility_timeout_seconds": int(attributes.get("VisibilityTimeout", 30)),
        }
        if "RedrivePolicy" in attributes:
            policy = json.loads(attributes["RedrivePolicy"])
            queue["max_receive_count"] = int(policy["maxReceiveCount"])
            dlq_name = policy["deadLetterTargetArn"].rsplit(":", 1)[-1]
            queue["dead_letter_queue_url"] = self.sqs.get_queue_url(QueueName=dlq_name)["QueueUrl"]
        return queue

    @staticmethod
    def _queue_by_arn(queues: dict, arn: str) -> dict:
        for logical_id, queue in queues.items():
            if queue["arn"] == arn:
                return {"logical_id": logical_id, **queue}
        raise SystemExit(f"deploy: an event source mapping uses {arn}, which is not in the stack")

    @staticmethod
    def _throttle(expanded: dict, resolver: Resolver) -> dict | None:
        """The HTTP API's default route throttling (its stage's), which the runner enforces."""
        for resource in expanded["Resources"].values():
            if resource["Type"] != "AWS::ApiGatewayV2::Stage" or not resolver.is_deployed(resource):
                continue
            settings = resolver.resolve(resource.get("Properties", {}).get("DefaultRouteSettings", {}))
            if "ThrottlingRateLimit" in settings or "ThrottlingBurstLimit" in settings:
                return {
                    "rate_per_second": float(settings.get("ThrottlingRateLimit", 10000)),
                    "burst": int(settings.get("ThrottlingBurstLimit", 5000)),
                }
        return None

    @staticmethod
    def _http_api_body(expanded: dict, resolver: Resolver) -> dict:
        """The OpenAPI body SAM made for the HTTP API: its routes' security and authorizers."""
        for resource in expanded["Resources"].values():
            if resource["Type"] == "AWS::ApiGatewayV2::Api" and resolver.is_deployed(resource):
                return resource.get("Properties", {}).get("Body", {})
        return {}

    @classmethod
    def _jwt_authorizer(cls, expanded: dict, resolver: Resolver) -> dict | None:
        """The HTTP API's JWT authorizer (issuer and audiences), which the runner plays."""
        schemes = cls._http_api_body(expanded, resolver).get("components", {}).get("securitySchemes", {})
        for scheme in schemes.values():
            authorizer = scheme.get("x-amazon-apigateway-authorizer", {})
            if authorizer.get("type") == "jwt":
                configuration = resolver.resolve(authorizer["jwtConfiguration"])
                return {"issuer": configuration["issuer"], "audience": list(configuration.get("audience", []))}
        return None

    @classmethod
    def _routes(cls, template: dict, expanded: dict, resolver: Resolver) -> list[dict]:
        paths = cls._http_api_body(expanded, resolver).get("paths", {})
        routes = []
        for logical_id, resource in template["Resources"].items():
            if resource["Type"] != SERVERLESS_FUNCTION or not resolver.is_deployed(resource):
                continue
            for event in resource.get("Properties", {}).get("Events", {}).values():
                if event.get("Type") == "HttpApi":
                    props = event.get("Properties", {})
                    method, path = props.get("Method", "ANY").upper(), props.get("Path", "/{proxy+}")
                    operation = paths.get(path, {}).get(
                        "x-amazon-apigateway-any-method" if method == "ANY" else method.lower(), {}
                    )
                    routes.append(
                        {
                            "method": method,
                            "path": path,
                            "function": logical_id,
                            "authorized": bool(operation.get("security")),
                        }
                    )
        return routes

    # --------------------------------------------------------------
    def run(self) -> None:
        template = yaml_parse(Path(self.args.template).read_text())
        self.check_rules(template)
        self.package(template)
        expanded = self.expand(template)
        self.deploy_stack(expanded)
        resolver = self.resolver(expanded)
        self.apply_subscriptions(expanded, resolver)
        archive_tap = self.tap_the_archive(expanded, resolver)
        self.apply_streams(expanded, resolver)
        self.apply_alarms(expanded, resolver)
        self.apply_function_configurations(expanded, resolver)
        mappings = self.hand_polling_to_the_local_runner(expanded, resolver)
        manifest = self.manifest(template, expanded, resolver, mappings, archive_tap)
        drift = manifest_problems(manifest)
        if drift:
            raise SystemExit(
                "deploy: the manifest does not match the runner's type (manifest.schema.json):\n" + "\n".join(drift)
            )
        path = Path(self.args.manifest)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(manifest, indent=2) + "\n")
        log(
            f"{len(manifest['functions'])} functions, {len(manifest['queues'])} queues, "
            f"{len(manifest['routes'])} routes -> {path}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--template", default="infra/template.yaml")
    parser.add_argument("--stack-name", default="pizza-shop")
    parser.add_argument("--manifest", default=".local/pizza-shop.json")
    parser.add_argument(
        "--artifacts", default="target/lambda", help="where `cargo lambda build` leaves <binary>/bootstrap.zip"
    )
    parser.add_argument("--parameter", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--expand-only", metavar="OUT", help="only expand the template to OUT, offline, and stop")
    args = parser.parse_args()
    if args.expand_only:
        expand_offline(args.template, dict(p.split("=", 1) for p in args.parameter), args.expand_only)
        return
    if not os.environ.get("AWS_ENDPOINT_URL"):
        raise SystemExit(
            "deploy: AWS_ENDPOINT_URL is not set; this step deploys to an emulator (use `sam deploy` for AWS)"
        )
    Deployment(args).run()


if __name__ == "__main__":
    main()
