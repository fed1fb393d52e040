//! DynamoDB's capacity rules, applied to the requests and items the meter sees:
//!
//! - an item's size is the sum of its attribute names and values (strings in UTF-8 bytes,
//!   numbers about one byte per two digits plus one, maps and lists their contents plus
//!   three bytes, one byte per element);
//! - a write costs one write unit per started KB of the larger of the item before and
//!   after, a failed conditional write one unit at least, a transactional write twice that
//!   (a condition check is billed as a write);
//! - a strongly consistent read costs one read unit per started 4 KB (a query: of all the
//!   items it returns together), an eventually consistent one half, a transactional one
//!   twice.

use serde_json::Value;

/// The size DynamoDB bills for an item given in its JSON form (`{"name": {"S": "…"}}`).
pub fn item_size(item: &serde_json::Map<String, Value>) -> u64 {
    item.iter().map(|(name, value)| name.len() as u64 + value_size(value)).sum()
}

fn value_size(value: &Value) -> u64 {
    let Some((kind, inner)) = value.as_object().and_then(|o| o.iter().next()) else { return 0 };
    match kind.as_str() {
        "S" | "B" => inner.as_str().map_or(0, |s| s.len() as u64),
        "N" => inner.as_str().map_or(0, number_size),
        "BOOL" | "NULL" => 1,
        "SS" | "NS" | "BS" => inner.as_array().map_or(0, |items| {
            items
                .iter()
                .filter_map(Value::as_str)
                .map(|s| if kind == "NS" { number_size(s) } else { s.len() as u64 })
                .sum()
        }),
        "L" => 3 + inner.as_array().map_or(0, |items| items.iter().map(|v| 1 + value_size(v)).sum()),
        "M" => 3 + inner.as_object().map_or(0, |map| map.iter().map(|(k, v)| 1 + k.len() as u64 + value_size(v)).sum()),
        _ => 0,
    }
}

fn number_size(text: &str) -> u64 {
    let digits = text.chars().filter(char::is_ascii_digit).count() as u64;
    digits.div_ceil(2) + 1
}

/// Write units for one write of an item that was `before` bytes and is `after` bytes.
pub fn write_units(before: u64, after: u64, transactional: bool) -> f64 {
    let units = before.max(after).div_ceil(1024).max(1) as f64;
    if transactional { 2.0 * units } else { units }
}

/// Read units for reading `bytes` in one request.
pub fn read_units(bytes: u64, consistent: bool, transactional: bool) -> f64 {
    let units = bytes.div_ceil(4096).max(1) as f64;
    match (transactional, consistent) {
        (true, _) => 2.0 * units,
        (false, true) => units,
        (false, false) => units / 2.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn item(value: Value) -> serde_json::Map<String, Value> {
        value.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn sizes_follow_dynamodb_rules() {
        assert_eq!(item_size(&item(json!({ "pk": { "S": "ORDER#1" } }))), 2 + 7);
        assert_eq!(item_size(&item(json!({ "n": { "N": "1250" } }))), 1 + 3);
        assert_eq!(item_size(&item(json!({ "m": { "M": { "a": { "S": "xy" } } } }))), 1 + 3 + 1 + 1 + 2);
        assert_eq!(item_size(&item(json!({ "ok": { "BOOL": true } }))), 3);
    }

    #[test]
    fn writes_cost_a_unit_per_started_kilobyte_of_the_larger_image() {
        assert_eq!(write_units(0, 10, false), 1.0);
        assert_eq!(write_units(0, 1024, false), 1.0);
        assert_eq!(write_units(2000, 1025, false), 2.0);
        assert_eq!(write_units(0, 0, false), 1.0, "a failed condition still costs a unit");
        assert_eq!(write_units(100, 100, true), 2.0, "transactions cost double");
    }

    #[test]
    fn reads_cost_a_unit_per_started_four_kilobytes() {
        assert_eq!(read_units(100, true, false), 1.0);
        assert_eq!(read_units(5000, true, false), 2.0);
        assert_eq!(read_units(100, false, false), 0.5);
        assert_eq!(read_units(100, true, true), 2.0);
    }
}

/// What an order's item weighs when it is placed, with AWS's sizes for what it carries.
#[cfg(test)]
mod placed_order {
    use super::*;
    use orders::{DynamoOrders, Order, PlacedOrder};
    use pizza_events::catalogue::{CardToken, Sealed};

    /// A placed order whose customer id and card token are as long as the API allows (64
    /// characters each), sealed as KMS seals it on AWS: the key's ARN, a 184-byte
    /// encrypted data key, a 12-byte nonce, the token and its 16-byte tag.
    fn placed(customer: usize, token: usize) -> PlacedOrder {
        let base64 = |bytes: usize| "A".repeat(bytes.div_ceil(3) * 4);
        let card_token = CardToken::Sealed(Sealed {
            key_id: "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab".into(),
            data_key: base64(184),
            nonce: base64(12),
            ciphertext: base64(token + 16),
        });
        let order = Order::place(uuid::Uuid::new_v4(), "c".repeat(customer), 4, 5000, "f".repeat(64));
        let trace = Some(messaging::TraceContext::start(order.order_id));
        PlacedOrder { order, card_token, trace }
    }

    fn size(placed: &PlacedOrder) -> u64 {
        item_size(&dynamo_kit::stream::image_of(&DynamoOrders::placed_item(placed).expect("an item")))
    }

    /// The order's `count` first pizzas, each with the longest name of every stage's menu.
    fn heaviest_pizzas(order: &PlacedOrder, count: u32) -> Vec<orders::StoredPizza> {
        let ingredients: Vec<pizza_events::catalogue::Ingredient> = pizza_events::menu::MENU
            .iter()
            .filter(|stage| stage.stage != "crust")
            .map(|stage| pizza_events::catalogue::Ingredient {
                stage: stage.stage.into(),
                name: stage.ingredients.iter().max_by_key(|name| name.len()).copied().unwrap_or_default().into(),
            })
            .collect();
        (0..count)
            .map(|index| orders::StoredPizza {
                pizza_id: orders::pizza_id(order.order.order_id, index),
                ingredients: ingredients.clone(),
            })
            .collect()
    }

    /// Storing ten pizzas on a cooking order's item leaves it within one write unit, and
    /// twenty within two, whatever the toppings: what the 20-pizza order's store and
    /// completion pay.
    #[test]
    fn ten_stored_pizzas_and_their_order_fit_in_one_write_unit() {
        let order = placed(64, 64);
        let size = |count| {
            let item = DynamoOrders::cooking_item(&order, &heaviest_pizzas(&order, count));
            item_size(&dynamo_kit::stream::image_of(&item))
        };
        let (ten, twenty) = (size(10), size(20));
        assert!(ten <= 1024, "ten pizzas and their order weigh {ten} bytes");
        assert!(twenty <= 2048, "twenty pizzas and their order weigh {twenty} bytes");
    }

    /// A typical order of twenty (a short customer id, toppings of middling names) stays
    /// within one unit even with all its pizzas: its completion costs one.
    #[test]
    fn a_typical_order_of_twenty_fits_in_one_write_unit() {
        let order = placed(8, 16);
        let names = [("sauce", "tomato"), ("cheese", "cheddar"), ("meat", "salami"), ("veggies", "onions")];
        let ingredients: Vec<_> = names
            .iter()
            .map(|(stage, name)| pizza_events::catalogue::Ingredient { stage: (*stage).into(), name: (*name).into() })
            .collect();
        let pizzas: Vec<_> = (0..20)
            .map(|index| orders::StoredPizza {
                pizza_id: orders::pizza_id(order.order.order_id, index),
                ingredients: ingredients.clone(),
            })
            .collect();
        let item = DynamoOrders::cooking_item(&order, &pizzas);
        let size = item_size(&dynamo_kit::stream::image_of(&item));
        assert!(size <= 1024, "a typical order of twenty weighs {size} bytes");
    }

    #[test]
    fn a_placed_order_is_one_write_unit_even_with_the_longest_customer_and_card() {
        let (typical, longest) = (size(&placed(8, 8)), size(&placed(64, 64)));
        assert!(longest <= 1024, "the longest placed order weighs {longest} bytes (typical: {typical})");
        assert_eq!(write_units(0, longest, false), 1.0);
    }
}
