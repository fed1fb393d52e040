//! The behaviour every adapter of the inventory ports must have; run against the in-memory
//! inventory in unit tests and against DynamoDB on the emulator in the system tests. The
//! suite stocks ingredients of its own, so it can run on a table others use.

use uuid::Uuid;

use crate::{Pantry, Reservation, ReservationRequest, Restock, StockLevel, StockRoom};

fn request(order_id: Uuid, pizza_id: Uuid, candidates: &[&str]) -> ReservationRequest {
    ReservationRequest { order_id, pizza_id, candidates: candidates.iter().map(|c| (*c).to_owned()).collect() }
}

async fn level(store: &impl StockRoom, ingredient: &str) -> (i64, u64) {
    let levels = store.levels().await.expect("levels");
    let StockLevel { available, reserved, .. } =
        levels.into_iter().find(|l| l.ingredient == ingredient).unwrap_or_else(|| panic!("{ingredient} is stocked"));
    (available, reserved)
}

/// Reserve once per pizza and stage, never below zero, fall back through the candidates;
/// release gives back exactly what was held, once, and closes the order.
pub async fn inventory(store: &(impl Pantry + Restock + StockRoom)) {
    let run = Uuid::new_v4().simple().to_string();
    let (ham, bacon, truffle, brie) =
        (format!("ham-{run}"), format!("bacon-{run}"), format!("truffle-{run}"), format!("brie-{run}"));
    store.set_stock("meat", &ham, 2).await.expect("stocked");
    store.set_stock("meat", &bacon, 1).await.expect("stocked");
    store.set_stock("cheese", &brie, 5).await.expect("stocked");
    let meats = [ham.as_str(), bacon.as_str()];

    let order = Uuid::new_v4();
    let pizzas: Vec<Uuid> = (0..4).map(|_| Uuid::new_v4()).collect();
    let mut batch: Vec<_> = pizzas.iter().map(|p| request(order, *p, &meats)).collect();
    batch.push(request(order, pizzas[0], &meats));
    let outcomes = store.reserve("meat", &batch).await.expect("reserves");
    assert_eq!(
        outcomes,
        vec![
            Reservation::Reserved(ham.clone()),
            Reservation::Reserved(ham.clone()),
            Reservation::Reserved(bacon.clone()),
            Reservation::OutOfStock,
            Reservation::AlreadyReserved(ham.clone()),
        ]
    );
    assert_eq!(level(store, &ham).await, (0, 2));
    assert_eq!(level(store, &bacon).await, (0, 1));

    // A redelivery finds what each pizza got, its shortage included, even once the
    // shortage is over: one pizza, one fact per stage.
    store.set_stock("meat", &bacon, 1).await.expect("restocked");
    let again = store.reserve("meat", &[request(order, pizzas[2], &meats), request(order, pizzas[3], &meats)]).await;
    assert_eq!(
        again.expect("answers"),
        vec![Reservation::AlreadyReserved(bacon.clone()), Reservation::AlreadyOutOfStock]
    );
    assert_eq!(level(store, &bacon).await, (1, 1), "a shortage found again takes nothing");
    store.set_stock("meat", &bacon, 0).await.expect("back to none");
    let other_stage = store.reserve("sauce", &[request(order, pizzas[0], &[truffle.as_str()])]).await;
    assert_eq!(other_stage.expect("answers"), vec![Reservation::OutOfStock], "an unstocked ingredient has none");
    let unstocked_stage = format!("dessert-{run}");
    let nothing = store.reserve(&unstocked_stage, &[request(order, pizzas[0], &["tiramisu"])]).await;
    assert_eq!(nothing.expect("answers"), vec![Reservation::OutOfStock], "a stage never stocked has nothing");

    let held: Vec<_> = store.reservations().await.expect("reads").into_iter().filter(|h| h.order_id == order).collect();
    assert_eq!(held.len(), 3);
    assert!(held.iter().all(|h| h.stage == "meat"));

    assert_eq!(store.units_held_by(order).await.expect("counts"), 3);
    assert!(!store.is_closed(order).await.expect("reads"));
    assert_eq!(store.release_order(order).await.expect("releases"), 3);
    assert!(store.is_closed(order).await.expect("reads"), "released: closed to new reservations");
    assert_eq!(store.units_held_by(order).await.expect("counts"), 0);
    assert_eq!(store.release_order(order).await.expect("releases again"), 0, "given back once");
    assert_eq!(level(store, &ham).await, (2, 0));
    assert_eq!(level(store, &bacon).await, (1, 0));
    let late = store.reserve("meat", &[request(order, Uuid::new_v4(), &meats)]).await.expect("answers");
    assert_eq!(late, vec![Reservation::OrderClosed]);
    let untouched_stage = store.reserve("cheese", &[request(order, pizzas[0], &[brie.as_str()])]).await;
    assert_eq!(
        untouched_stage.expect("answers"),
        vec![Reservation::OrderClosed],
        "closed at a stage where it held nothing too"
    );
    assert_eq!(level(store, &brie).await, (5, 0));
    assert!(store.reservations().await.expect("reads").iter().all(|h| h.order_id != order));
    assert_eq!(level(store, &ham).await, (2, 0), "a closed order takes nothing");
}
