//! Just enough of CloudFormation's intrinsic functions to read the settings of a deployed
//! stack back from its processed template: `Ref`, `Fn::Sub`, `Fn::Join`, `Fn::Select`,
//! `Fn::If` and the condition functions. `Fn::GetAtt` is left to the caller, which knows
//! the resource it points at.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// What a value of the template cannot be resolved to.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Unresolved {
    #[error("the stack has no parameter or resource {0}")]
    UnknownName(String),
    #[error("the template has no condition {0}")]
    UnknownCondition(String),
    #[error("{0} is not resolved here")]
    Unsupported(String),
    #[error("malformed {0}")]
    Malformed(&'static str),
}

/// The names a deployed stack's template refers to.
#[derive(Debug, Default)]
pub struct Scope {
    /// Parameters and pseudo parameters (`AWS::Region`), by name.
    pub parameters: BTreeMap<String, String>,
    /// Each deployed resource's physical id, by logical id.
    pub physical: BTreeMap<String, String>,
    /// The template's `Conditions` section.
    pub conditions: Map<String, Value>,
}

impl Scope {
    /// `value` with every intrinsic function it holds replaced by its result.
    pub fn resolve(&self, value: &Value) -> Result<Value, Unresolved> {
        match value {
            Value::Array(items) => {
                items.iter().map(|item| self.resolve(item)).collect::<Result<_, _>>().map(Value::Array)
            }
            Value::Object(object) if object.len() == 1 => {
                let (key, argument) = object.iter().next().ok_or(Unresolved::Malformed("object"))?;
                match key.as_str() {
                    "Ref" => self.reference(argument).map(Value::String),
                    "Fn::Sub" => self.substitute(argument).map(Value::String),
                    "Fn::Join" => self.join(argument).map(Value::String),
                    "Fn::Select" => self.select(argument),
                    "Fn::If" => self.choose(argument),
                    name if name.starts_with("Fn::") => Err(Unresolved::Unsupported(name.to_owned())),
                    _ => self.resolve_fields(object),
                }
            }
            Value::Object(object) => self.resolve_fields(object),
            scalar => Ok(scalar.clone()),
        }
    }

    /// `value` resolved to a string.
    pub fn string(&self, value: &Value) -> Result<String, Unresolved> {
        match self.resolve(value)? {
            Value::String(text) => Ok(text),
            Value::Number(number) => Ok(number.to_string()),
            Value::Bool(flag) => Ok(flag.to_string()),
            _ => Err(Unresolved::Malformed("string")),
        }
    }

    /// Whether the condition `name` holds on this stack.
    pub fn holds(&self, name: &str) -> Result<bool, Unresolved> {
        let condition = self.conditions.get(name).ok_or_else(|| Unresolved::UnknownCondition(name.to_owned()))?;
        self.evaluate(condition)
    }

    fn resolve_fields(&self, object: &Map<String, Value>) -> Result<Value, Unresolved> {
        object.iter().map(|(k, v)| Ok((k.clone(), self.resolve(v)?))).collect::<Result<_, _>>().map(Value::Object)
    }

    fn reference(&self, argument: &Value) -> Result<String, Unresolved> {
        let name = argument.as_str().ok_or(Unresolved::Malformed("Ref"))?;
        self.name(name)
    }

    fn name(&self, name: &str) -> Result<String, Unresolved> {
        self.parameters
            .get(name)
            .or_else(|| self.physical.get(name))
            .cloned()
            .ok_or_else(|| Unresolved::UnknownName(name.to_owned()))
    }

    fn substitute(&self, argument: &Value) -> Result<String, Unresolved> {
        let (text, variables) = match argument {
            Value::String(text) => (text.as_str(), Map::new()),
            Value::Array(pair) if pair.len() == 2 => {
                let text = pair[0].as_str().ok_or(Unresolved::Malformed("Fn::Sub"))?;
                let variables = pair[1].as_object().cloned().ok_or(Unresolved::Malformed("Fn::Sub"))?;
                (text, variables)
            }
            _ => return Err(Unresolved::Malformed("Fn::Sub")),
        };
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after.find('}').ok_or(Unresolved::Malformed("Fn::Sub"))?;
            let name = &after[..end];
            match (name.strip_prefix('!'), variables.get(name)) {
                (Some(literal), _) => out.push_str(&format!("${{{literal}}}")),
                (None, Some(value)) => out.push_str(&self.string(value)?),
                (None, None) if name.contains('.') => return Err(Unresolved::Unsupported(format!("${{{name}}}"))),
                (None, None) => out.push_str(&self.name(name)?),
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    fn join(&self, argument: &Value) -> Result<String, Unresolved> {
        let [separator, items] = argument.as_array().map(Vec::as_slice).unwrap_or_default() else {
            return Err(Unresolved::Malformed("Fn::Join"));
        };
        let separator = separator.as_str().ok_or(Unresolved::Malformed("Fn::Join"))?;
        let Value::Array(items) = self.resolve(items)? else {
            return Err(Unresolved::Malformed("Fn::Join"));
        };
        let parts: Vec<String> = items.iter().map(|item| self.string(item)).collect::<Result<_, _>>()?;
        Ok(parts.join(separator))
    }

    fn select(&self, argument: &Value) -> Result<Value, Unresolved> {
        let [index, items] = argument.as_array().map(Vec::as_slice).unwrap_or_default() else {
            return Err(Unresolved::Malformed("Fn::Select"));
        };
        let index: usize = self.string(index)?.parse().map_err(|_| Unresolved::Malformed("Fn::Select"))?;
        match self.resolve(items)? {
            Value::Array(mut items) if index < items.len() => Ok(items.swap_remove(index)),
            _ => Err(Unresolved::Malformed("Fn::Select")),
        }
    }

    fn choose(&self, argument: &Value) -> Result<Value, Unresolved> {
        let [condition, when_true, when_false] = argument.as_array().map(Vec::as_slice).unwrap_or_default() else {
            return Err(Unresolved::Malformed("Fn::If"));
        };
        let condition = condition.as_str().ok_or(Unresolved::Malformed("Fn::If"))?;
        self.resolve(if self.holds(condition)? { when_true } else { when_false })
    }

    fn evaluate(&self, condition: &Value) -> Result<bool, Unresolved> {
        let object = condition.as_object().filter(|o| o.len() == 1).ok_or(Unresolved::Malformed("condition"))?;
        let (function, argument) = object.iter().next().ok_or(Unresolved::Malformed("condition"))?;
        let operands = || argument.as_array().ok_or(Unresolved::Malformed("condition"));
        match function.as_str() {
            "Condition" => self.holds(argument.as_str().ok_or(Unresolved::Malformed("Condition"))?),
            "Fn::Equals" => match operands()?.as_slice() {
                [left, right] => Ok(self.resolve(left)? == self.resolve(right)?),
                _ => Err(Unresolved::Malformed("Fn::Equals")),
            },
            "Fn::Not" => match operands()?.as_slice() {
                [inner] => Ok(!self.evaluate(inner)?),
                _ => Err(Unresolved::Malformed("Fn::Not")),
            },
            "Fn::And" => operands()?.iter().try_fold(true, |all, c| Ok(all && self.evaluate(c)?)),
            "Fn::Or" => operands()?.iter().try_fold(false, |any, c| Ok(any || self.evaluate(c)?)),
            other => Err(Unresolved::Unsupported(other.to_owned())),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn scope() -> Scope {
        Scope {
            parameters: [("AWS::Region", "eu-west-1"), ("Issuer", ""), ("Namespace", "dev-")]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
            physical: [("Pool".to_owned(), "eu-west-1_abc".to_owned())].into_iter().collect(),
            conditions: json!({
                "OwnPool": { "Fn::Equals": [{ "Ref": "Issuer" }, ""] },
                "External": { "Fn::Not": [{ "Condition": "OwnPool" }] },
            })
            .as_object()
            .cloned()
            .unwrap_or_default(),
        }
    }

    #[test]
    fn references_and_substitutions_read_parameters_and_physical_ids() {
        let scope = scope();
        assert_eq!(scope.string(&json!({ "Ref": "Pool" })), Ok("eu-west-1_abc".into()));
        assert_eq!(
            scope.string(&json!({ "Fn::Sub": "https://idp.${AWS::Region}.example/${Pool}/${!Literal}" })),
            Ok("https://idp.eu-west-1.example/eu-west-1_abc/${Literal}".into())
        );
        assert_eq!(scope.string(&json!({ "Fn::Sub": ["${Namespace}${Name}", { "Name": "q" }] })), Ok("dev-q".into()));
        assert_eq!(scope.string(&json!({ "Fn::Join": ["-", ["a", { "Ref": "Namespace" }]] })), Ok("a-dev-".into()));
        assert_eq!(scope.string(&json!({ "Fn::Select": [1, ["a", "b"]] })), Ok("b".into()));
    }

    #[test]
    fn conditions_choose_the_branch_the_stack_was_deployed_with() {
        let scope = scope();
        let issuer = json!({ "Fn::If": ["OwnPool", { "Fn::Sub": "cognito/${Pool}" }, { "Ref": "Issuer" }] });
        assert_eq!(scope.string(&issuer), Ok("cognito/eu-west-1_abc".into()));
        assert_eq!(scope.holds("External"), Ok(false));
    }

    #[test]
    fn what_cannot_be_resolved_is_an_error_not_a_guess() {
        let scope = scope();
        assert_eq!(scope.string(&json!({ "Ref": "Nope" })), Err(Unresolved::UnknownName("Nope".into())));
        assert_eq!(
            scope.string(&json!({ "Fn::GetAtt": ["Pool", "Arn"] })),
            Err(Unresolved::Unsupported("Fn::GetAtt".into()))
        );
        assert_eq!(scope.holds("Missing"), Err(Unresolved::UnknownCondition("Missing".into())));
    }
}
