//! A deployed stack's adapters, found through its manifest.

use event_archive::{ArchiveError, Archived, EventArchive, S3Archive, Window};
use inventory::DynamoInventory;
use lambda_kit::bus::SnsBus;
use local_runner::Manifest;
use orders::{DynamoOrders, OrderDesk};
use payments::DynamoLedger;

#[derive(Debug, thiserror::Error)]
pub enum StackError {
    #[error("the stack has no {0} (is the manifest from this template?)")]
    Missing(&'static str),
    #[error("the stack keeps no event archive (it was deployed with EventArchive=disabled)")]
    NoArchive,
    #[error("{0} is not an order id")]
    NotAnOrder(String),
    #[error("no order {0}: an order's events are found by the time it lived")]
    UnknownOrder(uuid::Uuid),
    #[error("reading the order: {0}")]
    Orders(#[from] dynamo_kit::StoreError),
    #[error(transparent)]
    Archive(#[from] ArchiveError),
}

/// The clients and adapters of one deployed stack.
pub struct Stack {
    pub manifest: Manifest,
    pub sqs: aws_sdk_sqs::Client,
    pub stock: DynamoInventory,
    pub ledger: DynamoLedger,
    pub orders: DynamoOrders,
    /// The event archive, unless the stack was deployed without one.
    archive: Option<S3Archive>,
    /// The bus a replay publishes to.
    pub bus: SnsBus,
}

impl Stack {
    pub async fn connect(manifest: Manifest) -> Result<Self, StackError> {
        let aws = local_runner::sdk_config(&manifest).await;
        let table = |id: &'static str| manifest.table(id).map(str::to_owned).ok_or(StackError::Missing(id));
        Ok(Self {
            sqs: aws_sdk_sqs::Client::new(&aws),
            stock: DynamoInventory::new(&aws, table("InventoryTable")?),
            ledger: DynamoLedger::new(&aws, table("PaymentsTable")?),
            orders: DynamoOrders::new(&aws, table("OrdersTable")?),
            archive: manifest.event_archive.as_ref().map(|at| S3Archive::new(&aws, &at.bucket, &at.prefix)),
            bus: SnsBus::new(&aws),
            manifest,
        })
    }

    /// The event archive, which a stack deployed with `EventArchive=disabled` lacks.
    pub fn archive(&self) -> Result<&S3Archive, StackError> {
        self.archive.as_ref().ok_or(StackError::NoArchive)
    }

    /// Every archived copy of an order's events: read from the hours the order lived (from
    /// its placing until now), not from the whole archive.
    pub async fn order_history(&self, order: &str) -> Result<Vec<Archived>, StackError> {
        let archive = self.archive()?;
        let order_id: uuid::Uuid = order.parse().map_err(|_| StackError::NotAnOrder(order.to_owned()))?;
        let details = self.orders.find(order_id).await?.ok_or(StackError::UnknownOrder(order_id))?;
        let window = Window::of_order(details.order.created_at, chrono::Utc::now());
        Ok(archive.history(order, window).await?)
    }
}
