//! The deployed stack as `tools/local/deploy.py` read it back from the emulator: the one
//! description of the topology the runner, the tests, the benchmarks and the CLI share.
//! Its JSON Schema, generated from these types, is `tools/local/manifest.schema.json`,
//! and the deploy step checks what it writes against it (`tests/manifest_schema.rs`).

use std::collections::BTreeMap;
use std::path::Path;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
pub struct Manifest {
    pub stack_name: String,
    pub region: String,
    #[serde(default)]
    pub account: String,
    #[serde(default)]
    pub endpoint_url: String,
    pub functions: Vec<Function>,
    pub routes: Vec<Route>,
    /// The HTTP API's default route throttling, if the template sets one.
    #[serde(default)]
    pub api_throttle: Option<Throttle>,
    /// The HTTP API's JWT authorizer, if the template sets one: the runner plays it, with
    /// the local issuer's key (see [`crate::issuer`]).
    #[serde(default)]
    pub jwt_authorizer: Option<crate::issuer::JwtConfiguration>,
    pub queues: BTreeMap<String, Queue>,
    pub topics: BTreeMap<String, String>,
    pub tables: BTreeMap<String, Table>,
    /// Where the event archive's delivery stream writes, if the stack keeps one.
    #[serde(default)]
    pub event_archive: Option<ArchiveLocation>,
    /// The queue through which the runner plays the archive's SNS subscriptions, where the
    /// emulator does not deliver SNS to Firehose itself (fakecloud).
    #[serde(default)]
    pub archive_tap: Option<ArchiveTap>,
}

/// A queue subscribed to every archived topic, and the delivery stream its messages go to.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq, JsonSchema)]
pub struct ArchiveTap {
    pub queue_url: String,
    pub delivery_stream: String,
}

/// The event archive's S3 bucket and the key prefix its objects are under.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq, JsonSchema)]
pub struct ArchiveLocation {
    pub bucket: String,
    pub prefix: String,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
pub struct Function {
    pub logical_id: String,
    pub name: String,
    #[serde(default)]
    pub arn: String,
    /// The cargo binary that implements the function (`BuildProperties.Binary`).
    pub binary: String,
    pub timeout_seconds: u64,
    pub memory_mb: u64,
    pub reserved_concurrency: Option<u32>,
    #[serde(default)]
    pub role: String,
    pub environment: BTreeMap<String, String>,
    pub event_sources: Vec<EventSource>,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EventSource {
    Sqs(SqsSource),
    DynamodbStream(StreamSource),
    /// An EventBridge schedule that invokes the function.
    Schedule(ScheduleSource),
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
pub struct ScheduleSource {
    /// `rate(5 minutes)`, or a `cron(…)` expression (not fired locally).
    pub expression: String,
    pub enabled: bool,
}

impl ScheduleSource {
    /// How often a `rate(…)` schedule fires; `None` for a cron expression.
    pub fn period(&self) -> Option<std::time::Duration> {
        let inner = self.expression.trim().strip_prefix("rate(")?.strip_suffix(')')?;
        let (count, unit) = inner.trim().split_once(' ')?;
        let count: u64 = count.parse().ok().filter(|n| *n > 0)?;
        let seconds = match unit.trim() {
            "minute" | "minutes" => 60,
            "hour" | "hours" => 3600,
            "day" | "days" => 86_400,
            _ => return None,
        };
        Some(std::time::Duration::from_secs(count * seconds))
    }
}

/// What every event source mapping has.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
pub struct Mapping {
    pub batch_size: u32,
    pub batching_window_seconds: u64,
    pub report_batch_item_failures: bool,
    pub enabled: bool,
    /// Lambda event filter patterns; a record that matches none is not delivered.
    #[serde(default)]
    pub filters: Vec<serde_json::Value>,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
pub struct SqsSource {
    pub queue: Queue,
    pub maximum_concurrency: Option<u32>,
    #[serde(flatten)]
    pub mapping: Mapping,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
pub struct StreamSource {
    pub stream_arn: String,
    pub starting_position: String,
    /// -1: retry until the record expires.
    pub maximum_retry_attempts: i64,
    pub bisect_on_error: bool,
    pub on_failure_queue_url: Option<String>,
    #[serde(flatten)]
    pub mapping: Mapping,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
pub struct Queue {
    #[serde(default)]
    pub logical_id: String,
    pub url: String,
    pub arn: String,
    pub visibility_timeout_seconds: u32,
    pub max_receive_count: Option<u32>,
    pub dead_letter_queue_url: Option<String>,
}

impl Queue {
    pub fn name(&self) -> &str {
        self.url.rsplit('/').next().unwrap_or(&self.url)
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
pub struct Table {
    pub name: String,
    pub stream_arn: Option<String>,
}

/// API Gateway's route throttling: a token bucket of `burst` tokens, refilled at
/// `rate_per_second`.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, Serialize, JsonSchema)]
pub struct Throttle {
    pub rate_per_second: f64,
    pub burst: u32,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
pub struct Route {
    pub method: String,
    pub path: String,
    pub function: String,
    /// Whether the route needs a token the JWT authorizer accepts.
    #[serde(default)]
    pub authorized: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("cannot read the stack manifest {path} (deploy first: `make deploy`)")]
    Unreadable {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the stack manifest {path} is invalid")]
    Invalid {
        path: String,
        #[source]
        source: serde_json::Error,
    },
}

impl Manifest {
    pub fn load(path: &Path) -> Result<Self, ManifestError> {
        let display = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|source| ManifestError::Unreadable { path: display.clone(), source })?;
        serde_json::from_str(&text).map_err(|source| ManifestError::Invalid { path: display, source })
    }

    pub fn function(&self, logical_id: &str) -> Option<&Function> {
        self.functions.iter().find(|f| f.logical_id == logical_id)
    }

    /// A table's physical name by logical id.
    pub fn table(&self, logical_id: &str) -> Option<&str> {
        self.tables.get(logical_id).map(|t| t.name.as_str())
    }

    /// Every queue that has a dead-letter queue, with it.
    pub fn dead_letter_queues(&self) -> impl Iterator<Item = (&Queue, &str)> {
        self.queues.values().filter_map(|q| q.dead_letter_queue_url.as_deref().map(|dlq| (q, dlq)))
    }

    /// A queue by logical id (`SauceQueue`) or name (`sauce-q`).
    pub fn queue(&self, name: &str) -> Option<&Queue> {
        self.queues.iter().find(|(logical_id, queue)| *logical_id == name || queue.name() == name).map(|(_, q)| q)
    }
}

impl Function {
    /// How many invocations of this function may run at once: its reserved concurrency,
    /// else the largest maximum concurrency of its queues (at least one).
    pub fn concurrency_limit(&self) -> usize {
        let from_sources = self
            .event_sources
            .iter()
            .filter_map(|s| match s {
                EventSource::Sqs(sqs) => sqs.maximum_concurrency,
                EventSource::DynamodbStream(_) | EventSource::Schedule(_) => Some(1),
            })
            .sum::<u32>();
        let limit = match (self.reserved_concurrency, from_sources) {
            (Some(reserved), _) => reserved,
            (None, 0) => 10,
            (None, sources) => sources,
        };
        limit.max(1) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rate_schedule_has_a_period_and_a_cron_has_none() {
        let schedule = |expression: &str| ScheduleSource { expression: expression.into(), enabled: true }.period();
        assert_eq!(schedule("rate(5 minutes)"), Some(std::time::Duration::from_secs(300)));
        assert_eq!(schedule("rate(1 hour)"), Some(std::time::Duration::from_secs(3600)));
        assert_eq!(schedule("rate(0 minutes)"), None);
        assert_eq!(schedule("cron(0 12 * * ? *)"), None);
    }
}
