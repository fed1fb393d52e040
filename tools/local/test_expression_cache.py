"""moto's expressions read once per text: the same tokens and the same answers as moto's own."""

import unittest

import boto3
import expression_cache
from moto import mock_aws
from moto.dynamodb.comparisons import ConditionExpressionParser
from test_emulator_server import InProcessMoto

REGION = "us-east-1"

# What the functions send, and the corners of the grammar.
CONDITIONS = [
    "#status = :cooking AND attribute_not_exists(#p0_0) AND attribute_not_exists(#p0_1)",
    "#status IN (:placed, :cooking)",
    "attribute_exists(pk)",
    "a.b[1] <> :v OR NOT (size(#x) >= :n)",
    "#n BETWEEN :low AND :high",
    "x<=:a AND y>:b AND z<:c AND w=:d",
    "  spaced   =   :out  ",
    "available.#i0 >= :k0",
]


def moto_tokens(expression):
    """The tokens moto's own lexer finds."""
    parser = ConditionExpressionParser(expression, {}, {})
    tokens, rest = [], expression
    while rest:
        node, rest = parser._lex_one_node(rest)
        if node.nonterminal != parser.Nonterminal.WHITESPACE:
            tokens.append((node.nonterminal, node.text))
    return tuple(tokens)


class ConditionTokensTest(unittest.TestCase):
    def test_every_token_is_the_one_motos_lexer_finds(self):
        for expression in CONDITIONS:
            with self.subTest(expression):
                self.assertEqual(expression_cache.condition_tokens(expression), moto_tokens(expression))

    def test_a_text_no_token_starts_is_refused_with_motos_error(self):
        with self.assertRaises(ValueError) as ours:
            expression_cache.condition_tokens("#a = :b ; drop")
        with self.assertRaises(ValueError) as motos:
            moto_tokens("#a = :b ; drop")
        self.assertEqual(str(ours.exception), str(motos.exception))

    def test_each_parse_gets_fresh_nodes(self):
        parser = ConditionExpressionParser("#a = :b", {}, {})
        first, second = parser._lex_condition_expression(), parser._lex_condition_expression()
        first[0].children.append("changed")
        self.assertEqual(second[0].children, [])


class AnswersTest(InProcessMoto):
    """Requests that share their texts and differ in values answer as their values say."""

    def test_conditional_updates_with_one_text_and_other_values(self):
        with mock_aws():
            dynamodb = boto3.client("dynamodb", region_name=REGION)
            dynamodb.create_table(
                TableName="t",
                KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
            )
            dynamodb.put_item(TableName="t", Item={"pk": {"S": "o"}, "left": {"N": "3"}})

            def take(units, name):
                return dynamodb.update_item(
                    TableName="t",
                    Key={"pk": {"S": "o"}},
                    UpdateExpression="SET #p = :k ADD #left :minus",
                    ConditionExpression="#left >= :k AND attribute_not_exists(#p)",
                    ExpressionAttributeNames={"#left": "left", "#p": name},
                    ExpressionAttributeValues={":k": {"N": str(units)}, ":minus": {"N": str(-units)}},
                    ReturnValues="ALL_NEW",
                )["Attributes"]

            self.assertEqual(take(2, "a")["left"], {"N": "1"})
            with self.assertRaises(dynamodb.exceptions.ConditionalCheckFailedException):
                take(2, "b")  # one unit left
            with self.assertRaises(dynamodb.exceptions.ConditionalCheckFailedException):
                take(1, "a")  # taken before under this name
            item = take(1, "c")
            self.assertEqual((item["left"], item["a"], item["c"]), ({"N": "0"}, {"N": "2"}, {"N": "1"}))

            # The validators still see every node: two actions on one path are refused.
            with self.assertRaisesRegex(dynamodb.exceptions.ClientError, "overlap"):
                dynamodb.update_item(
                    TableName="t",
                    Key={"pk": {"S": "o"}},
                    UpdateExpression="SET #a = :one, #a = :two",
                    ExpressionAttributeNames={"#a": "a"},
                    ExpressionAttributeValues={":one": {"N": "1"}, ":two": {"N": "2"}},
                )


if __name__ == "__main__":
    unittest.main()
