//! The HTTP API behind API Gateway:
//! - `POST /orders` `{"pizzas": N, "customer_id": "…", "payment": {"card_token": "…"}}`
//!   prices the order from the menu, stores it as `PLACED` and announces `OrderPlaced`;
//! - `GET /orders/{id}` shows the order and its finished pizzas.
//!
//! Every answer is JSON, errors included (`{"error": code, "message": text}`).

mod request;
mod view;

use async_trait::async_trait;
use http::{Method, StatusCode};
use shared::bus::{EventPublisher, SnsPublisher, TopicArn};
use shared::config::{ConfigError, Env};
use shared::envelope::{Envelope, Event, derived_id};
use shared::events::OrderPlaced;
use shared::http::{HttpHandler, Request, Response, error_response, json_response};
use shared::orders::{DynamoOrders, Order, OrderIntake, OrderStatus};
use tracing::{Instrument, error, info, info_span};
use uuid::Uuid;

pub use request::{MAX_PIZZAS, PlaceOrder, RequestError};

const SOURCE: &str = "api";

pub struct OrderApi<O, P> {
    orders: O,
    publisher: P,
    orders_topic: TopicArn,
}

impl OrderApi<DynamoOrders, SnsPublisher> {
    pub fn from_env(env: &Env, aws: &aws_config::SdkConfig) -> Result<Self, ConfigError> {
        let orders = DynamoOrders::new(aws, env.require("ORDERS_TABLE")?);
        let topic = TopicArn(env.require("ORDERS_TOPIC_ARN")?.to_owned());
        Ok(Self::new(orders, SnsPublisher::new(aws), topic))
    }
}

impl<O: OrderIntake, P: EventPublisher> OrderApi<O, P> {
    pub fn new(orders: O, publisher: P, orders_topic: TopicArn) -> Self {
        Self { orders, publisher, orders_topic }
    }

    async fn place(&self, request: &Request) -> Response {
        let placement = match PlaceOrder::from_request(request) {
            Ok(placement) => placement,
            Err(err) => return error_response(StatusCode::BAD_REQUEST, err.code(), &err),
        };
        // With an Idempotency-Key the order id is derived from it, so a retried request
        // finds the order it placed instead of placing another.
        let order_id = match &placement.idempotency_key {
            Some(key) => derived_id(&["order", key]),
            None => Uuid::new_v4(),
        };
        let span = info_span!("order", correlation_id = %order_id);
        async {
            let order = Order::place(order_id, &placement.customer_id, placement.pizzas, placement.amount_cents());
            let created = match self.orders.create(&order).await {
                Ok(created) => created,
                Err(err) => return unavailable(err),
            };
            let current = if created {
                order
            } else {
                match self.orders.find(order_id).await {
                    Ok(Some(details))
                        if details.order.pizzas == placement.pizzas
                            && details.order.customer_id == placement.customer_id =>
                    {
                        details.order
                    }
                    Ok(Some(_)) => {
                        return error_response(
                            StatusCode::UNPROCESSABLE_ENTITY,
                            "idempotency_key_reused",
                            "this Idempotency-Key was used for a different order",
                        );
                    }
                    Ok(None) => return unavailable("the order vanished while being read"),
                    Err(err) => return unavailable(err),
                }
            };
            // Announced again on a retry while still PLACED: the first attempt may have
            // stopped before announcing. The event id is fixed per order, so repeats collapse.
            if current.status == OrderStatus::Placed
                && let Err(response) = self.announce(&current, &placement.card_token).await
            {
                return response;
            }
            info!(pizzas = current.pizzas, created, "order placed");
            let mut response = json_response(
                StatusCode::ACCEPTED,
                &serde_json::json!({"order_id": order_id, "status": current.status.as_str()}),
            );
            if let Ok(location) = http::HeaderValue::from_str(&format!("/orders/{order_id}")) {
                response.headers_mut().insert(http::header::LOCATION, location);
            }
            response
        }
        .instrument(span)
        .await
    }

    async fn announce(&self, order: &Order, card_token: &str) -> Result<(), Response> {
        let id = derived_id(&[&order.order_id.to_string(), OrderPlaced::TYPE]);
        let data = OrderPlaced {
            order_id: order.order_id,
            pizzas: order.pizzas,
            customer_id: order.customer_id.clone(),
            card_token: card_token.to_owned(),
            amount_cents: order.amount_cents,
        };
        let event = Envelope::identified(id, SOURCE, order.order_id.to_string(), data).to_incoming();
        if let Err(err) = self.publisher.publish(&self.orders_topic, &[event]).await {
            error!(reason = %err, "could not announce the order; discarding it");
            // Nobody will ever cook an unannounced order: take it back so the client's
            // retry starts clean.
            if let Err(err) = self.orders.discard_placed(order.order_id).await {
                error!(reason = %err, "could not discard the unannounced order");
            }
            return Err(unavailable(err));
        }
        Ok(())
    }

    async fn show(&self, id: &str) -> Response {
        let Ok(order_id) = id.parse::<Uuid>() else {
            return not_found(id);
        };
        match self.orders.find(order_id).await {
            Ok(Some(details)) => json_response(StatusCode::OK, &view::order(&details)),
            Ok(None) => not_found(id),
            Err(err) => unavailable(err),
        }
    }
}

fn not_found(id: &str) -> Response {
    error_response(StatusCode::NOT_FOUND, "order_not_found", format!("no order {id:?}"))
}

fn unavailable(err: impl std::fmt::Display) -> Response {
    error!(reason = %err, "request failed");
    error_response(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "the order service is unavailable; retry later")
}

#[async_trait]
impl<O: OrderIntake, P: EventPublisher> HttpHandler for OrderApi<O, P> {
    async fn call(&self, request: Request) -> Response {
        let path = request.uri().path().trim_end_matches('/').to_owned();
        let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        match (request.method(), segments.as_slice()) {
            (&Method::POST, ["orders"]) => self.place(&request).await,
            (&Method::GET, ["orders", id]) => self.show(id).await,
            (_, ["orders"] | ["orders", _]) => {
                error_response(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "see the README for the API")
            }
            _ => error_response(StatusCode::NOT_FOUND, "not_found", format!("no route for {path}")),
        }
    }
}

#[cfg(test)]
mod tests;
