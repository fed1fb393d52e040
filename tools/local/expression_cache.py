"""moto's DynamoDB expressions, read once per text instead of on every request.

moto lexes a condition expression by slicing the rest of the text after every token and
trying six patterns on it: quadratic in the expression's length. The functions' writes
name every pizza of a batch in their conditions, so a store or a stage's reservation
carries a condition of a few kilobytes, and lexing it was the largest single cost of the
emulator's CPU during a big order. Here the text is split in one pass by one pattern that
tries the same six alternatives in the same order (so every token is the one moto's lexer
finds), and the tokens of a text are remembered: the functions send the same few texts
again and again with other values. Each call still gets fresh nodes, as moto's parser
builds its tree from them.

An update expression's syntax tree is remembered per text too. Every reader of it either
only reads it (the handler's check of the names and values used) or deep-copies it before
working on it (moto's validators), so one tree serves every request with that text.

moto's validators walk that tree once each and, at every node, rebuild the map that says
which of their methods handles which kind of node. The map never changes during a walk, so
each validator builds it once.

Importing this module installs all three; the answers are moto's own.
"""

import functools
import re
from collections import deque

from moto.dynamodb.comparisons import ConditionExpressionParser
from moto.dynamodb.parsing.ast_nodes import DepthFirstTraverser
from moto.dynamodb.parsing.expressions import UpdateExpressionParser

# moto's patterns (`ConditionExpressionParser._lex_one_node`), in its order, as one.
_ATTRIBUTE = r"(?::|#)?[A-z0-9\-_]+"
_TOKEN = re.compile(
    r"(?P<WHITESPACE> +)"
    r"|(?P<COMPARATOR><>|<=|>=|=|<|>)"
    rf"|(?P<OPERAND>{_ATTRIBUTE}(?:\.{_ATTRIBUTE}|\[[0-9]\])*)"
    r"|(?P<COMMA>,)"
    r"|(?P<LEFT_PAREN>\()"
    r"|(?P<RIGHT_PAREN>\))"
)
_REMEMBERED = 4096


@functools.lru_cache(maxsize=_REMEMBERED)
def condition_tokens(expression: str) -> tuple[tuple[str, str], ...]:
    """The (nonterminal, text) of each token of a condition expression, whitespace left out.
    Raises moto's ValueError where no token starts."""
    tokens, position = [], 0
    while position < len(expression):
        match = _TOKEN.match(expression, position)
        if match is None:
            raise ValueError(f"Cannot parse condition starting at:{expression[position:]}")
        if match.lastgroup != "WHITESPACE":
            tokens.append((getattr(ConditionExpressionParser.Nonterminal, match.lastgroup), match.group()))
        position = match.end()
    return tuple(tokens)


def _lex_condition_expression(self):
    literal, node = self.Kind.LITERAL, self.Node
    return deque(
        node(nonterminal=nonterminal, kind=literal, text=text, value=text, children=[])
        for nonterminal, text in condition_tokens(self.condition_expression)
    )


_make_update_expression = UpdateExpressionParser.make.__func__


@functools.lru_cache(maxsize=_REMEMBERED)
def update_expression_tree(expression: str):
    """moto's syntax tree of an update expression: shared, so read it or copy it."""
    return _make_update_expression(UpdateExpressionParser, expression)


ConditionExpressionParser._lex_condition_expression = _lex_condition_expression
UpdateExpressionParser.make = classmethod(lambda _cls, expression: update_expression_tree(expression))


def _processing_map_once(self):
    remembered = self.__dict__.get("_remembered_processing_map")
    if remembered is None:
        remembered = self.__dict__["_remembered_processing_map"] = self._processing_map()
    return remembered


def _nodes_to_be_processed(self):
    remembered = self.__dict__.get("_remembered_node_types")
    if remembered is None:
        remembered = self.__dict__["_remembered_node_types"] = tuple(_processing_map_once(self))
    return remembered


def _process(self, node):
    for node_type, processor in _processing_map_once(self).items():
        if isinstance(node, node_type):
            return processor(node)
    return None


DepthFirstTraverser.nodes_to_be_processed = _nodes_to_be_processed
DepthFirstTraverser.process = _process
