"""Evaluates the CloudFormation intrinsic functions the local deploy step needs.

moto's CloudFormation silently skips a few resource types (SNS subscriptions, TTL, the
HTTP API). The deploy step applies those itself, from the same template, so it has to
resolve their properties the way CloudFormation would: conditions, Ref, Fn::GetAtt,
Fn::If, Fn::Sub and Fn::Join. It also checks the template's rules, which moto skips.
Everything else is left to CloudFormation.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

NO_VALUE = object()  # what AWS::NoValue resolves to: the surrounding item is dropped


class TemplateError(Exception):
    """The template uses something this evaluator cannot resolve."""


class Resolver:
    """Resolves intrinsics against parameters and the physical resources of a stack.

    `ref(logical_id)` and `get_att(logical_id, attribute)` answer for resources; they are
    callbacks so that this module stays free of AWS calls and can be tested alone.
    """

    def __init__(
        self,
        template: dict,
        parameters: dict[str, str],
        pseudo: dict[str, str],
        ref: Callable[[str], str],
        get_att: Callable[[str, str], str],
    ) -> None:
        self.template = template
        self.parameters = {**self._defaults(template), **parameters}
        self.pseudo = pseudo
        self._ref = ref
        self._get_att = get_att
        self._conditions: dict[str, bool] = {}

    @staticmethod
    def _defaults(template: dict) -> dict[str, str]:
        return {
            name: str(spec["Default"]) for name, spec in template.get("Parameters", {}).items() if "Default" in spec
        }

    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            spec = self.template.get("Conditions", {}).get(name)
            if spec is None:
                raise TemplateError(f"unknown condition {name}")
            self._conditions[name] = bool(self._condition_value(spec))
        return self._conditions[name]

    def _condition_value(self, spec: Any) -> Any:
        if isinstance(spec, dict) and len(spec) == 1:
            ((fn, arg),) = spec.items()
            if fn == "Fn::Equals":
                left, right = (self.resolve(a) for a in arg)
                return str(left) == str(right)
            if fn == "Fn::Not":
                return not self._condition_value(arg[0])
            if fn == "Fn::And":
                return all(self._condition_value(a) for a in arg)
            if fn == "Fn::Or":
                return any(self._condition_value(a) for a in arg)
            if fn == "Fn::Contains":
                values, value = (self.resolve(a) for a in arg)
                return str(value) in (str(v) for v in values)
            if fn == "Condition":
                return self.condition(arg)
        return self.resolve(spec)

    def broken_rules(self) -> list[str]:
        """Why the parameters break the template's `Rules`: each failed assertion's
        description. CloudFormation refuses such a stack before creating anything; moto
        skips rules, so the deploy step checks them itself."""
        broken = []
        for name, rule in self.template.get("Rules", {}).items():
            if "RuleCondition" in rule and not self._condition_value(rule["RuleCondition"]):
                continue
            for assertion in rule.get("Assertions", []):
                if not self._condition_value(assertion["Assert"]):
                    broken.append(f"{name}: {assertion.get('AssertDescription', 'an assertion failed')}")
        return broken

    def is_deployed(self, resource: dict) -> bool:
        """Whether a resource exists under the stack's parameters."""
        name = resource.get("Condition")
        return name is None or self.condition(name)

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            items = (self.resolve(v) for v in value)
            return [v for v in items if v is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            handler = self._functions().get(key)
            if handler is not None:
                return handler(arg)
        resolved = {k: self.resolve(v) for k, v in value.items()}
        return {k: v for k, v in resolved.items() if v is not NO_VALUE}

    def _functions(self) -> dict[str, Callable[[Any], Any]]:
        return {
            "Ref": self._resolve_ref,
            "Fn::GetAtt": self._resolve_get_att,
            "Fn::If": self._resolve_if,
            "Fn::Sub": self._resolve_sub,
            "Fn::Join": lambda arg: self.resolve(arg[0]).join(str(v) for v in self.resolve(arg[1])),
            "Condition": self.condition,
        }

    def _resolve_ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        if name in self.template.get("Resources", {}):
            return self._ref(name)
        raise TemplateError(f"Ref to unknown name {name}")

    def _resolve_get_att(self, arg: Any) -> Any:
        if isinstance(arg, str):
            arg = arg.split(".", 1)
        logical_id, attribute = arg
        if logical_id not in self.template.get("Resources", {}):
            raise TemplateError(f"Fn::GetAtt of unknown resource {logical_id}")
        return self._get_att(logical_id, attribute)

    def _resolve_if(self, arg: list) -> Any:
        name, when_true, when_false = arg
        return self.resolve(when_true if self.condition(name) else when_false)

    def _resolve_sub(self, arg: Any) -> str:
        text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], self.resolve(arg[1]))

        def substitute(match: re.Match) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                return str(variables[name])
            if "." in name:
                return str(self._resolve_get_att(name))
            return str(self._resolve_ref(name))

        return re.sub(r"\$\{([^}]+)\}", substitute, text)
