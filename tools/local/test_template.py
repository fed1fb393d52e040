"""Checks of infra/template.yaml that no linter makes: rules of this shop's own.

Every alarm has a runbook: its description links to a section of docs/operating.md that
exists and names it.

An alarm that cannot publish fires into silence. CloudWatch publishes to an encrypted SNS
topic only if the topic's KMS key lets the CloudWatch service use it; the AWS managed key
`alias/aws/sns` cannot be changed to allow that, so every alarm topic must be unencrypted
or encrypted with a key of the template's own whose policy grants CloudWatch
`kms:Decrypt` and `kms:GenerateDataKey*`.

The card token opens for the payment service alone: of the card-token key's policy, only
the payment function's role may `kms:Decrypt`, the API's may only make data keys, the
account may administer the key without using it, and no function's IAM policy names KMS
use at all (an IAM grant would add to the key policy's).

Every route of the HTTP API needs a signed-in customer.

Lambda refuses a batch of more than 10 messages without a batching window: the template's
rules refuse such parameters before anything is created.

`sam build` and `sam deploy` (samconfig.toml) find this template and name the stack as
`make` and the `pizza` command do by default.
"""

import fnmatch
import re
import tomllib
import unittest
from pathlib import Path

from intrinsics import Resolver
from samtranslator.yaml_helper import yaml_parse

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "infra" / "template.yaml"
RUNBOOK = ROOT / "docs" / "operating.md"
RUNBOOK_LINK = re.compile(r"docs/operating\.md#([a-z0-9-]+)")
CLOUDWATCH = "cloudwatch.amazonaws.com"
NEEDED = ("kms:Decrypt", "kms:GenerateDataKey")


def logical_id(reference):
    """The resource a `Ref` or `Fn::GetAtt` names, else None."""
    if isinstance(reference, dict):
        if "Ref" in reference:
            return reference["Ref"]
        if "Fn::GetAtt" in reference:
            target = reference["Fn::GetAtt"]
            return target[0] if isinstance(target, list) else str(target).split(".")[0]
    return None


def as_list(value):
    return value if isinstance(value, list) else [value]


def grants_cloudwatch(key):
    """Whether a key's policy lets CloudWatch decrypt and generate data keys with it."""
    allowed = []
    for statement in key.get("Properties", {}).get("KeyPolicy", {}).get("Statement", []):
        services = as_list(statement.get("Principal", {}).get("Service", []))
        if statement.get("Effect") == "Allow" and CLOUDWATCH in services:
            allowed.extend(as_list(statement.get("Action", [])))
    return all(any(fnmatch.fnmatch(action, pattern) for pattern in allowed) for action in NEEDED)


def alarm_topic_problems(template):
    """Why each alarm's topic cannot be published to by CloudWatch, if it cannot."""
    resources = template["Resources"]
    problems = []
    for name, alarm in resources.items():
        if alarm["Type"] != "AWS::CloudWatch::Alarm":
            continue
        for action in alarm["Properties"].get("AlarmActions", []):
            topic_id = logical_id(action)
            topic = resources.get(topic_id, {})
            if topic.get("Type") != "AWS::SNS::Topic":
                problems.append(f"{name} acts on {action!r}, not a topic of this template")
                continue
            key = topic.get("Properties", {}).get("KmsMasterKeyId")
            if key is None:
                continue
            key_id = logical_id(key)
            if key_id is None or resources.get(key_id, {}).get("Type") != "AWS::KMS::Key":
                problems.append(f"{name} publishes to {topic_id}, encrypted with {key!r}, which CloudWatch cannot use")
            elif not grants_cloudwatch(resources[key_id]):
                problems.append(f"{name} publishes to {topic_id}, whose key {key_id} does not let CloudWatch use it")
    return problems


def text_of(description):
    """An alarm description's text, whether plain or a `Fn::Sub`."""
    if isinstance(description, dict):
        description = description.get("Fn::Sub", "")
        if isinstance(description, list):
            description = description[0]
    return str(description)


def anchor(heading):
    """The anchor a Markdown heading gets (GitHub's rule, for the headings used here)."""
    return re.sub(r"[^a-z0-9 -]", "", heading.lower()).strip().replace(" ", "-")


def runbook_sections(markdown):
    """Each `## ` section of the runbook: anchor -> its text."""
    sections = {}
    for part in re.split(r"^## ", markdown, flags=re.MULTILINE)[1:]:
        heading, _, body = part.partition("\n")
        sections[anchor(heading)] = body
    return sections


def runbook_problems(template, markdown):
    """Alarms without a runbook section that names them and that their description links to."""
    sections = runbook_sections(markdown)
    problems = []
    for name, alarm in template["Resources"].items():
        if alarm["Type"] != "AWS::CloudWatch::Alarm":
            continue
        link = RUNBOOK_LINK.search(text_of(alarm["Properties"].get("AlarmDescription", "")))
        if link is None:
            problems.append(f"{name}: its description links to no section of docs/operating.md")
        elif link.group(1) not in sections:
            problems.append(f"{name}: docs/operating.md has no section #{link.group(1)}")
        elif f"`{name}`" not in sections[link.group(1)]:
            problems.append(f"{name}: section #{link.group(1)} of docs/operating.md does not name it")
    return problems


class RunbookTest(unittest.TestCase):
    def test_every_alarm_links_to_a_runbook_section_that_names_it(self):
        template = yaml_parse(TEMPLATE.read_text())
        self.assertEqual(runbook_problems(template, RUNBOOK.read_text()), [])

    def test_an_alarm_without_its_section_is_caught(self):
        def template(description):
            return {
                "Resources": {
                    "NewAlarm": {"Type": "AWS::CloudWatch::Alarm", "Properties": {"AlarmDescription": description}}
                }
            }

        runbook = "# Runbook\n\n## Dead letters\n\nAlarms: `NewAlarm`.\n\n## Backlog\n\nNothing.\n"
        self.assertEqual(
            runbook_problems(template({"Fn::Sub": "x Runbook: docs/operating.md#dead-letters"}), runbook), []
        )
        self.assertEqual(len(runbook_problems(template("no link"), runbook)), 1)
        self.assertEqual(len(runbook_problems(template("docs/operating.md#crust"), runbook)), 1)
        self.assertEqual(len(runbook_problems(template("docs/operating.md#backlog"), runbook)), 1)


class AlarmTopicTest(unittest.TestCase):
    def test_every_alarm_of_the_template_can_reach_its_topic(self):
        template = yaml_parse(TEMPLATE.read_text())
        alarms = [r for r in template["Resources"].values() if r["Type"] == "AWS::CloudWatch::Alarm"]
        self.assertGreater(len(alarms), 10)
        self.assertEqual(alarm_topic_problems(template), [])

    def test_the_aws_managed_key_and_a_key_without_cloudwatch_are_caught(self):
        def template(key, statements):
            return {
                "Resources": {
                    "Alarm": {"Type": "AWS::CloudWatch::Alarm", "Properties": {"AlarmActions": [{"Ref": "Topic"}]}},
                    "Topic": {"Type": "AWS::SNS::Topic", "Properties": {"KmsMasterKeyId": key}},
                    "Key": {"Type": "AWS::KMS::Key", "Properties": {"KeyPolicy": {"Statement": statements}}},
                }
            }

        cloudwatch = {
            "Effect": "Allow",
            "Principal": {"Service": CLOUDWATCH},
            "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
        }
        self.assertEqual(alarm_topic_problems(template({"Ref": "Key"}, [cloudwatch])), [])
        self.assertEqual(len(alarm_topic_problems(template("alias/aws/sns", [cloudwatch]))), 1)
        decrypt_only = dict(cloudwatch, Action="kms:Decrypt")
        self.assertEqual(len(alarm_topic_problems(template({"Ref": "Key"}, [decrypt_only]))), 1)
        account_only = dict(cloudwatch, Principal={"AWS": "arn:aws:iam::123456789012:root"})
        self.assertEqual(len(alarm_topic_problems(template({"Ref": "Key"}, [account_only]))), 1)


def key_use_problems(template, key_id):
    """Who may use the key `key_id` beyond the payment role's decrypt and the API role's data keys."""
    allowed = {("PaymentFunctionRole", "kms:Decrypt"), ("ApiFunctionRole", "kms:GenerateDataKey")}
    use = re.compile(r"kms:(Decrypt|Encrypt|GenerateDataKey|ReEncrypt|\*)")
    problems = []
    for statement in template["Resources"][key_id]["Properties"]["KeyPolicy"]["Statement"]:
        principal = statement.get("Principal", {}).get("AWS")
        for action in as_list(statement.get("Action", [])):
            if not use.match(action):
                continue
            if statement.get("Effect") == "Allow" and (logical_id(principal), action) not in allowed:
                problems.append(f"{key_id}: {principal} may {action}")
    for name, resource in template["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        for policy in resource.get("Properties", {}).get("Policies", []):
            statements = policy.get("Statement", []) if isinstance(policy, dict) else []
            for statement in statements:
                if any(use.match(a) for a in as_list(statement.get("Action", []))):
                    problems.append(f"{name}: its IAM policy grants KMS use")
            if isinstance(policy, dict) and any(k.startswith("KMS") for k in policy):
                problems.append(f"{name}: its IAM policy grants KMS use")
    return problems


class CardTokenKeyTest(unittest.TestCase):
    def test_only_the_payment_service_may_open_card_tokens(self):
        template = yaml_parse(TEMPLATE.read_text())
        self.assertEqual(key_use_problems(template, "CardTokenKey"), [])

    def test_another_user_of_the_key_is_caught(self):
        template = yaml_parse(TEMPLATE.read_text())
        statements = template["Resources"]["CardTokenKey"]["Properties"]["KeyPolicy"]["Statement"]
        statements.append(
            {"Effect": "Allow", "Principal": {"AWS": {"Fn::GetAtt": "OrderFunctionRole.Arn"}}, "Action": "kms:Decrypt"}
        )
        template["Resources"]["ApiFunction"]["Properties"]["Policies"].append({"KMSDecryptPolicy": {"KeyId": "k"}})
        self.assertEqual(len(key_use_problems(template, "CardTokenKey")), 2)


class SignInTest(unittest.TestCase):
    def test_every_route_needs_a_signed_in_customer(self):
        template = yaml_parse(TEMPLATE.read_text())
        auth = template["Globals"]["HttpApi"]["Auth"]
        self.assertIn(auth["DefaultAuthorizer"], auth["Authorizers"])
        for name, resource in template["Resources"].items():
            for event in resource.get("Properties", {}).get("Events", {}).values():
                if event.get("Type") == "HttpApi":
                    self.assertNotIn("Auth", event.get("Properties", {}), f"{name}: a route opts out of sign-in")


class BatchingWindowRuleTest(unittest.TestCase):
    def test_batches_above_ten_are_refused_unless_every_queue_taking_them_waits_to_fill_them(self):
        template = yaml_parse(TEMPLATE.read_text())
        windows = set()
        for resource in template["Resources"].values():
            for event in resource.get("Properties", {}).get("Events", {}).values():
                settings = event.get("Properties", {})
                if event.get("Type") == "SQS" and settings.get("BatchSize") == {"Ref": "PipelineBatchSize"}:
                    windows.add(settings["MaximumBatchingWindowInSeconds"]["Ref"])
        self.assertGreaterEqual(len(windows), 2, "the kitchen's queues take PipelineBatchSize")

        def broken(**parameters):
            return Resolver(template, parameters, {}, ref=str, get_att=str).broken_rules()

        every_window = dict.fromkeys(windows, "1")
        self.assertEqual(broken(), [], "the defaults deploy")
        self.assertEqual(broken(PipelineBatchSize="20", **every_window), [])
        for window in windows:
            without = {**every_window, window: "0"}
            self.assertNotEqual(broken(PipelineBatchSize="20", **without), [], f"{window}=0 passes with 20")


class SamConfigTest(unittest.TestCase):
    def test_sam_finds_the_template_and_names_the_stack_as_make_and_the_cli_do(self):
        config = tomllib.loads((ROOT / "samconfig.toml").read_text())["default"]
        for command in ("build", "validate"):
            template = ROOT / config[f"{command}"]["parameters"]["template_file"]
            self.assertEqual(template, TEMPLATE, f"sam {command} reads another template")
        stack = config["global"]["parameters"]["stack_name"]
        makefile_default = re.search(r"^STACK \?= (\S+)$", (ROOT / "Makefile").read_text(), re.MULTILINE)
        cli_default = re.search(
            r'default_value = "([^"]+)", env = "PIZZA_STACK"', (ROOT / "tools/pizza-cli/src/main.rs").read_text()
        )
        self.assertEqual(makefile_default and makefile_default.group(1), stack)
        self.assertEqual(cli_default and cli_default.group(1), stack)


if __name__ == "__main__":
    unittest.main()
