//! The archivist: one queue subscribed to every topic feeds it, and it keeps each batch's
//! events in the event archive with one batched write. It publishes nothing, so it adds no
//! hop to any flow, and the consumers never wait for it.

use std::time::Duration;

use async_trait::async_trait;
use event_archive::{Archived, DynamoArchive, EventArchive};
use lambda_kit::telemetry::{Metrics, Unit};
use lambda_kit::{BatchHandler, ConfigError, Env, Inbound, RecordError, RecordOutcome};

pub struct Archivist<A> {
    archive: A,
    metrics: Metrics,
}

impl Archivist<DynamoArchive> {
    pub fn from_env(env: &Env, aws: &aws_config::SdkConfig) -> Result<Self, ConfigError> {
        let days: u64 = env.require_parsed("ARCHIVE_RETENTION_DAYS")?;
        let retention = Duration::from_secs(days * 24 * 60 * 60);
        Ok(Self::new(DynamoArchive::new(aws, env.require("ARCHIVE_TABLE")?, retention), Metrics::from_env(env)))
    }
}

impl<A: EventArchive> Archivist<A> {
    pub fn new(archive: A, metrics: Metrics) -> Self {
        Self { archive, metrics }
    }

    pub fn archive(&self) -> &A {
        &self.archive
    }
}

/// An event whose publisher did not say its topic cannot be replayed where it went.
fn archived(inbound: &Inbound) -> Result<Archived, RecordError> {
    let topic = inbound.topic.clone().ok_or_else(|| {
        RecordError::permanent(format!("{} {} carries no topic attribute", inbound.event.event_type, inbound.event.id))
    })?;
    Ok(Archived { topic, event: inbound.event.clone(), traceparent: Some(inbound.trace.traceparent()) })
}

#[async_trait]
impl<A: EventArchive> BatchHandler for Archivist<A> {
    async fn handle_batch(&self, batch: &[Inbound]) -> Vec<RecordOutcome> {
        let records: Vec<Result<Archived, RecordError>> = batch.iter().map(archived).collect();
        let keep: Vec<Archived> = records.iter().filter_map(|r| r.as_ref().ok()).cloned().collect();
        let stored = self.archive.append(&keep).await.map_err(RecordError::from);
        if stored.is_ok() {
            self.metrics.emit(&[("EventsArchived", keep.len() as f64, Unit::Count)]);
        }
        records
            .into_iter()
            .map(|record| match (record, &stored) {
                (Err(err), _) => Err(err),
                (Ok(_), Ok(())) => Ok(Vec::new()),
                (Ok(_), Err(err)) => Err(err.shared()),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use event_archive::InMemoryArchive;
    use pizza_events::WireEvent;
    use serde_json::json;

    use super::*;

    fn inbound(correlation_id: &str, topic: Option<&str>) -> Inbound {
        let event = WireEvent::from_json(
            &json!({
                "id": uuid::Uuid::new_v4(), "type": "PizzaRequested", "version": 1, "occurred_at": "2026-12-01T10:00:00Z",
                "source": "orders", "correlation_id": correlation_id, "causation_id": null, "data": {}
            })
            .to_string(),
        )
        .expect("an event");
        Inbound { topic: topic.map(str::to_owned), ..Inbound::detached(event) }
    }

    #[tokio::test]
    async fn a_batch_is_archived_and_an_event_without_its_topic_fails_alone() {
        let archivist = Archivist::new(InMemoryArchive::default(), Metrics::from_env(&Env::default()));
        let batch =
            [inbound("o-1", Some("arn:pizza")), inbound("o-1", None), inbound("o-2", Some("arn:pizza-with-sauce"))];
        let outcomes = archivist.handle_batch(&batch).await;
        assert!(outcomes[0].as_ref().is_ok_and(Vec::is_empty), "it publishes nothing");
        assert!(outcomes[1].as_ref().is_err_and(|e| !e.is_transient()), "no topic: a poison message");
        assert!(outcomes[2].is_ok());
        let kept = archivist.archive().history("o-1").await.expect("reads");
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].topic, "arn:pizza");
        assert_eq!(kept[0].event, batch[0].event);
        assert_eq!(kept[0].traceparent.as_deref(), Some(batch[0].trace.traceparent().as_str()));
    }
}
