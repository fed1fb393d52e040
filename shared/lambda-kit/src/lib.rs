//! What an event-driven Lambda function needs around its domain code, one concern a
//! module, in the spirit of Powertools for AWS Lambda, generic over the function's
//! messages ([`Message`]) and knowing nothing of any one system (see the README and
//! `examples/welcome.rs`):
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
//!
//! What domain code needs of it ([`Outgoing`], [`TopicArn`], [`RecordError`], the trace
//! context) lives in the AWS-free `messaging` crate, re-exported here.

#![warn(missing_docs)]

pub mod batch;
pub mod bus;
pub mod config;
pub mod faults;
pub mod http;
pub mod retry;
pub mod telemetry;
#[cfg(test)]
mod test_message;

pub use batch::{BatchHandler, Inbound, RecordOutcome};
pub use bus::EventBus;
pub use config::{ConfigError, Env};
pub use messaging::{Message, Outgoing, RecordError, TopicArn, describe, error, trace};
pub use retry::{FailedRecords, RetryPolicy, SqsFailedRecords};

/// The SDK configuration: `aws_config` honours `AWS_ENDPOINT_URL` and
/// `AWS_ENDPOINT_URL_<SERVICE>`, so the same code talks to AWS, moto or LocalStack.
pub async fn sdk_config() -> aws_config::SdkConfig {
    aws_config::load_from_env().await
}
