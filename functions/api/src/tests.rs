use super::*;
use async_trait::async_trait;
use serde_json::{Value, json};
use shared::bus::{InMemoryPublisher, PublishError};
use shared::envelope::IncomingEvent;
use shared::http::Body;
use shared::orders::InMemoryOrders;

type TestApi = OrderApi<InMemoryOrders, InMemoryPublisher>;

fn api() -> TestApi {
    OrderApi::new(InMemoryOrders::default(), InMemoryPublisher::default(), TopicArn("orders".into()))
}

fn request(method: &str, path: &str, content_type: Option<&str>, body: &str) -> Request {
    let mut builder = http::Request::builder().method(method).uri(path);
    if let Some(content_type) = content_type {
        builder = builder.header("content-type", content_type);
    }
    builder.body(Body::Text(body.to_owned())).expect("valid request")
}

fn post(body: &str) -> Request {
    request("POST", "/orders", Some("application/json"), body)
}

fn json_of(response: &Response) -> Value {
    match response.body() {
        Body::Text(text) => serde_json::from_str(text).expect("JSON body"),
        other => panic!("expected a text body, got {other:?}"),
    }
}

#[tokio::test]
async fn placing_an_order_stores_it_announces_it_and_points_to_it() {
    let api = api();
    let response = api.call(post(r#"{"pizzas": 3}"#)).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let body = json_of(&response);
    assert_eq!(body["status"], "PLACED");
    let order_id: Uuid = body["order_id"].as_str().and_then(|id| id.parse().ok()).expect("an order id");
    assert_eq!(response.headers()["location"], format!("/orders/{order_id}").as_str());

    let published: Vec<IncomingEvent> = api.publisher.published().into_iter().map(|(_, e)| e).collect();
    assert_eq!(published.len(), 1);
    let placed = published[0].decode::<OrderPlaced>().expect("OrderPlaced");
    let expected = OrderPlaced {
        order_id,
        pizzas: 3,
        customer_id: "guest".into(),
        card_token: "tok_visa".into(),
        amount_cents: 3 * shared::menu::PIZZA_PRICE_CENTS,
    };
    assert_eq!(placed.data, expected);
    assert_eq!(placed.correlation_id, order_id.to_string());

    let shown = api.call(request("GET", &format!("/orders/{order_id}"), None, "")).await;
    assert_eq!(shown.status(), StatusCode::OK);
    let shown = json_of(&shown);
    assert_eq!(shown["status"], "PLACED");
    assert_eq!(shown["pizzas_ordered"], 3);
    assert_eq!(shown["amount_cents"], 3 * shared::menu::PIZZA_PRICE_CENTS);
    assert_eq!(shown["charged_cents"], 0);
    assert_eq!(shown["reason"], Value::Null);
    assert_eq!(shown["pizzas"], json!([]));
}

#[tokio::test]
async fn a_customer_and_a_card_travel_with_the_order() {
    let api = api();
    let body = r#"{"pizzas": 2, "customer_id": "c-42", "payment": {"card_token": "tok_chargeDeclined"}}"#;
    let response = api.call(post(body)).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let placed = api.publisher.published()[0].1.decode::<OrderPlaced>().expect("OrderPlaced").data;
    assert_eq!((placed.customer_id.as_str(), placed.card_token.as_str()), ("c-42", "tok_chargeDeclined"));
    assert_eq!(placed.amount_cents, 2 * shared::menu::PIZZA_PRICE_CENTS);
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
async fn a_bad_request_is_a_400_with_a_json_error_and_nothing_is_placed() {
    let cases = [
        (Some("application/json"), "{", "invalid_body"),
        (Some("application/json"), "[1]", "invalid_body"),
        (Some("application/json"), "", "invalid_body"),
        (Some("application/json"), r#"{"pizza": 2}"#, "invalid_pizzas"),
        (Some("application/json"), r#"{"pizzas": 0}"#, "invalid_pizzas"),
        (Some("application/json"), r#"{"pizzas": 51}"#, "invalid_pizzas"),
        (Some("application/json"), r#"{"pizzas": -1}"#, "invalid_pizzas"),
        (Some("application/json"), r#"{"pizzas": 2.5}"#, "invalid_pizzas"),
        (Some("application/json"), r#"{"pizzas": "3"}"#, "invalid_pizzas"),
        (Some("application/json"), r#"{"pizzas": 1, "customer_id": ""}"#, "invalid_customer"),
        (Some("application/json"), r#"{"pizzas": 1, "customer_id": 42}"#, "invalid_customer"),
        (Some("application/json"), r#"{"pizzas": 1, "customer_id": "a b"}"#, "invalid_customer"),
        (Some("application/json"), r#"{"pizzas": 1, "payment": "tok_visa"}"#, "invalid_payment"),
        (Some("application/json"), r#"{"pizzas": 1, "payment": {}}"#, "invalid_payment"),
        (Some("text/plain"), r#"{"pizzas": 3}"#, "unsupported_content_type"),
        (Some("multipart/form-data; boundary=x"), r#"{"pizzas": 3}"#, "unsupported_content_type"),
    ];
    let api = api();
    for (content_type, body, code) in cases {
        let response = api.call(request("POST", "/orders", content_type, body)).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{content_type:?} {body}");
        let error = json_of(&response);
        assert_eq!(error["error"], code, "{content_type:?} {body}");
        assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    assert!(api.publisher.published().is_empty(), "a rejected request publishes nothing");
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
async fn a_retried_request_with_an_idempotency_key_places_one_order() {
    let api = api();
    let with_key = |body: &str| {
        let mut request = post(body);
        request.headers_mut().insert("idempotency-key", http::HeaderValue::from_static("client-42-attempt"));
        request
    };
    let first = json_of(&api.call(with_key(r#"{"pizzas": 2}"#)).await);
    let retry = json_of(&api.call(with_key(r#"{"pizzas": 2}"#)).await);
    assert_eq!(first["order_id"], retry["order_id"]);
    let ids: Vec<Uuid> = api.publisher.published().iter().map(|(_, e)| e.id).collect();
    assert_eq!(ids.len(), 2, "announced again while PLACED");
    assert_eq!(ids[0], ids[1], "with the same event id, so the kitchen sees it once");

    let reused = api.call(with_key(r#"{"pizzas": 5}"#)).await;
    assert_eq!(reused.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

struct BrokenBus;

#[async_trait]
impl EventPublisher for BrokenBus {
    async fn publish(&self, topic: &TopicArn, _: &[IncomingEvent]) -> Result<(), PublishError> {
        Err(PublishError::Failed { topic: topic.clone(), reason: "bus down".into() })
    }
}

#[tokio::test]
async fn an_order_that_cannot_be_announced_is_taken_back() {
    let api = OrderApi::new(InMemoryOrders::default(), BrokenBus, TopicArn("orders".into()));
    let mut request = post(r#"{"pizzas": 1}"#);
    request.headers_mut().insert("idempotency-key", http::HeaderValue::from_static("k"));
    let response = api.call(request).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(json_of(&response)["error"], "unavailable");
    let order_id = derived_id(&["order", "k"]);
    assert_eq!(api.orders.find(order_id).await.expect("reads"), None);
}

/// The sample API Gateway events in `events/apigw`, through lambda_http's own conversion.
#[tokio::test]
async fn the_sample_requests_get_the_documented_answers() {
    let api = api();
    let sample = |json: &str| lambda_http::request::from_str(json).expect("a valid API Gateway event");
    let placed = api.call(sample(include_str!("../../../events/apigw/post-order.json"))).await;
    assert_eq!(placed.status(), StatusCode::ACCEPTED);
    let too_many = api.call(sample(include_str!("../../../events/apigw/post-order-out-of-range.json"))).await;
    assert_eq!(too_many.status(), StatusCode::BAD_REQUEST);
    let unknown = api.call(sample(include_str!("../../../events/apigw/get-order.json"))).await;
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
}
