//! The sample DynamoDB stream batch in `events/dynamodb`, through the relay's entry point.

use std::sync::Arc;

use lambda_kit::bus::InMemoryBus;
use lambda_kit::telemetry::Metrics;
use lambda_kit::{Env, TopicArn};
use outbox_relay::{Relay, StreamBatch};
use pizza_events::catalogue::{CardToken, OrderPlaced};

#[tokio::test]
async fn the_sample_order_is_announced_and_its_key_and_payment_skipped() {
    let env: Env = [("POWERTOOLS_METRICS_DISABLED", "true")].into_iter().collect();
    let bus = Arc::new(InMemoryBus::default());
    let orders = TopicArn("arn:aws:sns:us-east-1:123456789012:orders".into());
    let relay = Relay::new(bus.clone(), orders.clone(), Metrics::from_env(&env));
    let batch: StreamBatch =
        serde_json::from_str(include_str!("../../../events/dynamodb/orders-stream.json")).expect("a stream batch");
    let response = relay.process(batch, "request-1").await;
    assert!(response.batch_item_failures.is_empty());
    let [published] = bus.published().try_into().expect("one event");
    assert_eq!(published.topic, orders);
    let placed = published.event.decode::<OrderPlaced>().expect("OrderPlaced");
    assert_eq!((placed.data.pizzas, placed.data.customer_id.as_str()), (2, "c-42"));
    assert!(matches!(placed.data.card_token, CardToken::Sealed(_)));
    assert_eq!(placed.occurred_at.to_rfc3339(), "2026-11-23T12:00:00+00:00", "dated by the order");
    assert_eq!(published.trace.map(|t| t.trace_id().to_string()).as_deref(), Some("6745b3a1c2d4e5f60718293a4b5c6d7e"));
}
