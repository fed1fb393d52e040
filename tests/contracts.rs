//! The adapters' contract suites, against DynamoDB on the emulator: the very suites the
//! in-memory adapters pass in the unit tests, so the fakes behind the functions' unit
//! tests behave as the real tables do (conditions, transactions, batch reads).

use std::sync::OnceLock;

use event_archive::DynamoArchive;
use inventory::DynamoInventory;
use orders::DynamoOrders;
use payments::DynamoLedger;
use system_tests::{System, shared_system};

static SYSTEM: OnceLock<System> = OnceLock::new();

fn system() -> &'static System {
    shared_system(&SYSTEM, "test-contracts", &[("Namespace", "test-contracts-"), ("EventArchive", "enabled")])
}

fn table(system: &System, logical_id: &str) -> String {
    system.manifest.table(logical_id).unwrap_or_else(|| panic!("no {logical_id}")).to_owned()
}

#[test]
fn the_dynamodb_orders_keep_the_contract() {
    let system = system();
    system.run(async {
        let aws = local_runner::sdk_config(&system.manifest).await;
        let store = DynamoOrders::new(&aws, table(system, "OrdersTable")).with_outbox(table(system, "OutboxTable"));
        orders::contract::order_desk(&store).await;
        orders::contract::order_moves(&store).await;
        orders::contract::pizza_storage(&store).await;
    });
}

#[test]
fn the_dynamodb_ledger_keeps_the_contract() {
    let system = system();
    system.run(async {
        let aws = local_runner::sdk_config(&system.manifest).await;
        payments::contract::payment_ledger(&DynamoLedger::new(&aws, table(system, "PaymentsTable"))).await;
    });
}

#[test]
fn the_dynamodb_inventory_keeps_the_contract() {
    let system = system();
    system.run(async {
        let aws = local_runner::sdk_config(&system.manifest).await;
        inventory::contract::inventory(&DynamoInventory::new(&aws, table(system, "InventoryTable"))).await;
    });
}

#[test]
fn the_dynamodb_archive_keeps_the_contract() {
    let system = system();
    system.run(async {
        let aws = local_runner::sdk_config(&system.manifest).await;
        let retention = std::time::Duration::from_secs(24 * 60 * 60);
        event_archive::contract::event_archive(&DynamoArchive::new(&aws, table(system, "ArchiveTable"), retention))
            .await;
    });
}
