import unittest

from intrinsics import NO_VALUE, Resolver, TemplateError

TEMPLATE = {
    "Parameters": {"Namespace": {"Type": "String", "Default": ""}, "Crust": {"Default": "disabled"}},
    "Conditions": {
        "WithCrust": {"Fn::Equals": [{"Ref": "Crust"}, "enabled"]},
        "Plain": {"Fn::Not": [{"Condition": "WithCrust"}]},
    },
    "Resources": {"Topic": {}, "Queue": {}, "CrustQueue": {"Condition": "WithCrust"}},
}


def resolver(**parameters):
    return Resolver(
        TEMPLATE,
        parameters,
        {"AWS::Region": "eu-west-1"},
        ref=lambda name: f"physical-{name}",
        get_att=lambda name, attribute: f"{name}.{attribute}",
    )


class ResolverTest(unittest.TestCase):
    def test_conditions_follow_parameters_and_their_defaults(self):
        self.assertFalse(resolver().condition("WithCrust"))
        self.assertTrue(resolver().condition("Plain"))
        self.assertTrue(resolver(Crust="enabled").condition("WithCrust"))
        self.assertFalse(resolver().is_deployed(TEMPLATE["Resources"]["CrustQueue"]))
        self.assertTrue(resolver().is_deployed(TEMPLATE["Resources"]["Queue"]))

    def test_refs_get_atts_and_subs(self):
        r = resolver(Namespace="t-")
        self.assertEqual(r.resolve({"Ref": "Topic"}), "physical-Topic")
        self.assertEqual(r.resolve({"Fn::GetAtt": ["Queue", "Arn"]}), "Queue.Arn")
        self.assertEqual(r.resolve({"Fn::GetAtt": "Queue.Arn"}), "Queue.Arn")
        self.assertEqual(r.resolve({"Fn::Sub": "${Namespace}pizza-${AWS::Region}"}), "t-pizza-eu-west-1")
        self.assertEqual(r.resolve({"Fn::Sub": ["${X}-${Queue.Arn}", {"X": "x"}]}), "x-Queue.Arn")
        self.assertEqual(r.resolve({"Fn::Join": ["/", ["a", {"Ref": "Namespace"}]]}), "a/t-")

    def test_if_picks_a_branch_and_no_value_drops_the_item(self):
        value = {"Fn::If": ["WithCrust", {"Ref": "CrustQueue"}, {"Ref": "AWS::NoValue"}]}
        self.assertEqual(resolver().resolve([value, "x"]), ["x"])
        self.assertEqual(resolver(Crust="enabled").resolve([value, "x"]), ["physical-CrustQueue", "x"])
        self.assertIs(resolver().resolve(value), NO_VALUE)
        self.assertEqual(resolver().resolve({"A": value, "B": 1}), {"B": 1})

    def test_unknown_names_are_errors(self):
        with self.assertRaises(TemplateError):
            resolver().resolve({"Ref": "Missing"})
        with self.assertRaises(TemplateError):
            resolver().condition("Missing")

    def test_a_rule_holds_unless_its_condition_applies_and_an_assertion_fails(self):
        template = {
            "Parameters": {"BatchSize": {"Default": "10"}, "Window": {"Default": "0"}},
            "Rules": {
                "BigBatchesWait": {
                    "RuleCondition": {"Fn::Not": [{"Fn::Contains": [["1", "10"], {"Ref": "BatchSize"}]}]},
                    "Assertions": [
                        {
                            "Assert": {"Fn::Not": [{"Fn::Equals": [{"Ref": "Window"}, "0"]}]},
                            "AssertDescription": "a window, please",
                        }
                    ],
                }
            },
        }

        def broken(**parameters):
            return Resolver(template, parameters, {}, ref=str, get_att=str).broken_rules()

        self.assertEqual(broken(), [])
        self.assertEqual(broken(BatchSize="20"), ["BigBatchesWait: a window, please"])
        self.assertEqual(broken(BatchSize="20", Window="1"), [])


if __name__ == "__main__":
    unittest.main()
