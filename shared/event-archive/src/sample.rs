//! Archived histories for tests of what reads the archive: an order of two pizzas through
//! two stages, confirmed, as a log of every event and as the archive keeps it (the
//! kitchen's last stage carrying the pizza's journey), and the same order replayed a
//! minute later; and an order whose stages announced its pizzas together.

use chrono::{DateTime, Duration, Utc};
use pizza_events::WireEvent;
use serde_json::json;
use uuid::Uuid;

use crate::Archived;

/// The order's correlation id.
pub const ORDER: &str = "order-1";

/// The groups of [`two_pizza_order`], one per step, in causal order.
pub const CAUSAL: [&str; 6] = [
    "OrderPlaced · api",
    "PaymentProcessed · payment",
    "PizzaRequested · orders",
    "IngredientAdded (sauce) · sauce",
    "IngredientAdded (cheese) · cheese",
    "OrderConfirmed · orders",
];

/// An archived event of [`ORDER`], `after_ms` after the order began, caused by `cause`.
pub fn event(
    event_type: &str,
    source: &str,
    cause: Option<&Archived>,
    after_ms: i64,
    data: serde_json::Value,
) -> Archived {
    let start: DateTime<Utc> = "2026-12-01T10:00:00Z".parse().unwrap_or_default();
    Archived {
        topic: format!("arn:aws:sns:us-east-1:1:{source}"),
        event: WireEvent {
            id: Uuid::new_v4(),
            event_type: event_type.into(),
            version: 1,
            occurred_at: start + Duration::milliseconds(after_ms),
            source: source.into(),
            correlation_id: ORDER.into(),
            causation_id: cause.map(|c| c.event.id),
            data,
        },
        traceparent: None,
    }
}

/// An order of two pizzas through two stages, confirmed after 100 ms; newest first (the
/// archive's order must not matter).
pub fn two_pizza_order() -> Vec<Archived> {
    let placed = event("OrderPlaced", "api", None, 0, json!({}));
    let paid = event("PaymentProcessed", "payment", Some(&placed), 10, json!({}));
    let mut all = vec![placed, paid.clone()];
    let mut last = None;
    for (pizza, offset) in [(1, 0), (2, 5)] {
        let requested = event("PizzaRequested", "orders", Some(&paid), 20 + offset, json!({ "pizza": pizza }));
        let sauce = event("IngredientAdded", "sauce", Some(&requested), 40 + offset * 2, json!({ "stage": "sauce" }));
        let cheese = event("IngredientAdded", "cheese", Some(&sauce), 70 + offset * 3, json!({ "stage": "cheese" }));
        last = Some(cheese.clone());
        all.extend([requested, sauce, cheese]);
    }
    all.push(event("OrderConfirmed", "orders", last.as_ref(), 100, json!({})));
    all.reverse();
    all
}

/// An order of three pizzas as the archive keeps it since stages announce each order's
/// pizzas together: sauce topped two in one batch and the third in the next, cheese all
/// three in one event (archived, each pizza with its journey), then the confirmation.
pub fn three_pizzas_together() -> Vec<Archived> {
    use pizza_events::catalogue::Hop;
    let placed = event("OrderPlaced", "api", None, 0, json!({}));
    let paid = event("PaymentProcessed", "payment", Some(&placed), 10, json!({}));
    let pizza_ids: Vec<String> = (1..=3).map(|n| format!("pizza-{n}")).collect();
    let requests: Vec<Archived> = pizza_ids
        .iter()
        .enumerate()
        .map(|(n, pizza_id)| {
            event("PizzaRequested", "orders", Some(&paid), 20 + n as i64, json!({ "pizza_id": pizza_id }))
        })
        .collect();
    let sauced = |first: &Archived, after_ms| event("IngredientAdded", "sauce", Some(first), after_ms, json!({}));
    let (sauce_a, sauce_b) = (sauced(&requests[0], 40), sauced(&requests[2], 55));
    let pizzas: Vec<serde_json::Value> = pizza_ids
        .iter()
        .zip(&requests)
        .enumerate()
        .map(|(n, (pizza_id, request))| {
            let sauce = if n < 2 { &sauce_a } else { &sauce_b };
            let journey = [Hop::of(&request.event), Hop::of(&sauce.event)];
            json!({ "pizza_id": pizza_id, "ingredients": [], "journey": journey })
        })
        .collect();
    let cheese = event("IngredientAdded", "cheese", Some(&sauce_a), 80, json!({ "stage": "cheese", "pizzas": pizzas }));
    let confirmed = event("OrderConfirmed", "orders", Some(&cheese), 95, json!({}));
    vec![confirmed, cheese, paid, placed]
}

/// What the archive keeps of `every_event` (such as [`two_pizza_order`]): the order's own
/// events and the last stage's (`last_stage`), each carrying its pizza's earlier events as
/// its journey, as the stages publish it.
pub fn as_archived(every_event: &[Archived], last_stage: &str) -> Vec<Archived> {
    let by_id: std::collections::HashMap<Uuid, &Archived> = every_event.iter().map(|a| (a.event.id, a)).collect();
    let in_kitchen = |a: &Archived| matches!(a.event.event_type.as_str(), "PizzaRequested" | "IngredientAdded");
    let is_last = |a: &Archived| a.event.data.get("stage").and_then(|s| s.as_str()) == Some(last_stage);
    every_event
        .iter()
        .filter(|a| !in_kitchen(a) || is_last(a))
        .cloned()
        .map(|mut archived| {
            if in_kitchen(&archived) {
                let mut journey = Vec::new();
                let mut cause = archived.event.causation_id.and_then(|id| by_id.get(&id)).filter(|c| in_kitchen(c));
                while let Some(hop) = cause {
                    journey.push(pizza_events::catalogue::Hop::of(&hop.event));
                    cause = hop.event.causation_id.and_then(|id| by_id.get(&id)).filter(|c| in_kitchen(c));
                }
                journey.reverse();
                archived.event.data["journey"] = serde_json::to_value(journey).unwrap_or_default();
            }
            archived
        })
        .collect()
}

/// The order's history after a replay: every event archived again, stamped a minute later.
pub fn replayed(first: &[Archived]) -> Vec<Archived> {
    let mut history: Vec<Archived> = first
        .iter()
        .cloned()
        .map(|mut copy| {
            copy.event.occurred_at += Duration::seconds(60);
            copy
        })
        .collect();
    history.extend(first.iter().cloned());
    history
}
