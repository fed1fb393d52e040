//! The tests of the DynamoDB orders' item layout.

use std::collections::HashMap;

use super::*;

#[test]
fn ingredients_are_stored_compactly_and_read_in_both_layouts() {
    let ingredients = vec![
        Ingredient { stage: "sauce".into(), name: "pesto".into() },
        Ingredient { stage: "meat".into(), name: "ham:smoked".into() },
    ];
    let value = ingredients_to_value(&ingredients);
    assert_eq!(value.as_l().expect("a list")[0], s("sauce:pesto"));
    assert_eq!(ingredients_from_value(&value).expect("reads"), ingredients);
    let before = AttributeValue::L(vec![AttributeValue::M(HashMap::from([
        ("stage".to_owned(), s("sauce")),
        ("name".to_owned(), s("pesto")),
    ]))]);
    assert_eq!(ingredients_from_value(&before).expect("reads"), ingredients[..1]);
}

#[test]
fn an_orders_item_lists_the_pizzas_stored_on_it_and_nothing_else() {
    let pizza_id = Uuid::new_v4();
    let mut item = DynamoOrders::order_key(Uuid::new_v4());
    item.insert("pizzas".into(), n(2u64));
    item.insert("pizzas_ready".into(), n(1u64));
    item.insert("payment_fingerprint".into(), s("fp"));
    item.insert(pizza_attribute(pizza_id), AttributeValue::L(vec![s("sauce:tomato")]));
    let pizzas = pizzas_on(&item).expect("reads");
    assert_eq!(pizzas.len(), 1);
    assert_eq!(pizzas[0].pizza_id, pizza_id);
}
