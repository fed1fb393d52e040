//! The outbox relay: publishes the events other functions stored in the outbox table in
//! the same transaction as their state, reading the table's DynamoDB stream as Lambda's
//! stream event source mapping delivers it (in order, per shard).
//!
//! Only new entries are published; an entry's expiry (TTL) and anything else are skipped.
//! If some entries cannot be published, the relay reports the first of them: Lambda
//! retries the batch from that record (the ones after it too, so the order holds), and an
//! entry that keeps failing goes to the mapping's on-failure destination. Publishing an
//! entry twice is harmless: its event keeps its id, and consumers are idempotent.

use std::collections::HashMap;
use std::sync::Arc;

use dynamo_kit::outbox;
use lambda_kit::TopicArn;
use lambda_kit::bus::EventBus;
use lambda_kit::faults::{FaultPoint, Faults};
use lambda_kit::telemetry::{Metrics, Unit};
use lambda_kit::trace::TraceContext;
use pizza_events::Outgoing;
use pizza_events::WireEvent;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tracing::{Instrument, error, info, info_span};

/// A DynamoDB stream batch, as much of it as the relay reads.
#[derive(Debug, Deserialize)]
pub struct StreamBatch {
    #[serde(rename = "Records", default)]
    pub records: Vec<StreamRecord>,
}

#[derive(Debug, Deserialize)]
pub struct StreamRecord {
    #[serde(rename = "eventName")]
    pub event_name: String,
    pub dynamodb: Change,
}

#[derive(Debug, Deserialize)]
pub struct Change {
    #[serde(rename = "SequenceNumber")]
    pub sequence_number: String,
    #[serde(rename = "NewImage", default)]
    pub new_image: HashMap<String, Value>,
}

/// An outbox entry from a stream record: `Ok(None)` for anything that is not a new entry.
pub fn entry(record: &StreamRecord) -> Result<Option<Outgoing>, String> {
    if record.event_name != "INSERT" {
        return Ok(None);
    }
    let attribute = |name: &str| record.dynamodb.new_image.get(name).and_then(|v| v.get("S")).and_then(Value::as_str);
    let body = attribute(outbox::EVENT).ok_or("the entry has no event")?;
    let topic = attribute(outbox::TOPIC_ARN).ok_or("the entry has no topic")?;
    let event = WireEvent::from_json(body).map_err(|e| e.to_string())?;
    let trace = attribute(outbox::TRACEPARENT).and_then(TraceContext::from_traceparent);
    Ok(Some(Outgoing { topic: TopicArn(topic.to_owned()), event, trace }))
}

/// The partial batch response of a stream consumer: the first record to retry from.
#[derive(Debug, Default, Serialize, PartialEq)]
pub struct StreamResponse {
    #[serde(rename = "batchItemFailures")]
    pub batch_item_failures: Vec<ItemFailure>,
}

#[derive(Debug, Serialize, PartialEq)]
pub struct ItemFailure {
    #[serde(rename = "itemIdentifier")]
    pub item_identifier: String,
}

pub struct Relay<B> {
    bus: B,
    metrics: Metrics,
    faults: Faults,
}

impl<B: EventBus<WireEvent>> Relay<B> {
    pub fn new(bus: B, metrics: Metrics) -> Self {
        Self { bus, metrics, faults: Faults::none() }
    }

    /// With the crash points a chaos run arms (see `lambda_kit::faults`).
    pub fn with_faults(mut self, faults: Faults) -> Self {
        self.faults = faults;
        self
    }

    pub fn bus(&self) -> &B {
        &self.bus
    }

    pub async fn process(&self, batch: StreamBatch, request_id: &str) -> StreamResponse {
        let span = info_span!("invocation", request_id = %request_id);
        async {
            let mut entries: Vec<(usize, Outgoing)> = Vec::new();
            let mut first_failure: Option<usize> = None;
            for (position, record) in batch.records.iter().enumerate() {
                match entry(record) {
                    Ok(Some(outgoing)) => entries.push((position, outgoing)),
                    Ok(None) => {}
                    Err(reason) => {
                        error!(sequence_number = %record.dynamodb.sequence_number, reason, "unreadable outbox entry");
                        first_failure.get_or_insert(position);
                    }
                }
            }
            let outgoing: Vec<Outgoing> = entries.iter().map(|(_, o)| o.clone()).collect();
            let report = if outgoing.is_empty() { Default::default() } else { self.bus.publish(&outgoing).await };
            for (position, entry) in &entries {
                let span = info_span!(
                    "record",
                    correlation_id = %entry.event.correlation_id,
                    trace_id = %entry.trace.map(|t| t.trace_id().to_string()).unwrap_or_default(),
                    event_id = %entry.event.id,
                    event_type = %entry.event.event_type,
                );
                let _entered = span.enter();
                match report.failed.get(&entry.event.id) {
                    Some(reason) => {
                        error!(reason, "could not publish an outbox entry; the stream retries from it");
                        first_failure = Some(first_failure.map_or(*position, |f| f.min(*position)));
                    }
                    None => info!(topic = %entry.topic, "published from the outbox"),
                }
            }
            // A crash here, after publishing and before answering, makes the stream hand
            // the batch over again: its events go out twice, with the same ids.
            self.faults.at(FaultPoint::AfterWrite, request_id);
            let published = entries.len() - report.failed.len();
            self.metrics.emit(&[
                ("EventsRelayed", published as f64, Unit::Count),
                ("RelayFailures", report.failed.len() as f64, Unit::Count),
            ]);
            let batch_item_failures = first_failure
                .map(|position| ItemFailure {
                    item_identifier: batch.records[position].dynamodb.sequence_number.clone(),
                })
                .into_iter()
                .collect();
            StreamResponse { batch_item_failures }
        }
        .instrument(span)
        .await
    }
}

/// Runs the relay on the Lambda Runtime API until the process ends.
pub async fn run<B: EventBus<WireEvent> + 'static>(relay: Relay<B>) -> Result<(), lambda_runtime::Error> {
    let relay = Arc::new(relay);
    let service = lambda_runtime::service_fn(move |event: lambda_runtime::LambdaEvent<StreamBatch>| {
        let relay = relay.clone();
        async move { Ok::<_, std::convert::Infallible>(relay.process(event.payload, &event.context.request_id).await) }
    });
    lambda_runtime::Runtime::new(service).run().await
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_kit::Env;
    use lambda_kit::bus::InMemoryBus;
    use pizza_events::Envelope;
    use pizza_events::catalogue::OrderConfirmed;
    use serde_json::json;
    use uuid::Uuid;

    fn record(name: &str, sequence: &str, image: Value) -> Value {
        json!({"eventName": name, "dynamodb": {"SequenceNumber": sequence, "NewImage": image}})
    }

    fn entry_image(topic: &str) -> (Value, WireEvent, TraceContext) {
        let order_id = Uuid::new_v4();
        let event = Envelope::new("api", order_id.to_string(), OrderConfirmed { order_id, pizzas: 1 }).to_wire();
        let trace = TraceContext::start(order_id);
        let image = json!({
            "pk": {"S": event.id.to_string()}, "event": {"S": event.to_json()}, "topic_arn": {"S": topic},
            "traceparent": {"S": trace.traceparent()}, "expires_at": {"N": "1"},
        });
        (image, event, trace)
    }

    fn relay() -> Relay<Arc<InMemoryBus<WireEvent>>> {
        let env: Env = [("POWERTOOLS_METRICS_DISABLED", "true")].into_iter().collect();
        Relay::new(Arc::new(InMemoryBus::default()), Metrics::from_env(&env))
    }

    fn batch(records: Vec<Value>) -> StreamBatch {
        serde_json::from_value(json!({"Records": records})).expect("a stream batch")
    }

    #[tokio::test]
    async fn new_entries_are_published_with_their_trace_and_expiries_are_skipped() {
        let relay = relay();
        let (image, event, trace) = entry_image("orders");
        let (removed, _, _) = entry_image("orders");
        let response =
            relay.process(batch(vec![record("INSERT", "1", image), record("REMOVE", "2", removed)]), "r").await;
        assert_eq!(response, StreamResponse::default());
        let published = relay.bus.published();
        assert_eq!(published.len(), 1);
        assert_eq!(
            (published[0].event.id, published[0].topic.0.as_str(), published[0].trace),
            (event.id, "orders", Some(trace))
        );
    }

    #[tokio::test]
    async fn the_stream_retries_from_the_first_entry_that_was_not_published() {
        let relay = relay();
        relay.bus.refuse("down");
        let (up, _, _) = entry_image("up");
        let (down, _, _) = entry_image("down");
        let (later, _, _) = entry_image("up");
        let response = relay
            .process(
                batch(vec![record("INSERT", "10", up), record("INSERT", "11", down), record("INSERT", "12", later)]),
                "r",
            )
            .await;
        assert_eq!(response.batch_item_failures, vec![ItemFailure { item_identifier: "11".into() }]);
    }

    #[tokio::test]
    async fn an_unreadable_entry_is_reported_not_skipped() {
        let relay = relay();
        let response = relay.process(batch(vec![record("INSERT", "7", json!({"pk": {"S": "x"}}))]), "r").await;
        assert_eq!(response.batch_item_failures, vec![ItemFailure { item_identifier: "7".into() }]);
    }
}
