//! Whatever a client sends, the API answers with JSON, a 4xx for what it cannot take, and
//! stores and announces nothing for it: arbitrary bytes, huge and negative numbers, deep
//! JSON, odd Unicode, any content type and Idempotency-Key.

use lambda_kit::http::{Body, HttpHandler, Request, with_jwt_claims};
use order_api::{MAX_PIZZAS, OrderApi, PlaceOrder};
use orders::InMemoryOrders;
use proptest::prelude::*;
use serde_json::{Value, json};

/// Who every request is signed in as.
const CUSTOMER: &str = "c-42";

/// A request of [`CUSTOMER`], as API Gateway passes it once its authorizer verified the token.
fn request(body: Body, content_type: Option<&str>, key: Option<&[u8]>) -> Option<Request> {
    let mut builder = http::Request::builder().method("POST").uri("/orders");
    if let Some(content_type) = content_type {
        builder = builder.header("content-type", content_type);
    }
    if let Some(key) = key {
        builder = builder.header("idempotency-key", http::HeaderValue::from_bytes(key).ok()?);
    }
    builder.body(body).ok().map(|request| with_jwt_claims(request, [("sub", CUSTOMER)]))
}

/// A body shaped like an order, with anything in its fields.
fn order_like() -> impl Strategy<Value = String> {
    let anything = prop_oneof![
        Just(Value::Null),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        any::<String>().prop_map(Value::String),
        Just(json!("1e400")),
        Just(json!({"card_token": "tok_☃"})),
        Just(json!(CUSTOMER)),
        Just(json!([[[[[]]]]])),
    ];
    (anything.clone(), anything.clone(), anything).prop_map(|(pizzas, customer, payment)| {
        json!({"pizzas": pizzas, "customer_id": customer, "payment": payment}).to_string()
    })
}

/// The API's answer to `request` with nothing stored before: (status, JSON body, orders stored).
fn answer(request: Request) -> (u16, Value, usize) {
    let runtime = tokio::runtime::Builder::new_current_thread().build().expect("a runtime");
    let cards = sealing::Envelope::new(sealing::LocalDataKeys::new());
    let api = OrderApi::new(InMemoryOrders::default(), cards);
    let response = runtime.block_on(api.call(request));
    let body = match response.body() {
        Body::Text(text) => serde_json::from_str(text).unwrap_or(Value::Null),
        _ => Value::Null,
    };
    (response.status().as_u16(), body, api.desk().placed().len())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_body_is_an_order_or_a_json_4xx_that_stores_nothing(
        body in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..256).prop_map(Body::Binary),
            any::<String>().prop_map(Body::Text),
            order_like().prop_map(Body::Text),
        ],
        content_type in prop::option::of(prop_oneof![
            Just("application/json".to_owned()),
            Just("application/vnd.pizza+json; charset=utf-8".to_owned()),
            any::<String>(),
        ]),
        key in prop::option::of(prop::collection::vec(any::<u8>(), 0..160)),
    ) {
        let Some(request) = request(body, content_type.as_deref(), key.as_deref()) else {
            // Not even a valid HTTP header: API Gateway would never hand it over.
            return Ok(());
        };
        let parsed = PlaceOrder::from_request(&request);
        let (status, json, stored) = answer(request);
        match parsed {
            Ok(order) if order.customer_id.as_deref().is_some_and(|named| named != CUSTOMER) => {
                prop_assert_eq!(status, 403, "an order for another customer is forbidden");
                prop_assert_eq!(stored, 0);
            }
            Ok(order) => {
                prop_assert!((1..=MAX_PIZZAS).contains(&u64::from(order.pizzas)));
                prop_assert_eq!(status, 202);
                prop_assert_eq!(stored, 1);
            }
            Err(err) => {
                prop_assert!((400..500).contains(&status), "{status} for {err}");
                prop_assert_eq!(json["error"].as_str(), Some(err.code()));
                prop_assert_eq!(stored, 0, "nothing stored or announced for a bad request");
            }
        }
    }
}

#[test]
fn deep_json_and_huge_numbers_are_refused_with_a_reason() {
    let deep = format!(r#"{{"pizzas": {}1{}}}"#, "[".repeat(100_000), "]".repeat(100_000));
    for body in [deep.as_str(), r#"{"pizzas": 1e400}"#, r#"{"pizzas": 18446744073709551616}"#, r#"{"pizzas": -1}"#] {
        let request = request(Body::Text(body.to_owned()), Some("application/json"), None).expect("a request");
        let (status, json, stored) = answer(request);
        assert!((400..500).contains(&status), "{status}: {}", &body[..body.len().min(40)]);
        assert!(json["error"].is_string() && json["message"].is_string(), "{json}");
        assert_eq!(stored, 0);
    }
}
