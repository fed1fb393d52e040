//! The order saga against the emulator: payment, reservations, compensations, and what
//! happens when messages come twice, late, out of order or all at once.
//!
//! The tests share one stack and its stock, so they run one at a time (`serial`), and
//! each measures stock as a difference from what it found.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use inventory::{StockLevel, StockRoom};
use local_runner::Chaos;
use payments::{PaymentLedger, PaymentStatus};
use pizza_events::Envelope;
use pizza_events::catalogue::{IngredientAdded, PaymentProcessed, PizzaRequested, ToppedPizza};
use pizza_events::menu::{self, PIZZA_PRICE_CENTS};
use serde_json::{Value, json};
use system_tests::tap::Tap;
use system_tests::{AMPLE_STOCK, PATIENCE, System, shared_system, wait_for_deliveries, wait_for_delivery};
use uuid::Uuid;

static SAGA: OnceLock<System> = OnceLock::new();
static CHAOS: OnceLock<System> = OnceLock::new();
static SERIAL: Mutex<()> = Mutex::new(());

fn saga() -> &'static System {
    shared_system(&SAGA, "test-saga", &[("Namespace", "test-saga-")])
}

/// A second stack whose runner delivers every message twice, shuffled within its batch.
fn chaos() -> &'static System {
    CHAOS.get_or_init(|| {
        System::start_with("test-chaos", &[("Namespace", "test-chaos-")], Chaos { duplicate: true, ..Chaos::default() })
    })
}

fn serial() -> MutexGuard<'static, ()> {
    // A failed test must not fail the others through a poisoned lock.
    SERIAL.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

type Levels = BTreeMap<String, StockLevel>;

/// Units each ingredient lost since `before` (negative: gained).
fn taken(before: &Levels, after: &Levels) -> BTreeMap<String, i64> {
    after.iter().map(|(name, level)| (name.clone(), before[name].available - level.available)).collect()
}

fn taken_by_stage(before: &Levels, after: &Levels, stage: &str) -> i64 {
    let ingredients = menu::ingredients_for(stage).expect("a stage");
    taken(before, after).iter().filter(|(name, _)| ingredients.contains(&name.as_str())).map(|(_, n)| n).sum()
}

async fn set_stage_stock(system: &System, stage: &str, units: u64) {
    for ingredient in menu::ingredients_for(stage).expect("a stage") {
        system.stock.set_stock(stage, ingredient, units).await.expect("stock set");
    }
}

/// Places the order `body` describes with an Idempotency-Key, signed in as the customer it
/// names.
async fn order(system: &System, key: &str, body: Value) -> String {
    let customer = body["customer_id"].as_str().unwrap_or(system_tests::TEST_CUSTOMER);
    let headers = [("content-type", "application/json"), ("idempotency-key", key)];
    let reply = system.send_as(customer, "POST", "/orders", &headers, &body.to_string()).await;
    assert_eq!(reply.status, 202, "{body}: {reply:?}");
    reply.json["order_id"].as_str().expect("an order id").to_owned()
}

async fn wait_until_final(system: &System, order_id: &str) -> Value {
    system.wait_for_order(order_id, |o| o["status"] == "READY" || o["status"] == "CANCELLED").await
}

/// Waits until the stock satisfies `settled`: compensations run after the order is final.
async fn wait_for_stock(system: &System, settled: impl Fn(&Levels) -> bool) -> Levels {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let levels = system.stock_levels().await;
        if settled(&levels) {
            return levels;
        }
        assert!(Instant::now() < deadline, "the stock did not settle: {levels:?}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

async fn payment_status(system: &System, order_id: &str) -> Option<PaymentStatus> {
    let order_id: Uuid = order_id.parse().expect("a uuid");
    system.ledger.find(order_id).await.expect("the ledger reads").map(|p| p.status)
}

#[test]
fn a_paid_order_is_ready_charged_once_and_takes_exactly_its_ingredients() {
    let system = saga();
    let _serial = serial();
    system.run(async {
        let mut payments = Tap::on(system, "PaymentsTopic").await;
        let before = system.stock_levels().await;
        let order_id = order(system, &Uuid::new_v4().to_string(), json!({"pizzas": 3, "customer_id": "c-happy"})).await;
        let order = system.wait_until_ready(&order_id).await;

        assert_eq!(order["amount_cents"], 3 * PIZZA_PRICE_CENTS);
        assert_eq!(order["charged_cents"], 3 * PIZZA_PRICE_CENTS);
        assert_eq!(order["refunded_cents"], 0);
        assert_eq!(order["reason"], Value::Null);
        assert_eq!(payment_status(system, &order_id).await, Some(PaymentStatus::Charged));
        payments.wait_for(|e| e.correlation_id == order_id && e.is::<PaymentProcessed>()).await;
        assert_eq!(payments.count(|e| e.correlation_id == order_id && e.is::<PaymentProcessed>()).await, 1);

        let after = system.stock_levels().await;
        for stage in ["sauce", "cheese", "meat", "veggies"] {
            assert_eq!(taken_by_stage(&before, &after, stage), 3, "{stage}: one unit per pizza");
        }
        let reserved: u64 =
            after.values().map(|l| l.reserved).sum::<u64>() - before.values().map(|l| l.reserved).sum::<u64>();
        assert_eq!(reserved, 12, "every unit taken is held by a reservation");
    });
}

#[test]
fn a_declined_payment_cancels_the_order_and_touches_no_stock() {
    let system = saga();
    let _serial = serial();
    system.run(async {
        let mut deliveries = system.deliveries();
        let mut pizzas = Tap::on(system, "PizzaTopic").await;
        let before = system.stock_levels().await;
        system.ledger.set_credit_limit("c-frugal", PIZZA_PRICE_CENTS - 1).await.expect("limit set");

        let declined_card = json!({"pizzas": 2, "payment": {"card_token": "tok_chargeDeclined"}});
        let over_limit = json!({"pizzas": 1, "customer_id": "c-frugal"});
        for body in [declined_card, over_limit] {
            let order_id = order(system, &Uuid::new_v4().to_string(), body.clone()).await;
            let order = wait_until_final(system, &order_id).await;
            assert_eq!(
                (order["status"].as_str(), order["reason"].as_str()),
                (Some("CANCELLED"), Some("payment_declined"))
            );
            assert_eq!(order["charged_cents"], 0, "{body}");
            assert_eq!(order["pizzas"], json!([]));
            assert_eq!(payment_status(system, &order_id).await, Some(PaymentStatus::Declined));
            // The inventory service heard of the cancellation, and had nothing to give back.
            let released = wait_for_delivery(&mut deliveries, |d| {
                d.function == "InventoryFunction" && d.body.contains(&order_id) && d.body.contains("OrderCancelled")
            })
            .await;
            assert!(released.succeeded);
            assert_eq!(pizzas.count(|e| e.correlation_id == order_id).await, 0, "nothing was cooked");
        }
        assert_eq!(system.stock_levels().await, before, "no stock touched");
    });
}

#[test]
fn running_out_mid_order_cancels_refunds_once_and_gives_back_every_unit() {
    let system = saga();
    let _serial = serial();
    system.run(async {
        let mut payments = Tap::on(system, "PaymentsTopic").await;
        // One unit of meat for a three-pizza order: the first pizza gets it, the others
        // run out after their sauce and cheese are reserved.
        set_stage_stock(system, "meat", 0).await;
        system.stock.set_stock("meat", "ham", 1).await.expect("one ham");
        let before = system.stock_levels().await;

        let order_id = order(system, &Uuid::new_v4().to_string(), json!({"pizzas": 3})).await;
        let order = wait_until_final(system, &order_id).await;
        assert_eq!((order["status"].as_str(), order["reason"].as_str()), (Some("CANCELLED"), Some("out_of_stock")));
        let amount = 3 * PIZZA_PRICE_CENTS;
        assert_eq!(order["charged_cents"], amount);
        system.wait_for_order(&order_id, |o| o["refunded_cents"] == amount).await;
        assert_eq!(payment_status(system, &order_id).await, Some(PaymentStatus::Refunded));

        let settled = wait_for_stock(system, |levels| *levels == before).await;
        assert_eq!(settled, before);
        // Pizzas still on their way find the order closed: nothing leaks afterwards either.
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(system.stock_levels().await, before, "a late reservation leaked");
        // One refund fact: a cancellation announced again (each pizza that ran out reports
        // it) may announce the recorded refund again, under the same event id.
        let refunds: BTreeSet<Uuid> = payments
            .all(|e| e.correlation_id == order_id && e.is::<pizza_events::catalogue::PaymentRefunded>())
            .await
            .iter()
            .map(|e| e.id)
            .collect();
        assert_eq!(refunds.len(), 1, "refunded exactly once: {refunds:?}");
        set_stage_stock(system, "meat", AMPLE_STOCK).await;
    });
}

#[test]
fn concurrent_orders_for_scarce_stock_never_oversell_and_all_finish() {
    let system = saga();
    let _serial = serial();
    system.run(async {
        // Eight units of sauce for twenty orders of two pizzas: at most four can be made.
        set_stage_stock(system, "sauce", 2).await;
        let before = system.stock_levels().await;
        let initial: BTreeMap<&String, i64> =
            before.iter().map(|(name, level)| (name, level.available + level.reserved as i64)).collect();

        let keys: Vec<String> = (0..20).map(|_| Uuid::new_v4().to_string()).collect();
        let placed = futures::future::join_all(
            keys.iter()
                .enumerate()
                .map(|(i, key)| order(system, key, json!({"pizzas": 2, "customer_id": format!("c-race-{i}")}))),
        )
        .await;
        let mut ready = 0;
        for order_id in &placed {
            let order = wait_until_final(system, order_id).await;
            match order["status"].as_str() {
                Some("READY") => ready += 1,
                _ => assert_eq!(order["reason"], "out_of_stock", "{order}"),
            }
        }
        assert!((1..=4).contains(&ready), "{ready} orders ready from 8 units of sauce");

        // Once the compensations have run: every unit is either available or held by a
        // ready order's pizza, and the ready orders hold two of each stage.
        let settled = wait_for_stock(system, |levels| {
            levels.iter().all(|(name, l)| l.available + l.reserved as i64 == initial[name])
                && ["sauce", "cheese", "meat", "veggies"].iter().all(|stage| {
                    let names = menu::ingredients_for(stage).expect("stage");
                    let held: u64 = names.iter().map(|n| levels[*n].reserved - before[*n].reserved).sum();
                    held == 2 * ready
                })
        })
        .await;
        assert!(settled.values().all(|level| level.available >= 0), "oversold: {settled:?}");
        set_stage_stock(system, "sauce", AMPLE_STOCK).await;
    });
}

/// The final state of a run of orders: what a customer, the ledger and the stock room see,
/// without what is drawn at random (order ids, pizza ids, which topping of a stage).
#[derive(Debug, PartialEq)]
struct Outcome {
    orders: BTreeMap<String, Value>,
    payments: BTreeMap<String, Option<PaymentStatus>>,
    /// Units taken per stage (the meat stage aside: it runs out on purpose).
    stock_taken: BTreeMap<String, i64>,
}

/// An order as the API shows it, with what is random left out: its id, and of each pizza
/// its id and toppings, leaving the stages it went through.
fn without_chance(mut order: Value) -> Value {
    if let Some(fields) = order.as_object_mut() {
        fields.remove("created_at");
        fields.remove("order_id");
    }
    let mut pizzas: Vec<Value> = order["pizzas"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|pizza| {
            let stages = pizza["ingredients"].as_array().into_iter().flatten().map(|i| i["stage"].clone());
            Value::Array(stages.collect())
        })
        .collect();
    pizzas.sort_by_key(Value::to_string);
    order["pizzas"] = Value::Array(pizzas);
    order
}

/// A scenario of every kind of order: two stacks running it get the same outcome.
async fn scenario(system: &System, run: &str) -> Outcome {
    let before = system.stock_levels().await;
    system.ledger.set_credit_limit("c-frugal", PIZZA_PRICE_CENTS).await.expect("limit set");
    let mut placed = vec![
        ("ok", order(system, &format!("{run}-ok"), json!({"pizzas": 3, "customer_id": "c-1"})).await),
        (
            "declined",
            order(
                system,
                &format!("{run}-declined"),
                json!({"pizzas": 2, "payment": {"card_token": "tok_chargeDeclined"}}),
            )
            .await,
        ),
        (
            "over-limit",
            order(system, &format!("{run}-over-limit"), json!({"pizzas": 2, "customer_id": "c-frugal"})).await,
        ),
    ];
    for (_, order_id) in &placed {
        wait_until_final(system, order_id).await;
    }
    // Then an order that runs out of meat, and is compensated.
    set_stage_stock(system, "meat", 0).await;
    let hungry = order(system, &format!("{run}-hungry"), json!({"pizzas": 2})).await;
    wait_until_final(system, &hungry).await;
    system.wait_for_order(&hungry, |o| o["refunded_cents"] == o["charged_cents"]).await;
    placed.push(("hungry", hungry));
    let others_restored = |levels: &Levels| {
        let meats = menu::ingredients_for("meat").expect("meat");
        levels.iter().filter(|(name, _)| !meats.contains(&name.as_str())).all(|(name, level)| {
            let used_by_ok = before[name].available - level.available;
            (0..=3).contains(&used_by_ok) && level.reserved >= before[name].reserved
        })
    };
    wait_for_stock(system, others_restored).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    set_stage_stock(system, "meat", AMPLE_STOCK).await;

    let mut orders = BTreeMap::new();
    let mut payments = BTreeMap::new();
    for (name, order_id) in &placed {
        orders.insert(name.to_string(), without_chance(system.get_order(order_id).await.json));
        payments.insert(name.to_string(), payment_status(system, order_id).await);
    }
    let after = system.stock_levels().await;
    let stages = menu::MENU.iter().map(|stage| stage.stage).filter(|stage| *stage != "meat");
    let stock_taken = stages.map(|stage| (stage.to_owned(), taken_by_stage(&before, &after, stage))).collect();
    Outcome { orders, payments, stock_taken }
}

#[test]
fn every_message_delivered_twice_and_shuffled_changes_no_outcome() {
    let (system, chaotic) = (saga(), chaos());
    let _serial = serial();
    let run = Uuid::new_v4().to_string();
    let calm = system.run(scenario(system, &run));
    let storm = chaotic.run(scenario(chaotic, &run));

    assert_eq!(calm.orders["ok"]["status"], "READY");
    assert_eq!(calm.orders["declined"]["reason"], "payment_declined");
    assert_eq!(calm.orders["over-limit"]["reason"], "payment_declined");
    assert_eq!(calm.orders["hungry"]["reason"], "out_of_stock");
    assert_eq!(calm.payments["hungry"], Some(PaymentStatus::Refunded));
    assert_eq!(calm, storm, "the same orders, payments and stock, duplicates or not");
}

#[test]
fn late_and_out_of_order_events_change_nothing() {
    let system = saga();
    let _serial = serial();
    system.run(async {
        let mut payments = Tap::on(system, "PaymentsTopic").await;
        let mut placed = Tap::on(system, "OrdersTopic").await;
        let mut pizzas = Tap::on(system, "PizzaTopic").await;
        let ready_id = order(system, &Uuid::new_v4().to_string(), json!({"pizzas": 1})).await;
        let ready = system.wait_until_ready(&ready_id).await;
        let declined_id = order(
            system,
            &Uuid::new_v4().to_string(),
            json!({"pizzas": 1, "payment": {"card_token": "tok_chargeDeclined"}}),
        )
        .await;
        wait_until_final(system, &declined_id).await;
        let stock = system.stock_levels().await;

        let (paid, paid_message) =
            payments.wait_for(|e| e.correlation_id == ready_id && e.is::<PaymentProcessed>()).await;
        let (_, placed_message) =
            placed.wait_for(|e| e.correlation_id == ready_id && e.event_type == "OrderPlaced").await;
        let declined_uuid: Uuid = declined_id.parse().expect("uuid");
        let mut paid_again = paid.clone();
        paid_again.id = Uuid::new_v4(); // the same fact, published anew: only natural keys can catch it
        let forged_payment = Envelope::new(
            "test",
            declined_id.clone(),
            PaymentProcessed { order_id: declined_uuid, customer_id: "guest".into(), amount_cents: PIZZA_PRICE_CENTS },
        )
        .to_wire();
        let late_pizza = Envelope::new(
            "test",
            declined_id.clone(),
            IngredientAdded {
                order_id: declined_uuid,
                stage: "veggies".into(),
                pizzas_in_order: Some(1),
                pizzas: vec![ToppedPizza { pizza_id: Uuid::new_v4(), ingredients: vec![], journey: vec![] }],
            },
        )
        .to_wire();

        let mut deliveries = system.deliveries();
        let mut sent = vec![
            system.deliver_again("KitchenQueue", &paid_message).await,
            system.deliver_again("PaymentQueue", &placed_message).await,
        ];
        for (queue, event) in
            [("KitchenQueue", &paid_again), ("KitchenQueue", &forged_payment), ("StoreQueue", &late_pizza)]
        {
            let body = serde_json::to_string(event).expect("JSON");
            let output = system
                .sqs
                .send_message()
                .queue_url(&system.queue(queue).url)
                .message_body(body)
                .send()
                .await
                .expect("sent");
            sent.push(output.message_id.unwrap_or_default());
        }
        for handled in wait_for_deliveries(&mut deliveries, &sent).await {
            assert!(handled.succeeded, "{handled:?}");
        }

        let mut again = system.get_order(&ready_id).await.json;
        let mut first = ready.clone();
        for order in [&mut again, &mut first] {
            order.as_object_mut().map(|o| o.remove("created_at"));
        }
        assert_eq!(again, first, "the ready order is untouched");
        let declined = system.get_order(&declined_id).await.json;
        assert_eq!((declined["status"].as_str(), declined["pizzas"].clone()), (Some("CANCELLED"), json!([])));
        assert_eq!(pizzas.count(|e| e.correlation_id == declined_id).await, 0, "the cancelled order was not cooked");
        // Redelivered records publish the very same events again (same ids), which
        // consumers absorb; what must not appear is a new fact.
        let distinct =
            |events: Vec<pizza_events::WireEvent>| events.iter().map(|e| e.id).collect::<BTreeSet<_>>().len();
        let requested = pizzas.all(|e| e.correlation_id == ready_id && e.is::<PizzaRequested>()).await;
        assert_eq!(distinct(requested), 1, "one pizza requested once");
        let processed = payments.all(|e| e.correlation_id == ready_id && e.is::<PaymentProcessed>()).await;
        assert_eq!(distinct(processed), 1, "charged once: the repeated OrderPlaced announced nothing new");
        assert_eq!(payment_status(system, &ready_id).await, Some(PaymentStatus::Charged));
        assert_eq!(system.stock_levels().await, stock);
    });
}
