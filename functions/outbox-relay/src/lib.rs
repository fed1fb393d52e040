//! The outbox relay: announces new orders, reading the orders table's DynamoDB stream as
//! Lambda's stream event source mapping delivers it (in order, per shard). The table is
//! the outbox: an order's item is stored with what its `OrderPlaced` needs (the sealed card,
//! the request's trace), so the one write that stores an order also announces it.
//!
//! Only the insertion of an order is announced (the mapping's filter lets nothing else
//! through, and the relay skips anything else all the same). If some announcements cannot
//! be published, the relay reports the first of them: Lambda retries the batch from that
//! record (the ones after it too, so the order holds), and a record that keeps failing
//! goes to the mapping's on-failure destination. Publishing an announcement twice is
//! harmless: it is the same event, id and time, and consumers are idempotent.

use std::sync::Arc;

use lambda_kit::TopicArn;
use lambda_kit::bus::EventBus;
use lambda_kit::faults::{FaultPoint, Faults};
use lambda_kit::telemetry::{Metrics, Unit};
use orders::{DynamoOrders, Inserted};
use pizza_events::Outgoing;
use pizza_events::WireEvent;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tracing::{Instrument, debug, error, info, info_span, warn};

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
    #[serde(rename = "Keys", default)]
    pub keys: Map<String, Value>,
    #[serde(rename = "NewImage", default)]
    pub new_image: Map<String, Value>,
}

/// The announcement of the order a stream record inserted, to `orders_topic`; `Ok(None)`
/// for anything else (a change, an idempotency key's item).
pub fn announcement(record: &StreamRecord, orders_topic: &TopicArn) -> Result<Option<Outgoing>, String> {
    if record.event_name != "INSERT" {
        return Ok(None);
    }
    if let Some(entry) = retired_outbox_entry(&record.dynamodb.new_image)? {
        return Ok(Some(entry));
    }
    match DynamoOrders::inserted(&record.dynamodb.keys, &record.dynamodb.new_image).map_err(|e| e.to_string())? {
        Inserted::Order(placed) => Ok(Some(placed.announcement(orders_topic))),
        Inserted::Unannounceable(order_id) => {
            // Put by an API from before orders kept their card: its outbox entry announces it.
            warn!(%order_id, "an order put without its card");
            Ok(None)
        }
        Inserted::NotAnOrder => Ok(None),
    }
}

/// An entry of the retired outbox table (`event`, `topic_arn`, `traceparent`), which an
/// API from before orders announced themselves wrote beside the order: while a stack is
/// upgraded, the old table's mapping runs this code until CloudFormation removes it, and
/// the entries still in its stream must get out.
fn retired_outbox_entry(image: &Map<String, Value>) -> Result<Option<Outgoing>, String> {
    let text = |name: &str| image.get(name).and_then(|v| v.get("S")).and_then(Value::as_str);
    let (Some(event), Some(topic)) = (text("event"), text("topic_arn")) else { return Ok(None) };
    let event = WireEvent::from_json(event).map_err(|e| format!("a retired outbox entry: {e}"))?;
    let trace = text("traceparent").and_then(lambda_kit::trace::TraceContext::from_traceparent);
    info!(event_id = %event.id, "publishing an entry of the retired outbox table");
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
    orders_topic: TopicArn,
    metrics: Metrics,
    faults: Faults,
}

impl<B: EventBus<WireEvent>> Relay<B> {
    pub fn new(bus: B, orders_topic: TopicArn, metrics: Metrics) -> Self {
        Self { bus, orders_topic, metrics, faults: Faults::none() }
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
                match announcement(record, &self.orders_topic) {
                    Ok(Some(outgoing)) => entries.push((position, outgoing)),
                    Ok(None) => {}
                    Err(reason) => {
                        error!(sequence_number = %record.dynamodb.sequence_number, reason, "unreadable order");
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
                        error!(reason, "could not announce an order; the stream retries from it");
                        first_failure = Some(first_failure.map_or(*position, |f| f.min(*position)));
                    }
                    // The API logged the order and the payment service logs its arrival: what
                    // the relay adds is a failure (above) and its count (`EventsRelayed`).
                    None => debug!("order announced"),
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
    use lambda_kit::trace::TraceContext;
    use orders::{Order, PlacedOrder};
    use pizza_events::catalogue::CardToken;
    use serde_json::json;
    use uuid::Uuid;

    const ORDERS: &str = "arn:aws:sns:us-east-1:123456789012:orders";

    fn record(name: &str, sequence: &str, image: Map<String, Value>) -> Value {
        let keys: Map<String, Value> =
            image.iter().filter(|(k, _)| *k == "pk" || *k == "sk").map(|(k, v)| (k.clone(), v.clone())).collect();
        json!({"eventName": name, "dynamodb": {"SequenceNumber": sequence, "Keys": keys, "NewImage": image}})
    }

    /// A placed order and the image of its item as the stream shows it.
    fn placed_order() -> (PlacedOrder, Map<String, Value>) {
        let order = Order::place(Uuid::new_v4(), "c-1", 2, 2500, "fp");
        let trace = Some(TraceContext::start(order.order_id));
        let placed = PlacedOrder { order, card_token: CardToken::Legacy("sealed".into()), trace };
        let image = dynamo_kit::stream::image_of(&DynamoOrders::placed_item(&placed).expect("an item"));
        (placed, image)
    }

    fn relay() -> Relay<Arc<InMemoryBus<WireEvent>>> {
        let env: Env = [("POWERTOOLS_METRICS_DISABLED", "true")].into_iter().collect();
        Relay::new(Arc::new(InMemoryBus::default()), TopicArn(ORDERS.into()), Metrics::from_env(&env))
    }

    fn batch(records: Vec<Value>) -> StreamBatch {
        serde_json::from_value(json!({"Records": records})).expect("a stream batch")
    }

    #[tokio::test]
    async fn an_inserted_order_is_announced_as_placed_and_nothing_else_is() {
        let relay = relay();
        let (placed, image) = placed_order();
        let (_, changed) = placed_order();
        let mut key = image.clone();
        key.insert("sk".into(), json!({"S": "KEY"}));
        let records = vec![record("INSERT", "1", image), record("MODIFY", "2", changed), record("INSERT", "3", key)];
        assert_eq!(relay.process(batch(records), "r").await, StreamResponse::default());
        assert_eq!(relay.bus.published(), vec![placed.announcement(&TopicArn(ORDERS.into()))]);
    }

    #[tokio::test]
    async fn the_stream_retries_from_the_first_record_that_was_not_announced() {
        let relay = relay();
        let ((_, first), (_, later)) = (placed_order(), placed_order());
        let unreadable: Map<String, Value> =
            json!({"sk": {"S": "ORDER"}, "status": {"S": "PLACED"}, "announce_card": {"S": "{"}})
                .as_object()
                .cloned()
                .expect("an image");
        let records =
            vec![record("INSERT", "10", first), record("INSERT", "11", unreadable), record("INSERT", "12", later)];
        let response = relay.process(batch(records), "r").await;
        assert_eq!(response.batch_item_failures, vec![ItemFailure { item_identifier: "11".into() }]);
        assert_eq!(relay.bus.published().len(), 2, "the readable ones went out; a retry repeats them harmlessly");
    }

    #[tokio::test]
    async fn an_entry_of_the_retired_outbox_table_still_gets_out_as_it_was_written() {
        let relay = relay();
        let order_id = Uuid::new_v4();
        let event = pizza_events::Envelope::new(
            "api",
            order_id.to_string(),
            pizza_events::catalogue::OrderConfirmed { order_id, pizzas: 1 },
        )
        .to_wire();
        let entry: Map<String, Value> = json!({
            "pk": {"S": event.id.to_string()}, "event": {"S": event.to_json()}, "topic_arn": {"S": "old-orders"},
        })
        .as_object()
        .cloned()
        .expect("an image");
        assert_eq!(relay.process(batch(vec![record("INSERT", "1", entry)]), "r").await, StreamResponse::default());
        let published = relay.bus.published();
        assert_eq!(
            (published.len(), published[0].event.id, published[0].topic.0.as_str()),
            (1, event.id, "old-orders")
        );
    }

    #[tokio::test]
    async fn a_refused_publish_is_retried_from_its_record() {
        let relay = relay();
        relay.bus.refuse(ORDERS);
        let ((_, first), (_, second)) = (placed_order(), placed_order());
        let response =
            relay.process(batch(vec![record("INSERT", "5", first), record("INSERT", "6", second)]), "r").await;
        assert_eq!(response.batch_item_failures, vec![ItemFailure { item_identifier: "5".into() }]);
    }
}
