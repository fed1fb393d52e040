//! The sample events in `events/sqs`, through the entry point Lambda calls.

use std::sync::Arc;

use aws_lambda_events::event::sqs::SqsEvent;
use inventory::{InMemoryInventory, Pantry, Reservation, ReservationRequest, StockRoom};
use inventory_service::Restocker;
use lambda_kit::Env;
use lambda_kit::batch::{Invocation, SqsFunction};
use lambda_kit::bus::InMemoryBus;
use lambda_kit::retry::RecordedFailures;
use lambda_kit::telemetry::Metrics;
use pizza_events::WireEvent;
use pizza_events::catalogue::OrderCancelled;
use uuid::Uuid;

#[tokio::test]
async fn the_sample_cancellation_gives_back_every_reservation_once() {
    let inventory = InMemoryInventory::default();
    inventory.set_stock("meat", "ham", 3).await.expect("stocked");
    let batch: SqsEvent =
        serde_json::from_str(include_str!("../../../events/sqs/inventory-order-cancelled.json")).expect("SQS");
    let cancellation = WireEvent::from_json(batch.records[0].body.as_deref().unwrap_or_default()).expect("event");
    let order_id = cancellation.decode::<OrderCancelled>().expect("OrderCancelled").data.order_id;
    let requests: Vec<_> = (0..2)
        .map(|_| ReservationRequest { order_id, pizza_id: Uuid::new_v4(), candidates: vec!["ham".into()] })
        .collect();
    let reserved = inventory.reserve("meat", &requests).await.expect("reserves");
    assert_eq!(reserved, vec![Reservation::Reserved("ham".into()); 2]);

    let env: Env = [("POWERTOOLS_METRICS_DISABLED", "true")].into_iter().collect();
    let restocker = Restocker::new(inventory, Metrics::from_env(&env));
    let function =
        SqsFunction::from_env(restocker, Arc::new(InMemoryBus::default()), Arc::new(RecordedFailures::default()), &env)
            .expect("configured");
    for _ in 0..2 {
        let response = function.process(batch.clone(), &Invocation::default()).await;
        assert!(response.batch_item_failures.is_empty());
    }
    let levels = function.handler().inventory().levels().await.expect("levels");
    assert_eq!((levels[0].available, levels[0].reserved), (3, 0));
}
