//! The HTTP API behind API Gateway, for signed-in customers: API Gateway's JWT authorizer
//! verifies the token, and the customer is its subject (`sub`).
//! - `POST /orders` `{"pizzas": N, "payment": {"card_token": "…"}}` prices the order from
//!   the menu and stores it as `PLACED`, in one write, with what its `OrderPlaced` needs:
//!   the relay publishes that event from the orders table's stream, so an order is never
//!   stored unannounced or announced unstored. The card token is sealed with KMS before it
//!   is stored (only the payment service may open it), and removed once the order is paid
//!   or cancelled; the order keeps a fingerprint of it. A `customer_id` in the body must be
//!   the token's subject.
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
use lambda_kit::{ConfigError, Env};
use orders::{DynamoOrders, Order, OrderDesk, PlacedOrder, Placement};
use pizza_events::catalogue::{CardToken, OrderPlaced};
use sealing::KmsDataKeys;
use tracing::{Instrument, error, info, info_span};
use uuid::Uuid;

pub use request::{MAX_BODY_BYTES, MAX_PIZZAS, PlaceOrder, RequestError};

pub struct OrderApi<D> {
    desk: D,
    /// Seals card tokens before they enter an event.
    cards: sealing::Envelope,
    faults: Faults,
}

impl OrderApi<DynamoOrders> {
    pub fn from_env(env: &Env, aws: &aws_config::SdkConfig) -> Result<Self, ConfigError> {
        let desk = DynamoOrders::new(aws, env.require("ORDERS_TABLE")?);
        let cards = sealing::Envelope::new(KmsDataKeys::new(aws, env.require("CARD_TOKEN_KEY_ID")?));
        Ok(Self::new(desk, cards).with_faults(Faults::from_env(env)?))
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
    pub fn new(desk: D, cards: sealing::Envelope) -> Self {
        Self { desk, cards, faults: Faults::none() }
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
        let placed = PlacedOrder { order: order.clone(), card_token, trace: Some(trace) };
        let current = match self.desk.place(&placed, placement.idempotency_key.as_deref()).await {
            Ok(Placement::Placed) => {
                info!(pizzas = order.pizzas, "order placed");
                // A crash here leaves the order stored, which announces it: the relay
                // publishes it all the same, and the client's retry finds the order.
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
mod tests;
