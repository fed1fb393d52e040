//! The adapters' contract suites, against DynamoDB and S3 on the emulator: the very suites
//! the in-memory adapters pass in the unit tests, so the fakes behind the functions' unit
//! tests behave as the real tables and the archive's bucket do (conditions, transactions,
//! batch reads, the delivery stream's objects).

use std::sync::OnceLock;

use event_archive::S3Archive;
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
        let store = DynamoOrders::new(&aws, table(system, "OrdersTable"));
        orders::contract::order_desk(&store).await;
        orders::contract::order_moves(&store).await;
        orders::contract::pizza_storage(&store).await;
        orders::contract::kitchen_pizzas(&store).await;
        orders::contract::whole_orders(&store).await;
        orders::contract::watchlist(&store).await;
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
fn the_s3_archive_keeps_the_contract() {
    let system = system();
    system.run(async {
        let aws = local_runner::sdk_config(&system.manifest).await;
        let at = system.manifest.event_archive.as_ref().expect("the stack keeps an archive");
        event_archive::contract::event_archive(&S3Archive::new(&aws, &at.bucket, &at.prefix)).await;
    });
}

/// A stage that believes an ingredient is gone (it read the level before a restock) must
/// not announce a shortage: the write that would record it checks the stock, finds units,
/// and the next round reserves one. Without that check a pizza could be reported out of
/// stock while its ingredient sat on the shelf, and its whole order be cancelled.
#[test]
fn a_stale_belief_that_an_ingredient_ran_out_never_becomes_a_shortage() {
    let system = system();
    system.run(async {
        use inventory::{Pantry, Reservation, ReservationRequest, StockRoom};
        let aws = local_runner::sdk_config(&system.manifest).await;
        let pantry = DynamoInventory::new(&aws, table(system, "InventoryTable"));
        let ham = format!("ham-{}", uuid::Uuid::new_v4().simple());
        pantry.set_stock("meat", &ham, 5).await.expect("stocked");
        let order_id = uuid::Uuid::new_v4();
        let pizza = ReservationRequest { order_id, pizza_id: uuid::Uuid::new_v4(), candidates: vec![ham.clone()] };
        let believed = [(ham.clone(), 0)].into_iter().collect();
        let outcome = pantry.reserve_believing("meat", std::slice::from_ref(&pizza), believed).await.expect("answers");
        assert_eq!(outcome, vec![Reservation::Reserved(ham.clone())]);

        // A real shortage is recorded, and repeated once the shelf is full again.
        let hungry = ReservationRequest { pizza_id: uuid::Uuid::new_v4(), ..pizza.clone() };
        pantry.set_stock("meat", &ham, 0).await.expect("none left");
        assert_eq!(
            pantry.reserve("meat", std::slice::from_ref(&hungry)).await.expect("answers"),
            vec![Reservation::OutOfStock]
        );
        pantry.set_stock("meat", &ham, 5).await.expect("restocked");
        assert_eq!(
            pantry.reserve("meat", std::slice::from_ref(&hungry)).await.expect("answers"),
            vec![Reservation::AlreadyOutOfStock]
        );
    });
}

/// A pizza stored by an earlier version, under its long name (`pizza_<id>`), and delivered
/// again after an upgrade is a duplicate: stored under its short name as well, it would be
/// counted twice and its order could never complete.
#[test]
fn a_pizza_stored_under_its_long_name_before_an_upgrade_is_not_stored_again() {
    let system = system();
    system.run(async {
        use aws_sdk_dynamodb::types::AttributeValue;
        use orders::{FinishedPizza, Order, OrderBook, OrderDesk, PizzaStored, PlacedOrder, StoredPizza};
        use pizza_events::catalogue::{CardToken, Ingredient};
        let aws = local_runner::sdk_config(&system.manifest).await;
        let table = table(system, "OrdersTable");
        let store = DynamoOrders::new(&aws, &table);
        let order = Order::place(uuid::Uuid::new_v4(), "c-upgrade", 2, 2500, "fp-upgrade");
        let placed = PlacedOrder { order: order.clone(), card_token: CardToken::Legacy("t".into()), trace: None };
        store.place(&placed, None).await.expect("placed");
        store.start_cooking(order.order_id, 2500).await.expect("cooking");

        let first = orders::pizza_id(order.order_id, 0);
        let sauce = AttributeValue::L(vec![AttributeValue::S("sauce:tomato".into())]);
        aws_sdk_dynamodb::Client::new(&aws)
            .update_item()
            .table_name(&table)
            .key("pk", AttributeValue::S(format!("ORDER#{}", order.order_id)))
            .key("sk", AttributeValue::S("ORDER".into()))
            .update_expression("SET #pizza = :sauce ADD pizzas_ready :one")
            .expression_attribute_names("#pizza", format!("pizza_{}", first.simple()))
            .expression_attribute_values(":sauce", sauce)
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .send()
            .await
            .expect("stored as the earlier version stored it");

        let ingredients = vec![Ingredient { stage: "sauce".into(), name: "tomato".into() }];
        let finished = |index| FinishedPizza {
            order_id: order.order_id,
            pizza: StoredPizza { pizza_id: orders::pizza_id(order.order_id, index), ingredients: ingredients.clone() },
            pizzas_in_order: Some(2),
        };
        let stored = store.store_pizzas(&[finished(0), finished(1)]).await.expect("stores");
        assert_eq!(stored.outcomes, vec![PizzaStored::Duplicate, PizzaStored::Stored]);
        assert_eq!(stored.all_stored, [order.order_id].into(), "two pizzas, each counted once");
        let details = store.find(order.order_id).await.expect("reads").expect("found");
        assert_eq!(details.pizzas.len(), 2);
        assert_eq!(details.order.pizzas_ready, 2);
    });
}
