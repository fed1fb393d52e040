//! Whatever arrives on a queue, the decoder answers with an event or a clear error, never a
//! panic: arbitrary bytes, deep JSON, huge numbers, odd Unicode, any payload under any type
//! and version (the upcasters included).

use chrono::Utc;
use pizza_events::registry::{catalogue, decode_current};
use pizza_events::{DecodeError, WireEvent};
use proptest::prelude::*;
use serde_json::{Map, Value, json};
use uuid::Uuid;

/// Any JSON value, a few levels deep, with the numbers and strings that break parsers.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        any::<String>().prop_map(Value::String),
        Just(json!("🍕\u{0}\u{202e}\u{fffd}")),
        Just(json!(u64::MAX)),
        Just(json!(-1)),
    ];
    leaf.prop_recursive(6, 128, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::btree_map(any::<String>(), inner, 0..8)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A payload shaped like the catalogue's events, with any value in any field.
fn event_like() -> impl Strategy<Value = Value> {
    let fields = [
        "order_id",
        "pizza_id",
        "pizzas",
        "customer_id",
        "card_token",
        "amount_cents",
        "stage",
        "ingredients",
        "reason",
    ];
    prop::collection::vec((prop::sample::select(fields.to_vec()), any_json()), 0..8)
        .prop_map(|pairs| Value::Object(pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect::<Map<_, _>>()))
}

fn event_types() -> Vec<String> {
    let mut types: Vec<String> = catalogue().into_iter().map(|entry| entry.event_type.to_owned()).collect();
    types.push("PizzaEaten".into());
    types
}

fn wire(event_type: String, version: u32, data: Value) -> WireEvent {
    WireEvent {
        id: Uuid::new_v4(),
        event_type,
        version,
        occurred_at: Utc::now(),
        source: "hostile".into(),
        correlation_id: "o".into(),
        causation_id: None,
        data,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_bytes_are_an_envelope_or_a_malformed_message(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let text = String::from_utf8_lossy(&bytes);
        if let Err(err) = WireEvent::from_json(&text) {
            prop_assert!(matches!(err, DecodeError::Malformed(_)));
        }
    }

    #[test]
    fn any_json_as_a_message_is_read_or_refused(value in any_json()) {
        let _ = WireEvent::from_json(&value.to_string());
    }

    #[test]
    fn any_payload_under_any_type_and_version_decodes_or_says_why(
        event_type in prop::sample::select(event_types()),
        version in prop_oneof![0u32..4, any::<u32>()],
        data in prop_oneof![event_like(), any_json()],
    ) {
        let event = wire(event_type, version, data);
        match decode_current(&event) {
            // What decodes is the current version of a catalogued type, whole.
            Ok(current) => prop_assert!(current.is_object()),
            Err(err) => prop_assert!(!err.to_string().is_empty()),
        }
    }
}

#[test]
fn json_nested_beyond_reason_is_refused_not_a_stack_overflow() {
    for depth in [200, 10_000, 1_000_000] {
        let deep = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        assert!(WireEvent::from_json(&deep).is_err(), "{depth} levels");
        let in_data = format!(
            concat!(
                r#"{{"id":"{}","type":"OrderPlaced","version":1,"occurred_at":"2026-01-01T00:00:00Z","#,
                r#""source":"x","correlation_id":"o","causation_id":null,"data":{}}}"#,
            ),
            Uuid::new_v4(),
            deep
        );
        assert!(WireEvent::from_json(&in_data).is_err(), "{depth} levels in data");
    }
}

/// Found by the property above: the `OrderPlaced` v1 → v2 upcaster indexed into its payload
/// as an object, and panicked the consumer on any other JSON.
#[test]
fn an_old_version_whose_payload_is_not_an_object_is_refused_as_invalid_data() {
    for data in [json!(false), json!([1, 2]), json!("pizzas"), Value::Null, json!(7)] {
        let event = wire("OrderPlaced".into(), 1, data.clone());
        let err = event.decode::<pizza_events::catalogue::OrderPlaced>().expect_err("refused");
        assert!(matches!(err, DecodeError::InvalidData { version: 1, .. }), "{data}: {err}");
    }
    let absurd = wire("OrderPlaced".into(), 1, json!({"order_id": Uuid::new_v4(), "pizzas": u64::MAX}));
    assert!(absurd.decode::<pizza_events::catalogue::OrderPlaced>().is_err(), "too many pizzas: refused, no overflow");
}
