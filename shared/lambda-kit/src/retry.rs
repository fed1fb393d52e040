//! What happens to a record that failed, by the kind of its failure.
//!
//! Lambda's SQS poller does nothing with a failed record: it becomes visible again when the
//! queue's visibility timeout runs out, and after `maxReceiveCount` receives the queue
//! moves it to its dead-letter queue. Alone, that retries a throttled table as fast as a
//! malformed message, and gives up on both after the same few minutes. So the kit sorts
//! failures by kind:
//!
//! - a **transient** failure (throttled, unavailable, conflicting) comes back after an
//!   exponential backoff with jitter, set with `ChangeMessageVisibility` on the record:
//!   the queue's `maxReceiveCount` and this backoff together are the retry budget
//!   ([`RetryPolicy::budget`]), long enough to ride out an outage of half an hour;
//! - a **permanent** failure (malformed, unknown, invalid) is sent to the dead-letter queue
//!   at once, with its reason as a message attribute, and removed from its queue.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_lambda_events::event::sqs::SqsMessage;
use aws_sdk_sqs::types::{MessageAttributeValue, QueueAttributeName};
use tokio::sync::Mutex;

use crate::config::{ConfigError, Env};

/// The message attribute that says why a message was dead-lettered.
pub const DEAD_LETTER_REASON: &str = "dead-letter-reason";
/// The message attribute that names the queue a dead letter came from (its ARN).
pub const DEAD_LETTER_SOURCE: &str = "dead-letter-source";

/// SQS keeps a message invisible for at most 12 hours.
const MAX_VISIBILITY: Duration = Duration::from_secs(12 * 60 * 60);
/// SQS allows ten message attributes; a dead letter keeps its own and adds two.
const MAX_MESSAGE_ATTRIBUTES: usize = 10;

/// The backoff of transient failures: the `n`-th failed receive of a message waits
/// `min(base · 2ⁿ⁻¹, max)`, of which the second half is jitter, so retries of one outage
/// spread out instead of arriving together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The first retry's delay.
    pub base: Duration,
    /// No retry waits longer.
    pub max: Duration,
}

impl Default for RetryPolicy {
    /// 10 s, 20 s, 40 s … up to 15 minutes: see [`RetryPolicy::budget`].
    fn default() -> Self {
        Self { base: Duration::from_secs(10), max: Duration::from_secs(15 * 60) }
    }
}

impl RetryPolicy {
    /// `RETRY_BACKOFF_BASE_SECONDS` and `RETRY_BACKOFF_MAX_SECONDS`, each optional.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let seconds = |name: &'static str, default: Duration| match env.get(name) {
            None => Ok(default),
            Some(text) => text
                .parse::<u64>()
                .ok()
                .filter(|s| *s > 0)
                .map(Duration::from_secs)
                .ok_or_else(|| ConfigError::Invalid { name, reason: format!("{text:?} is not a positive number") }),
        };
        let default = Self::default();
        let base = seconds("RETRY_BACKOFF_BASE_SECONDS", default.base)?;
        let max = seconds("RETRY_BACKOFF_MAX_SECONDS", default.max)?;
        if max < base {
            return Err(ConfigError::Invalid {
                name: "RETRY_BACKOFF_MAX_SECONDS",
                reason: format!("{}s is below the base of {}s", max.as_secs(), base.as_secs()),
            });
        }
        Ok(Self { base, max: max.min(MAX_VISIBILITY) })
    }

    /// The longest wait after the `receive_count`-th failed receive (from 1).
    pub fn ceiling(&self, receive_count: u32) -> Duration {
        let doublings = receive_count.saturating_sub(1).min(30);
        self.base.saturating_mul(1 << doublings).min(self.max)
    }

    /// The wait after the `receive_count`-th failed receive; `jitter` in `[0, 1]` picks it
    /// between half the ceiling and the ceiling.
    pub fn delay(&self, receive_count: u32, jitter: f64) -> Duration {
        let ceiling = self.ceiling(receive_count);
        ceiling / 2 + ceiling.mul_f64(jitter.clamp(0.0, 1.0) / 2.0)
    }

    /// How long a message keeps being retried before its queue dead-letters it, at least
    /// and at most: the waits after each of its first `max_receive_count - 1` failures.
    pub fn budget(&self, max_receive_count: u32) -> (Duration, Duration) {
        let most: Duration = (1..max_receive_count).map(|n| self.ceiling(n)).sum();
        let least: Duration = (1..max_receive_count).map(|n| self.delay(n, 0.0)).sum();
        (least, most)
    }
}

/// What can be done with a failed record besides reporting it: the port the batch layer
/// settles failures through.
#[async_trait]
pub trait FailedRecords: Send + Sync {
    /// Makes the record visible again after `delay`.
    async fn retry_after(&self, record: &SqsMessage, delay: Duration) -> Result<(), String>;
    /// Moves the record to its queue's dead-letter queue, with `reason`; the caller then
    /// reports it as handled, so the poller deletes it from its queue.
    async fn dead_letter(&self, record: &SqsMessage, reason: &str) -> Result<(), String>;
}

/// A queue's URL and its dead-letter queue's, as SQS names them.
#[derive(Debug, Clone)]
struct QueueUrls {
    queue: String,
    dead_letters: Option<String>,
}

/// Failed records settled through SQS itself. Each queue's URL and dead-letter queue are
/// looked up once (`GetQueueUrl`, `GetQueueAttributes`) from the record's source ARN, so
/// the template configures nothing here: the queue's own redrive policy says where
/// dead letters go.
pub struct SqsFailedRecords {
    sqs: aws_sdk_sqs::Client,
    urls: Mutex<HashMap<String, QueueUrls>>,
}

impl SqsFailedRecords {
    /// Failed records settled with the SQS of `config`.
    pub fn new(config: &aws_config::SdkConfig) -> Self {
        Self { sqs: aws_sdk_sqs::Client::new(config), urls: Mutex::new(HashMap::new()) }
    }

    async fn urls(&self, queue_arn: &str) -> Result<QueueUrls, String> {
        if let Some(urls) = self.urls.lock().await.get(queue_arn) {
            return Ok(urls.clone());
        }
        let queue = self.url_of(queue_arn).await?;
        let attributes = self
            .sqs
            .get_queue_attributes()
            .queue_url(&queue)
            .attribute_names(QueueAttributeName::RedrivePolicy)
            .send()
            .await
            .map_err(|e| aws_sdk_sqs::error::DisplayErrorContext(e).to_string())?;
        let dead_letter_arn = attributes
            .attributes()
            .and_then(|a| a.get(&QueueAttributeName::RedrivePolicy))
            .and_then(|policy| serde_json::from_str::<serde_json::Value>(policy).ok())
            .and_then(|policy| policy["deadLetterTargetArn"].as_str().map(str::to_owned));
        let dead_letters = match dead_letter_arn {
            Some(arn) => Some(self.url_of(&arn).await?),
            None => None,
        };
        let urls = QueueUrls { queue, dead_letters };
        self.urls.lock().await.insert(queue_arn.to_owned(), urls.clone());
        Ok(urls)
    }

    async fn url_of(&self, queue_arn: &str) -> Result<String, String> {
        let (account, name) = account_and_name(queue_arn).ok_or_else(|| format!("{queue_arn} is no queue ARN"))?;
        let output = self
            .sqs
            .get_queue_url()
            .queue_name(name)
            .queue_owner_aws_account_id(account)
            .send()
            .await
            .map_err(|e| aws_sdk_sqs::error::DisplayErrorContext(e).to_string())?;
        output.queue_url.ok_or_else(|| format!("SQS has no URL for {queue_arn}"))
    }
}

/// `arn:aws:sqs:<region>:<account>:<name>` → (account, name).
fn account_and_name(arn: &str) -> Option<(&str, &str)> {
    let mut parts = arn.split(':');
    let (_, _, service, _, account, name) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    (service == "sqs" && parts.next().is_none()).then_some((account, name))
}

fn source_of(record: &SqsMessage) -> Result<&str, String> {
    record.event_source_arn.as_deref().ok_or_else(|| "the record names no source queue".to_owned())
}

#[async_trait]
impl FailedRecords for SqsFailedRecords {
    async fn retry_after(&self, record: &SqsMessage, delay: Duration) -> Result<(), String> {
        let urls = self.urls(source_of(record)?).await?;
        self.sqs
            .change_message_visibility()
            .queue_url(urls.queue)
            .set_receipt_handle(record.receipt_handle.clone())
            // Whole seconds, rounded up: a wait of half a second must not become none.
            .visibility_timeout(delay.min(MAX_VISIBILITY).as_secs_f64().ceil() as i32)
            .send()
            .await
            .map_err(|e| aws_sdk_sqs::error::DisplayErrorContext(e).to_string())?;
        Ok(())
    }

    async fn dead_letter(&self, record: &SqsMessage, reason: &str) -> Result<(), String> {
        let source = source_of(record)?;
        let urls = self.urls(source).await?;
        let dead_letters = urls.dead_letters.ok_or_else(|| format!("{source} has no dead-letter queue"))?;
        let mut attributes: HashMap<String, MessageAttributeValue> = HashMap::new();
        for (name, value) in &record.message_attributes {
            if attributes.len() + 2 >= MAX_MESSAGE_ATTRIBUTES {
                break;
            }
            let kept = MessageAttributeValue::builder()
                .data_type(value.data_type.clone().unwrap_or_else(|| "String".into()))
                .set_string_value(value.string_value.clone())
                .build();
            if let (Ok(kept), true) = (kept, value.string_value.is_some()) {
                attributes.insert(name.clone(), kept);
            }
        }
        for (name, value) in [(DEAD_LETTER_REASON, truncate(reason, 1024)), (DEAD_LETTER_SOURCE, source)] {
            let attribute = MessageAttributeValue::builder()
                .data_type("String")
                .string_value(value)
                .build()
                .map_err(|e| e.to_string())?;
            attributes.insert(name.to_owned(), attribute);
        }
        self.sqs
            .send_message()
            .queue_url(dead_letters)
            .message_body(record.body.clone().unwrap_or_default())
            .set_message_attributes(Some(attributes))
            .send()
            .await
            .map_err(|e| aws_sdk_sqs::error::DisplayErrorContext(e).to_string())?;
        Ok(())
    }
}

fn truncate(text: &str, max: usize) -> &str {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// What a test sees of failed records: what was delayed and what was dead-lettered.
#[derive(Debug, Default)]
pub struct RecordedFailures {
    /// Each record retried, with its delay.
    pub retried: std::sync::Mutex<Vec<(String, Duration)>>,
    /// Each record dead-lettered, with its reason.
    pub dead_lettered: std::sync::Mutex<Vec<(String, String)>>,
}

#[async_trait]
impl FailedRecords for RecordedFailures {
    async fn retry_after(&self, record: &SqsMessage, delay: Duration) -> Result<(), String> {
        let id = record.message_id.clone().unwrap_or_default();
        self.retried.lock().unwrap_or_else(|p| p.into_inner()).push((id, delay));
        Ok(())
    }

    async fn dead_letter(&self, record: &SqsMessage, reason: &str) -> Result<(), String> {
        let id = record.message_id.clone().unwrap_or_default();
        self.dead_lettered.lock().unwrap_or_else(|p| p.into_inner()).push((id, reason.to_owned()));
        Ok(())
    }
}

#[async_trait]
impl<T: FailedRecords + ?Sized> FailedRecords for std::sync::Arc<T> {
    async fn retry_after(&self, record: &SqsMessage, delay: Duration) -> Result<(), String> {
        (**self).retry_after(record, delay).await
    }

    async fn dead_letter(&self, record: &SqsMessage, reason: &str) -> Result<(), String> {
        (**self).dead_letter(record, reason).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wait_doubles_up_to_its_ceiling_with_half_of_it_jitter() {
        let policy = RetryPolicy::default();
        let ceilings: Vec<u64> = (1..=9).map(|n| policy.ceiling(n).as_secs()).collect();
        assert_eq!(ceilings, [10, 20, 40, 80, 160, 320, 640, 900, 900]);
        assert_eq!(policy.delay(3, 0.0), Duration::from_secs(20));
        assert_eq!(policy.delay(3, 1.0), Duration::from_secs(40));
        assert_eq!(policy.delay(3, 7.0), Duration::from_secs(40), "jitter is clamped");
        assert_eq!(policy.ceiling(u32::MAX), policy.max, "no overflow however often it failed");
    }

    #[test]
    fn the_default_budget_outlasts_half_an_hour_of_outage() {
        // The template's MaxReceiveCount: 12 receives, 11 waits.
        let (least, most) = RetryPolicy::default().budget(12);
        assert!(least > Duration::from_secs(30 * 60), "{least:?}");
        assert_eq!(most, Duration::from_secs(10 + 20 + 40 + 80 + 160 + 320 + 640 + 4 * 900));
    }

    #[test]
    fn the_policy_comes_from_the_environment_and_refuses_nonsense() {
        let env: Env = [("RETRY_BACKOFF_BASE_SECONDS", "2"), ("RETRY_BACKOFF_MAX_SECONDS", "30")].into_iter().collect();
        let policy = RetryPolicy::from_env(&env).expect("valid");
        assert_eq!((policy.base.as_secs(), policy.max.as_secs()), (2, 30));
        assert_eq!(RetryPolicy::from_env(&Env::default()).expect("defaults"), RetryPolicy::default());
        for (base, max) in [("0", "30"), ("x", "30"), ("40", "30")] {
            let env: Env =
                [("RETRY_BACKOFF_BASE_SECONDS", base), ("RETRY_BACKOFF_MAX_SECONDS", max)].into_iter().collect();
            assert!(RetryPolicy::from_env(&env).is_err(), "{base}/{max}");
        }
    }

    #[test]
    fn a_queue_arn_names_its_account_and_queue() {
        assert_eq!(account_and_name("arn:aws:sqs:us-east-1:123456789012:sauce-q"), Some(("123456789012", "sauce-q")));
        assert_eq!(account_and_name("arn:aws:sns:us-east-1:123456789012:pizza"), None);
        assert_eq!(account_and_name("sauce-q"), None);
    }

    #[test]
    fn a_long_reason_is_cut_on_a_character_boundary() {
        assert_eq!(truncate("ab€cd", 3), "ab");
        assert_eq!(truncate("short", 1024), "short");
    }
}
