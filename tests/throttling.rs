//! Throttled entry: the HTTP API's route limits (the template's `ApiRateLimit` and
//! `ApiBurstLimit`, as API Gateway applies them to each route) hold on the local stack too:
//! a burst above them gets 429s with a JSON body, and every order accepted still cooks.

use std::time::{Duration, Instant};

use orders::{OrderDesk, OrderStatus};
use serde_json::json;
use system_tests::{PATIENCE, System};
use uuid::Uuid;

#[test]
fn a_burst_above_the_route_limits_is_answered_429_and_every_accepted_order_cooks() {
    let system = System::start(
        "test-throttle",
        &[("Namespace", "test-throttle-"), ("ApiRateLimit", "2"), ("ApiBurstLimit", "5")],
    );
    system.run(async {
        let body = json!({"pizzas": 1}).to_string();
        let burst = (0..30).map(|_| system.post_order(&body));
        let replies = futures::future::join_all(burst).await;
        let accepted: Vec<Uuid> = replies
            .iter()
            .filter(|r| r.status == 202)
            .filter_map(|r| r.json["order_id"].as_str()?.parse().ok())
            .collect();
        let throttled: Vec<_> = replies.iter().filter(|r| r.status == 429).collect();
        assert_eq!(accepted.len() + throttled.len(), replies.len(), "202 or 429, nothing else: {replies:?}");
        assert!((5..=10).contains(&accepted.len()), "the burst, and what refilled meanwhile: {}", accepted.len());
        assert_eq!(throttled[0].json["message"], "Too Many Requests");

        // Every order let in cooks; read from the table, as the API's reads are throttled too.
        let deadline = Instant::now() + PATIENCE;
        for order_id in &accepted {
            loop {
                let order = system.orders.find(*order_id).await.expect("reads").map(|d| d.order.status);
                if order == Some(OrderStatus::Ready) {
                    break;
                }
                assert!(Instant::now() < deadline, "order {order_id} did not cook: {order:?}");
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        }
        // The bucket refills at the rate: a second later a request is let in again.
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(system.post_order(&body).await.status, 202);
    });
}
