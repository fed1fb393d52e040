//! The HTTP API behind API Gateway:
//! - `POST /orders` `{"pizzas": N, "customer_id": "…", "payment": {"card_token": "…"}}`
//!   prices the order from the menu and stores it as `PLACED` together with its
//!   `OrderPlaced` announcement, in one DynamoDB transaction: the outbox relay publishes
//!   the announcement, so an order is never stored unannounced or announced unstored;
//! - `GET /orders/{id}` shows the order and its finished pizzas.
//!
//! Every answer is JSON, errors included (`{"error": code, "message": text}`).

mod request;
mod view;

use async_trait::async_trait;
use http::{Method, StatusCode};
use lambda_http::RequestExt;
use lambda_kit::faults::{FaultPoint, Faults};
use lambda_kit::http::{HttpHandler, Request, Response, error_response, json_response};
use lambda_kit::trace::{TRACEPARENT, TraceContext};
use lambda_kit::{ConfigError, Env, Outgoing, TopicArn};
use orders::{DynamoOrders, Order, OrderDesk, Placement};
use pizza_events::catalogue::OrderPlaced;
use pizza_events::{Envelope, derived_id};
use sha2::{Digest, Sha256};
use tracing::{Instrument, error, info, info_span};
use uuid::Uuid;

pub use request::{MAX_BODY_BYTES, MAX_PIZZAS, PlaceOrder, RequestError};

const SOURCE: &str = "api";

pub struct OrderApi<D> {
    desk: D,
    orders_topic: TopicArn,
    faults: Faults,
}

impl OrderApi<DynamoOrders> {
    pub fn from_env(env: &Env, aws: &aws_config::SdkConfig) -> Result<Self, ConfigError> {
        let desk = DynamoOrders::new(aws, env.require("ORDERS_TABLE")?).with_outbox(env.require("OUTBOX_TABLE")?);
        Ok(Self::new(desk, TopicArn(env.require("ORDERS_TOPIC_ARN")?.to_owned())).with_faults(Faults::from_env(env)?))
    }
}

/// The order id a client's Idempotency-Key stands for: a retry finds the order it placed.
pub fn order_id_for_key(idempotency_key: &str) -> Uuid {
    derived_id(&["order", idempotency_key])
}

/// A one-way fingerprint of a card token: enough to tell a retry that names another card,
/// without storing the token.
pub fn payment_fingerprint(card_token: &str) -> String {
    Sha256::digest(card_token.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

impl<D: OrderDesk> OrderApi<D> {
    pub fn new(desk: D, orders_topic: TopicArn) -> Self {
        Self { desk, orders_topic, faults: Faults::none() }
    }

    /// With the crash points a chaos run arms (see `lambda_kit::faults`).
    pub fn with_faults(mut self, faults: Faults) -> Self {
        self.faults = faults;
        self
    }

    pub fn desk(&self) -> &D {
        &self.desk
    }

    async fn place(&self, request: &Request, trace: TraceContext, request_id: &str) -> Response {
        let placement = match PlaceOrder::from_request(request) {
            Ok(placement) => placement,
            Err(err) => return error_response(err.status(), err.code(), &err),
        };
        let order_id = placement.idempotency_key.as_deref().map(order_id_for_key).unwrap_or_else(Uuid::new_v4);
        tracing::Span::current().record("correlation_id", tracing::field::display(order_id));
        let order = Order::place(
            order_id,
            &placement.customer_id,
            placement.pizzas,
            placement.amount_cents(),
            payment_fingerprint(&placement.card_token),
        );
        let announcement = self.announcement(&order, &placement.card_token, trace);
        let current = match self.desk.place(&order, &announcement).await {
            Ok(Placement::Placed) => {
                info!(pizzas = order.pizzas, "order placed");
                // A crash here leaves the order and its announcement stored together: the
                // relay publishes it all the same, and the client's retry finds the order.
                self.faults.at(FaultPoint::AfterWrite, request_id);
                order
            }
            Ok(Placement::Exists(existing)) if existing.same_request_as(&order) => {
                info!(status = existing.status.as_str(), "order placed before; the retry finds it");
                existing
            }
            Ok(Placement::Exists(_)) => {
                return error_response(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "idempotency_key_reused",
                    "this Idempotency-Key was used for a different order (pizzas, customer or card)",
                );
            }
            Err(err) => return unavailable(&err),
        };
        let mut response = json_response(
            StatusCode::ACCEPTED,
            &serde_json::json!({"order_id": order_id, "status": current.status.as_str()}),
        );
        if let Ok(location) = http::HeaderValue::from_str(&format!("/orders/{order_id}")) {
            response.headers_mut().insert(http::header::LOCATION, location);
        }
        response
    }

    /// `OrderPlaced`, its id fixed by the order, continuing the request's trace.
    fn announcement(&self, order: &Order, card_token: &str, trace: TraceContext) -> Outgoing {
        let id = orders::announcement_id(order.order_id);
        let data = OrderPlaced {
            order_id: order.order_id,
            pizzas: order.pizzas,
            customer_id: order.customer_id.clone(),
            card_token: card_token.to_owned(),
            amount_cents: order.amount_cents,
        };
        let event = Envelope::identified(id, SOURCE, order.order_id.to_string(), data).to_wire();
        Outgoing { trace: Some(trace.child_for(event.id)), ..Outgoing::new(&self.orders_topic, event) }
    }

    async fn show(&self, id: &str) -> Response {
        let Ok(order_id) = id.parse::<Uuid>() else {
            return not_found(id);
        };
        tracing::Span::current().record("correlation_id", tracing::field::display(order_id));
        match self.desk.find(order_id).await {
            Ok(Some(details)) => json_response(StatusCode::OK, &view::order(&details)),
            Ok(None) => not_found(id),
            Err(err) => unavailable(&err),
        }
    }
}

/// The trace a request continues: the client's `traceparent`, else the X-Ray trace Lambda
/// was invoked in, else a new one.
fn trace_of(request: &Request) -> TraceContext {
    let header = request.headers().get(TRACEPARENT).and_then(|v| v.to_str().ok());
    header
        .and_then(TraceContext::from_traceparent)
        .or_else(|| {
            request.lambda_context_ref().and_then(|c| c.xray_trace_id.as_deref()).and_then(TraceContext::from_xray)
        })
        .unwrap_or_else(|| TraceContext::start(Uuid::new_v4()))
}

fn not_found(id: &str) -> Response {
    error_response(StatusCode::NOT_FOUND, "order_not_found", format!("no order {id:?}"))
}

fn unavailable(err: &(dyn std::error::Error + 'static)) -> Response {
    error!(reason = %lambda_kit::describe(err), "request failed");
    error_response(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "the order service is unavailable; retry later")
}

#[async_trait]
impl<D: OrderDesk> HttpHandler for OrderApi<D> {
    async fn call(&self, request: Request) -> Response {
        let trace = trace_of(&request);
        let request_id = request.lambda_context_ref().map(|c| c.request_id.clone()).unwrap_or_default();
        let span = info_span!(
            "request",
            request_id = %request_id,
            trace_id = %trace.trace_id(),
            correlation_id = tracing::field::Empty,
        );
        async {
            let path = request.uri().path().trim_end_matches('/').to_owned();
            let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
            match (request.method(), segments.as_slice()) {
                (&Method::POST, ["orders"]) => self.place(&request, trace, &request_id).await,
                (&Method::GET, ["orders", id]) => self.show(id).await,
                (_, ["orders"] | ["orders", _]) => {
                    error_response(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "see the README for the API")
                }
                _ => error_response(StatusCode::NOT_FOUND, "not_found", format!("no route for {path}")),
            }
        }
        .instrument(span)
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_kit::http::Body;
    use orders::{InMemoryOrders, OrderStatus};
    use serde_json::{Value, json};

    fn api() -> OrderApi<InMemoryOrders> {
        OrderApi::new(InMemoryOrders::default(), TopicArn("orders".into()))
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

        let [announced] = api.desk.announced().try_into().expect("one announcement in the outbox");
        assert_eq!(announced.topic.0, "orders");
        let placed = announced.event.decode::<OrderPlaced>().expect("OrderPlaced");
        let expected = OrderPlaced {
            order_id,
            pizzas: 3,
            customer_id: "guest".into(),
            card_token: "tok_visa".into(),
            amount_cents: 3 * pizza_events::menu::PIZZA_PRICE_CENTS,
        };
        assert_eq!(placed.data, expected);
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
    async fn the_card_token_travels_in_the_announcement_and_only_its_fingerprint_is_stored() {
        let api = api();
        let body = r#"{"pizzas": 2, "customer_id": "c-42", "payment": {"card_token": "tok_chargeDeclined"}}"#;
        let order_id: Uuid =
            json_of(&api.call(post(body)).await)["order_id"].as_str().and_then(|s| s.parse().ok()).expect("id");
        let placed = api.desk.announced()[0].event.decode::<OrderPlaced>().expect("OrderPlaced").data;
        assert_eq!((placed.customer_id.as_str(), placed.card_token.as_str()), ("c-42", "tok_chargeDeclined"));
        let stored = api.desk.find(order_id).await.expect("reads").expect("stored").order;
        assert_eq!(stored.payment_fingerprint, payment_fingerprint("tok_chargeDeclined"));
        assert!(!stored.payment_fingerprint.contains("tok_"));
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
            (
                Some("application/json"),
                r#"{"pizzas": 1, "customer_id": ""}"#,
                StatusCode::BAD_REQUEST,
                "invalid_customer",
            ),
            (
                Some("application/json"),
                r#"{"pizzas": 1, "customer_id": 42}"#,
                StatusCode::BAD_REQUEST,
                "invalid_customer",
            ),
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
        assert!(api.desk.announced().is_empty(), "a rejected request announces nothing");
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
        assert_eq!(first["order_id"], json!(order_id_for_key("client-42")));
        assert_eq!(api.desk.announced().len(), 1, "announced once, with the order");

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
        assert_eq!(api.desk.announced()[0].trace.map(|t| t.trace_id), Some(trace.trace_id));
    }
}
