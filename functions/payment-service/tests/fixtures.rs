//! The sample events in `events/sqs`, through the entry point Lambda calls.

use std::sync::Arc;

use aws_lambda_events::event::sqs::SqsEvent;
use lambda_kit::batch::{Invocation, SqsFunction};
use lambda_kit::bus::InMemoryBus;
use lambda_kit::retry::RecordedFailures;
use lambda_kit::telemetry::Metrics;
use lambda_kit::{Env, TopicArn};
use payment_service::PaymentService;
use payments::InMemoryLedger;
use pizza_events::catalogue::PaymentProcessed;

#[tokio::test]
async fn the_sample_order_is_charged() {
    let env: Env = [("POWERTOOLS_METRICS_DISABLED", "true")].into_iter().collect();
    let cards = sealing::Envelope::new(sealing::LocalDataKeys::new());
    let service = PaymentService::new(
        InMemoryLedger::default(),
        TopicArn("payments".into()),
        100_000,
        Metrics::from_env(&env),
        cards,
    );
    let bus = Arc::new(InMemoryBus::default());
    let function =
        SqsFunction::from_env(service, bus.clone(), Arc::new(RecordedFailures::default()), &env).expect("configured");
    let batch: SqsEvent =
        serde_json::from_str(include_str!("../../../events/sqs/payment-order-placed.json")).expect("an SQS event");
    assert!(function.process(batch, &Invocation::default()).await.batch_item_failures.is_empty());
    let [announced] = bus.events_on("payments").try_into().expect("one announcement");
    assert_eq!(announced.decode::<PaymentProcessed>().expect("processed").data.amount_cents, 2500);
}
