//! The sample DynamoDB stream batch in `events/dynamodb`, through the relay's entry point.

use std::sync::Arc;

use lambda_kit::Env;
use lambda_kit::bus::InMemoryBus;
use lambda_kit::telemetry::Metrics;
use outbox_relay::{Relay, StreamBatch};
use pizza_events::catalogue::OrderPlaced;

#[tokio::test]
async fn the_sample_outbox_entry_is_published_and_its_expiry_skipped() {
    let env: Env = [("POWERTOOLS_METRICS_DISABLED", "true")].into_iter().collect();
    let bus = Arc::new(InMemoryBus::default());
    let relay = Relay::new(bus.clone(), Metrics::from_env(&env));
    let batch: StreamBatch =
        serde_json::from_str(include_str!("../../../events/dynamodb/outbox-stream.json")).expect("a stream batch");
    let response = relay.process(batch, "request-1").await;
    assert!(response.batch_item_failures.is_empty());
    let [published] = bus.published().try_into().expect("one event");
    assert_eq!(published.topic.0, "arn:aws:sns:us-east-1:123456789012:orders");
    assert_eq!(published.event.decode::<OrderPlaced>().expect("OrderPlaced").data.pizzas, 2);
    assert_eq!(published.trace.map(|t| t.trace_id().to_string()).as_deref(), Some("6745b3a1c2d4e5f60718293a4b5c6d7e"));
}
