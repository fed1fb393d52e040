//! SQS batch handling as Lambda's event source mapping expects it: each record is decoded
//! and handled on its own, and the ids of the records that failed go back in the partial
//! batch response, so only they are retried (and dead-lettered after the queue's
//! `maxReceiveCount`).

use async_trait::async_trait;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use futures::future::join_all;
use serde_json::Value;
use tracing::{Instrument, error, info_span, warn};

use crate::envelope::{DecodeError, IncomingEvent};
use crate::telemetry::{Metrics, Unit};

#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// The message can never succeed (malformed, unknown type, invalid data): it is
    /// retried like any failure and ends in the dead-letter queue, with this reason logged.
    #[error("rejected: {0}")]
    Rejected(String),
    /// Something that may work next time (a throttled or unavailable dependency).
    #[error("failed: {0}")]
    Failed(String),
}

impl From<DecodeError> for HandlerError {
    fn from(err: DecodeError) -> Self {
        HandlerError::Rejected(err.to_string())
    }
}

/// A store that does not answer may answer on the retry.
impl From<crate::dynamo::StoreError> for HandlerError {
    fn from(err: crate::dynamo::StoreError) -> Self {
        HandlerError::Failed(err.to_string())
    }
}

/// A bus that does not take an event may take it on the retry.
impl From<crate::bus::PublishError> for HandlerError {
    fn from(err: crate::bus::PublishError) -> Self {
        HandlerError::Failed(err.to_string())
    }
}

#[async_trait]
pub trait EventHandler: Send + Sync {
    async fn handle(&self, event: &IncomingEvent) -> Result<(), HandlerError>;
}

/// Reads the event from a record's body, whether the subscription delivers raw messages
/// or wraps them in the SNS notification envelope.
pub fn event_from_record(record: &SqsMessage) -> Result<IncomingEvent, DecodeError> {
    let body = record.body.as_deref().unwrap_or_default();
    let json: Value = serde_json::from_str(body).map_err(DecodeError::Malformed)?;
    match (json.get("Type").and_then(Value::as_str), json.get("Message").and_then(Value::as_str)) {
        (Some("Notification"), Some(message)) => IncomingEvent::from_json(message),
        _ => serde_json::from_value(json).map_err(DecodeError::Malformed),
    }
}

/// Handles a whole batch. Records of a standard queue are handled concurrently; a FIFO
/// queue's are handled in order, and after the first failure the rest are failed unseen so
/// that order within a message group holds.
pub async fn process_batch<H: EventHandler + ?Sized>(
    handler: &H,
    metrics: &Metrics,
    event: SqsEvent,
) -> SqsBatchResponse {
    let records = event.records;
    let is_fifo = records.first().and_then(|r| r.event_source_arn.as_deref()).is_some_and(|arn| arn.ends_with(".fifo"));

    let outcomes: Vec<(String, bool)> = if is_fifo {
        let mut outcomes = Vec::with_capacity(records.len());
        let mut failed = false;
        for record in &records {
            let ok = !failed && process_record(handler, record).await;
            failed |= !ok;
            outcomes.push((message_id(record), ok));
        }
        outcomes
    } else {
        join_all(records.iter().map(|record| async { (message_id(record), process_record(handler, record).await) }))
            .await
    };

    let mut response = SqsBatchResponse::default();
    let failures: Vec<String> = outcomes.iter().filter(|(_, ok)| !ok).map(|(id, _)| id.clone()).collect();
    metrics.emit(&[
        ("MessagesProcessed", (outcomes.len() - failures.len()) as f64, Unit::Count),
        ("MessagesFailed", failures.len() as f64, Unit::Count),
    ]);
    for id in failures {
        response.add_failure(id);
    }
    response
}

fn message_id(record: &SqsMessage) -> String {
    record.message_id.clone().unwrap_or_default()
}

async fn process_record<H: EventHandler + ?Sized>(handler: &H, record: &SqsMessage) -> bool {
    let receive_count = record.attributes.get("ApproximateReceiveCount").map(String::as_str).unwrap_or("?");
    let event = match event_from_record(record) {
        Ok(event) => event,
        Err(err) => {
            error!(
                message_id = %message_id(record),
                receive_count,
                reason = %err,
                "poison message: it is retried, then moved to the dead-letter queue"
            );
            return false;
        }
    };
    let span = info_span!(
        "event",
        correlation_id = %event.correlation_id,
        event_id = %event.id,
        event_type = %event.event_type,
    );
    async {
        match handler.handle(&event).await {
            Ok(()) => true,
            Err(err @ HandlerError::Rejected(_)) => {
                error!(message_id = %message_id(record), receive_count, reason = %err,
                    "poison message: it is retried, then moved to the dead-letter queue");
                false
            }
            Err(err) => {
                warn!(message_id = %message_id(record), receive_count, reason = %err, "message failed, will be retried");
                false
            }
        }
    }
    .instrument(span)
    .await
}

/// Runs `handler` as a Lambda function behind an SQS event source mapping with
/// `ReportBatchItemFailures`. Used by every queue-triggered `main.rs`.
pub async fn run_on_lambda<H: EventHandler + 'static>(
    handler: H,
    metrics: Metrics,
) -> Result<(), lambda_runtime::Error> {
    let handler = std::sync::Arc::new(handler);
    lambda_runtime::run(lambda_runtime::service_fn(move |event: lambda_runtime::LambdaEvent<SqsEvent>| {
        let handler = handler.clone();
        let metrics = metrics.clone();
        async move { Ok::<_, std::convert::Infallible>(process_batch(handler.as_ref(), &metrics, event.payload).await) }
    }))
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Accepts every event whose data says `"ok": true`.
    struct Picky;

    #[async_trait]
    impl EventHandler for Picky {
        async fn handle(&self, event: &IncomingEvent) -> Result<(), HandlerError> {
            match event.data.get("ok") {
                Some(Value::Bool(true)) => Ok(()),
                _ => Err(HandlerError::Failed("not ok".into())),
            }
        }
    }

    fn envelope(ok: bool) -> String {
        json!({"id": uuid::Uuid::new_v4(), "type": "Test", "version": 1, "occurred_at": "2026-11-23T10:00:00Z",
               "source": "test", "correlation_id": "c", "causation_id": null, "data": {"ok": ok}})
        .to_string()
    }

    fn batch(bodies: &[String], arn: &str) -> SqsEvent {
        let records: Vec<Value> = bodies
            .iter()
            .enumerate()
            .map(|(i, body)| json!({"messageId": format!("m{i}"), "body": body, "eventSourceARN": arn, "attributes": {}}))
            .collect();
        serde_json::from_value(json!({"Records": records})).expect("valid SQS event")
    }

    fn failed_ids(response: &SqsBatchResponse) -> Vec<&str> {
        response.batch_item_failures.iter().map(|f| f.item_identifier.as_str()).collect()
    }

    const QUEUE: &str = "arn:aws:sqs:us-east-1:123456789012:q";

    #[tokio::test]
    async fn reports_only_the_failed_and_the_malformed_records() {
        let bodies = [envelope(true), "{not json".to_owned(), envelope(false), envelope(true)];
        let response = process_batch(&Picky, &Metrics::from_env(&Default::default()), batch(&bodies, QUEUE)).await;
        assert_eq!(failed_ids(&response), vec!["m1", "m2"]);
    }

    #[tokio::test]
    async fn a_fifo_batch_stops_at_the_first_failure() {
        let bodies = [envelope(true), envelope(false), envelope(true)];
        let response =
            process_batch(&Picky, &Metrics::from_env(&Default::default()), batch(&bodies, &format!("{QUEUE}.fifo")))
                .await;
        assert_eq!(failed_ids(&response), vec!["m1", "m2"]);
    }

    #[test]
    fn reads_raw_and_sns_wrapped_bodies_alike() {
        let raw = envelope(true);
        let wrapped = json!({"Type": "Notification", "MessageId": "x", "TopicArn": "t", "Message": raw}).to_string();
        for body in [raw.clone(), wrapped] {
            let record: SqsMessage = serde_json::from_value(json!({"messageId": "m", "body": body})).expect("record");
            let event = event_from_record(&record).expect("decodes");
            assert_eq!(event.data["ok"], true);
        }
    }
}
