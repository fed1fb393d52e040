use super::*;
use crate::names::parse_variant;

#[test]
fn a_kitchen_event_from_before_the_orders_size_travelled_reads_without_it_and_a_newer_one_is_refused() {
    let (order_id, pizza_id) = (Uuid::new_v4(), Uuid::new_v4());
    let event = |version: u32| {
        WireEvent::from_json(
            &serde_json::json!({
                "id": Uuid::new_v4(), "type": "PizzaRequested", "version": version,
                "occurred_at": "2026-11-01T10:00:00Z", "source": "orders",
                "correlation_id": order_id.to_string(), "causation_id": null,
                "data": { "order_id": order_id, "pizza_id": pizza_id },
            })
            .to_string(),
        )
        .expect("an envelope")
    };
    let v1 = event(1).decode::<PizzaRequested>().expect("v1 is understood").data;
    assert_eq!(v1, PizzaRequested { order_id, pizza_id, pizzas_in_order: None });
    assert!(matches!(event(3).decode::<PizzaRequested>(), Err(DecodeError::UnsupportedVersion { version: 3, .. })));
}

#[test]
fn a_pizza_announced_alone_before_v4_reads_as_an_event_of_one_pizza() {
    let (order_id, pizza_id) = (Uuid::new_v4(), Uuid::new_v4());
    let v3 = WireEvent::from_json(
        &serde_json::json!({
            "id": Uuid::new_v4(), "type": "IngredientAdded", "version": 3,
            "occurred_at": "2026-11-01T10:00:00Z", "source": "sauce",
            "correlation_id": order_id.to_string(), "causation_id": null,
            "data": {
                "order_id": order_id, "pizza_id": pizza_id, "stage": "sauce",
                "ingredients": [{"stage": "sauce", "name": "pesto"}], "pizzas_in_order": 2,
            },
        })
        .to_string(),
    )
    .expect("an envelope");
    let added = v3.decode::<IngredientAdded>().expect("v3 is understood").data;
    assert_eq!((added.order_id, added.stage.as_str(), added.pizzas_in_order), (order_id, "sauce", Some(2)));
    let ingredients = vec![Ingredient { stage: "sauce".into(), name: "pesto".into() }];
    assert_eq!(added.pizzas, vec![ToppedPizza { pizza_id, ingredients, journey: vec![] }]);

    let mut not_an_object = v3.clone();
    not_an_object.data = serde_json::json!([1, 2]);
    assert!(matches!(not_an_object.decode::<IngredientAdded>(), Err(DecodeError::InvalidData { .. })));
}

#[test]
fn a_kitchen_event_that_tops_no_pizza_is_invalid_data() {
    let order_id = Uuid::new_v4();
    let added = |pizzas: serde_json::Value| {
        WireEvent::from_json(
            &serde_json::json!({
                "id": Uuid::new_v4(), "type": "IngredientAdded", "version": 4,
                "occurred_at": "2026-11-01T10:00:00Z", "source": "sauce",
                "correlation_id": order_id.to_string(), "causation_id": null,
                "data": { "order_id": order_id, "stage": "sauce", "pizzas_in_order": 1, "pizzas": pizzas },
            })
            .to_string(),
        )
        .expect("an envelope")
    };
    let one = serde_json::json!([{ "pizza_id": Uuid::new_v4(), "ingredients": [] }]);
    assert_eq!(added(one).decode::<IngredientAdded>().expect("one pizza is enough").data.pizzas.len(), 1);
    let err = added(serde_json::json!([])).decode::<IngredientAdded>().expect_err("no pizza is invalid");
    assert!(matches!(err, DecodeError::InvalidData { version: 4, .. }), "{err:?}");
    assert!(err.to_string().contains("tops no pizza"), "{err}");
}

#[test]
fn an_order_placed_before_payments_existed_is_a_free_guest_order() {
    let order_id = Uuid::new_v4();
    let v1 = WireEvent::from_json(
        &serde_json::json!({
            "id": Uuid::new_v4(), "type": "OrderPlaced", "version": 1, "occurred_at": "2026-11-01T10:00:00Z",
            "source": "api", "correlation_id": order_id.to_string(), "causation_id": null,
            "data": {"order_id": order_id, "pizzas": 2}
        })
        .to_string(),
    )
    .expect("an envelope");
    let placed = v1.decode::<OrderPlaced>().expect("upcast").data;
    assert_eq!(placed.customer_id, GUEST_CUSTOMER);
    assert_eq!(placed.card_token, CardToken::Legacy(DEFAULT_CARD_TOKEN.into()));
    assert_eq!(placed.amount_cents, 2 * menu::PIZZA_PRICE_CENTS);
}

#[test]
fn reasons_are_spelled_as_on_the_wire() {
    assert_eq!(CancelReason::OutOfStock.as_str(), "out_of_stock");
    assert_eq!(DeclineReason::OverLimit.as_str(), "over_limit");
    assert_eq!(parse_variant::<CancelReason>("payment_declined"), Some(CancelReason::PaymentDeclined));
    let json = serde_json::to_value(CancelReason::OutOfStock).expect("serialises");
    assert_eq!(json, CancelReason::OutOfStock.as_str());
}
