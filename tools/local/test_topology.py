"""The topology is written once, in infra/template.yaml; what must agree with it is checked
here, by `make test` (the unit tests), so a copy that drifts fails:

- every kitchen stage the template deploys (a function with a `STAGE`) has a menu in
  shared/pizza-events/src/menu.rs, and every stage of the menu is deployed;
- every queue a function reads has a dead-letter queue, an alarm on that DLQ and one on
  its own backlog, an SNS subscription that feeds it, and an entry in the queue policy
  that lets SNS send to it (both its `Queues` and the statement's `Resource`);
- every `BuildProperties.Binary` is a binary of the workspace, and every binary of a
  package under functions/ is deployed by some function;
- the event archive hears the kitchen's last topic (its events carry each pizza's earlier
  ones) and no topic a stage reads (those events are carried already).

The audit of the saga (`pizza audit`) and the console read the stages from the deployed
stack itself, so they hold no copy to check.
"""

import copy
import json
import re
import subprocess
import unittest
from pathlib import Path

from samtranslator.yaml_helper import yaml_parse
from test_template import logical_id

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "infra" / "template.yaml"
MENU = ROOT / "shared" / "pizza-events" / "src" / "menu.rs"
FUNCTION = "AWS::Serverless::Function"


def menu_stages(menu_source):
    """The stages of the menu, as menu.rs lists them."""
    return set(re.findall(r'StageMenu\s*\{\s*stage:\s*"([a-z-]+)"', menu_source))


def functions(template):
    return {name: r for name, r in template["Resources"].items() if r["Type"] == FUNCTION}


def deployed_stages(template):
    """Each kitchen stage the template deploys: STAGE -> its function."""
    stages = {}
    for name, function in functions(template).items():
        stage = function.get("Properties", {}).get("Environment", {}).get("Variables", {}).get("STAGE")
        if stage is not None:
            stages[stage] = name
    return stages


def consumed_queues(template):
    """Every queue a function reads: queue -> function."""
    queues = {}
    for name, function in functions(template).items():
        for event in function.get("Properties", {}).get("Events", {}).values():
            if event.get("Type") == "SQS":
                queues[logical_id(event["Properties"]["Queue"])] = name
    return queues


def references(value):
    """Every logical id a value names through `Ref` or `Fn::GetAtt`, however deep."""
    found = set()
    if isinstance(value, dict):
        named = logical_id(value)
        if named is not None:
            found.add(named)
        for inner in value.values():
            found |= references(inner)
    elif isinstance(value, list):
        for inner in value:
            found |= references(inner)
    return found


def queue_problems(template):
    """What each queue a function reads lacks: its DLQ, their alarms, its feed, its policy."""
    resources = template["Resources"]
    alarmed = set()
    subscribed = set()
    policy_queues, policy_resources = set(), set()
    for resource in resources.values():
        properties = resource.get("Properties", {})
        if resource["Type"] == "AWS::CloudWatch::Alarm":
            for dimension in properties.get("Dimensions", []):
                if dimension.get("Name") == "QueueName":
                    alarmed |= references(dimension.get("Value"))
        elif resource["Type"] == "AWS::SNS::Subscription" and properties.get("Protocol") == "sqs":
            subscribed |= references(properties.get("Endpoint"))
        elif resource["Type"] == "AWS::SQS::QueuePolicy":
            policy_queues |= references(properties.get("Queues"))
            for statement in properties.get("PolicyDocument", {}).get("Statement", []):
                if "sqs:SendMessage" in (
                    statement.get("Action") if isinstance(statement.get("Action"), list) else [statement.get("Action")]
                ):
                    policy_resources |= references(statement.get("Resource"))
    problems = []
    for queue, function in sorted(consumed_queues(template).items()):
        redrive = resources.get(queue, {}).get("Properties", {}).get("RedrivePolicy", {})
        dlq = logical_id(redrive.get("deadLetterTargetArn"))
        if dlq is None:
            problems.append(f"{queue} (read by {function}) has no dead-letter queue")
        elif dlq not in alarmed:
            problems.append(f"{queue}'s dead-letter queue {dlq} has no alarm")
        if queue not in alarmed:
            problems.append(f"{queue} has no backlog alarm")
        if queue not in subscribed:
            problems.append(f"{queue} is fed by no SNS subscription")
        if queue not in policy_queues or queue not in policy_resources:
            problems.append(f"{queue} is missing from the queue policy that lets SNS send to it")
    return problems


def stage_problems(template, menu_source):
    """Stages deployed without a menu, and menu stages that are not deployed."""
    deployed, menu = deployed_stages(template), menu_stages(menu_source)
    problems = [
        f"{function} runs stage {stage}, which has no menu" for stage, function in deployed.items() if stage not in menu
    ]
    problems += [f"the menu's stage {stage} is deployed by no function" for stage in sorted(menu - deployed.keys())]
    return problems


def archive_problems(template):
    """The kitchen's last topic (one a stage publishes to and no stage reads) unarchived, and
    any topic a stage reads archived: a record a pizza the journeys already carry."""
    resources = template["Resources"]
    stage_queues = {
        q for q, function in consumed_queues(template).items() if function in deployed_stages(template).values()
    }
    read_by_stages, archived = set(), set()
    for resource in resources.values():
        properties = resource.get("Properties", {})
        if resource["Type"] != "AWS::SNS::Subscription":
            continue
        topics = references(properties.get("TopicArn"))
        if properties.get("Protocol") == "sqs" and references(properties.get("Endpoint")) & stage_queues:
            read_by_stages |= topics
        elif properties.get("Protocol") == "firehose":
            archived |= topics
    published_by_stages = set()
    for name in deployed_stages(template).values():
        variables = resources[name]["Properties"]["Environment"]["Variables"]
        published_by_stages |= references(variables.get("OUTPUT_TOPIC_ARN"))
    problems = [
        f"the kitchen's last topic {t} is not archived" for t in sorted(published_by_stages - read_by_stages - archived)
    ]
    problems += [
        f"{t} is archived, but a stage reads it: its events are carried" for t in sorted(archived & read_by_stages)
    ]
    return problems


def workspace_packages() -> list[dict]:
    """The workspace's packages, as `cargo metadata` describes them."""
    metadata = subprocess.run(
        ["cargo", "metadata", "--no-deps", "--format-version", "1"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(metadata)["packages"]


def workspace_binaries():
    """Every binary of the workspace: name -> the manifest path of its package."""
    return {
        target["name"]: package["manifest_path"]
        for package in workspace_packages()
        for target in package["targets"]
        if "bin" in target["kind"]
    }


def binary_problems(template, binaries):
    """Template binaries the workspace lacks, and function binaries no function deploys."""
    used = {
        f.get("Metadata", {}).get("BuildProperties", {}).get("Binary"): name for name, f in functions(template).items()
    }
    problems = [
        f"{function} builds binary {binary}, which the workspace lacks"
        for binary, function in used.items()
        if binary not in binaries
    ]
    problems += [
        f"binary {binary} of {Path(path).parent.relative_to(ROOT)} is deployed by no function"
        for binary, path in sorted(binaries.items())
        if "/functions/" in path and binary not in used
    ]
    return problems


class TopologyTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.template = yaml_parse(TEMPLATE.read_text())
        cls.menu = MENU.read_text()

    def test_every_deployed_stage_has_a_menu_and_every_menu_is_deployed(self):
        self.assertEqual(stage_problems(self.template, self.menu), [])

    def test_every_queue_a_function_reads_has_its_dlq_alarms_subscription_and_policy(self):
        self.assertEqual(queue_problems(self.template), [])

    def test_every_binary_the_template_builds_is_in_the_workspace_and_every_function_binary_is_deployed(self):
        self.assertEqual(binary_problems(self.template, workspace_binaries()), [])

    def test_a_stage_added_without_its_alarms_policy_or_menu_is_caught(self):
        template = copy.deepcopy(self.template)
        resources = template["Resources"]
        resources["OlivesQueue"] = copy.deepcopy(resources["SauceQueue"])
        olives = copy.deepcopy(resources["SauceFunction"])
        olives["Properties"]["Environment"]["Variables"]["STAGE"] = "olives"
        olives["Properties"]["Events"] = {
            "Queue": {"Type": "SQS", "Properties": {"Queue": {"Fn::GetAtt": ["OlivesQueue", "Arn"]}}}
        }
        resources["OlivesFunction"] = olives
        self.assertEqual(
            queue_problems(template),
            [
                "OlivesQueue has no backlog alarm",
                "OlivesQueue is fed by no SNS subscription",
                "OlivesQueue is missing from the queue policy that lets SNS send to it",
            ],
        )
        self.assertEqual(stage_problems(template, self.menu), ["OlivesFunction runs stage olives, which has no menu"])

    def test_the_archive_hears_the_kitchens_last_topic_and_no_earlier_one(self):
        self.assertEqual(archive_problems(self.template), [])
        template = copy.deepcopy(self.template)
        resources = template["Resources"]
        resources["ArchivePizzaWithSauceSubscription"] = copy.deepcopy(resources["ArchivePizzaWithVeggiesSubscription"])
        resources["ArchivePizzaWithSauceSubscription"]["Properties"]["TopicArn"] = {"Ref": "PizzaWithSauceTopic"}
        del resources["ArchivePizzaWithVeggiesSubscription"]
        self.assertEqual(
            archive_problems(template),
            [
                "the kitchen's last topic PizzaWithVeggiesTopic is not archived",
                "PizzaWithSauceTopic is archived, but a stage reads it: its events are carried",
            ],
        )

    def test_a_binary_the_workspace_lacks_is_caught(self):
        template = copy.deepcopy(self.template)
        template["Resources"]["SauceFunction"]["Metadata"]["BuildProperties"]["Binary"] = "sauce"
        problems = binary_problems(template, workspace_binaries())
        self.assertIn("SauceFunction builds binary sauce, which the workspace lacks", problems)


if __name__ == "__main__":
    unittest.main()
