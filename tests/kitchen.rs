//! The kitchen pipeline end to end: HTTP API → SNS/SQS stages → stored pizzas.

use std::collections::BTreeSet;
use std::sync::OnceLock;

use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use pizza_events::Envelope;
use pizza_events::catalogue::{IngredientAdded, PizzaRequested, ToppedPizza};
use pizza_events::menu;
use serde_json::{Value, json};
use system_tests::tap::Tap;
use system_tests::{System, shared_system, wait_for_deliveries, wait_for_delivery};
use uuid::Uuid;

static SYSTEM: OnceLock<System> = OnceLock::new();

fn system() -> &'static System {
    shared_system(&SYSTEM, "test-kitchen", &[("Namespace", "test-kitchen-")])
}

const STAGES: [&str; 4] = ["sauce", "cheese", "meat", "veggies"];

/// Every pizza has one ingredient of each stage, from that stage's menu.
fn assert_fully_topped(order: &Value, pizzas: usize) {
    let list = order["pizzas"].as_array().expect("a pizza list");
    assert_eq!(list.len(), pizzas, "{order}");
    let ids: BTreeSet<&str> = list.iter().filter_map(|p| p["pizza_id"].as_str()).collect();
    assert_eq!(ids.len(), pizzas, "pizza ids are unique: {order}");
    for pizza in list {
        for stage in STAGES {
            let ingredient = pizza[stage].as_str().unwrap_or_else(|| panic!("no {stage} on {pizza}"));
            assert!(
                menu::ingredients_for(stage).is_some_and(|m| m.contains(&ingredient)),
                "{ingredient} is no {stage}"
            );
        }
    }
}

#[test]
fn an_order_of_twenty_pizzas_becomes_ready_with_every_topping() {
    let system = system();
    system.run(async {
        let reply = system.post_order(r#"{"pizzas": 20}"#).await;
        assert_eq!(reply.status, 202, "{reply:?}");
        let order_id = reply.json["order_id"].as_str().expect("an order id");
        assert_eq!(reply.json["status"], "PLACED");
        assert_eq!(reply.headers["location"], format!("/orders/{order_id}").as_str());

        let order = system.wait_until_ready(order_id).await;
        assert_eq!(order["pizzas_ordered"], 20);
        assert_fully_topped(&order, 20);
    });
}

#[test]
fn concurrent_orders_each_get_their_own_pizzas() {
    let system = system();
    system.run(async {
        let sizes = [1u32, 4, 7, 2, 5];
        let ids = futures::future::join_all(sizes.iter().map(|&n| system.place_order(n))).await;
        for (order_id, size) in ids.iter().zip(sizes) {
            let order = system.wait_until_ready(order_id).await;
            assert_fully_topped(&order, size as usize);
        }
    });
}

#[test]
fn a_message_delivered_twice_adds_no_pizza() {
    let system = system();
    system.run(async {
        let mut requested = Tap::on(system, "PizzaTopic").await;
        let mut sauced = Tap::on(system, "PizzaWithSauceTopic").await;
        let order_id = system.place_order(2).await;
        let before = system.wait_until_ready(&order_id).await;

        // Deliver one pizza's original request to the sauce stage again, exactly as SNS did.
        let (request, message) = requested.wait_for(|e| e.correlation_id == order_id).await;
        let pizza_id = request.decode::<PizzaRequested>().expect("PizzaRequested").data.pizza_id;
        // The pizza as a stage's event carries it (with its order's other pizzas, or alone).
        let this_pizza = |e: &pizza_events::WireEvent| {
            e.data["pizzas"]
                .as_array()
                .and_then(|pizzas| pizzas.iter().find(|p| p["pizza_id"] == json!(pizza_id)))
                .cloned()
        };
        let carries_this_pizza = |e: &pizza_events::WireEvent| this_pizza(e).is_some();
        sauced.wait_for(carries_this_pizza).await;

        let mut deliveries = system.deliveries();
        let message_id = system.deliver_again("SauceQueue", &message).await;
        let handled = wait_for_delivery(&mut deliveries, |d| d.message_id == message_id).await;
        assert!(handled.succeeded, "a duplicate is not an error");

        // The redelivered request passes the pizza on again (alone, so under the id of an
        // event of that one pizza) with the very same sauce, taking nothing more; every
        // consumer absorbs it. The tap listens a while longer to be sure.
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        let published = sauced.all(carries_this_pizza).await;
        assert!(published.len() >= 2, "passed on again: {published:?}");
        let toppings: BTreeSet<String> =
            published.iter().filter_map(this_pizza).map(|p| p["ingredients"].to_string()).collect();
        assert_eq!(toppings.len(), 1, "the same sauce each time: {toppings:?}");
        let after = system.get_order(&order_id).await.json;
        assert_eq!(after["status"], "READY");
        assert_eq!(after["pizzas"], before["pizzas"], "same two pizzas, same toppings");
        // (Stock is shared by the concurrent tests of this file; tests/saga.rs checks that
        // duplicates take no stock, one test at a time.)
    });
}

#[test]
fn a_finished_pizza_stored_twice_is_stored_once() {
    let system = system();
    system.run(async {
        let mut finished = Tap::on(system, "PizzaWithVeggiesTopic").await;
        let order_id = system.place_order(1).await;
        let before = system.wait_until_ready(&order_id).await;
        let (_, message) = finished.wait_for(|e| e.correlation_id == order_id).await;

        let mut deliveries = system.deliveries();
        let message_id = system.deliver_again("StoreQueue", &message).await;
        let handled = wait_for_delivery(&mut deliveries, |d| d.message_id == message_id).await;
        assert!(handled.succeeded, "a duplicate is not an error");
        assert_eq!(system.get_order(&order_id).await.json["pizzas"], before["pizzas"]);
    });
}

#[test]
fn a_malformed_message_is_dead_lettered_while_the_rest_of_its_batch_is_processed() {
    let system = system();
    system.run(async {
        let order_id = system.place_order(2).await;
        let order = system.wait_until_ready(&order_id).await;
        let order_uuid: Uuid = order_id.parse().expect("uuid");

        // Two well-formed requests (again for this order's pizzas: duplicates downstream)
        // and one that is not an event at all, sent as one batch.
        let poison = format!("not an event {}", Uuid::new_v4());
        let mut bodies = vec![poison.clone()];
        for pizza in order["pizzas"].as_array().expect("pizzas") {
            let pizza_id: Uuid = pizza["pizza_id"].as_str().and_then(|s| s.parse().ok()).expect("pizza id");
            let event = Envelope::new(
                "test",
                order_id.clone(),
                PizzaRequested { order_id: order_uuid, pizza_id, pizzas_in_order: None },
            );
            bodies.push(serde_json::to_string(&event.to_wire()).expect("JSON"));
        }
        let entries = bodies.iter().enumerate().map(|(i, body)| {
            SendMessageBatchRequestEntry::builder().id(i.to_string()).message_body(body).build().expect("entry")
        });
        let mut deliveries = system.deliveries();
        let sent = system
            .sqs
            .send_message_batch()
            .queue_url(&system.queue("SauceQueue").url)
            .set_entries(Some(entries.collect()))
            .send()
            .await
            .expect("batch sent");
        let ids: Vec<String> = sent.successful.iter().map(|s| s.message_id.clone()).collect();
        let id_of =
            |index: &str| sent.successful.iter().find(|s| s.id == index).map(|s| s.message_id.clone()).expect("sent");
        assert_eq!(ids.len(), 3);
        let (poison_id, good_ids) = (id_of("0"), [id_of("1"), id_of("2")]);

        // Everything is settled on its first delivery: the good ones handled, the poison
        // moved to the dead-letter queue at once rather than retried to no purpose.
        let mut all_ids = good_ids.to_vec();
        all_ids.push(poison_id.clone());
        for handled in wait_for_deliveries(&mut deliveries, &all_ids).await {
            assert!(handled.succeeded && handled.receive_count == 1, "{handled:?}");
        }
        let sauce = system.queue("SauceQueue");
        let letters = wait_for_dead_letter(system, sauce, &poison).await;
        let dead: Vec<_> = letters.iter().filter(|l| l.body == poison).collect();
        assert_eq!(dead.len(), 1);
        let reason = dead[0].reason.as_deref().unwrap_or_default();
        assert!(reason.starts_with("not an event envelope"), "the reason travels with it: {reason:?}");
        assert!(letters.iter().all(|l| !good_ids.contains(&l.message_id)), "only the poison is dead-lettered");
        assert_eq!(system.get_order(&order_id).await.json["pizzas"], order["pizzas"]);
    });
}

async fn wait_for_dead_letter(
    system: &System,
    queue: &local_runner::manifest::Queue,
    body: &str,
) -> Vec<pizza_cli::queues::DeadLetter> {
    let deadline = std::time::Instant::now() + system_tests::PATIENCE;
    loop {
        // The queue moves a message to its DLQ when it is received once more after
        // maxReceiveCount; the runner keeps polling, so that happens within a retry delay.
        let letters = pizza_cli::queues::peek_dead_letters(&system.sqs, queue, 100).await.expect("DLQ readable");
        if letters.iter().any(|l| l.body == body) {
            return letters;
        }
        assert!(std::time::Instant::now() < deadline, "the poison message never reached the DLQ");
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
}

#[test]
fn bad_requests_get_json_errors_over_http() {
    let system = system();
    system.run(async {
        for (body, code) in [
            ("{", "invalid_body"),
            (r#"{"pizzas": 0}"#, "invalid_pizzas"),
            (r#"{"pizzas": 51}"#, "invalid_pizzas"),
            (r#"{"pizzas": "two"}"#, "invalid_pizzas"),
            (r#"{}"#, "invalid_pizzas"),
        ] {
            let reply = system.post_order(body).await;
            assert_eq!(reply.status, 400, "{body}: {reply:?}");
            assert_eq!(reply.json["error"], code, "{body}");
        }
        let wrong_type = system.send("POST", "/orders", &[("content-type", "text/plain")], r#"{"pizzas": 1}"#).await;
        assert_eq!(wrong_type.status, 400);
        assert_eq!(wrong_type.json["error"], "unsupported_content_type");

        let unknown = system.get_order(&Uuid::new_v4().to_string()).await;
        assert_eq!(unknown.status, 404);
        assert_eq!(unknown.json["error"], "order_not_found");
        let no_route = system.send("GET", "/menu", &[], "").await;
        assert_eq!(no_route.status, 404);
    });
}

#[test]
fn an_operator_can_redrive_a_dead_letter() {
    let system = system();
    system.run(async {
        // A pizza finished for an order nobody placed: the pizza service rejects it.
        let (order_id, pizza_id) = (Uuid::new_v4(), Uuid::new_v4());
        let stray = Envelope::new(
            "test",
            order_id.to_string(),
            IngredientAdded {
                order_id,
                stage: "veggies".into(),
                pizzas_in_order: None,
                pizzas: vec![ToppedPizza { pizza_id, ingredients: vec![], journey: vec![] }],
            },
        );
        let body = serde_json::to_string(&stray.to_wire()).expect("JSON");
        let store = system.queue("StoreQueue");
        system.sqs.send_message().queue_url(&store.url).message_body(&body).send().await.expect("sent");
        wait_for_dead_letter(system, store, &body).await;

        let mut deliveries = system.deliveries();
        let moved = pizza_cli::queues::redrive(&system.sqs, store).await.expect("redrive");
        assert!(moved >= 1);
        let retried = wait_for_delivery(&mut deliveries, |d| d.body == body).await;
        assert_eq!(retried.receive_count, 1, "it came back as a new message");
        // Still no such order: it is dead-lettered again, with its reason.
        let letters = wait_for_dead_letter(system, store, &body).await;
        let reason = letters.iter().find(|l| l.body == body).and_then(|l| l.reason.clone()).unwrap_or_default();
        assert!(reason.contains("no known order"), "{reason:?}");
    });
}

#[test]
fn every_log_line_of_an_order_carries_its_trace_and_none_its_card() {
    let system = system();
    system.run(async {
        let mut logs = system.logs();
        let trace_id = Uuid::new_v4().simple().to_string();
        let traceparent = format!("00-{trace_id}-{}-01", &Uuid::new_v4().simple().to_string()[..16]);
        let card = format!("tok_secret_{}", Uuid::new_v4().simple());
        let body = json!({ "pizzas": 2, "payment": { "card_token": card } }).to_string();
        let reply = system
            .send("POST", "/orders", &[("content-type", "application/json"), ("traceparent", &traceparent)], &body)
            .await;
        assert_eq!(reply.status, 202, "{reply:?}");
        let order_id = reply.json["order_id"].as_str().expect("an order id").to_owned();
        system.wait_until_ready(&order_id).await;
        // The confirmation is the last hop; give its log lines a moment to arrive.
        tokio::time::sleep(std::time::Duration::from_secs(2)).await;

        let mut lines = Vec::new();
        loop {
            match logs.try_recv() {
                Ok(line) => lines.push(line),
                Err(tokio::sync::broadcast::error::TryRecvError::Lagged(_)) => {}
                Err(_) => break,
            }
        }
        assert!(lines.iter().all(|l| !l.line.contains(&card)), "a card token was logged");
        let about_the_order: Vec<(String, Value)> = lines
            .iter()
            .filter_map(|l| serde_json::from_str::<Value>(&l.line).ok().map(|v| (l.function.clone(), v)))
            .filter(|(_, v)| v["correlation_id"] == json!(order_id))
            .collect();
        let functions: BTreeSet<&str> = about_the_order.iter().map(|(f, _)| f.as_str()).collect();
        for hop in ["ApiFunction", "PaymentFunction", "OrderFunction", "SauceFunction", "VeggiesFunction"] {
            assert!(functions.contains(hop), "no log line of {hop} about the order: {functions:?}");
        }
        for (function, line) in &about_the_order {
            assert_eq!(line["trace_id"], json!(trace_id), "{function} logged outside the trace: {line}");
        }
    });
}
