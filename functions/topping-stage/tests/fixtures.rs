//! The sample events in `events/sqs`, through the entry point Lambda calls.

use pizza_events::WireEvent;
use std::sync::Arc;

use aws_lambda_events::event::sqs::SqsEvent;
use inventory::{InMemoryInventory, StockRoom};
use lambda_kit::Env;
use lambda_kit::batch::{Invocation, SqsFunction};
use lambda_kit::bus::InMemoryBus;
use lambda_kit::retry::RecordedFailures;
use lambda_kit::telemetry::Metrics;
use topping_stage::{Stage, ToppingStage};

type Function = SqsFunction<ToppingStage<InMemoryInventory>, Arc<InMemoryBus<WireEvent>>>;

async fn sauce() -> (Function, Arc<InMemoryBus<WireEvent>>, Arc<RecordedFailures>) {
    let env: Env = [
        ("STAGE", "sauce"),
        ("OUTPUT_TOPIC_ARN", "next"),
        ("INVENTORY_TOPIC_ARN", "inventory"),
        ("POWERTOOLS_METRICS_DISABLED", "true"),
    ]
    .into_iter()
    .collect();
    let stage = Stage::from_env(&env).expect("sauce");
    let pantry = InMemoryInventory::default();
    for ingredient in &stage.ingredients {
        pantry.set_stock(&stage.name, ingredient, 10).await.expect("stocked");
    }
    let bus = Arc::new(InMemoryBus::default());
    let handler = ToppingStage::new(stage, pantry, Metrics::from_env(&env));
    let failures = Arc::new(RecordedFailures::default());
    let function = SqsFunction::from_env(handler, bus.clone(), failures.clone(), &env).expect("configured");
    (function, bus, failures)
}

fn event(json: &str) -> SqsEvent {
    serde_json::from_str(json).expect("a valid SQS event")
}

#[tokio::test]
async fn the_sample_request_is_topped_and_passed_on_in_its_trace() {
    let (function, bus, _) = sauce().await;
    let batch = event(include_str!("../../../events/sqs/sauce-pizza-requested.json"));
    let response = function.process(batch, &Invocation::default()).await;
    assert!(response.batch_item_failures.is_empty());
    let published = bus.published();
    assert_eq!(published.len(), 1);
    assert_eq!(published[0].topic.0, "next");
    let trace = published[0].trace.expect("a trace");
    assert_eq!(
        trace.trace_id().to_string(),
        "6745b3a1c2d4e5f60718293a4b5c6d7e",
        "the sample's traceparent is continued"
    );
}

#[tokio::test]
async fn only_the_poison_of_the_sample_batch_is_dead_lettered() {
    let (function, bus, failures) = sauce().await;
    let batch = event(include_str!("../../../events/sqs/sauce-batch-with-poison.json"));
    let poison = batch.records[1].message_id.clone().expect("an id");
    let response = function.process(batch, &Invocation::default()).await;
    assert!(response.batch_item_failures.is_empty(), "the poison left its queue for the dead-letter queue");
    let dead: Vec<_> = failures.dead_lettered.lock().expect("lock").iter().map(|(id, _)| id.clone()).collect();
    assert_eq!(dead, vec![poison]);
    assert_eq!(bus.published().len(), 1);
}
