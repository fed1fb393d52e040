//! A deployed stack's adapters, found through its manifest.

use event_archive::DynamoArchive;
use inventory::DynamoInventory;
use lambda_kit::bus::SnsBus;
use local_runner::Manifest;
use orders::DynamoOrders;
use payments::DynamoLedger;

#[derive(Debug, thiserror::Error)]
pub enum StackError {
    #[error("the stack has no {0} (is the manifest from this template?)")]
    Missing(&'static str),
    #[error("the stack keeps no event archive (it was deployed with EventArchive=disabled)")]
    NoArchive,
}

/// The clients and adapters of one deployed stack.
pub struct Stack {
    pub manifest: Manifest,
    pub sqs: aws_sdk_sqs::Client,
    pub stock: DynamoInventory,
    pub ledger: DynamoLedger,
    pub orders: DynamoOrders,
    /// The event archive, unless the stack was deployed without one.
    archive: Option<DynamoArchive>,
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
            // Read by `trace` and `replay`, which never write to it: no retention to apply.
            archive: manifest.table("ArchiveTable").map(|t| DynamoArchive::new(&aws, t, std::time::Duration::ZERO)),
            bus: SnsBus::new(&aws),
            manifest,
        })
    }

    /// The event archive, which a stack deployed with `EventArchive=disabled` lacks.
    pub fn archive(&self) -> Result<&DynamoArchive, StackError> {
        self.archive.as_ref().ok_or(StackError::NoArchive)
    }
}
