//! Structured JSON logs and CloudWatch embedded-metric-format (EMF) metrics.
//!
//! Every log line is one JSON object; the span fields (`correlation_id`, `event_id`,
//! `function`) ride along under `span`, so `jq 'select(.span.correlation_id == "…")'`
//! follows one order through every function.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value, json};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::LevelFilter;

use crate::config::Env;

/// Installs the JSON log subscriber once per process; the level comes from `LOG_LEVEL`
/// (as in Powertools), defaulting to `info`. Later calls are no-ops.
pub fn init_logging() {
    let filter = EnvFilter::builder()
        .with_default_directive(LevelFilter::INFO.into())
        .with_env_var("LOG_LEVEL")
        .from_env_lossy()
        // The SDK's own chatter is rarely what an operator is looking for.
        .add_directive("aws_smithy_runtime=warn".parse().expect("static directive"))
        .add_directive("aws_config=warn".parse().expect("static directive"));
    let _ = tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(true)
        .with_span_list(false)
        .with_target(false)
        .with_env_filter(filter)
        .try_init();
}

#[derive(Debug, Clone, Copy)]
pub enum Unit {
    Count,
    Milliseconds,
}

impl Unit {
    fn as_str(self) -> &'static str {
        match self {
            Unit::Count => "Count",
            Unit::Milliseconds => "Milliseconds",
        }
    }
}

/// Writes metrics as EMF lines on stdout, where CloudWatch Logs turns them into metrics
/// with no API call. One line per flush, all metrics sharing the `service` dimension.
#[derive(Debug, Clone)]
pub struct Metrics {
    namespace: String,
    service: String,
    /// `POWERTOOLS_METRICS_DISABLED=true` silences them, as in Powertools.
    disabled: bool,
}

impl Metrics {
    pub fn from_env(env: &Env) -> Self {
        Self {
            namespace: env.get("POWERTOOLS_METRICS_NAMESPACE").unwrap_or("PizzaShop").to_owned(),
            service: env.service_name().to_owned(),
            disabled: env.get("POWERTOOLS_METRICS_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true")),
        }
    }

    pub fn emit(&self, metrics: &[(&str, f64, Unit)]) {
        if metrics.is_empty() || self.disabled {
            return;
        }
        println!("{}", self.document(metrics, now_millis()));
    }

    fn document(&self, metrics: &[(&str, f64, Unit)], timestamp_ms: u128) -> Value {
        let definitions: Vec<Value> =
            metrics.iter().map(|(name, _, unit)| json!({"Name": name, "Unit": unit.as_str()})).collect();
        let mut doc = Map::new();
        doc.insert(
            "_aws".into(),
            json!({
                "Timestamp": timestamp_ms,
                "CloudWatchMetrics": [{
                    "Namespace": self.namespace,
                    "Dimensions": [["service"]],
                    "Metrics": definitions,
                }],
            }),
        );
        doc.insert("service".into(), self.service.clone().into());
        for (name, value, _) in metrics {
            doc.insert((*name).into(), json!(value));
        }
        Value::Object(doc)
    }
}

fn now_millis() -> u128 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_emf_document_declares_each_metric_and_carries_its_value() {
        let env: Env = [("POWERTOOLS_SERVICE_NAME", "sauce")].into_iter().collect();
        let doc = Metrics::from_env(&env).document(&[("Processed", 3.0, Unit::Count)], 1_700_000_000_000);
        assert_eq!(doc["service"], "sauce");
        assert_eq!(doc["Processed"], 3.0);
        let directive = &doc["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "PizzaShop");
        assert_eq!(directive["Dimensions"], json!([["service"]]));
        assert_eq!(directive["Metrics"], json!([{"Name": "Processed", "Unit": "Count"}]));
        assert_eq!(doc["_aws"]["Timestamp"], 1_700_000_000_000u64);
    }
}
