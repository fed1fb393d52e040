//! Who may see and do what, on the stack as deployed: API Gateway's JWT authorizer (played
//! by the local runner with the local issuer's key) lets only valid tokens in, the API
//! acts for the token's subject alone, idempotency keys are each customer's own, and the
//! card token is sealed before it enters any event: no table and no log line of a whole
//! run holds it in clear.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use local_runner::issuer::LocalIssuer;
use orders::OrderDesk;
use serde_json::json;
use system_tests::{System, issuer_dir, shared_system};
use tokio::sync::broadcast::error::RecvError;
use uuid::Uuid;

fn system() -> &'static System {
    static SYSTEM: OnceLock<System> = OnceLock::new();
    // With the archive (the default): it keeps the order's events, so it is one more place
    // a token could leak to.
    shared_system(&SYSTEM, "test-security", &[("Namespace", "test-security-"), ("EventArchive", "enabled")])
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

#[test]
fn only_a_valid_token_of_this_stacks_issuer_and_audience_gets_in() {
    let system = system();
    let authorizer = system.manifest.jwt_authorizer.clone().expect("the stack's API has a JWT authorizer");
    let (issuer_url, audience) = (authorizer.issuer.as_str(), authorizer.audience[0].as_str());
    let issuer = LocalIssuer::open(&issuer_dir()).expect("the local issuer");
    let impostor = LocalIssuer::generate().expect("another key");
    let now = chrono::Utc::now().timestamp();
    let hour = Duration::from_secs(3600);
    let expired = issuer.sign(&json!({"iss": issuer_url, "aud": audience, "sub": "c-1", "exp": now - 60}));
    let refused = [
        ("no token", None),
        ("an expired token", Some(expired)),
        ("a token signed by another key", Some(impostor.token(issuer_url, audience, "c-1", hour))),
        ("a token for another audience", Some(issuer.token(issuer_url, "another-app", "c-1", hour))),
        ("a token of another issuer", Some(issuer.token("https://elsewhere.example", audience, "c-1", hour))),
    ];
    system.run(async {
        let body = json!({"pizzas": 1}).to_string();
        let order_path = format!("/orders/{}", system.place_order(1).await);
        for (what, token) in refused {
            // An empty authorization header is what a client without a token sends.
            let authorization = token.as_deref().map(bearer).unwrap_or_default();
            let headers = [("content-type", "application/json"), ("authorization", authorization.as_str())];
            for (method, path, body) in [("POST", "/orders", body.as_str()), ("GET", order_path.as_str(), "")] {
                let reply = system.send(method, path, &headers, body).await;
                assert_eq!(reply.status, 401, "{what}, {method} {path}: {reply:?}");
                assert_eq!(reply.json, json!({"message": "Unauthorized"}), "{what}: a JSON body");
                let challenge = reply.headers.get("www-authenticate").and_then(|v| v.to_str().ok()).unwrap_or("");
                assert!(challenge.contains("invalid_token"), "{what}: {challenge:?}");
            }
        }
    });
}

#[test]
fn a_customer_orders_as_themselves_and_sees_only_their_own_orders() {
    let system = system();
    system.run(async {
        let headers = [("content-type", "application/json")];
        let mine = system.send_as("c-alice", "POST", "/orders", &headers, r#"{"pizzas": 1}"#).await;
        assert_eq!(mine.status, 202, "{mine:?}");
        let order_id = mine.json["order_id"].as_str().expect("an order id").to_owned();
        let stored = system.orders.find(order_id.parse().expect("a uuid")).await.expect("reads").expect("stored");
        assert_eq!(stored.order.customer_id, "c-alice", "the order is the token's subject's");

        let for_bob = json!({"pizzas": 1, "customer_id": "c-bob"}).to_string();
        let forbidden = system.send_as("c-alice", "POST", "/orders", &headers, &for_bob).await;
        assert_eq!(forbidden.status, 403, "{forbidden:?}");
        assert_eq!(forbidden.json["error"], "forbidden_customer");

        let path = format!("/orders/{order_id}");
        assert_eq!(system.send_as("c-alice", "GET", &path, &[], "").await.status, 200);
        let theirs = system.send_as("c-bob", "GET", &path, &[], "").await;
        assert_eq!(theirs.status, 404, "another customer's order is not found: {theirs:?}");
        assert_eq!(theirs.json["error"], "order_not_found");
    });
}

#[test]
fn two_customers_with_the_same_idempotency_key_get_two_orders() {
    let system = system();
    system.run(async {
        let key = format!("checkout-{}", Uuid::new_v4());
        let headers = [("content-type", "application/json"), ("idempotency-key", key.as_str())];
        let place = |customer: &'static str| system.send_as(customer, "POST", "/orders", &headers, r#"{"pizzas": 1}"#);
        let (alice, bob, alice_again) = (place("c-alice").await, place("c-bob").await, place("c-alice").await);
        let id = |reply: &system_tests::Reply| reply.json["order_id"].as_str().map(str::to_owned);
        assert!([&alice, &bob, &alice_again].iter().all(|r| r.status == 202), "{alice:?} {bob:?} {alice_again:?}");
        assert_ne!(id(&alice), id(&bob), "keys are scoped per customer");
        assert_eq!(id(&alice), id(&alice_again), "a retry of the same customer finds their order");
        for reply in [&alice, &bob] {
            system.wait_until_ready(&id(reply).expect("an id")).await;
        }
    });
}

#[test]
fn the_clear_card_token_is_in_no_table_and_no_log_line_of_a_whole_run() {
    let system = system();
    system.run(async {
        let lines = Arc::new(Mutex::new(Vec::new()));
        let lagged = Arc::new(Mutex::new(false));
        let mut logs = system.logs();
        let collector = {
            let (lines, lagged) = (lines.clone(), lagged.clone());
            tokio::spawn(async move {
                loop {
                    match logs.recv().await {
                        Ok(line) => lines.lock().expect("lines").push(line.line),
                        Err(RecvError::Lagged(_)) => *lagged.lock().expect("flag") = true,
                        Err(RecvError::Closed) => return,
                    }
                }
            })
        };
        // One order that cooks and one the card provider declines: the token reaches the
        // payment service either way, and the declined one is cancelled and compensated.
        let card = format!("tok_secret_{}", Uuid::new_v4().simple());
        let declined = "tok_chargeDeclined";
        let mut placed = Vec::new();
        for token in [card.as_str(), declined] {
            let body = json!({"pizzas": 2, "payment": {"card_token": token}}).to_string();
            let reply = system.post_order(&body).await;
            assert_eq!(reply.status, 202, "{reply:?}");
            placed.push(reply.json["order_id"].as_str().expect("an id").to_owned());
        }
        assert_eq!(system.wait_until_ready(&placed[0]).await["status"], "READY");
        let cancelled = system.wait_for_order(&placed[1], |o| o["status"] == "CANCELLED").await;
        assert_eq!(cancelled["reason"], "payment_declined", "the payment service read the sealed token");
        system_tests::wait_until_quiet(system, Duration::from_secs(60)).await;
        collector.abort();
        assert!(!*lagged.lock().expect("flag"), "every log line was read");

        let lines = std::mem::take(&mut *lines.lock().expect("lines"));
        assert!(lines.len() > 20, "the run logged: {} lines", lines.len());
        let leaked: Vec<&String> = lines.iter().filter(|line| line.contains(&card)).collect();
        assert!(leaked.is_empty(), "the card token was logged: {leaked:?}");

        let mut scanned = BTreeSet::new();
        let mut orders_seen = BTreeSet::new();
        for table in system.manifest.tables.values() {
            let items = dynamo_kit::read::scan_all(&system.dynamodb, &table.name).await.expect("scans");
            for item in &items {
                let text = format!("{item:?}");
                assert!(!text.contains(&card), "{} holds the card token: {text}", table.name);
                // An order keeps its card, sealed, only until it is paid or cancelled.
                let key = |name: &str| item.get(name).and_then(|value| value.as_s().ok()).map_or("", String::as_str);
                let order = orders::DynamoOrders::order_of_key(key("pk"), key("sk")).map(|id| id.to_string());
                if let Some(order) = order.filter(|id| placed.contains(id)) {
                    assert!(!item.contains_key("announce_card"), "order {order} still keeps its sealed card: {text}");
                    orders_seen.insert(order);
                }
            }
            scanned.insert((table.name.clone(), !items.is_empty()));
        }
        assert_eq!(orders_seen.len(), placed.len(), "every order's item was checked for its card");
        let with_items: Vec<&str> = scanned.iter().filter(|(_, any)| *any).map(|(t, _)| t.as_str()).collect();
        for table in ["orders", "payments"] {
            let name = format!("test-security-{table}");
            assert!(with_items.contains(&name.as_str()), "{name} was scanned with items in it: {scanned:?}");
        }
        // The archive keeps the order's events in S3: each order's announcement is there, sealed.
        for order in &placed {
            let deadline = std::time::Instant::now() + system_tests::PATIENCE;
            let history = loop {
                let history = system.order_history(order).await.expect("reads the archive");
                if history.iter().any(|a| a.event.event_type == "OrderPlaced") {
                    break history;
                }
                assert!(std::time::Instant::now() < deadline, "{order}'s announcement was not archived");
                tokio::time::sleep(Duration::from_millis(200)).await;
            };
            let text = serde_json::to_string(&history).expect("serialises");
            assert!(!text.contains(&card), "the archive holds the card token");
        }
    });
}
