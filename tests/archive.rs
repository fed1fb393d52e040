//! The event archive, the bus's durable log: SNS delivers the order topics' events and the
//! kitchen's last to the archive's Firehose stream, which writes them to S3; each finished
//! pizza carries its earlier events, so an order's whole causal chain is found there,
//! `trace` draws it, and `replay` brings an order whose message was lost downstream to its
//! end, while a replay of a finished order changes nothing and draws the same waterfall.

use std::collections::{BTreeMap, HashSet};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use event_archive::{Archived, Timeline};
use inventory::StockRoom;
use orders::{OrderDesk, OrderStatus};
use payments::PaymentLedger;
use pizza_cli::{audit, replay};
use pizza_events::catalogue::IngredientAdded;
use system_tests::{AMPLE_STOCK, PATIENCE, System, shared_system, wait_until_quiet};
use uuid::Uuid;

static SYSTEM: OnceLock<System> = OnceLock::new();
static HOLDING_VEGGIES: OnceLock<System> = OnceLock::new();

fn system() -> &'static System {
    shared_system(&SYSTEM, "test-archive", &[("Namespace", "test-archive-"), ("EventArchive", "enabled")])
}

async fn history(system: &System, order_id: &str) -> Vec<Archived> {
    system.order_history(order_id).await.expect("the archive answers")
}

/// The order's history once `copies` copies of its last event are archived.
async fn archived_through(system: &System, order_id: &str, last_type: &str, copies: usize) -> Vec<Archived> {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let history = history(system, order_id).await;
        if history.iter().filter(|a| a.event.event_type == last_type).count() >= copies {
            return history;
        }
        assert!(Instant::now() < deadline, "{last_type} of {order_id} was not archived in {PATIENCE:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[test]
fn an_orders_timeline_holds_its_whole_causal_chain_each_event_once() {
    const PIZZAS: usize = 4;
    let system = system();
    system.run(async {
        let order_id = system.place_order(PIZZAS as u32).await;
        system.wait_until_ready(&order_id).await;
        archived_through(system, &order_id, "OrderConfirmed", 1).await;
        wait_until_quiet(system, PATIENCE).await;
        let history = history(system, &order_id).await;
        let timeline = Timeline::of(&order_id, &history);

        assert_eq!(timeline.outcome.as_deref(), Some("READY"));
        let stages = ["sauce", "cheese", "meat", "veggies"];
        let expected = [
            (("OrderPlaced", None), 1),
            (("PaymentProcessed", None), 1),
            (("PizzaRequested", None), PIZZAS),
            (("OrderConfirmed", None), 1),
        ];
        for ((event_type, stage), count) in &expected {
            assert_eq!(timeline.count(event_type, *stage), *count, "{event_type} {stage:?}");
        }
        // Each stage announces the order's pizzas of its batch together: however its
        // batches fell, its events carry each pizza once.
        let mut total: usize = expected.iter().map(|(_, n)| n).sum();
        for stage in stages {
            let events = timeline.count("IngredientAdded", Some(stage));
            assert!((1..=PIZZAS).contains(&events), "{stage}: {events} events");
            assert_eq!(timeline.pizzas("IngredientAdded", Some(stage)), PIZZAS, "{stage} carried every pizza once");
            total += events;
        }
        assert_eq!(timeline.events.len(), total, "no other event, and every one once: {:#?}", timeline.groups);
        let ids: HashSet<Uuid> = timeline.events.iter().map(|e| e.id).collect();
        assert_eq!(ids.len(), total, "each event archived once");

        // Every parent exists, and each event's parent is the step before it.
        assert!(timeline.missing_parents.is_empty(), "causes not archived: {:?}", timeline.missing_parents);
        let by_id: BTreeMap<Uuid, &event_archive::timeline::Step> = timeline.events.iter().map(|e| (e.id, e)).collect();
        let parent_of = |step: &event_archive::timeline::Step| step.parent.and_then(|p| by_id.get(&p).copied());
        for step in &timeline.events {
            let parent = parent_of(step);
            let expected_parent = match (step.event_type.as_str(), step.detail.as_deref()) {
                ("OrderPlaced", _) => None,
                ("PaymentProcessed", _) => Some(("OrderPlaced", None)),
                ("PizzaRequested", _) => Some(("PaymentProcessed", None)),
                ("IngredientAdded", Some("sauce")) => Some(("PizzaRequested", None)),
                ("IngredientAdded", Some("cheese")) => Some(("IngredientAdded", Some("sauce"))),
                ("IngredientAdded", Some("meat")) => Some(("IngredientAdded", Some("cheese"))),
                ("IngredientAdded", Some("veggies")) => Some(("IngredientAdded", Some("meat"))),
                ("OrderConfirmed", _) => Some(("IngredientAdded", Some("veggies"))),
                other => panic!("unexpected event {other:?}"),
            };
            let actual = parent.map(|p| (p.event_type.as_str(), p.detail.as_deref()));
            assert_eq!(actual, expected_parent, "the parent of {}", step.label());
            if let Some(parent) = parent {
                assert!(parent.occurred_at <= step.occurred_at, "a cause precedes its effect");
            }
        }
        let path: Vec<String> = timeline.critical_path.iter().map(|&i| timeline.events[i].event_type.clone()).collect();
        assert_eq!(path.first().map(String::as_str), Some("OrderPlaced"));
        assert_eq!(path.last().map(String::as_str), Some("OrderConfirmed"));
        assert_eq!(path.len(), 8, "placed, paid, requested, four stages, confirmed: {path:?}");

        // The archive holds the order's events and the last stage's; the request and the
        // earlier stages are the journeys those carry, drawn but not archived.
        let archived: BTreeMap<&str, usize> = history.iter().fold(BTreeMap::new(), |mut counts, a| {
            *counts.entry(a.event.source.as_str()).or_default() += 1;
            counts
        });
        let veggies = timeline.count("IngredientAdded", Some("veggies"));
        assert_eq!(archived.get("veggies"), Some(&veggies), "the last stage's events: {archived:?}");
        for earlier in ["sauce", "cheese", "meat"] {
            assert_eq!(archived.get(earlier), None, "{earlier}'s events are carried, not archived: {archived:?}");
            let carried: Vec<_> = timeline.events.iter().filter(|e| e.service == earlier && e.carried).collect();
            assert_eq!(carried.len(), timeline.count("IngredientAdded", Some(earlier)), "{earlier}: all carried");
            assert_eq!(carried.iter().map(|e| e.pizzas).sum::<usize>(), PIZZAS, "{earlier}: each pizza's hop");
        }
        assert!(!history.iter().any(|a| a.event.event_type == "PizzaRequested"), "requests are carried too");
        let topics: HashSet<&String> = system.manifest.topics.values().collect();
        assert!(history.iter().all(|a| topics.contains(&a.topic)), "each event keeps the topic it went to");
        assert!(history.iter().all(|a| a.traceparent.is_some()), "and its trace");
        let text = pizza_cli::commands::trace::text::text(&timeline, false);
        let folded = text.lines().find(|l| l.contains("IngredientAdded (veggies) · veggies")).expect("a veggies line");
        let counts: Vec<String> =
            folded.rsplit("veggies").next().unwrap_or_default().split_whitespace().take(2).map(str::to_owned).collect();
        assert_eq!(counts, [veggies.to_string(), PIZZAS.to_string()], "one line per stage, its events' pizzas: {text}");
    });
}

/// What a replay must not change: the order and its pizzas, its payment, the stock it
/// holds. (Not the stock levels: other tests cook on this stack meanwhile.)
async fn settled_state(system: &System, order_id: Uuid) -> String {
    let order = system.orders.find(order_id).await.expect("reads").expect("the order");
    let mut pizzas: Vec<String> = order.pizzas.iter().map(|p| format!("{p:?}")).collect();
    pizzas.sort();
    let payment = system.ledger.find(order_id).await.expect("reads");
    let mut held: Vec<String> = system
        .stock
        .reservations()
        .await
        .expect("reads")
        .iter()
        .filter(|h| h.order_id == order_id)
        .map(|h| format!("{h:?}"))
        .collect();
    held.sort();
    assert!(!held.is_empty(), "a READY order holds the stock of its pizzas");
    format!("{:?}\n{pizzas:?}\n{payment:?}\n{held:?}", order.order)
}

#[test]
fn a_replay_of_a_ready_order_changes_nothing() {
    let system = system();
    system.run(async {
        let order_id = system.place_order(2).await;
        system.wait_until_ready(&order_id).await;
        let history = archived_through(system, &order_id, "OrderConfirmed", 1).await;
        wait_until_quiet(system, PATIENCE).await;
        let id: Uuid = order_id.parse().expect("an order id");
        let before = settled_state(system, id).await;
        let first = Timeline::of(&order_id, &history);

        let mut deliveries = system.deliveries();
        let events = replay::select(&history, None).expect("events");
        let sent = replay::replay(&system.bus, &events).await.expect("replayed");
        let archived_once = first.events.iter().filter(|e| !e.carried).count();
        assert_eq!(sent.len(), archived_once, "each archived event once");
        wait_until_quiet(system, PATIENCE).await;
        let mut redelivered = 0;
        while let Ok(delivery) = deliveries.try_recv() {
            let finished = pizza_events::WireEvent::from_json(&delivery.body)
                .ok()
                .filter(|e| e.correlation_id == order_id)
                .and_then(|e| e.decode::<IngredientAdded>().ok());
            if let (Some(finished), "OrderFunction") = (finished, delivery.function.as_str()) {
                assert!(delivery.succeeded, "a replayed event is handled, not failed");
                redelivered += finished.data.pizzas.len();
            }
        }
        assert_eq!(redelivered, 2, "the store got both finished pizzas again");
        assert_eq!(settled_state(system, id).await, before, "nothing changed");

        // The archive now holds every archived event twice; the waterfall draws each once,
        // where it first was, along the causal chain, and marks the replay on the events
        // announced again (not on the hops their journeys carry).
        let replayed = archived_through(system, &order_id, "OrderConfirmed", 2).await;
        let again = Timeline::of(&order_id, &replayed);
        assert_eq!(again.events.len(), first.events.len());
        assert_eq!(again.duration_ms(), first.duration_ms(), "timed by the first copies");
        for (index, group) in again.groups.iter().enumerate() {
            let carried = again.events.iter().any(|e| e.group == index && e.carried);
            assert_eq!(group.reannounced, if carried { 0 } else { group.count }, "{:#?}", again.groups);
        }
        let svg = pizza_cli::commands::trace::svg::waterfall(&again);
        let rows: Vec<usize> = [
            "OrderPlaced",
            "PaymentProcessed",
            "PizzaRequested",
            "(sauce)",
            "(cheese)",
            "(meat)",
            "(veggies)",
            "OrderConfirmed",
        ]
        .iter()
        .map(|label| svg.find(label).unwrap_or_else(|| panic!("{label} is drawn")))
        .collect();
        assert!(rows.windows(2).all(|w| w[0] < w[1]), "rows along the causal chain: {svg}");
    });
}

#[test]
fn a_replay_brings_an_order_whose_message_was_lost_to_ready() {
    const PIZZAS: u32 = 3;
    let system = HOLDING_VEGGIES.get_or_init(|| {
        // A stack of its own each run: the audit counts every unit of its stock.
        let stack = format!("test-replay-{}", &Uuid::new_v4().simple().to_string()[..8]);
        let namespace = format!("{stack}-");
        System::start_holding(&stack, &[("Namespace", &namespace), ("EventArchive", "enabled")], &["VeggiesQueue"])
    });
    system.run(async {
        let order_id = system.place_order(PIZZAS).await;
        let id: Uuid = order_id.parse().expect("an order id");
        // Every pizza waits in the held veggies queue (once meat has topped them all and its
        // queue is empty, its events are out); an operator deletes one message by hand, and
        // with it the pizzas it carries.
        let veggies = system.queue("VeggiesQueue").url.clone();
        let meat = system.queue("MeatQueue").url.clone();
        let deadline = Instant::now() + PATIENCE;
        loop {
            let held = system.stock.reservations().await.expect("reads");
            let topped = held.iter().filter(|h| h.order_id == id && h.stage == "meat").count();
            let depth = pizza_cli::queues::depth(&system.sqs, &meat).await.expect("depth");
            if topped == PIZZAS as usize && depth.visible + depth.in_flight == 0 {
                break;
            }
            assert!(Instant::now() < deadline, "the pizzas did not reach the veggies queue");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let taken =
            system.sqs.receive_message().queue_url(&veggies).max_number_of_messages(1).send().await.expect("receives");
        let lost = taken.messages().first().expect("a message");
        let lost_event = pizza_events::WireEvent::from_json(lost.body().unwrap_or_default()).expect("an event");
        let lost_pizzas = lost_event.decode::<IngredientAdded>().expect("a stage's event").data.pizzas.len();
        system
            .sqs
            .delete_message()
            .queue_url(&veggies)
            .receipt_handle(lost.receipt_handle().expect("a receipt"))
            .send()
            .await
            .expect("deletes");
        system.release("VeggiesQueue");
        wait_until_quiet(system, PATIENCE).await;
        let stalled = system.orders.find(id).await.expect("reads").expect("the order");
        assert_eq!(stalled.order.status, OrderStatus::Cooking, "the order stalls");
        assert_eq!(stalled.pizzas.len(), PIZZAS as usize - lost_pizzas);

        let history = history(system, &order_id).await;
        let sent = replay::replay(&system.bus, &replay::select(&history, None).expect("events")).await.expect("sent");
        assert!(sent.len() >= history.len());
        let order = system.wait_until_ready(&order_id).await;
        assert_eq!(order["pizzas"].as_array().map(Vec::len), Some(PIZZAS as usize));
        wait_until_quiet(system, PATIENCE).await;
        let report = audit::audit(
            &audit::snapshot(system).await.expect("a snapshot"),
            audit::Promises { initial_stock: Some(AMPLE_STOCK), ..audit::Promises::default() },
        );
        assert!(report.is_clean(), "charged once, stock conserved: {:?}", report.violations);
        let payment = system.ledger.find(id).await.expect("reads").expect("a payment");
        assert_eq!(payment.status, payments::PaymentStatus::Charged);
    });
}
