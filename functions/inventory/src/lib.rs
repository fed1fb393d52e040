//! The inventory service's compensation: on `OrderCancelled`, every reservation of the
//! order is given back, and the order takes no more. (Reservations themselves are made by
//! the kitchen stages, in the same transaction that takes the stock.)

use async_trait::async_trait;
use shared::batch::{EventHandler, HandlerError};
use shared::config::{ConfigError, Env};
use shared::envelope::IncomingEvent;
use shared::events::OrderCancelled;
use shared::inventory::{DynamoInventory, Inventory};
use shared::telemetry::{Metrics, Unit};

pub struct Restocker<I> {
    inventory: I,
    metrics: Metrics,
}

impl Restocker<DynamoInventory> {
    pub fn from_env(env: &Env, aws: &aws_config::SdkConfig) -> Result<Self, ConfigError> {
        Ok(Self::new(DynamoInventory::new(aws, env.require("INVENTORY_TABLE")?), Metrics::from_env(env)))
    }
}

impl<I: Inventory> Restocker<I> {
    pub fn new(inventory: I, metrics: Metrics) -> Self {
        Self { inventory, metrics }
    }
}

#[async_trait]
impl<I: Inventory> EventHandler for Restocker<I> {
    async fn handle(&self, event: &IncomingEvent) -> Result<(), HandlerError> {
        if !event.is::<OrderCancelled>() {
            return Err(HandlerError::Rejected(format!("the inventory service does not handle {}", event.event_type)));
        }
        let order_id = event.decode::<OrderCancelled>()?.data.order_id;
        let released = self.inventory.release_order(order_id).await?;
        tracing::info!(%order_id, released, "reservations released");
        self.metrics.emit(&[("UnitsReleased", f64::from(released), Unit::Count)]);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lambda_events::event::sqs::SqsEvent;
    use shared::inventory::{InMemoryInventory, Reservation, StockRoom};
    use uuid::Uuid;

    #[tokio::test]
    async fn the_sample_cancellation_gives_back_every_reservation_once() {
        let inventory = InMemoryInventory::default();
        inventory.set_stock("ham", 3).await.expect("stocked");
        let batch: SqsEvent =
            serde_json::from_str(include_str!("../../../events/sqs/inventory-order-cancelled.json")).expect("SQS");
        let cancellation =
            IncomingEvent::from_json(batch.records[0].body.as_deref().unwrap_or_default()).expect("event");
        let order_id = cancellation.decode::<OrderCancelled>().expect("OrderCancelled").data.order_id;
        for _ in 0..2 {
            let reserved = inventory.reserve(order_id, Uuid::new_v4(), "meat", "ham").await.expect("reserves");
            assert_eq!(reserved, Reservation::Reserved);
        }

        let restocker = Restocker::new(inventory, Metrics::from_env(&Env::default()));
        let metrics = Metrics::from_env(&Env::default());
        assert!(shared::batch::process_batch(&restocker, &metrics, batch.clone()).await.batch_item_failures.is_empty());
        assert!(shared::batch::process_batch(&restocker, &metrics, batch).await.batch_item_failures.is_empty());
        let levels = restocker.inventory.levels().await.expect("levels");
        assert_eq!((levels[0].available, levels[0].reserved), (3, 0));
    }
}
