//! The sample events in `events/sqs`, through the entry point Lambda calls.

use std::sync::Arc;

use aws_lambda_events::event::sqs::SqsEvent;
use lambda_kit::batch::{Invocation, SqsFunction};
use lambda_kit::bus::InMemoryBus;
use lambda_kit::retry::RecordedFailures;
use lambda_kit::telemetry::Metrics;
use lambda_kit::{Env, TopicArn};
use order_service::{Announcements, OrderService};
use orders::{InMemoryOrders, Order, OrderDesk, PlacedOrder};
use pizza_events::WireEvent;
use pizza_events::catalogue::{CardToken, PaymentProcessed};

fn event(json: &str) -> SqsEvent {
    serde_json::from_str(json).expect("a valid SQS event")
}

#[tokio::test]
async fn the_sample_payment_starts_cooking_and_the_sample_pizza_is_stored() {
    let env: Env = [("POWERTOOLS_METRICS_DISABLED", "true")].into_iter().collect();
    let announcements = Announcements { pizza: TopicArn("pizza".into()), orders: TopicArn("orders".into()) };
    let bus = Arc::new(InMemoryBus::default());
    let service = OrderService::new(InMemoryOrders::default(), announcements, Metrics::from_env(&env));
    let function =
        SqsFunction::from_env(service, bus.clone(), Arc::new(RecordedFailures::default()), &env).expect("configured");

    let paid = event(include_str!("../../../events/sqs/kitchen-payment-processed.json"));
    let payment = WireEvent::from_json(paid.records[0].body.as_deref().unwrap_or_default()).expect("envelope");
    let order_id = payment.decode::<PaymentProcessed>().expect("PaymentProcessed").data.order_id;
    let order = Order::place(order_id, "c-42", 2, 2500, "fp");
    let placed = PlacedOrder { order, card_token: CardToken::Legacy("tok_visa".into()), trace: None };
    function.handler().book().place(&placed, None).await.expect("placed");

    assert!(function.process(paid, &Invocation::default()).await.batch_item_failures.is_empty());
    assert_eq!(bus.events_on("pizza").len(), 2);

    let finished = event(include_str!("../../../events/sqs/store-ingredient-added.json"));
    assert!(function.process(finished, &Invocation::default()).await.batch_item_failures.is_empty());
    let stored = function.handler().book().find(order_id).await.expect("reads").expect("exists");
    assert_eq!(stored.pizzas.len(), 1);
    assert_eq!(stored.pizzas[0].ingredients.len(), 4);
}
