//! The event bus port and its adapters: SNS for real, memory for tests.

use std::sync::Mutex;

use async_trait::async_trait;
use aws_sdk_sns::types::{MessageAttributeValue, PublishBatchRequestEntry};

use crate::aws::describe;
use crate::envelope::IncomingEvent;

/// Where events go. Functions get topic ARNs from their environment, never by name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TopicArn(pub String);

impl std::fmt::Display for TopicArn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("could not publish to {topic}: {reason}")]
    Failed { topic: TopicArn, reason: String },
}

#[async_trait]
pub trait EventPublisher: Send + Sync {
    /// Publishes every event or fails; on failure some may have been published, which is
    /// safe because consumers are idempotent and the caller retries the same events.
    async fn publish(&self, topic: &TopicArn, events: &[IncomingEvent]) -> Result<(), PublishError>;
}

/// A shared publisher is a publisher: lets a caller keep a handle on an in-memory bus.
#[async_trait]
impl<T: EventPublisher + ?Sized> EventPublisher for std::sync::Arc<T> {
    async fn publish(&self, topic: &TopicArn, events: &[IncomingEvent]) -> Result<(), PublishError> {
        self.as_ref().publish(topic, events).await
    }
}

/// SNS allows at most ten messages per PublishBatch.
const SNS_BATCH_LIMIT: usize = 10;

pub struct SnsPublisher {
    client: aws_sdk_sns::Client,
}

impl SnsPublisher {
    pub fn new(config: &aws_config::SdkConfig) -> Self {
        Self { client: aws_sdk_sns::Client::new(config) }
    }

    fn entry(event: &IncomingEvent) -> Result<PublishBatchRequestEntry, String> {
        let attribute = |data_type: &str, value: String| {
            MessageAttributeValue::builder().data_type(data_type).string_value(value).build().map_err(|e| e.to_string())
        };
        let body = serde_json::to_string(event).map_err(|e| e.to_string())?;
        PublishBatchRequestEntry::builder()
            .id(event.id.simple().to_string())
            .message(body)
            // Attributes let subscriptions filter by type and version without reading the body.
            .message_attributes("type", attribute("String", event.event_type.clone())?)
            .message_attributes("version", attribute("Number", event.version.to_string())?)
            .message_attributes("correlation_id", attribute("String", event.correlation_id.clone())?)
            .build()
            .map_err(|e| e.to_string())
    }
}

#[async_trait]
impl EventPublisher for SnsPublisher {
    async fn publish(&self, topic: &TopicArn, events: &[IncomingEvent]) -> Result<(), PublishError> {
        let failed = |reason: String| PublishError::Failed { topic: topic.clone(), reason };
        for chunk in events.chunks(SNS_BATCH_LIMIT) {
            let entries = chunk.iter().map(Self::entry).collect::<Result<Vec<_>, _>>().map_err(failed)?;
            let output = self
                .client
                .publish_batch()
                .topic_arn(&topic.0)
                .set_publish_batch_request_entries(Some(entries))
                .send()
                .await
                .map_err(|e| failed(describe(&e)))?;
            if let Some(first) = output.failed().first() {
                return Err(failed(format!(
                    "{} of {} entries rejected, first: {} {}",
                    output.failed().len(),
                    chunk.len(),
                    first.code(),
                    first.message().unwrap_or_default()
                )));
            }
        }
        Ok(())
    }
}

/// Keeps what was published, for tests of domain logic.
#[derive(Default)]
pub struct InMemoryPublisher {
    published: Mutex<Vec<(TopicArn, IncomingEvent)>>,
}

impl InMemoryPublisher {
    pub fn published(&self) -> Vec<(TopicArn, IncomingEvent)> {
        self.published.lock().map(|p| p.clone()).unwrap_or_default()
    }
}

#[async_trait]
impl EventPublisher for InMemoryPublisher {
    async fn publish(&self, topic: &TopicArn, events: &[IncomingEvent]) -> Result<(), PublishError> {
        let mut published = self
            .published
            .lock()
            .map_err(|_| PublishError::Failed { topic: topic.clone(), reason: "poisoned lock".into() })?;
        published.extend(events.iter().map(|e| (topic.clone(), e.clone())));
        Ok(())
    }
}
