//! Crash-proofing under load: a thousand pizzas while the runner shakes the system, every
//! decision drawn from one printed seed (`CHAOS_SEED=n` replays a run):
//!
//! - every message is delivered twice, shuffled within its batch, and a share of handled
//!   messages comes back once more, later;
//! - batches are held back at random, so deliveries overtake one another;
//! - function processes die by SIGKILL before their writes, between their writes and their
//!   publish (the API and the relay too), and after answering but before the delete;
//! - halfway through, the whole runner is killed with every process and started again.
//!
//! What must hold when the dust settles is what the saga promises: every order READY or
//! CANCELLED, nobody charged twice or charged for nothing, every unit of stock either
//! available or held by a delivered order.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use inventory::StockRoom;
use local_runner::Chaos;
use payments::PaymentLedger;
use pizza_events::menu::{self, PIZZA_PRICE_CENTS};
use serde_json::json;
use system_tests::{System, wait_until_quiet};
use uuid::Uuid;

/// 40 orders of 25 pizzas; `CHAOS_ORDERS=n` runs another number of orders.
const ORDERS: usize = 40;
const PIZZAS_PER_ORDER: u32 = 25;

fn orders() -> usize {
    std::env::var("CHAOS_ORDERS").ok().and_then(|n| n.parse().ok()).unwrap_or(ORDERS)
}
/// Every eighth order is for a customer who cannot pay for it.
const FRUGAL_EVERY: usize = 8;
/// Fewer meats than pizzas that get paid: some orders run out and are compensated.
const MEAT_UNITS_EACH: u64 = 70;
const PATIENCE: Duration = Duration::from_secs(600);

fn chaos() -> Chaos {
    let seed = std::env::var("CHAOS_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default()
    });
    eprintln!("chaos seed {seed} (CHAOS_SEED={seed} replays this run)");
    Chaos {
        seed,
        duplicate: true,
        redeliver: 0.05,
        max_delay: Duration::from_millis(40),
        kill_before_write: 0.02,
        kill_after_write: 0.03,
        kill_before_delete: 0.02,
    }
}

/// Places an order the way a careful client does: with an Idempotency-Key, retrying the
/// same request until it is accepted (a crashed API answers 5xx).
async fn place(system: &System, key: &str, customer: &str) -> String {
    let body = json!({ "pizzas": PIZZAS_PER_ORDER, "customer_id": customer }).to_string();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let reply = system
            .send("POST", "/orders", &[("content-type", "application/json"), ("idempotency-key", key)], &body)
            .await;
        if reply.status == 202 {
            return reply.json["order_id"].as_str().expect("an order id").to_owned();
        }
        assert!(reply.status >= 500, "{reply:?}");
        assert!(Instant::now() < deadline, "the API never accepted order {key}: {reply:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn statuses(system: &System, ids: &[String]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for id in ids {
        let status = system.wait_for_order(id, |o| o["status"].is_string()).await["status"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        *counts.entry(status).or_default() += 1;
    }
    counts
}

/// Sends every dead letter back to its queue, as an operator would; returns how many.
async fn redrive_everything(system: &System) -> usize {
    let mut moved = 0;
    for (queue, _) in system.manifest.dead_letter_queues() {
        moved += pizza_cli::queues::redrive(&system.sqs, queue).await.expect("redrive");
    }
    moved
}

#[test]
fn a_thousand_pizzas_through_crashes_and_duplicates_keep_every_promise() {
    let mut system = System::start_with("test-crashes", &[("Namespace", "test-crashes-")], chaos());
    let meats = menu::ingredients_for("meat").expect("meat");
    let stocked: BTreeMap<String, u64> = menu::all_ingredients()
        .map(|i| (i.to_owned(), if meats.contains(&i) { MEAT_UNITS_EACH } else { system_tests::AMPLE_STOCK }))
        .collect();
    let run = Uuid::new_v4().simple().to_string();
    // Earlier runs on the same emulator hold reservations of their own: count from them.
    let held_before = system.run(async {
        let levels = system.stock.levels().await.expect("levels");
        levels.into_iter().map(|l| (l.ingredient, l.reserved)).collect::<BTreeMap<_, _>>()
    });
    let ids = system.run(async {
        for (ingredient, units) in &stocked {
            system.stock.set_stock(ingredient, *units).await.expect("stocked");
        }
        system.ledger.set_credit_limit("c-frugal", PIZZA_PRICE_CENTS).await.expect("limit set");
        let orders = (0..orders()).map(|i| {
            let customer = if i % FRUGAL_EVERY == 0 { "c-frugal".to_owned() } else { format!("c-{i}") };
            let key = format!("{run}-{i}");
            let system = &system;
            async move { place(system, &key, &customer).await }
        });
        futures::future::join_all(orders).await
    });

    // Every host dies at once while the kitchen is busy; the runner comes back.
    std::thread::sleep(Duration::from_secs(3));
    system.crash_and_restart();

    system.run(async {
        let deadline = Instant::now() + PATIENCE;
        let mut redriven = 0;
        loop {
            let counts = statuses(&system, &ids).await;
            let settled = counts.get("READY").unwrap_or(&0) + counts.get("CANCELLED").unwrap_or(&0);
            if settled == ids.len() {
                break;
            }
            assert!(Instant::now() < deadline, "orders not settled after {PATIENCE:?}: {counts:?}");
            // A batch that crashed on every receive is dead-lettered; an operator redrives.
            redriven += redrive_everything(&system).await;
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
        wait_until_quiet(&system, PATIENCE).await;
        // Compensations may have dead-lettered late: redrive and settle again.
        while redrive_everything(&system).await > 0 {
            redriven += 1;
            wait_until_quiet(&system, PATIENCE).await;
        }

        let counts = statuses(&system, &ids).await;
        eprintln!("orders: {counts:?}; dead letters redriven: {redriven}");
        assert!(counts.get("READY").is_some_and(|n| *n > 0), "some orders were delivered: {counts:?}");
        assert!(counts.get("CANCELLED").is_some_and(|n| *n >= orders().div_ceil(FRUGAL_EVERY)), "{counts:?}");

        let snapshot = pizza_cli::audit::snapshot(&system).await.expect("snapshot");
        let report = pizza_cli::audit::audit(&snapshot, None);
        assert!(report.is_clean(), "{:#?}", report.violations);
        assert_eq!(report.in_progress, 0);
        let held_before_of = |ingredient: &str| held_before.get(ingredient).copied().unwrap_or(0);
        for level in &snapshot.levels {
            let reserved_now = level.reserved - held_before_of(&level.ingredient);
            let stocked = stocked[&level.ingredient] as i64;
            assert_eq!(level.available + reserved_now as i64, stocked, "{} leaked", level.ingredient);
        }
        let ready_pizzas = u64::from(PIZZAS_PER_ORDER) * *counts.get("READY").unwrap_or(&0) as u64;
        let reserved: u64 = snapshot.levels.iter().map(|l| l.reserved - held_before_of(&l.ingredient)).sum();
        assert_eq!(reserved, ready_pizzas * 4, "four units held per delivered pizza, none for cancelled ones");
    });

    let stats = system.stats();
    let crashes: u64 = stats.iter().map(|s| s.crashes).sum();
    eprintln!("{stats:#?}");
    assert!(crashes > 0, "the run killed processes: {stats:?}");
}
