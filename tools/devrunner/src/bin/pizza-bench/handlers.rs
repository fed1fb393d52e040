//! What our handlers cost per message, with in-memory adapters: the code we own, without
//! the network or the emulator. Each handler is wrapped in processed-event records, as
//! deployed, and fed batches of ten through the Lambda entry point.

use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_lambda_events::event::sqs::SqsEvent;
use serde_json::json;
use shared::batch::{EventHandler, process_batch};
use shared::bus::{InMemoryPublisher, TopicArn};
use shared::config::Env;
use shared::envelope::{Envelope, IncomingEvent};
use shared::events::PaymentProcessed;
use shared::idempotency::{Idempotent, InMemoryProcessedEvents};
use shared::inventory::{InMemoryInventory, StockRoom};
use shared::orders::{InMemoryOrders, Order, OrderIntake};
use shared::telemetry::Metrics;
use uuid::Uuid;

pub struct Cost {
    pub handler: &'static str,
    pub messages: usize,
    pub elapsed: Duration,
}

const STAGES: [&str; 4] = ["sauce", "cheese", "meat", "veggies"];

fn quiet_env(service: &str, extra: &[(&str, &str)]) -> Env {
    let base = [("POWERTOOLS_METRICS_DISABLED", "true"), ("POWERTOOLS_SERVICE_NAME", service)];
    base.iter().chain(extra).map(|(k, v)| (*k, *v)).collect()
}

fn batches(events: &[IncomingEvent]) -> Vec<SqsEvent> {
    events
        .chunks(10)
        .map(|chunk| {
            let records: Vec<_> = chunk
                .iter()
                .map(|e| {
                    json!({"messageId": Uuid::new_v4(), "body": serde_json::to_string(e).unwrap_or_default(),
                           "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:bench-q"})
                })
                .collect();
            serde_json::from_value(json!({ "Records": records })).unwrap_or_default()
        })
        .collect()
}

fn events_of(bus: &InMemoryPublisher) -> Vec<IncomingEvent> {
    bus.published().into_iter().map(|(_, event)| event).collect()
}

fn idempotent<H>(handler: H, name: &str) -> Idempotent<H, InMemoryProcessedEvents> {
    Idempotent::new(handler, InMemoryProcessedEvents::default(), name, Duration::from_secs(15))
}

/// Feeds `events` to `handler` in batches of ten, as its queue would.
async fn run(name: &'static str, handler: &impl EventHandler, events: &[IncomingEvent]) -> Result<Cost, String> {
    let metrics = Metrics::from_env(&quiet_env(name, &[]));
    let input = batches(events);
    let start = Instant::now();
    for batch in input {
        if !process_batch(handler, &metrics, batch).await.batch_item_failures.is_empty() {
            return Err(format!("{name} failed a message"));
        }
    }
    Ok(Cost { handler: name, messages: events.len(), elapsed: start.elapsed() })
}

/// Cooks `orders` paid orders of ten pizzas through every handler of the kitchen.
pub async fn measure(orders: usize) -> Result<Vec<Cost>, String> {
    let store = InMemoryOrders::default();
    let mut payments = Vec::new();
    for _ in 0..orders {
        let order_id = Uuid::new_v4();
        store.create(&Order::place(order_id, "bench", 10, 12_500)).await.map_err(|e| e.to_string())?;
        let data = PaymentProcessed { order_id, customer_id: "bench".into(), amount_cents: 12_500 };
        payments.push(Envelope::new("bench", order_id.to_string(), data).to_incoming());
    }
    let kitchen_bus = Arc::new(InMemoryPublisher::default());
    let topics = pizza::Topics { pizza: TopicArn("pizza".into()), orders: TopicArn("orders".into()) };
    let metrics = Metrics::from_env(&quiet_env("pizza", &[]));
    let kitchen = idempotent(pizza::Kitchen::new(store, kitchen_bus.clone(), topics, metrics), "pizza");

    let mut costs = vec![run("pizza: dispatch", &kitchen, &payments).await?];
    let mut pizzas = events_of(&kitchen_bus);
    for stage in STAGES {
        let env = quiet_env(stage, &[("STAGE", stage)]);
        let inventory = InMemoryInventory::default();
        for ingredient in shared::menu::ingredients_for(stage).unwrap_or_default() {
            inventory.set_stock(ingredient, (orders * 10) as u64).await.map_err(|e| e.to_string())?;
        }
        let bus = Arc::new(InMemoryPublisher::default());
        let topics = topping::Topics { output: TopicArn("next".into()), inventory: TopicArn("inventory".into()) };
        let config = topping::Stage::from_env(&env).map_err(|e| e.to_string())?;
        let handler = topping::ToppingStage::new(config, topics, bus.clone(), inventory, Metrics::from_env(&env));
        costs.push(run(stage, &idempotent(handler, stage), &pizzas).await?);
        pizzas = events_of(&bus);
    }
    let dispatched = kitchen_bus.published().len();
    costs.push(run("pizza: store", &kitchen, &pizzas).await?);
    let confirmations = kitchen_bus.published().len() - dispatched;
    if confirmations != orders {
        return Err(format!("{confirmations} of {orders} orders were confirmed"));
    }
    Ok(costs)
}
