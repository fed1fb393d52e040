//! The tests of `audit`.

use super::*;
use std::time::Duration;

fn order(status: OrderStatus, pizzas: u32) -> Order {
    Order {
        order_id: Uuid::new_v4(),
        status,
        cancel_reason: None,
        customer_id: "c".into(),
        pizzas,
        pizzas_ready: if status == OrderStatus::Ready { pizzas } else { 0 },
        amount_cents: 1250 * u64::from(pizzas),
        charged_cents: if status == OrderStatus::Ready { 1250 * u64::from(pizzas) } else { 0 },
        refunded_cents: 0,
        payment_fingerprint: String::new(),
        created_at: Utc::now(),
        updated_at: Utc::now(),
    }
}

fn payment(order: &Order, status: PaymentStatus) -> Payment {
    Payment {
        order_id: order.order_id,
        customer_id: order.customer_id.clone(),
        amount_cents: order.amount_cents,
        status,
        decline_reason: None,
    }
}

fn held(order: &Order, ingredient: &str) -> Held {
    Held { order_id: order.order_id, pizza_id: Uuid::new_v4(), stage: "sauce".into(), ingredient: ingredient.into() }
}

fn level(ingredient: &str, available: i64, reserved: u64) -> StockLevel {
    StockLevel { stage: "sauce".into(), ingredient: ingredient.into(), available, reserved }
}

#[test]
fn a_settled_system_is_clean() {
    let ready = order(OrderStatus::Ready, 1);
    let mut cancelled = order(OrderStatus::Cancelled, 1);
    cancelled.refunded_cents = cancelled.amount_cents;
    let snapshot = Snapshot {
        payments: vec![payment(&ready, PaymentStatus::Charged), payment(&cancelled, PaymentStatus::Refunded)],
        reservations: vec![held(&ready, "tomato")],
        levels: vec![level("tomato", 9, 1)],
        orders: vec![ready, cancelled],
        ..Snapshot::default()
    };
    let report = audit(&snapshot, Promises { initial_stock: Some(10), ..Promises::default() });
    assert!(report.is_clean(), "{report:?}");
    assert_eq!((report.ready, report.cancelled, report.in_progress, report.reserved_units), (1, 1, 0, 1));
}

#[test]
fn a_cancelled_order_that_kept_money_or_stock_is_reported() {
    let cancelled = order(OrderStatus::Cancelled, 1);
    let snapshot = Snapshot {
        payments: vec![payment(&cancelled, PaymentStatus::Charged)],
        reservations: vec![held(&cancelled, "tomato")],
        levels: vec![level("tomato", 9, 1)],
        orders: vec![cancelled],
        ..Snapshot::default()
    };
    let report = audit(&snapshot, Promises { initial_stock: Some(10), ..Promises::default() });
    assert_eq!(report.violations.len(), 2, "{report:?}");
}

#[test]
fn leaked_or_oversold_stock_is_reported() {
    let snapshot = Snapshot { levels: vec![level("tomato", -1, 0), level("basil", 5, 2)], ..Snapshot::default() };
    let report = audit(&snapshot, Promises { initial_stock: Some(10), ..Promises::default() });
    // tomato: oversold and leaked; basil: counter without reservations, and leaked.
    assert_eq!(report.violations.len(), 4, "{report:?}");
}

#[test]
fn a_ready_order_must_have_been_charged_its_price() {
    let ready = order(OrderStatus::Ready, 2);
    let mut short = payment(&ready, PaymentStatus::Charged);
    short.amount_cents -= 1;
    let report =
        audit(&Snapshot { payments: vec![short], orders: vec![ready], ..Snapshot::default() }, Promises::default());
    assert_eq!(report.violations.len(), 1, "{report:?}");
    let unpaid = order(OrderStatus::Ready, 1);
    assert_eq!(
        audit(&Snapshot { orders: vec![unpaid], ..Snapshot::default() }, Promises::default()).violations.len(),
        1
    );
}

fn stored(stages: &[(&str, &str)]) -> StoredPizza {
    StoredPizza {
        pizza_id: Uuid::new_v4(),
        ingredients: stages
            .iter()
            .map(|(stage, name)| pizza_events::catalogue::Ingredient { stage: (*stage).into(), name: (*name).into() })
            .collect(),
    }
}

#[test]
fn a_ready_order_must_hold_its_pizzas_whole() {
    let ready = order(OrderStatus::Ready, 2);
    let whole = [("sauce", "pesto"), ("cheese", "vegan"), ("meat", "ham"), ("veggies", "olives")];
    let snapshot = |pizzas: Vec<StoredPizza>| Snapshot {
        stages: ["sauce", "cheese", "meat", "veggies"].map(String::from).to_vec(),
        payments: vec![payment(&ready, PaymentStatus::Charged)],
        pizzas: [(ready.order_id, pizzas)].into(),
        orders: vec![ready.clone()],
        ..Snapshot::default()
    };
    assert!(audit(&snapshot(vec![stored(&whole), stored(&whole)]), Promises::default()).is_clean());
    assert_eq!(audit(&snapshot(vec![stored(&whole)]), Promises::default()).violations.len(), 1, "a pizza short");
    let no_meat = [("sauce", "pesto"), ("cheese", "vegan"), ("veggies", "olives")];
    assert_eq!(audit(&snapshot(vec![stored(&whole), stored(&no_meat)]), Promises::default()).violations.len(), 1);
    let off_menu = [("sauce", "ketchup"), ("cheese", "vegan"), ("meat", "ham"), ("veggies", "olives")];
    assert_eq!(audit(&snapshot(vec![stored(&whole), stored(&off_menu)]), Promises::default()).violations.len(), 1);
    let twin = stored(&whole);
    assert_eq!(audit(&snapshot(vec![twin.clone(), twin]), Promises::default()).violations.len(), 1, "one id twice");
    let mut with_crust = snapshot(vec![stored(&whole), stored(&whole)]);
    with_crust.stages.push("crust".into());
    assert_eq!(audit(&with_crust, Promises::default()).violations.len(), 1, "a stack with a crust stage");
}

#[test]
fn an_order_that_stood_still_for_longer_than_healing_takes_is_forgotten() {
    let mut stuck = order(OrderStatus::Cooking, 3);
    stuck.updated_at = Utc::now() - chrono::Duration::minutes(30);
    let snapshot = Snapshot { taken_at: Utc::now(), orders: vec![stuck], ..Snapshot::default() };
    let promise =
        |minutes: u64| Promises { healed_within: Some(Duration::from_secs(minutes * 60)), ..Promises::default() };
    let report = audit(&snapshot, promise(20));
    assert_eq!(report.violations.len(), 1, "{report:?}");
    assert!(report.violations[0].contains("has not moved"), "{report:?}");
    assert!(audit(&snapshot, promise(40)).is_clean(), "still within the promise");
}

#[test]
fn orders_in_progress_are_counted_not_judged() {
    let report =
        audit(&Snapshot { orders: vec![order(OrderStatus::Cooking, 3)], ..Snapshot::default() }, Promises::default());
    assert!(report.is_clean());
    assert_eq!(report.in_progress, 1);
}
