//! Crash-proofing under load, and healing from AWS's own failures: pizzas by the hundred
//! (200 under `make test`, 1,000 in 100 orders under `make chaos`) while the runner shakes
//! the system and AWS fails it, every decision drawn from one printed seed
//! (`CHAOS_SEED=n` replays a run):
//!
//! - every message is delivered twice, shuffled within its batch, and a share of handled
//!   messages comes back once more, later;
//! - batches are held back at random, so deliveries overtake one another;
//! - function processes die by SIGKILL before their writes, between their writes and their
//!   publish (the API and the relay too), and after answering but before the delete;
//! - the whole runner is killed with every process and started again;
//! - DynamoDB and SNS are out entirely for a while (`CHAOS_OUTAGE_SECONDS`, 200 under
//!   `make chaos`: longer than the old retry budget), then fail 30 % of the functions'
//!   requests in every way AWS does (`CHAOS_STORM_SECONDS`, 120): throttling, 500s,
//!   conflicting and throttled transactions, unprocessed batch keys, lost answers,
//!   partly failed PublishBatch calls.
//!
//! Nobody redrives or replays anything. What must hold when the dust settles is what the
//! saga promises: every order READY or CANCELLED, nobody charged twice or charged for
//! nothing, every unit of stock either available or held by a delivered order, and the
//! dead-letter queues holding only the poison the test put there.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use inventory::StockRoom;
use local_runner::{Chaos, FaultPlan};
use payments::PaymentLedger;
use pizza_events::menu::{self, PIZZA_PRICE_CENTS};
use serde_json::json;
use system_tests::{System, wait_until_quiet};
use uuid::Uuid;

/// 20 orders of 10 pizzas under `make test`; `make chaos` runs 100 (`CHAOS_ORDERS=n`).
const ORDERS: usize = 20;
const PIZZAS_PER_ORDER: u32 = 10;

fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|n| n.parse().ok()).unwrap_or(default)
}

fn orders() -> usize {
    setting("CHAOS_ORDERS", ORDERS as u64) as usize
}
/// Every eighth order is for a customer who cannot pay for it.
const FRUGAL_EVERY: usize = 8;
/// Fewer meats than the pizzas that get paid (a share of each run's): some orders run out
/// and are compensated.
fn meat_units_each(orders: usize) -> u64 {
    (orders as u64 * u64::from(PIZZAS_PER_ORDER)) / 12
}
const PATIENCE: Duration = Duration::from_secs(600);

/// The stack's retries outlast the outage: 24 receives, waiting 1-2 s, then doubling up
/// to 15-30 s, retry a message for 300 to 600 seconds. The reconciler heals an order
/// that stood still for 30 seconds.
const STACK: [(&str, &str); 5] = [
    ("Namespace", "test-crashes-"),
    ("MaxReceiveCount", "24"),
    ("RetryBackoffBaseSeconds", "2"),
    ("RetryBackoffMaxSeconds", "30"),
    ("StalledAfterSeconds", "30"),
];

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
        ..Chaos::default()
    }
}

/// DynamoDB and SNS out for `outage`, then 30 % of their requests failing for `storm`.
fn aws_faults(seed: u64, outage: u64, storm: u64) -> FaultPlan {
    let dynamodb = [
        "throttling",
        "throughput_exceeded",
        "internal_error",
        "transaction_conflict",
        "transaction_throttled",
        "unprocessed",
        "lost_answer",
        "latency",
    ];
    let sns = ["throttling", "internal_error", "partial_batch", "latency"];
    let plan = json!({ "seed": seed, "rules": [
        { "service": "dynamodb", "kinds": ["outage"], "for_seconds": outage },
        { "service": "sns", "kinds": ["outage"], "for_seconds": outage },
        { "service": "dynamodb", "kinds": dynamodb, "rate": 0.3, "latency_ms": 300,
          "after_seconds": outage, "for_seconds": storm },
        { "service": "sns", "kinds": sns, "rate": 0.3, "latency_ms": 300,
          "after_seconds": outage, "for_seconds": storm },
    ]});
    serde_json::from_value(plan).expect("a fault plan")
}

/// Places an order the way a careful client does: with an Idempotency-Key, retrying the
/// same request until it is accepted (a crashed API answers 5xx).
async fn place(system: &System, key: &str, customer: &str) -> String {
    let body = json!({ "pizzas": PIZZAS_PER_ORDER, "customer_id": customer }).to_string();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let headers = [("content-type", "application/json"), ("idempotency-key", key)];
        let reply = system.send_as(customer, "POST", "/orders", &headers, &body).await;
        if reply.status == 202 {
            return reply.json["order_id"].as_str().expect("an order id").to_owned();
        }
        assert!(reply.status >= 500, "{reply:?}");
        assert!(Instant::now() < deadline, "the API never accepted order {key}: {reply:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The orders' statuses, read as an operator does (straight from the table: the API's
/// own reads fail while DynamoDB is out for it).
async fn statuses(system: &System, ids: &[String]) -> BTreeMap<String, usize> {
    let all = system.orders.all_orders().await.expect("orders readable");
    let mut counts = BTreeMap::new();
    for order in all.iter().filter(|o| ids.contains(&o.order_id.to_string())) {
        *counts.entry(order.status.as_str().to_owned()).or_default() += 1;
    }
    counts
}

/// Empties every dead-letter queue of the stack: an earlier run on this emulator may have
/// left letters of its own.
async fn empty_dead_letter_queues(system: &System) {
    for (_, dlq) in system.manifest.dead_letter_queues() {
        system.sqs.purge_queue().queue_url(dlq).send().await.expect("purged");
    }
}

/// A message that is not an event: it must end in the sauce queue's DLQ, alone.
async fn send_poison(system: &System) -> String {
    let poison = format!("chaos poison {}", Uuid::new_v4());
    let sauce = &system.queue("SauceQueue").url;
    system.sqs.send_message().queue_url(sauce).message_body(&poison).send().await.expect("poison sent");
    poison
}

#[test]
fn pizzas_through_crashes_duplicates_and_aws_failures_keep_every_promise_with_nobody_in_the_loop() {
    let chaos = chaos();
    let seed = chaos.seed;
    let mut system = System::start_with_faults("test-crashes", &STACK, chaos);
    let (outage, storm) = (setting("CHAOS_OUTAGE_SECONDS", 20), setting("CHAOS_STORM_SECONDS", 20));
    let meats = menu::ingredients_for("meat").expect("meat");
    let stocked: BTreeMap<String, u64> = menu::all_ingredients()
        .map(|(_, i)| {
            (i.to_owned(), if meats.contains(&i) { meat_units_each(orders()) } else { system_tests::AMPLE_STOCK })
        })
        .collect();
    let run = Uuid::new_v4().simple().to_string();
    // Earlier runs on the same emulator hold reservations of their own: count from them.
    let held_before = system.run(async {
        let levels = system.stock.levels().await.expect("levels");
        levels.into_iter().map(|l| (l.ingredient, l.reserved)).collect::<BTreeMap<_, _>>()
    });
    let (ids, poison) = system.run(async {
        empty_dead_letter_queues(&system).await;
        for (stage, ingredient) in menu::all_ingredients() {
            system.stock.set_stock(stage, ingredient, stocked[ingredient]).await.expect("stocked");
        }
        system.ledger.set_credit_limit("c-frugal", PIZZA_PRICE_CENTS).await.expect("limit set");
        let orders = (0..orders()).map(|i| {
            let customer = if i % FRUGAL_EVERY == 0 { "c-frugal".to_owned() } else { format!("c-{i}") };
            let key = format!("{run}-{i}");
            let system = &system;
            async move { place(system, &key, &customer).await }
        });
        let ids = futures::future::join_all(orders).await;
        (ids, send_poison(&system).await)
    });

    // AWS fails the functions while the kitchen is busy, and every host dies at once.
    system.faults.as_ref().expect("a fault layer").arm(aws_faults(seed, outage, storm)).expect("armed");
    eprintln!("AWS out for {outage}s, then 30 % of requests failing for {storm}s");
    std::thread::sleep(Duration::from_secs(3));
    system.crash_and_restart();
    std::thread::sleep(Duration::from_secs(outage + storm).saturating_sub(Duration::from_secs(3)));
    let faults_ended = Instant::now();
    eprintln!("faults injected: {:?}", system.faults.as_ref().map(|f| f.injected()));

    system.run(async {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let counts = statuses(&system, &ids).await;
            let settled = counts.get("READY").unwrap_or(&0) + counts.get("CANCELLED").unwrap_or(&0);
            if settled == ids.len() {
                break;
            }
            assert!(Instant::now() < deadline, "orders not settled after {PATIENCE:?}: {counts:?}");
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        eprintln!("every order settled {:.1}s after the faults ended", faults_ended.elapsed().as_secs_f64());
        wait_until_quiet(&system, PATIENCE).await;

        let counts = statuses(&system, &ids).await;
        eprintln!("orders: {counts:?}");
        assert!(counts.get("READY").is_some_and(|n| *n > 0), "some orders were delivered: {counts:?}");
        assert!(counts.get("CANCELLED").is_some_and(|n| *n >= orders().div_ceil(FRUGAL_EVERY)), "{counts:?}");

        // The DLQs hold the poison (more than once, if chaos delivered it twice), and
        // nothing that was only bad luck.
        for (queue, _) in system.manifest.dead_letter_queues() {
            let letters = pizza_cli::queues::peek_dead_letters(&system.sqs, queue, 50).await.expect("DLQ readable");
            assert!(letters.iter().all(|l| l.body == poison), "{} dead-lettered {letters:?}", queue.name());
            let poisoned = queue.url == system.queue("SauceQueue").url;
            assert_eq!(!letters.is_empty(), poisoned, "{} dead-lettered {letters:?}", queue.name());
        }
        let relay_gave_up = pizza_cli::queues::depth(&system.sqs, &system.queue("RelayDeadLetterQueue").url)
            .await
            .expect("depth")
            .visible;
        eprintln!("ranges of new orders the relay gave up on (the reconciler announced them): {relay_gave_up}");

        let snapshot = pizza_cli::audit::snapshot(&system).await.expect("snapshot");
        let promises = pizza_cli::audit::Promises {
            healed_within: pizza_cli::audit::promised_healing(&system.manifest),
            ..pizza_cli::audit::Promises::default()
        };
        let report = pizza_cli::audit::audit(&snapshot, promises);
        eprintln!("audit: {report}");
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
    let injected = system.faults.as_ref().map(|f| f.injected()).unwrap_or_default();
    // DynamoDB refuses every write during the outage (SNS is out too, but with the writes
    // before it failing, a short outage may see no publish at all).
    assert!(injected.get("dynamodb:outage").is_some_and(|n| *n > 0), "DynamoDB was out: {injected:?}");
    let storm: u64 = injected.iter().filter(|(kind, _)| !kind.ends_with(":outage")).map(|(_, n)| n).sum();
    assert!(storm > 0, "requests failed after the outage too: {injected:?}");
}

/// A runner whose first process of `function` dies at `point`; later ones are clean.
fn crashing_once(stack: &str, function: &str, point: &str) -> System {
    let chaos =
        Chaos { first_process_faults: [(function.to_owned(), format!("{point}=1"))].into(), ..Chaos::default() };
    System::start_with(stack, &[("Namespace", &format!("{stack}-"))], chaos)
}

fn crashes_of(system: &System, function: &str) -> u64 {
    system.stats().iter().find(|s| s.function == function).map_or(0, |s| s.crashes)
}

#[test]
fn an_api_that_dies_between_its_write_and_the_publish_still_gets_the_order_cooked() {
    let system = crashing_once("test-api-crash", "ApiFunction", "after_write");
    system.run(async {
        let ids = |orders: Vec<orders::Order>| {
            orders.into_iter().map(|o| o.order_id).collect::<std::collections::BTreeSet<_>>()
        };
        let earlier = ids(system.orders.all_orders().await.expect("orders"));
        let reply = system.post_order(r#"{"pizzas": 3}"#).await;
        // The client sees the crash and does not retry: the order was stored with its
        // announcement, and the relay publishes it.
        assert!(reply.status >= 500, "the first API process died: {reply:?}");
        assert_eq!(crashes_of(&system, "ApiFunction"), 1);
        let placed: Vec<_> =
            ids(system.orders.all_orders().await.expect("orders")).difference(&earlier).copied().collect();
        assert_eq!(placed.len(), 1, "the order was stored before the crash");
        let order_id = placed[0].to_string();
        let order = system.wait_until_ready(&order_id).await;
        assert_eq!(order["pizzas"].as_array().map(Vec::len), Some(3));
        assert_eq!(order["charged_cents"], order["amount_cents"]);
    });
}

#[test]
fn a_stage_that_dies_between_its_write_and_its_publish_completes_each_pizza_once() {
    let system = crashing_once("test-stage-crash", "SauceFunction", "after_write");
    system.run(async {
        let before = system.stock_levels().await;
        let order_id = system.place_order(4).await;
        let order = system.wait_until_ready(&order_id).await;
        assert_eq!(crashes_of(&system, "SauceFunction"), 1, "the first sauce process died after its write");
        let pizzas = order["pizzas"].as_array().expect("pizzas");
        assert_eq!(pizzas.len(), 4);
        assert!(pizzas.iter().all(|p| p["sauce"].is_string()));
        // The retry found its reservations and passed the same sauces on: one unit each.
        let sauces = menu::ingredients_for("sauce").expect("sauce");
        let after = system.stock_levels().await;
        let taken: i64 = sauces.iter().map(|s| before[*s].available - after[*s].available).sum();
        assert_eq!(taken, 4, "one sauce per pizza, though the stage wrote, died and ran again");
    });
}
