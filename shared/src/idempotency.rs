//! Idempotent event handling, as Powertools' idempotency utility does it: before a handler
//! runs, a processed-event record is claimed for (consumer, event id) in the IN_PROGRESS
//! state; it becomes COMPLETED when the handler succeeds and is removed when it fails, so
//! the retry runs again. A redelivered event whose record is COMPLETED is skipped; one that
//! is IN_PROGRESS elsewhere is retried later; one whose payload differs from the recorded
//! hash is rejected (an id reused for another event). Records expire (DynamoDB TTL).
//!
//! The handlers are idempotent on their own, by natural keys; this layer stops a duplicate
//! early, before it repeats its reads and publishes, so duplicates do not multiply along
//! the pipeline.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use uuid::Uuid;

use crate::batch::{EventHandler, HandlerError};
use crate::config::{ConfigError, Env};
use crate::dynamo::{StoreError, condition_failed, get_s, n, put_or_old, s, unavailable};
use crate::envelope::IncomingEvent;

const HASH_NAMESPACE: Uuid = Uuid::from_u128(0x9d3c_51a7_0e42_4b8f_a1c6_27d5_e8f0_3b91);

/// What `begin` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The record is ours: run the handler.
    Claimed,
    /// The event was handled before, with this payload hash.
    Completed { payload_hash: String },
    /// Another invocation is handling it right now.
    InProgress,
}

#[async_trait]
pub trait ProcessedEvents: Send + Sync {
    async fn begin(
        &self,
        key: &str,
        payload_hash: &str,
        in_progress_for: Duration,
        keep_for: Duration,
    ) -> Result<Claim, StoreError>;
    async fn complete(&self, key: &str) -> Result<(), StoreError>;
    async fn abandon(&self, key: &str) -> Result<(), StoreError>;
}

/// Wraps a handler so that each event is handled once per consumer.
pub struct Idempotent<H, S> {
    inner: H,
    records: S,
    consumer: String,
    /// How long a claim holds before another delivery may take over (the function timeout).
    in_progress_for: Duration,
    /// How long a completed record is kept (longer than any redelivery: SQS keeps a
    /// message four days by default).
    keep_for: Duration,
}

impl<H, S> Idempotent<H, S> {
    pub fn new(inner: H, records: S, consumer: impl Into<String>, in_progress_for: Duration) -> Self {
        Self {
            inner,
            records,
            consumer: consumer.into(),
            in_progress_for,
            keep_for: Duration::from_secs(7 * 24 * 3600),
        }
    }

    pub fn inner(&self) -> &H {
        &self.inner
    }
}

/// Wraps `handler` with processed-event records in the table `IDEMPOTENCY_TABLE`, keyed by
/// the service name; a claim holds for `IDEMPOTENCY_IN_PROGRESS_SECONDS` (default 15,
/// longer than the functions' 10 s timeout).
pub fn wrap_from_env<H: EventHandler>(
    handler: H,
    env: &Env,
    aws: &aws_config::SdkConfig,
) -> Result<Idempotent<H, DynamoProcessedEvents>, ConfigError> {
    let records = DynamoProcessedEvents::new(aws, env.require("IDEMPOTENCY_TABLE")?);
    let seconds = match env.get("IDEMPOTENCY_IN_PROGRESS_SECONDS") {
        Some(text) => text
            .parse()
            .map_err(|e| ConfigError::Invalid { name: "IDEMPOTENCY_IN_PROGRESS_SECONDS", reason: format!("{e}") })?,
        None => 15,
    };
    Ok(Idempotent::new(handler, records, env.service_name(), Duration::from_secs(seconds)))
}

/// A stable hash of an event's payload: its canonical JSON (serde_json sorts keys).
pub fn payload_hash(event: &IncomingEvent) -> String {
    Uuid::new_v5(&HASH_NAMESPACE, event.data.to_string().as_bytes()).simple().to_string()
}

#[async_trait]
impl<H: EventHandler, S: ProcessedEvents> EventHandler for Idempotent<H, S> {
    async fn handle(&self, event: &IncomingEvent) -> Result<(), HandlerError> {
        let key = format!("{}#{}", self.consumer, event.id);
        let hash = payload_hash(event);
        let claim = self.records.begin(&key, &hash, self.in_progress_for, self.keep_for).await?;
        match claim {
            Claim::Claimed => {}
            Claim::Completed { payload_hash } if payload_hash == hash => {
                tracing::info!("event handled before; duplicate skipped");
                return Ok(());
            }
            Claim::Completed { .. } => {
                return Err(HandlerError::Rejected(format!(
                    "event id {} was reused for a different payload",
                    event.id
                )));
            }
            Claim::InProgress => {
                return Err(HandlerError::Failed("the event is being handled by another delivery".into()));
            }
        }
        match self.inner.handle(event).await {
            Ok(()) => Ok(self.records.complete(&key).await?),
            Err(err) => {
                if let Err(abandon) = self.records.abandon(&key).await {
                    // The claim then expires after `in_progress_for`, and the retry proceeds.
                    tracing::warn!(reason = %abandon, "could not release the claim of a failed event");
                }
                Err(err)
            }
        }
    }
}

fn epoch_seconds(after: Duration) -> u64 {
    (SystemTime::now() + after).duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default()
}

/// Processed-event records in DynamoDB (`pk` = consumer#event id), expiring by TTL on
/// `expires_at`.
pub struct DynamoProcessedEvents {
    client: Client,
    table: String,
}

impl DynamoProcessedEvents {
    pub fn new(config: &aws_config::SdkConfig, table: impl Into<String>) -> Self {
        Self { client: Client::new(config), table: table.into() }
    }
}

#[async_trait]
impl ProcessedEvents for DynamoProcessedEvents {
    async fn begin(
        &self,
        key: &str,
        payload_hash: &str,
        in_progress_for: Duration,
        keep_for: Duration,
    ) -> Result<Claim, StoreError> {
        let now = epoch_seconds(Duration::ZERO);
        let claim = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(key))
            .item("status", s("IN_PROGRESS"))
            .item("payload_hash", s(payload_hash))
            .item("in_progress_until", n(epoch_seconds(in_progress_for)))
            .item("expires_at", n(epoch_seconds(keep_for)))
            // Absent, expired (TTL deletes lazily), or a claim whose holder timed out.
            .condition_expression(
                "attribute_not_exists(pk) OR expires_at < :now OR (#status = :in_progress AND in_progress_until < :now)",
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":in_progress", s("IN_PROGRESS"));
        match put_or_old(claim).await? {
            Ok(()) => Ok(Claim::Claimed),
            Err(existing) => match get_s(&existing, "status") {
                Ok("COMPLETED") => Ok(Claim::Completed { payload_hash: get_s(&existing, "payload_hash")?.to_owned() }),
                _ => Ok(Claim::InProgress),
            },
        }
    }

    async fn complete(&self, key: &str) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(key))
            .update_expression("SET #status = :completed")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":completed", s("COMPLETED"))
            .send()
            .await
            .map_err(|e| unavailable(&e))?;
        Ok(())
    }

    async fn abandon(&self, key: &str) -> Result<(), StoreError> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(key))
            .condition_expression("#status = :in_progress")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":in_progress", s("IN_PROGRESS"))
            .send()
            .await;
        result.map(|_| ()).or_else(|err| condition_failed(err).map(|_| ()))
    }
}

/// Processed-event records in memory (no expiry), for tests.
#[derive(Default)]
pub struct InMemoryProcessedEvents {
    records: Mutex<HashMap<String, (bool, String)>>,
}

#[async_trait]
impl ProcessedEvents for InMemoryProcessedEvents {
    async fn begin(&self, key: &str, payload_hash: &str, _: Duration, _: Duration) -> Result<Claim, StoreError> {
        let mut records = self.records.lock().map_err(|_| StoreError::Unavailable("poisoned lock".into()))?;
        Ok(match records.get(key) {
            Some((true, hash)) => Claim::Completed { payload_hash: hash.clone() },
            Some((false, _)) => Claim::InProgress,
            None => {
                records.insert(key.to_owned(), (false, payload_hash.to_owned()));
                Claim::Claimed
            }
        })
    }

    async fn complete(&self, key: &str) -> Result<(), StoreError> {
        let mut records = self.records.lock().map_err(|_| StoreError::Unavailable("poisoned lock".into()))?;
        if let Some(record) = records.get_mut(key) {
            record.0 = true;
        }
        Ok(())
    }

    async fn abandon(&self, key: &str) -> Result<(), StoreError> {
        let mut records = self.records.lock().map_err(|_| StoreError::Unavailable("poisoned lock".into()))?;
        if records.get(key).is_some_and(|(completed, _)| !completed) {
            records.remove(key);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    /// Counts its calls; fails the first `fail_first` of them.
    #[derive(Default)]
    struct Counting {
        calls: AtomicU32,
        fail_first: u32,
    }

    #[async_trait]
    impl EventHandler for Counting {
        async fn handle(&self, _: &IncomingEvent) -> Result<(), HandlerError> {
            let call = self.calls.fetch_add(1, Ordering::SeqCst);
            if call < self.fail_first { Err(HandlerError::Failed("not yet".into())) } else { Ok(()) }
        }
    }

    fn event(data: serde_json::Value) -> IncomingEvent {
        IncomingEvent::from_json(
            &serde_json::json!({"id": "0b9f4b8e-7f5e-4d8e-9d55-3f1f7c0e2a11", "type": "T", "version": 1,
                "occurred_at": "2026-11-23T10:00:00Z", "source": "s", "correlation_id": "c",
                "causation_id": null, "data": data})
            .to_string(),
        )
        .expect("an envelope")
    }

    fn wrap(fail_first: u32) -> Idempotent<Counting, InMemoryProcessedEvents> {
        let inner = Counting { fail_first, ..Default::default() };
        Idempotent::new(inner, InMemoryProcessedEvents::default(), "sauce", Duration::from_secs(10))
    }

    #[tokio::test]
    async fn a_duplicate_is_skipped() {
        let handler = wrap(0);
        handler.handle(&event(serde_json::json!({"a": 1}))).await.expect("first");
        handler.handle(&event(serde_json::json!({"a": 1}))).await.expect("duplicate");
        assert_eq!(handler.inner().calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_failure_leaves_the_event_to_its_retry() {
        let handler = wrap(1);
        assert!(handler.handle(&event(serde_json::json!({}))).await.is_err());
        handler.handle(&event(serde_json::json!({}))).await.expect("the retry runs");
        handler.handle(&event(serde_json::json!({}))).await.expect("then it is a duplicate");
        assert_eq!(handler.inner().calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn an_id_reused_for_another_payload_is_rejected() {
        let handler = wrap(0);
        handler.handle(&event(serde_json::json!({"a": 1}))).await.expect("first");
        let reused = handler.handle(&event(serde_json::json!({"a": 2}))).await;
        assert!(matches!(reused, Err(HandlerError::Rejected(_))), "{reused:?}");
    }

    #[tokio::test]
    async fn a_claim_in_progress_makes_the_other_delivery_retry() {
        let records = InMemoryProcessedEvents::default();
        assert_eq!(records.begin("k", "h", Duration::ZERO, Duration::ZERO).await.ok(), Some(Claim::Claimed));
        assert_eq!(records.begin("k", "h", Duration::ZERO, Duration::ZERO).await.ok(), Some(Claim::InProgress));
    }
}
