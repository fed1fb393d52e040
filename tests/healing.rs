//! The system heals itself from AWS's own failures, with nobody in the loop: each test
//! arms the fault layer between the functions and the emulator to fail the way AWS fails
//! (throttling, conflicts, partial batches, lost answers, outages), then checks that the
//! orders end right and that nothing was dead-lettered that was only bad luck.
//!
//! The tests share one stack and run one at a time (`serial`): a fault aimed at one
//! function must not land on another test's order.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use inventory::StockRoom;
use local_runner::{Chaos, FaultPlan};
use payments::{PaymentLedger, PaymentStatus};
use pizza_events::menu::{self, PIZZA_PRICE_CENTS};
use serde_json::{Value, json};
use system_tests::{AMPLE_STOCK, System};
use uuid::Uuid;

static HEALING: OnceLock<System> = OnceLock::new();
static SERIAL: Mutex<()> = Mutex::new(());

/// Thirty receives at a 1–4 s backoff retry a record for about a minute: longer than any
/// outage below, which the old budget (three receives) did not outlast. The reconciler
/// heals an order that stood still for ten seconds.
fn system() -> &'static System {
    HEALING.get_or_init(|| {
        System::start_with_faults(
            "test-healing",
            &[("Namespace", "test-healing-"), ("MaxReceiveCount", "30"), ("StalledAfterSeconds", "10")],
            Chaos::default(),
        )
    })
}

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn arm(system: &System, rules: Value) {
    let plan: FaultPlan = serde_json::from_value(json!({ "seed": 7, "rules": rules })).expect("a fault plan");
    system.faults.as_ref().expect("a fault layer").arm(plan).expect("armed");
}

fn disarm(system: &System) {
    system.faults.as_ref().expect("a fault layer").disarm();
}

fn injected(system: &System) -> BTreeMap<String, u64> {
    system.faults.as_ref().expect("a fault layer").injected()
}

/// How many faults of `label` (`dynamodb:throttling`) were injected since `before`.
fn injected_since(system: &System, before: &BTreeMap<String, u64>, label: &str) -> u64 {
    injected(system).get(label).copied().unwrap_or(0) - before.get(label).copied().unwrap_or(0)
}

async fn wait_until_final(system: &System, order_id: &str) -> Value {
    system.wait_for_order(order_id, |o| o["status"] == "READY" || o["status"] == "CANCELLED").await
}

/// Every dead-letter queue of the stack is empty: nothing was given up on.
async fn assert_nothing_dead_lettered(system: &System) {
    for (queue, _) in system.manifest.dead_letter_queues() {
        let letters = pizza_cli::queues::peek_dead_letters(&system.sqs, queue, 10).await.expect("DLQ readable");
        assert!(letters.is_empty(), "{} dead-lettered {letters:?}", queue.name());
    }
}

#[test]
fn a_credit_limit_read_left_unprocessed_three_times_is_asked_again_until_it_is_read() {
    let system = system();
    let _serial = serial();
    let before = injected(system);
    arm(
        system,
        json!([{ "service": "dynamodb", "operations": ["BatchGetItem"], "caller": "PaymentFunction",
                 "kinds": ["unprocessed"], "times": 3 }]),
    );
    system.run(async {
        let order_id = system.place_order(2).await;
        let order = system.wait_until_ready(&order_id).await;
        assert_eq!(order["charged_cents"], 2 * PIZZA_PRICE_CENTS);
        assert_eq!(injected_since(system, &before, "dynamodb:unprocessed"), 3);
        assert_nothing_dead_lettered(system).await;
    });
    disarm(system);
}

#[test]
fn a_credit_limit_read_never_answered_in_full_stops_asking_and_the_charge_waits_for_it() {
    let system = system();
    let _serial = serial();
    let before = injected(system);
    let payments_before = invocations(system, "PaymentFunction");
    arm(
        system,
        json!([{ "service": "dynamodb", "operations": ["BatchGetItem"], "caller": "PaymentFunction",
                 "kinds": ["unprocessed"] }]),
    );
    system.run(async {
        let order_id = system.place_order(1).await;
        // Several invocations try, each asking a bounded number of times, then backing off.
        let deadline = Instant::now() + system_tests::PATIENCE;
        while invocations(system, "PaymentFunction") < payments_before + 3 {
            assert!(Instant::now() < deadline, "the payment was not retried");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let status = system.get_order(&order_id).await.json["status"].clone();
        assert_eq!(status, "PLACED", "nothing is charged without the customer's limit");
        disarm(system);
        let tries = invocations(system, "PaymentFunction") - payments_before;
        let asked = injected_since(system, &before, "dynamodb:unprocessed");
        assert!(asked <= 6 * tries, "at most six reads an invocation: {asked} in {tries} invocations");
        system.wait_until_ready(&order_id).await;
        assert_nothing_dead_lettered(system).await;
    });
}

fn invocations(system: &System, function: &str) -> u64 {
    system.stats().iter().find(|s| s.function == function).map_or(0, |s| s.invocations)
}

#[test]
fn a_stock_transaction_cancelled_for_conflicts_and_throttling_commits_once_in_the_end() {
    let system = system();
    let _serial = serial();
    let before = injected(system);
    // More cancellations than the adapter's own conflict retries: the queue retries too.
    arm(
        system,
        json!([{ "service": "dynamodb", "operations": ["TransactWriteItems"], "caller": "SauceFunction",
                 "kinds": ["transaction_conflict", "transaction_throttled"], "times": 12 }]),
    );
    system.run(async {
        let levels = system.stock_levels().await;
        let order_id = system.place_order(3).await;
        let order = system.wait_until_ready(&order_id).await;
        assert_eq!(order["pizzas"].as_array().map(Vec::len), Some(3));
        assert_eq!(
            injected_since(system, &before, "dynamodb:transaction_conflict")
                + injected_since(system, &before, "dynamodb:transaction_throttled"),
            12
        );
        let after = system.stock_levels().await;
        let sauces = menu::ingredients_for("sauce").expect("sauce");
        let taken: i64 = sauces.iter().map(|s| levels[*s].available - after[*s].available).sum();
        assert_eq!(taken, 3, "one sauce a pizza, however often the transaction was cancelled");
        assert_nothing_dead_lettered(system).await;
    });
    disarm(system);
}

#[test]
fn a_cancellation_whose_announcement_fails_for_longer_than_the_old_budget_is_still_compensated() {
    let system = system();
    let _serial = serial();
    let orders_topic = system.topic("OrdersTopic").to_owned();
    system.run(async {
        // One ham for a three-pizza order: it runs out, and is cancelled while charged.
        for meat in menu::ingredients_for("meat").expect("meat") {
            system.stock.set_stock("meat", meat, 0).await.expect("stock set");
        }
        system.stock.set_stock("meat", "ham", 1).await.expect("one ham");
        let levels = system.stock_levels().await;
        // Nothing the order service says on the orders topic gets out for 20 seconds.
        arm(
            system,
            json!([{ "service": "sns", "resource": orders_topic, "caller": "OrderFunction",
                     "kinds": ["internal_error", "throttling", "partial_batch"], "for_seconds": 20 }]),
        );
        let order_id = system.place_order(3).await;
        let order = wait_until_final(system, &order_id).await;
        assert_eq!(order["status"], "CANCELLED");
        let amount = 3 * PIZZA_PRICE_CENTS;
        let refunded = system.wait_for_order(&order_id, |o| o["refunded_cents"] == amount).await;
        assert_eq!(refunded["charged_cents"], amount);
        let order_uuid: Uuid = order_id.parse().expect("uuid");
        let payment = system.ledger.find(order_uuid).await.expect("reads").expect("a payment");
        assert_eq!(payment.status, PaymentStatus::Refunded);
        let deadline = Instant::now() + system_tests::PATIENCE;
        while system.stock_levels().await != levels {
            assert!(Instant::now() < deadline, "the reservations were not all given back");
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        assert!(injected(system).keys().any(|k| k.starts_with("sns:")), "the announcement did fail");
        assert_nothing_dead_lettered(system).await;
        for meat in menu::ingredients_for("meat").expect("meat") {
            system.stock.set_stock("meat", meat, AMPLE_STOCK).await.expect("stock set");
        }
    });
    disarm(system);
}

#[test]
fn an_order_whose_completion_fails_after_its_last_pizza_is_completed_once_the_table_answers() {
    let system = system();
    let _serial = serial();
    let before = injected(system);
    // For ten seconds the order service's completion of an order (the update that moves it
    // to READY: on its own, or with the last pizzas when one batch brings them all) is
    // throttled, fails, or is applied and its answer lost. Storing pizzas that complete
    // nothing goes through.
    arm(
        system,
        json!([{ "service": "dynamodb", "operations": ["UpdateItem"], "caller": "OrderFunction",
                 "contains": "#status = :ready",
                 "kinds": ["throttling", "internal_error", "lost_answer"], "for_seconds": 10 }]),
    );
    system.run(async {
        let order_id = system.place_order(2).await;
        let order = system.wait_until_ready(&order_id).await;
        assert_eq!(order["pizzas"].as_array().map(Vec::len), Some(2));
        let failed_completions: u64 = ["throttling", "internal_error", "lost_answer"]
            .iter()
            .map(|kind| injected_since(system, &before, &format!("dynamodb:{kind}")))
            .sum();
        assert!(failed_completions > 0, "the completion did fail");
        assert_nothing_dead_lettered(system).await;
    });
    disarm(system);
}

#[test]
fn an_order_the_relay_gave_up_on_is_announced_again_by_the_reconciler() {
    let system = system();
    let _serial = serial();
    let relay_dlq = system.queue("RelayDeadLetterQueue").url.clone();
    // SNS refuses the relay until it has given up, after its ten stream retries. (And the
    // reconciler, so that the test sees the order stuck before it is healed.)
    arm(
        system,
        json!([
            { "service": "sns", "caller": "RelayFunction", "kinds": ["internal_error", "throttling"] },
            { "service": "sns", "caller": "ReconcilerFunction", "kinds": ["internal_error"] }
        ]),
    );
    system.run(async {
        let order_id = system.place_order(2).await;
        // Each of the relay's tries waits out the SDK's own retries first.
        let deadline = Instant::now() + 3 * system_tests::PATIENCE;
        loop {
            let depth = pizza_cli::queues::depth(&system.sqs, &relay_dlq).await.expect("depth");
            if depth.visible > 0 {
                break;
            }
            assert!(Instant::now() < deadline, "the relay never gave up");
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        assert_eq!(system.get_order(&order_id).await.json["status"], "PLACED", "nobody heard of the order");
        disarm(system);
        // Nobody redrives anything: the reconciler finds the order standing still.
        let order = system.wait_until_ready(&order_id).await;
        assert_eq!(order["charged_cents"], 2 * PIZZA_PRICE_CENTS);
        drain(system, &relay_dlq).await;
    });
    disarm(system);
}

/// Empties a queue (the relay's record of what it gave up on, once the test has seen it).
async fn drain(system: &System, queue_url: &str) {
    system.sqs.purge_queue().queue_url(queue_url).send().await.expect("purged");
}

#[test]
fn an_operator_can_republish_what_the_relay_gave_up_on_without_waiting_for_the_reconciler() {
    let system = system();
    let _serial = serial();
    let relay_dlq = system.queue("RelayDeadLetterQueue").url.clone();
    let reconciler_down = json!({ "service": "sns", "caller": "ReconcilerFunction", "kinds": ["internal_error"] });
    arm(
        system,
        json!([{ "service": "sns", "caller": "RelayFunction", "kinds": ["internal_error"] }, reconciler_down.clone()]),
    );
    system.run(async {
        let order_id = system.place_order(1).await;
        let deadline = Instant::now() + 3 * system_tests::PATIENCE;
        while pizza_cli::queues::depth(&system.sqs, &relay_dlq).await.expect("depth").visible == 0 {
            assert!(Instant::now() < deadline, "the relay never gave up");
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        // SNS answers the relay again, but the reconciler stays silent: only the operator helps.
        arm(system, json!([reconciler_down]));
        let republished = pizza_cli::outbox::republish(system).await.expect("republished");
        assert!(republished.ranges >= 1 && republished.events >= 1, "{republished:?}");
        assert!(republished.moved_on.is_empty(), "the order waited unpaid: {republished:?}");
        system.wait_until_ready(&order_id).await;
        let left = pizza_cli::queues::depth(&system.sqs, &relay_dlq).await.expect("depth");
        assert_eq!(left.visible + left.in_flight, 0, "the ranges left the relay's dead-letter queue");
    });
    disarm(system);
}
