//! What every pizza-shop function shares around its domain code, one concern a module, in
//! the spirit of Powertools for AWS Lambda:
//!
//! - [`config`]: the environment the template gives a function;
//! - [`telemetry`]: JSON log lines that carry the request, trace and correlation ids, and
//!   CloudWatch embedded-metric-format metrics;
//! - [`trace`]: W3C `traceparent` and X-Ray trace headers, carried hop to hop;
//! - [`error`]: whether a record's failure is worth retrying;
//! - [`retry`]: a transient failure backs off, a permanent one is dead-lettered at once;
//! - [`bus`]: the event bus port, with SNS and in-memory adapters;
//! - [`batch`]: an SQS-triggered function: handlers take a whole batch and return the
//!   events each record produces; the kit publishes them and reports partial failures;
//! - [`http`]: the shape of an HTTP function behind API Gateway;
//! - [`faults`]: fault injection for chaos runs (inert unless configured).

pub mod batch;
pub mod bus;
pub mod config;
pub mod error;
pub mod faults;
pub mod http;
pub mod retry;
pub mod telemetry;
pub mod trace;

pub use batch::{BatchHandler, Inbound, RecordOutcome};
pub use bus::{EventBus, Outgoing, TopicArn};
pub use config::{ConfigError, Env};
pub use error::RecordError;
pub use retry::{FailedRecords, RetryPolicy, SqsFailedRecords};

/// The SDK configuration: `aws_config` honours `AWS_ENDPOINT_URL` and
/// `AWS_ENDPOINT_URL_<SERVICE>`, so the same code talks to AWS, moto or LocalStack.
pub async fn sdk_config() -> aws_config::SdkConfig {
    aws_config::load_from_env().await
}

/// An error and every source under it, in the service's own words: what a log line needs.
pub fn describe(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(inner) = source {
        let inner_text = inner.to_string();
        if !text.contains(&inner_text) {
            text = format!("{text}: {inner_text}");
        }
        source = inner.source();
    }
    text
}
