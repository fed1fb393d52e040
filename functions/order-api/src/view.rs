//! The JSON shape of an order for clients.

use orders::{OrderDetails, StoredPizza};
use serde_json::{Map, Value, json};

/// `{"order_id", "status", "reason", "customer_id", "pizzas_ordered", "amount_cents",
/// "charged_cents", "refunded_cents", "pizzas": [{"pizza_id", "sauce", "cheese", …}]}`:
/// each pizza lists its ingredients by stage, whatever stages the kitchen has.
pub fn order(details: &OrderDetails) -> Value {
    let mut pizzas: Vec<&StoredPizza> = details.pizzas.iter().collect();
    pizzas.sort_by_key(|p| p.pizza_id);
    let order = &details.order;
    json!({
        "order_id": order.order_id,
        "status": order.status.as_str(),
        "reason": order.cancel_reason.map(|r| r.as_str()),
        "customer_id": order.customer_id,
        "pizzas_ordered": order.pizzas,
        "amount_cents": order.amount_cents,
        "charged_cents": order.charged_cents,
        "refunded_cents": order.refunded_cents,
        "created_at": order.created_at.to_rfc3339(),
        "pizzas": pizzas.into_iter().map(pizza).collect::<Vec<_>>(),
    })
}

fn pizza(pizza: &StoredPizza) -> Value {
    let mut fields = Map::new();
    fields.insert("pizza_id".into(), json!(pizza.pizza_id));
    for ingredient in &pizza.ingredients {
        fields.insert(ingredient.stage.clone(), json!(ingredient.name));
    }
    Value::Object(fields)
}
