//! AWS's own failures, on demand. The emulator never throttles, never conflicts, never
//! leaves a batch half done and never loses an answer; AWS does all of that. This layer
//! is a proxy between the function processes and the emulator that answers as AWS does
//! when it fails, by rules armed for a time window:
//!
//! - DynamoDB: `ThrottlingException`, `ProvisionedThroughputExceededException`,
//!   `InternalServerError`, `TransactionCanceledException` for a `TransactionConflict` or a
//!   `ThrottlingError`, `UnprocessedKeys` / `UnprocessedItems`, and a write applied whose
//!   answer is lost (a 500 after the commit);
//! - SNS: `Throttling`, `InternalError`, a `PublishBatch` that fails part of its entries;
//! - any service: added latency, and an outage (every request refused).
//!
//! Requests are told apart by the SDK's user agent: the runner starts each function with
//! `AWS_SDK_UA_APP_ID` set to its logical id, so a rule can aim at one function, and the
//! runner's own pollers (no app id) and the tests' clients pass untouched unless a rule
//! says `"caller": "*"`. Every decision is drawn from the plan's seed.
//!
//! A plan is JSON (`pizza-local --aws-faults plan.json`, or `POST /__faults` to the layer):
//!
//! ```json
//! {"seed": 7, "rules": [
//!   {"service": "dynamodb", "kinds": ["outage"], "after_seconds": 0, "for_seconds": 200},
//!   {"service": "sns", "operations": ["PublishBatch"], "rate": 0.3,
//!    "kinds": ["throttling", "partial_batch"], "after_seconds": 200, "for_seconds": 120}
//! ]}
//! ```

mod answers;
mod proxy;

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use proxy::FaultLayer;

/// The AWS services the layer can fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Service {
    Dynamodb,
    Sns,
}

/// One way AWS fails a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// `ThrottlingException` (DynamoDB) or `Throttling` (SNS), before the request applies.
    Throttling,
    /// DynamoDB's `ProvisionedThroughputExceededException`.
    ThroughputExceeded,
    /// A 500 (`InternalServerError`, SNS's `InternalError`) before the request applies.
    InternalError,
    /// A transaction cancelled because another one holds one of its items.
    TransactionConflict,
    /// A transaction cancelled because one of its items was throttled.
    TransactionThrottled,
    /// A batch read or write that leaves part of its keys or items unprocessed.
    Unprocessed,
    /// The write is applied, and its answer is lost: a 500 after the commit.
    LostAnswer,
    /// A `PublishBatch` that publishes some entries and lists the rest under `Failed`.
    PartialBatch,
    /// The service answers nothing but `503 ServiceUnavailable`.
    Outage,
    /// The request is held back before it goes on (see [`FaultRule::latency_ms`]).
    Latency,
}

impl FaultKind {
    /// Whether this kind can happen to `operation` of `service`.
    pub fn applies_to(self, service: Service, operation: &str) -> bool {
        const WRITES: [&str; 5] = ["PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"];
        match self {
            FaultKind::Throttling | FaultKind::InternalError | FaultKind::Outage | FaultKind::Latency => true,
            FaultKind::ThroughputExceeded => service == Service::Dynamodb,
            FaultKind::TransactionConflict | FaultKind::TransactionThrottled => operation == "TransactWriteItems",
            FaultKind::Unprocessed => matches!(operation, "BatchGetItem" | "BatchWriteItem"),
            FaultKind::LostAnswer => service == Service::Dynamodb && WRITES.contains(&operation),
            FaultKind::PartialBatch => service == Service::Sns && operation == "PublishBatch",
        }
    }
}

/// Which requests a rule fails, how often, how, and when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultRule {
    pub service: Service,
    /// Operations (`PutItem`, `PublishBatch`…); empty: every operation.
    #[serde(default)]
    pub operations: Vec<String>,
    /// A table name or topic ARN the request must name (a substring); none: any.
    #[serde(default)]
    pub resource: Option<String>,
    /// A text the request's body must contain (a condition expression, say), to aim at
    /// one kind of write among a function's many; none: any body.
    #[serde(default)]
    pub contains: Option<String>,
    /// The function whose requests fail (its logical id); none: every function; `*`:
    /// every client, the runner's pollers included.
    #[serde(default)]
    pub caller: Option<String>,
    /// The share of matching requests that fail.
    #[serde(default = "always")]
    pub rate: f64,
    /// The ways they fail; each failing request draws one that applies to its operation.
    pub kinds: Vec<FaultKind>,
    /// How long [`FaultKind::Latency`] holds a request back.
    #[serde(default)]
    pub latency_ms: u64,
    /// When the rule starts, counted from when the plan was armed.
    #[serde(default)]
    pub after_seconds: f64,
    /// How long it lasts; none: until the plan is disarmed.
    #[serde(default)]
    pub for_seconds: Option<f64>,
    /// The most faults it injects; none: as many as its rate draws.
    #[serde(default)]
    pub times: Option<u64>,
}

fn always() -> f64 {
    1.0
}

/// Rules and the seed their dice are drawn from.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultPlan {
    #[serde(default)]
    pub seed: u64,
    pub rules: Vec<FaultRule>,
}

/// What a request is, as far as the rules care.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    pub service: Service,
    pub operation: String,
    /// Table names or topic ARNs the request names.
    pub resources: Vec<String>,
    /// The function that sent it (`app/<id>` in its user agent), if any.
    pub caller: Option<String>,
}

impl FaultRule {
    /// Whether the rule is in force `elapsed` after arming and covers `call`.
    pub fn covers(&self, call: &Call, elapsed: Duration) -> bool {
        let elapsed = elapsed.as_secs_f64();
        let in_window =
            elapsed >= self.after_seconds && self.for_seconds.is_none_or(|d| elapsed < self.after_seconds + d);
        let caller_matches = match self.caller.as_deref() {
            Some("*") => true,
            Some(wanted) => call.caller.as_deref() == Some(wanted),
            None => call.caller.is_some(),
        };
        in_window
            && caller_matches
            && self.service == call.service
            && (self.operations.is_empty() || self.operations.contains(&call.operation))
            && self.resource.as_ref().is_none_or(|wanted| call.resources.iter().any(|r| r.contains(wanted.as_str())))
    }

    /// The kinds of this rule that can happen to the call.
    pub fn kinds_for(&self, call: &Call) -> Vec<FaultKind> {
        self.kinds.iter().copied().filter(|kind| kind.applies_to(call.service, &call.operation)).collect()
    }
}

impl FaultPlan {
    /// Whether every rule is well-formed.
    pub fn validate(&self) -> Result<(), String> {
        for (index, rule) in self.rules.iter().enumerate() {
            let problem = |what: String| Err(format!("rule {index}: {what}"));
            if !(0.0..=1.0).contains(&rule.rate) {
                return problem(format!("rate {} is not between 0 and 1", rule.rate));
            }
            if rule.kinds.is_empty() {
                return problem("no kinds of failure".into());
            }
            if rule.kinds.contains(&FaultKind::Latency) && rule.latency_ms == 0 {
                return problem("latency without latency_ms".into());
            }
            if rule.after_seconds < 0.0 || rule.for_seconds.is_some_and(|d| d <= 0.0) {
                return problem("a window must start at or after 0 and last a while".into());
            }
        }
        Ok(())
    }
}

/// How many faults of each kind the layer injected, by `service:kind`.
pub type Injected = BTreeMap<String, u64>;

#[cfg(test)]
mod tests {
    use super::*;

    fn call(service: Service, operation: &str, caller: Option<&str>) -> Call {
        Call {
            service,
            operation: operation.into(),
            resources: vec!["test-orders".into()],
            caller: caller.map(str::to_owned),
        }
    }

    fn rule(json: serde_json::Value) -> FaultRule {
        serde_json::from_value(json).expect("a rule")
    }

    #[test]
    fn a_rule_covers_its_window_its_operations_its_resource_and_functions_only() {
        let rule = rule(serde_json::json!({
            "service": "dynamodb", "operations": ["PutItem"], "resource": "orders",
            "kinds": ["throttling"], "after_seconds": 10, "for_seconds": 5
        }));
        let put = call(Service::Dynamodb, "PutItem", Some("ApiFunction"));
        assert!(!rule.covers(&put, Duration::from_secs(9)));
        assert!(rule.covers(&put, Duration::from_secs(10)));
        assert!(!rule.covers(&put, Duration::from_secs(15)), "the window is over");
        assert!(!rule.covers(&call(Service::Dynamodb, "GetItem", Some("ApiFunction")), Duration::from_secs(12)));
        assert!(!rule.covers(&call(Service::Sns, "PutItem", Some("ApiFunction")), Duration::from_secs(12)));
        assert!(!rule.covers(&call(Service::Dynamodb, "PutItem", None), Duration::from_secs(12)), "not a function");
        let everyone = FaultRule { caller: Some("*".into()), ..rule.clone() };
        assert!(everyone.covers(&call(Service::Dynamodb, "PutItem", None), Duration::from_secs(12)));
        let elsewhere = FaultRule { resource: Some("payments".into()), ..rule };
        assert!(!elsewhere.covers(&put, Duration::from_secs(12)));
    }

    #[test]
    fn only_the_kinds_that_fit_the_operation_are_drawn() {
        let rule = rule(serde_json::json!({
            "service": "dynamodb",
            "kinds": ["transaction_conflict", "unprocessed", "lost_answer", "throttling", "partial_batch"]
        }));
        let kinds = |op| rule.kinds_for(&call(Service::Dynamodb, op, Some("f")));
        assert_eq!(
            kinds("TransactWriteItems"),
            [FaultKind::TransactionConflict, FaultKind::LostAnswer, FaultKind::Throttling]
        );
        assert_eq!(kinds("BatchGetItem"), [FaultKind::Unprocessed, FaultKind::Throttling]);
        assert_eq!(kinds("GetItem"), [FaultKind::Throttling]);
    }

    #[test]
    fn a_plan_with_nonsense_in_it_is_refused() {
        let plan = |rule: serde_json::Value| -> FaultPlan {
            serde_json::from_value(serde_json::json!({"rules": [rule]})).expect("parses")
        };
        assert!(plan(serde_json::json!({"service": "sns", "kinds": ["throttling"]})).validate().is_ok());
        assert!(plan(serde_json::json!({"service": "sns", "kinds": []})).validate().is_err());
        assert!(plan(serde_json::json!({"service": "sns", "kinds": ["throttling"], "rate": 2})).validate().is_err());
        assert!(plan(serde_json::json!({"service": "sns", "kinds": ["latency"]})).validate().is_err());
        let unknown = serde_json::from_value::<FaultPlan>(
            serde_json::json!({"rules": [{"service": "sns", "kinds": ["gremlins"]}]}),
        );
        assert!(unknown.is_err());
    }
}
