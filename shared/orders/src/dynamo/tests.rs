//! The tests of the DynamoDB orders' item layout.

use std::collections::HashMap;

use super::*;

fn ingredient(stage: &str, name: &str) -> Ingredient {
    Ingredient { stage: stage.into(), name: name.into() }
}

#[test]
fn ingredients_are_stored_by_name_and_read_in_every_layout() {
    let menu = vec![ingredient("sauce", "pesto"), ingredient("cheese", "vegan"), ingredient("veggies", "spinach")];
    let value = ingredients_to_value(&menu);
    assert_eq!(value, s("pesto,vegan,spinach"), "the menu says each one's stage");
    assert_eq!(ingredients_from_value(&value).expect("reads"), menu);

    let off_menu = vec![ingredient("sauce", "pesto"), ingredient("crust", "rye"), ingredient("meat", "ham")];
    let value = ingredients_to_value(&off_menu);
    assert_eq!(value, s("pesto,crust:rye,ham"), "an ingredient the menu does not know keeps its stage");
    assert_eq!(ingredients_from_value(&value).expect("reads"), off_menu);

    for awkward in [vec![ingredient("meat", "ham:smoked")], vec![ingredient("sauce", "a,b")], vec![]] {
        let value = ingredients_to_value(&awkward);
        assert!(value.as_l().is_ok(), "{awkward:?} is kept as a list");
        assert_eq!(ingredients_from_value(&value).expect("reads"), awkward);
    }
    let before = AttributeValue::L(vec![AttributeValue::M(HashMap::from([
        ("stage".to_owned(), s("sauce")),
        ("name".to_owned(), s("pesto")),
    ]))]);
    assert_eq!(ingredients_from_value(&before).expect("reads"), menu[..1]);
    assert!(ingredients_from_value(&s("pineapple")).is_err(), "a bare name must be on the menu");
}

#[test]
fn an_orders_item_lists_the_pizzas_stored_on_it_and_nothing_else() {
    let order_id = Uuid::new_v4();
    let (kitchens, stranger, older) = (crate::pizza_id(order_id, 7), Uuid::new_v4(), crate::pizza_id(order_id, 1));
    assert_eq!(pizza_attribute(order_id, kitchens), "p7");
    assert_eq!(pizza_attributes(order_id, stranger), [format!("pizza_{}", stranger.simple())]);
    assert_eq!(pizza_attributes(order_id, older), ["p1".to_owned(), format!("pizza_{}", older.simple())]);
    let mut item = DynamoOrders::order_key(order_id);
    item.insert("order_id".into(), s(order_id.to_string()));
    item.insert("pizzas".into(), n(2u64));
    item.insert("pizzas_ready".into(), n(1u64));
    item.insert("payment_fingerprint".into(), s("fp"));
    item.insert("p".into(), s("not a pizza"));
    item.insert("p99".into(), s("beyond any order's size"));
    item.insert(pizza_attribute(order_id, kitchens), s("tomato"));
    item.insert(pizza_attribute(order_id, stranger), AttributeValue::L(vec![s("sauce:tomato")]));
    item.insert(pizza_attributes(order_id, older)[1].clone(), AttributeValue::L(vec![s("sauce:bbq")]));
    let mut ids: Vec<Uuid> = pizzas_on(&item).expect("reads").iter().map(|pizza| pizza.pizza_id).collect();
    let mut expected = vec![kitchens, stranger, older];
    ids.sort();
    expected.sort();
    assert_eq!(ids, expected);
}

#[test]
fn the_stream_shows_the_relay_the_order_as_it_was_placed_and_nothing_else() {
    let order = Order::place(Uuid::new_v4(), "c-1", 2, 2500, "");
    let trace = TraceContext::start(order.order_id);
    let card_token = CardToken::Legacy("sealed elsewhere".into());
    let placed = PlacedOrder { order, card_token, trace: Some(trace) };
    let item = placed_to_item(&placed).expect("an item");
    let image = |item: &Item| dynamo_kit::stream::image_of(item);
    let keys = image(&DynamoOrders::order_key(placed.order.order_id));
    assert_eq!(DynamoOrders::inserted(&keys, &image(&item)).expect("reads"), Inserted::Order(Box::new(placed.clone())));

    let mut before = item.clone();
    before.remove(ANNOUNCE_CARD);
    let inserted = DynamoOrders::inserted(&keys, &image(&before)).expect("reads");
    assert_eq!(inserted, Inserted::Unannounceable(placed.order.order_id), "placed before orders kept their card");
    assert!(DynamoOrders::inserted(&keys, &serde_json::Map::new()).is_err(), "a stream without new images");
    let key = image(&idempotency_key("c-1", "key-1"));
    assert_eq!(DynamoOrders::inserted(&key, &image(&item)).expect("reads"), Inserted::NotAnOrder);
}

#[test]
fn only_a_placed_order_is_announceable() {
    let order = Order::place(Uuid::new_v4(), "c-1", 1, 1250, "");
    let placed = PlacedOrder { order, card_token: CardToken::Legacy("t".into()), trace: None };
    let mut item = placed_to_item(&placed).expect("an item");
    assert_eq!(placed_from_item(&item).expect("reads"), Some(placed));
    item.insert("status".into(), s(OrderStatus::Cooking.as_str()));
    assert_eq!(placed_from_item(&item).expect("reads"), None, "paid by code that left the card behind");
}

#[test]
fn a_sealed_card_is_kept_compactly_and_any_card_reads_back() {
    let sealed = CardToken::Sealed(Sealed {
        key_id: "arn:aws:kms:us-east-1:123456789012:key/k".into(),
        data_key: "ZGF0YQ==".into(),
        nonce: "bm9uY2U=".into(),
        ciphertext: "c2VhbGVk".into(),
    });
    let text = card_to_text(&sealed).expect("kept");
    assert_eq!(text, "sealed arn:aws:kms:us-east-1:123456789012:key/k ZGF0YQ== bm9uY2U= c2VhbGVk");
    assert_eq!(card_from_text(&text), Ok(sealed.clone()));
    let legacy = CardToken::Legacy("tok_visa".into());
    assert_eq!(card_from_text(&card_to_text(&legacy).expect("kept")), Ok(legacy));
    assert!(card_from_text("sealed a b c").is_err(), "three parts");
    let CardToken::Sealed(mut spaced) = sealed else { unreachable!() };
    spaced.nonce = "a b".into();
    assert!(card_to_text(&CardToken::Sealed(spaced)).is_err(), "a space would split it");
}

#[test]
fn a_new_order_leaves_out_what_reading_fills_in() {
    let order = Order::place(Uuid::new_v4(), "c-1", 2, 2500, "fp");
    let attributes = order_to_attributes(&order);
    for absent in ["charged_cents", "refunded_cents", "updated_at", FINGERPRINT] {
        assert!(!attributes.contains_key(absent), "{absent}");
    }
    assert_eq!(opt_s(&attributes, "created_at").map(str::len), Some(24), "to the millisecond, in UTC");
    let mut item = DynamoOrders::order_key(order.order_id);
    item.extend(attributes);
    let fingerprint_kept_with_the_key = Order { payment_fingerprint: String::new(), ..order.clone() };
    assert_eq!(order_from_item(&item).expect("reads"), fingerprint_kept_with_the_key);
    item.insert(FINGERPRINT.into(), s("fp"));
    assert_eq!(order_from_item(&item).expect("reads"), order, "as orders placed before kept it");
}

#[test]
fn an_order_is_found_from_its_key_and_nothing_else_is() {
    let order_id = Uuid::new_v4();
    let order = DynamoOrders::order_key(order_id);
    let (pk, sk) = (get_s(&order, "pk").expect("pk"), get_s(&order, "sk").expect("sk"));
    assert_eq!(DynamoOrders::order_of_key(pk, sk), Some(order_id));
    assert_eq!(DynamoOrders::order_of_key(pk, KEY_SK), None, "another item of the order's partition");
    let key = idempotency_key("c-1", "k");
    assert_eq!(DynamoOrders::order_of_key(get_s(&key, "pk").expect("pk"), KEY_SK), None);
    assert_eq!(DynamoOrders::order_of_key("ORDER#not-a-uuid", ORDER_SK), None);
}
