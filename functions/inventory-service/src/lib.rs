//! The inventory service's compensation: on `OrderCancelled`, every reservation of the
//! order is given back, and the order takes no more. (Reservations themselves are made by
//! the kitchen stages, in the same transaction that takes the stock.)

use async_trait::async_trait;
use futures::future::join_all;
use inventory::{DynamoInventory, Restock};
use lambda_kit::telemetry::{Metrics, Unit};
use lambda_kit::{BatchHandler, ConfigError, Env, Inbound, RecordError, RecordOutcome};
use pizza_events::WireEvent;
use pizza_events::catalogue::OrderCancelled;

pub struct Restocker<R> {
    inventory: R,
    metrics: Metrics,
}

impl Restocker<DynamoInventory> {
    pub fn from_env(env: &Env, aws: &aws_config::SdkConfig) -> Result<Self, ConfigError> {
        Ok(Self::new(DynamoInventory::new(aws, env.require("INVENTORY_TABLE")?), Metrics::from_env(env)))
    }
}

impl<R: Restock> Restocker<R> {
    pub fn new(inventory: R, metrics: Metrics) -> Self {
        Self { inventory, metrics }
    }

    pub fn inventory(&self) -> &R {
        &self.inventory
    }

    async fn release(&self, inbound: &Inbound<WireEvent>) -> RecordOutcome<WireEvent> {
        if !inbound.event.is::<OrderCancelled>() {
            let event_type = &inbound.event.event_type;
            return Err(RecordError::permanent(format!("the inventory service does not handle {event_type}")));
        }
        let order_id = inbound.event.decode::<OrderCancelled>()?.data.order_id;
        let released = self.inventory.release_order(order_id).await?;
        inbound.span.in_scope(|| tracing::info!(released, "reservations released"));
        self.metrics.add(&[("UnitsReleased", f64::from(released), Unit::Count)]);
        Ok(Vec::new())
    }
}

#[async_trait]
impl<R: Restock> BatchHandler for Restocker<R> {
    type Message = WireEvent;

    async fn handle_batch(&self, batch: &[Inbound<WireEvent>]) -> Vec<RecordOutcome<WireEvent>> {
        join_all(batch.iter().map(|inbound| self.release(inbound))).await
    }
}
