//! The tests of the crate's handler.

use super::*;
use lambda_kit::TopicArn;
use lambda_kit::http::{Body, with_jwt_claims};
use orders::{InMemoryOrders, OrderStatus};
use sealing::LocalDataKeys;
use serde_json::{Value, json};

const CUSTOMER: &str = "c-42";

fn api() -> OrderApi<InMemoryOrders> {
    api_with(LocalDataKeys::new())
}

fn api_with(keys: LocalDataKeys) -> OrderApi<InMemoryOrders> {
    OrderApi::new(InMemoryOrders::default(), sealing::Envelope::new(keys))
}

/// A request as API Gateway passes it with no authorizer in front.
fn anonymous(method: &str, path: &str, content_type: Option<&str>, body: &str) -> Request {
    let mut builder = http::Request::builder().method(method).uri(path);
    if let Some(content_type) = content_type {
        builder = builder.header("content-type", content_type);
    }
    builder.body(Body::Text(body.to_owned())).expect("valid request")
}

/// A request of [`CUSTOMER`], signed in.
fn request(method: &str, path: &str, content_type: Option<&str>, body: &str) -> Request {
    as_customer(anonymous(method, path, content_type, body), CUSTOMER)
}

fn as_customer(request: Request, customer: &str) -> Request {
    with_jwt_claims(request, [("sub", customer), ("aud", "pizza-shop")])
}

fn post(body: &str) -> Request {
    request("POST", "/orders", Some("application/json"), body)
}

fn with_key(mut request: Request, key: &'static str) -> Request {
    request.headers_mut().insert("idempotency-key", http::HeaderValue::from_static(key));
    request
}

fn json_of(response: &Response) -> Value {
    match response.body() {
        Body::Text(text) => serde_json::from_str(text).expect("JSON body"),
        other => panic!("expected a text body, got {other:?}"),
    }
}

#[tokio::test]
async fn placing_an_order_stores_it_with_its_announcement_and_points_to_it() {
    let api = api();
    let response = api.call(post(r#"{"pizzas": 3}"#)).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let body = json_of(&response);
    assert_eq!(body["status"], "PLACED");
    let order_id: Uuid = body["order_id"].as_str().and_then(|id| id.parse().ok()).expect("an order id");
    assert_eq!(response.headers()["location"], format!("/orders/{order_id}").as_str());

    let [placed] = api.desk.placed().try_into().expect("one order placed");
    let announced = placed.announcement(&TopicArn("orders".into()));
    assert_eq!(announced.topic.0, "orders");
    let placed = announced.event.decode::<OrderPlaced>().expect("OrderPlaced");
    assert_eq!(
        (placed.data.order_id, placed.data.pizzas, placed.data.customer_id.as_str(), placed.data.amount_cents),
        (order_id, 3, CUSTOMER, 3 * pizza_events::menu::PIZZA_PRICE_CENTS)
    );
    assert!(matches!(placed.data.card_token, CardToken::Sealed(_)), "{:?}", placed.data.card_token);
    assert_eq!(placed.correlation_id, order_id.to_string());
    assert!(announced.trace.is_some(), "the announcement continues the request's trace");

    let shown = json_of(&api.call(request("GET", &format!("/orders/{order_id}"), None, "")).await);
    assert_eq!(
        (shown["status"].clone(), shown["pizzas_ordered"].clone(), shown["charged_cents"].clone()),
        (json!("PLACED"), json!(3), json!(0))
    );
    assert_eq!(shown["reason"], Value::Null);
    assert_eq!(shown["pizzas"], json!([]));
}

#[tokio::test]
async fn the_card_token_travels_sealed_for_its_order_and_only_its_fingerprint_is_stored() {
    let keys = LocalDataKeys::new();
    let api = api_with(keys.clone());
    let body = r#"{"pizzas": 2, "customer_id": "c-42", "payment": {"card_token": "tok_chargeDeclined"}}"#;
    let order_id: Uuid =
        json_of(&api.call(post(body)).await)["order_id"].as_str().and_then(|s| s.parse().ok()).expect("id");
    let announced = &api.desk.placed()[0].announcement(&TopicArn("orders".into()));
    assert!(!announced.event.to_json().contains("tok_chargeDeclined"), "the announcement carries ciphertext");
    let placed = announced.event.decode::<OrderPlaced>().expect("OrderPlaced").data;
    let CardToken::Sealed(sealed) = placed.card_token else { panic!("a sealed card token") };
    let payment = sealing::Envelope::new(keys);
    let opened = payment.open(&sealed, &OrderPlaced::card_context(order_id, "c-42")).await.expect("opens");
    assert_eq!(opened, b"tok_chargeDeclined");
    let elsewhere = payment.open(&sealed, &OrderPlaced::card_context(Uuid::new_v4(), "c-42")).await;
    assert!(elsewhere.is_err(), "it opens for its own order only");
    let stored = api.desk.find(order_id).await.expect("reads").expect("stored").order;
    assert_eq!(stored.payment_fingerprint, payment_fingerprint("c-42", "tok_chargeDeclined"));
    assert!(!stored.payment_fingerprint.contains("tok_"));
}

#[tokio::test]
async fn without_a_verified_token_nothing_is_placed_or_shown() {
    let api = api();
    let placed = api.call(anonymous("POST", "/orders", Some("application/json"), r#"{"pizzas": 1}"#)).await;
    assert_eq!(placed.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(json_of(&placed)["error"], "unauthenticated");
    let shown = api.call(anonymous("GET", &format!("/orders/{}", Uuid::new_v4()), None, "")).await;
    assert_eq!(shown.status(), StatusCode::UNAUTHORIZED);
    let odd = api.call(as_customer(post(r#"{"pizzas": 1}"#), "not a customer id")).await;
    assert_eq!(odd.status(), StatusCode::FORBIDDEN);
    assert!(api.desk.placed().is_empty());
}

#[tokio::test]
async fn a_customer_orders_for_themselves_and_sees_only_their_orders() {
    let api = api();
    let for_another = api.call(post(r#"{"pizzas": 1, "customer_id": "c-7"}"#)).await;
    assert_eq!(for_another.status(), StatusCode::FORBIDDEN);
    assert_eq!(json_of(&for_another)["error"], "forbidden_customer");
    assert!(api.desk.placed().is_empty(), "nothing placed for another customer");

    let named = json_of(&api.call(post(r#"{"pizzas": 1, "customer_id": "c-42"}"#)).await);
    let order_id = named["order_id"].as_str().expect("placed when the body names the signed-in customer");
    let path = format!("/orders/{order_id}");
    assert_eq!(api.call(request("GET", &path, None, "")).await.status(), StatusCode::OK);
    let theirs = api.call(as_customer(anonymous("GET", &path, None, ""), "c-7")).await;
    assert_eq!(theirs.status(), StatusCode::NOT_FOUND, "another customer's order is not found");
    assert_eq!(json_of(&theirs)["error"], "order_not_found");
}

#[tokio::test]
async fn curl_defaults_and_json_variants_are_accepted() {
    let api = api();
    for content_type in [None, Some("application/x-www-form-urlencoded"), Some("application/json; charset=utf-8")] {
        let response = api.call(request("POST", "/orders", content_type, r#"{"pizzas": 1}"#)).await;
        assert_eq!(response.status(), StatusCode::ACCEPTED, "{content_type:?}");
    }
}

#[tokio::test]
async fn a_bad_request_is_a_4xx_with_a_json_error_and_nothing_is_placed() {
    let huge = format!(r#"{{"pizzas": 1, "customer_id": "{}"}}"#, "x".repeat(MAX_BODY_BYTES));
    let cases = [
        (Some("application/json"), "{", StatusCode::BAD_REQUEST, "invalid_body"),
        (Some("application/json"), "[1]", StatusCode::BAD_REQUEST, "invalid_body"),
        (Some("application/json"), "", StatusCode::BAD_REQUEST, "invalid_body"),
        (Some("application/json"), r#"{"pizza": 2}"#, StatusCode::BAD_REQUEST, "invalid_pizzas"),
        (Some("application/json"), r#"{"pizzas": 0}"#, StatusCode::BAD_REQUEST, "invalid_pizzas"),
        (Some("application/json"), r#"{"pizzas": 51}"#, StatusCode::BAD_REQUEST, "invalid_pizzas"),
        (Some("application/json"), r#"{"pizzas": -1}"#, StatusCode::BAD_REQUEST, "invalid_pizzas"),
        (Some("application/json"), r#"{"pizzas": 2.5}"#, StatusCode::BAD_REQUEST, "invalid_pizzas"),
        (Some("application/json"), r#"{"pizzas": "3"}"#, StatusCode::BAD_REQUEST, "invalid_pizzas"),
        (Some("application/json"), r#"{"pizzas": 1, "customer_id": ""}"#, StatusCode::BAD_REQUEST, "invalid_customer"),
        (Some("application/json"), r#"{"pizzas": 1, "customer_id": 42}"#, StatusCode::BAD_REQUEST, "invalid_customer"),
        (
            Some("application/json"),
            r#"{"pizzas": 1, "customer_id": "a b"}"#,
            StatusCode::BAD_REQUEST,
            "invalid_customer",
        ),
        (
            Some("application/json"),
            r#"{"pizzas": 1, "payment": "tok_visa"}"#,
            StatusCode::BAD_REQUEST,
            "invalid_payment",
        ),
        (Some("application/json"), r#"{"pizzas": 1, "payment": {}}"#, StatusCode::BAD_REQUEST, "invalid_payment"),
        (Some("text/plain"), r#"{"pizzas": 3}"#, StatusCode::BAD_REQUEST, "unsupported_content_type"),
        (
            Some("multipart/form-data; boundary=x"),
            r#"{"pizzas": 3}"#,
            StatusCode::BAD_REQUEST,
            "unsupported_content_type",
        ),
        (Some("application/json"), huge.as_str(), StatusCode::PAYLOAD_TOO_LARGE, "body_too_large"),
    ];
    let api = api();
    for (content_type, body, status, code) in cases {
        let response = api.call(request("POST", "/orders", content_type, body)).await;
        let shown = &body[..body.len().min(40)];
        assert_eq!(response.status(), status, "{content_type:?} {shown}");
        let error = json_of(&response);
        assert_eq!(error["error"], code, "{content_type:?} {shown}");
        assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    assert!(api.desk.placed().is_empty(), "a rejected request announces nothing");
}

#[tokio::test]
async fn the_largest_order_is_accepted() {
    let response = api().call(post(&format!(r#"{{"pizzas": {MAX_PIZZAS}}}"#))).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
}

#[tokio::test]
async fn unknown_orders_routes_and_methods_get_json_errors() {
    let api = api();
    for (method, path, status) in [
        ("GET", format!("/orders/{}", Uuid::new_v4()), StatusCode::NOT_FOUND),
        ("GET", "/orders/not-a-uuid".to_owned(), StatusCode::NOT_FOUND),
        ("GET", "/menu".to_owned(), StatusCode::NOT_FOUND),
        ("DELETE", "/orders".to_owned(), StatusCode::METHOD_NOT_ALLOWED),
    ] {
        let response = api.call(request(method, &path, None, "")).await;
        assert_eq!(response.status(), status, "{method} {path}");
        assert!(json_of(&response)["error"].is_string());
    }
}

#[tokio::test]
async fn a_retry_with_the_same_key_finds_its_order_and_another_request_under_that_key_is_refused() {
    let api = api();
    let first = json_of(&api.call(with_key(post(r#"{"pizzas": 2}"#), "client-42")).await);
    let retry = json_of(&api.call(with_key(post(r#"{"pizzas": 2}"#), "client-42")).await);
    assert_eq!(first["order_id"], retry["order_id"]);
    assert_eq!(api.desk.placed().len(), 1, "announced once, with the order");
    let other_customer =
        as_customer(with_key(anonymous("POST", "/orders", None, r#"{"pizzas": 2}"#), "client-42"), "c-7");
    let theirs = json_of(&api.call(other_customer).await);
    assert_ne!(theirs["order_id"], first["order_id"], "keys are scoped per customer");

    for other in [r#"{"pizzas": 5}"#, r#"{"pizzas": 2, "payment": {"card_token": "tok_other"}}"#] {
        let reused = api.call(with_key(post(other), "client-42")).await;
        assert_eq!(reused.status(), StatusCode::UNPROCESSABLE_ENTITY, "{other}");
        assert_eq!(json_of(&reused)["error"], "idempotency_key_reused");
    }
    let order_id: Uuid = first["order_id"].as_str().and_then(|s| s.parse().ok()).expect("id");
    let stored = api.desk.find(order_id).await.expect("reads").expect("stored").order;
    assert_eq!((stored.pizzas, stored.status), (2, OrderStatus::Placed), "the first order stands");
}

#[tokio::test]
async fn a_client_traceparent_is_continued() {
    let api = api();
    let trace = TraceContext::start(Uuid::new_v4());
    let mut request = post(r#"{"pizzas": 1}"#);
    request.headers_mut().insert(TRACEPARENT, http::HeaderValue::from_str(&trace.traceparent()).expect("header"));
    api.call(request).await;
    assert_eq!(
        api.desk.placed()[0].announcement(&TopicArn("orders".into())).trace.map(|t| t.trace_id),
        Some(trace.trace_id)
    );
}
