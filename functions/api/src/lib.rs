//! The HTTP API behind API Gateway, for signed-in customers: API Gateway's JWT authorizer
//! verifies the token, and the customer is its subject (`sub`).
//! - `POST /orders` `{"pizzas": N, "payment": {"card_token": "…"}}` prices the order from
//!   the menu and stores it as `PLACED` together with its `OrderPlaced` announcement, in
//!   one DynamoDB transaction: the outbox relay publishes the announcement, so an order is
//!   never stored unannounced or announced unstored. The card token is sealed with KMS
//!   before it enters the announcement (only the payment service may open it); the order
//!   keeps a fingerprint of it. A `customer_id` in the body must be the token's subject.
//! - `GET /orders/{id}` shows one of the customer's orders and its finished pizzas;
//!   anyone else's order is not found.
//!
//! Every answer is JSON, errors included (`{"error": code, "message": text}`).

mod request;
mod view;

use async_trait::async_trait;
use http::{Method, StatusCode};
use lambda_http::RequestExt;
use lambda_kit::faults::{FaultPoint, Faults};
use lambda_kit::http::{HttpHandler, Request, Response, error_response, json_response, jwt_claims};
use lambda_kit::trace::{TRACEPARENT, TraceContext};
use lambda_kit::{ConfigError, Env, TopicArn};
use orders::{DynamoOrders, Order, OrderDesk, Placement};
use pizza_events::Envelope;
use pizza_events::Outgoing;
use pizza_events::catalogue::{CardToken, OrderPlaced};
use sealing::KmsDataKeys;
use tracing::{Instrument, error, info, info_span};
use uuid::Uuid;

pub use request::{MAX_BODY_BYTES, MAX_PIZZAS, PlaceOrder, RequestError};

const SOURCE: &str = "api";

pub struct OrderApi<D> {
    desk: D,
    orders_topic: TopicArn,
    /// Seals card tokens before they enter an event.
    cards: sealing::Envelope,
    faults: Faults,
}

impl OrderApi<DynamoOrders> {
    pub fn from_env(env: &Env, aws: &aws_config::SdkConfig) -> Result<Self, ConfigError> {
        let desk = DynamoOrders::new(aws, env.require("ORDERS_TABLE")?).with_outbox(env.require("OUTBOX_TABLE")?);
        let cards = sealing::Envelope::new(KmsDataKeys::new(aws, env.require("CARD_TOKEN_KEY_ID")?));
        Ok(Self::new(desk, TopicArn(env.require("ORDERS_TOPIC_ARN")?.to_owned()), cards)
            .with_faults(Faults::from_env(env)?))
    }
}

/// A one-way fingerprint of a customer's card token: enough to tell a retry that names
/// another card, without storing the token.
pub fn payment_fingerprint(customer_id: &str, card_token: &str) -> String {
    orders::customer_fingerprint(customer_id, card_token)
}

/// Why a request has no customer to act for.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
enum SignInError {
    /// API Gateway lets no request without a valid token through; without one here, the
    /// function is behind no authorizer, which must not mean "anyone may".
    #[error("sign in: send `Authorization: Bearer <token>`")]
    Unauthenticated,
    #[error("the token's subject is not a customer id (1 to 64 letters, digits, '-' or '_')")]
    InvalidSubject,
}

impl SignInError {
    fn response(self) -> Response {
        match self {
            SignInError::Unauthenticated => error_response(StatusCode::UNAUTHORIZED, "unauthenticated", self),
            SignInError::InvalidSubject => error_response(StatusCode::FORBIDDEN, "invalid_subject", self),
        }
    }
}

/// The signed-in customer: the subject of the token API Gateway's authorizer verified.
fn signed_in_customer(request: &Request) -> Result<&str, SignInError> {
    let subject = jwt_claims(request).and_then(|claims| claims.get("sub")).ok_or(SignInError::Unauthenticated)?;
    if request::is_customer_id(subject) { Ok(subject) } else { Err(SignInError::InvalidSubject) }
}

impl<D: OrderDesk> OrderApi<D> {
    pub fn new(desk: D, orders_topic: TopicArn, cards: sealing::Envelope) -> Self {
        Self { desk, orders_topic, cards, faults: Faults::none() }
    }

    /// With the crash points a chaos run arms (see `lambda_kit::faults`).
    pub fn with_faults(mut self, faults: Faults) -> Self {
        self.faults = faults;
        self
    }

    pub fn desk(&self) -> &D {
        &self.desk
    }

    async fn place(&self, request: &Request, customer_id: &str, trace: TraceContext, request_id: &str) -> Response {
        let placement = match PlaceOrder::from_request(request) {
            Ok(placement) => placement,
            Err(err) => return error_response(err.status(), err.code(), &err),
        };
        if let Some(named) = placement.customer_id.as_deref().filter(|named| *named != customer_id) {
            return error_response(
                StatusCode::FORBIDDEN,
                "forbidden_customer",
                format!("signed in as {customer_id:?}, this request cannot order for {named:?}"),
            );
        }
        // Random, never derived from the Idempotency-Key: an order id cannot be guessed.
        let order_id = Uuid::new_v4();
        tracing::Span::current().record("correlation_id", tracing::field::display(order_id));
        let order = Order::place(
            order_id,
            customer_id,
            placement.pizzas,
            placement.amount_cents(),
            payment_fingerprint(customer_id, &placement.card_token),
        );
        let context = OrderPlaced::card_context(order_id, customer_id);
        let card_token = match self.cards.seal(placement.card_token.as_bytes(), &context).await {
            Ok(sealed) => CardToken::Sealed(sealed),
            Err(err) => return unavailable(&err),
        };
        let announcement = self.announcement(&order, card_token, trace);
        let current = match self.desk.place(&order, placement.idempotency_key.as_deref(), &announcement).await {
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
        let order_id = current.order_id;
        // A retry answers for the order placed first: its logs correlate with that one.
        tracing::Span::current().record("correlation_id", tracing::field::display(order_id));
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
    fn announcement(&self, order: &Order, card_token: CardToken, trace: TraceContext) -> Outgoing {
        let id = orders::announcement_id(order.order_id);
        let data = OrderPlaced {
            order_id: order.order_id,
            pizzas: order.pizzas,
            customer_id: order.customer_id.clone(),
            card_token,
            amount_cents: order.amount_cents,
        };
        let event = Envelope::identified(id, SOURCE, order.order_id.to_string(), data).to_wire();
        Outgoing { trace: Some(trace.child_for(event.id)), ..Outgoing::new(&self.orders_topic, event) }
    }

    async fn show(&self, id: &str, customer_id: &str) -> Response {
        let Ok(order_id) = id.parse::<Uuid>() else {
            return not_found(id);
        };
        tracing::Span::current().record("correlation_id", tracing::field::display(order_id));
        match self.desk.find(order_id).await {
            // Another customer's order is not found: its existence is theirs to know.
            Ok(Some(details)) if details.order.customer_id == customer_id => {
                json_response(StatusCode::OK, &view::order(&details))
            }
            Ok(_) => not_found(id),
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
            let customer = match (request.method(), segments.as_slice()) {
                (&Method::POST, ["orders"]) | (&Method::GET, ["orders", _]) => match signed_in_customer(&request) {
                    Ok(customer) => customer,
                    Err(refused) => return refused.response(),
                },
                _ => "",
            };
            match (request.method(), segments.as_slice()) {
                (&Method::POST, ["orders"]) => self.place(&request, customer, trace, &request_id).await,
                (&Method::GET, ["orders", id]) => self.show(id, customer).await,
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
    use lambda_kit::http::{Body, with_jwt_claims};
    use orders::{InMemoryOrders, OrderStatus};
    use sealing::LocalDataKeys;
    use serde_json::{Value, json};

    const CUSTOMER: &str = "c-42";

    fn api() -> OrderApi<InMemoryOrders> {
        api_with(LocalDataKeys::new())
    }

    fn api_with(keys: LocalDataKeys) -> OrderApi<InMemoryOrders> {
        OrderApi::new(InMemoryOrders::default(), TopicArn("orders".into()), sealing::Envelope::new(keys))
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

        let [announced] = api.desk.announced().try_into().expect("one announcement in the outbox");
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
        let announced = &api.desk.announced()[0];
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
        assert!(api.desk.announced().is_empty());
    }

    #[tokio::test]
    async fn a_customer_orders_for_themselves_and_sees_only_their_orders() {
        let api = api();
        let for_another = api.call(post(r#"{"pizzas": 1, "customer_id": "c-7"}"#)).await;
        assert_eq!(for_another.status(), StatusCode::FORBIDDEN);
        assert_eq!(json_of(&for_another)["error"], "forbidden_customer");
        assert!(api.desk.announced().is_empty(), "nothing placed for another customer");

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
        assert_eq!(api.desk.announced().len(), 1, "announced once, with the order");
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
        assert_eq!(api.desk.announced()[0].trace.map(|t| t.trace_id), Some(trace.trace_id));
    }
}
