//! The JSON shape of an order for clients.

use serde_json::{Map, Value, json};
use shared::orders::{OrderDetails, StoredPizza};

/// `{"order_id", "status", "pizzas_ordered", "pizzas": [{"pizza_id", "sauce", "cheese", …}]}`:
/// each pizza lists its ingredients by stage, whatever stages the kitchen has.
pub fn order(details: &OrderDetails) -> Value {
    let mut pizzas: Vec<&StoredPizza> = details.pizzas.iter().collect();
    pizzas.sort_by_key(|p| p.pizza_id);
    json!({
        "order_id": details.order.order_id,
        "status": details.order.status.as_str(),
        "pizzas_ordered": details.order.pizzas,
        "created_at": details.order.created_at.to_rfc3339(),
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
