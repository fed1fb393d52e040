//! The payment service.
//! - `OrderPlaced`: asks the (simulated) card provider, records the outcome once per order
//!   and announces `PaymentProcessed` or `PaymentFailed`. A redelivery finds the recorded
//!   outcome and announces it again, as the same event: no order is charged twice.
//! - `OrderCancelled`: refunds a charge once (`CHARGED → REFUNDED`) and announces
//!   `PaymentRefunded`. A cancellation that overtakes its `OrderPlaced` voids the payment
//!   first, so the late `OrderPlaced` charges nothing.

use async_trait::async_trait;
use shared::batch::{EventHandler, HandlerError};
use shared::bus::{EventPublisher, SnsPublisher, TopicArn};
use shared::config::{ConfigError, Env};
use shared::envelope::{Envelope, Event, IncomingEvent, derived_id};
use shared::events::{DeclineReason, OrderCancelled, OrderPlaced, PaymentFailed, PaymentProcessed, PaymentRefunded};
use shared::payments::{DynamoLedger, Payment, PaymentLedger, PaymentStatus, Recorded, Refund};
use shared::telemetry::{Metrics, Unit};
use tracing::info;
use uuid::Uuid;

const SOURCE: &str = "payment";

/// The card token the simulated provider always declines.
pub const DECLINED_CARD_TOKEN: &str = "tok_chargeDeclined";

/// The simulated card provider: declines one test token, and any amount over the
/// customer's credit limit.
pub fn authorize(card_token: &str, amount_cents: u64, credit_limit_cents: u64) -> Result<(), DeclineReason> {
    if card_token == DECLINED_CARD_TOKEN {
        return Err(DeclineReason::CardDeclined);
    }
    if amount_cents > credit_limit_cents {
        return Err(DeclineReason::OverLimit);
    }
    Ok(())
}

pub struct PaymentService<L, P> {
    ledger: L,
    publisher: P,
    payments_topic: TopicArn,
    /// The credit limit of a customer without one of their own.
    default_limit_cents: u64,
    metrics: Metrics,
}

impl PaymentService<DynamoLedger, SnsPublisher> {
    pub fn from_env(env: &Env, aws: &aws_config::SdkConfig) -> Result<Self, ConfigError> {
        let default_limit_cents = env
            .require("DEFAULT_CREDIT_LIMIT_CENTS")?
            .parse()
            .map_err(|e| ConfigError::Invalid { name: "DEFAULT_CREDIT_LIMIT_CENTS", reason: format!("{e}") })?;
        Ok(Self::new(
            DynamoLedger::new(aws, env.require("PAYMENTS_TABLE")?),
            SnsPublisher::new(aws),
            TopicArn(env.require("PAYMENTS_TOPIC_ARN")?.to_owned()),
            default_limit_cents,
            Metrics::from_env(env),
        ))
    }
}

impl<L: PaymentLedger, P: EventPublisher> PaymentService<L, P> {
    pub fn new(ledger: L, publisher: P, payments_topic: TopicArn, default_limit_cents: u64, metrics: Metrics) -> Self {
        Self { ledger, publisher, payments_topic, default_limit_cents, metrics }
    }

    async fn charge(&self, event: &Envelope<OrderPlaced>) -> Result<(), HandlerError> {
        let placed = &event.data;
        let limit = self.ledger.credit_limit(&placed.customer_id).await?.unwrap_or(self.default_limit_cents);
        let outcome = authorize(&placed.card_token, placed.amount_cents, limit);
        let payment = Payment {
            order_id: placed.order_id,
            customer_id: placed.customer_id.clone(),
            amount_cents: placed.amount_cents,
            status: if outcome.is_ok() { PaymentStatus::Charged } else { PaymentStatus::Declined },
            decline_reason: outcome.err(),
        };
        let payment = match self.ledger.record(&payment).await? {
            Recorded::New(payment) => {
                info!(order_id = %payment.order_id, status = payment.status.as_str(), amount_cents = payment.amount_cents,
                    "payment recorded");
                let metric =
                    if payment.status == PaymentStatus::Charged { "PaymentsCharged" } else { "PaymentsDeclined" };
                self.metrics.emit(&[(metric, 1.0, Unit::Count)]);
                payment
            }
            // The first outcome stands, whatever this delivery would have decided.
            Recorded::Existing(payment) => payment,
        };
        self.announce(event.id, &payment).await
    }

    /// Announces a recorded payment; the event id is fixed per order and outcome.
    async fn announce(&self, cause: Uuid, payment: &Payment) -> Result<(), HandlerError> {
        let order_id = payment.order_id;
        let event = match (payment.status, payment.decline_reason) {
            (PaymentStatus::Charged, _) => {
                let data = PaymentProcessed {
                    order_id,
                    customer_id: payment.customer_id.clone(),
                    amount_cents: payment.amount_cents,
                };
                outgoing(order_id, cause, data)
            }
            (PaymentStatus::Declined, Some(reason)) => {
                let data = PaymentFailed {
                    order_id,
                    customer_id: payment.customer_id.clone(),
                    amount_cents: payment.amount_cents,
                    reason,
                };
                outgoing(order_id, cause, data)
            }
            // Refunded or voided: the order is cancelled, there is nothing to announce.
            _ => return Ok(()),
        };
        self.publisher.publish(&self.payments_topic, &[event]).await.map_err(HandlerError::from)
    }

    async fn refund(&self, event: &Envelope<OrderCancelled>) -> Result<(), HandlerError> {
        let order_id = event.data.order_id;
        let refunded = match self.ledger.refund(order_id).await? {
            Refund::Refunded(payment) => {
                info!(%order_id, amount_cents = payment.amount_cents, "charge refunded");
                self.metrics.emit(&[("PaymentsRefunded", 1.0, Unit::Count)]);
                payment
            }
            Refund::AlreadyRefunded(payment) => payment,
            Refund::NothingCharged(Some(payment)) => {
                info!(%order_id, status = payment.status.as_str(), "nothing charged; nothing to refund");
                return Ok(());
            }
            Refund::NothingCharged(None) => return self.void(event).await,
        };
        self.announce_refund(event.id, &refunded).await
    }

    /// The cancellation overtook the order: void its payment so it is never charged.
    async fn void(&self, event: &Envelope<OrderCancelled>) -> Result<(), HandlerError> {
        let order_id = event.data.order_id;
        let void = Payment {
            order_id,
            customer_id: String::new(),
            amount_cents: 0,
            status: PaymentStatus::Voided,
            decline_reason: None,
        };
        match self.ledger.record(&void).await? {
            Recorded::New(_) => {
                info!(%order_id, "cancelled before it was charged; payment voided");
                Ok(())
            }
            // The charge landed in between: refund it after all.
            Recorded::Existing(_) => match self.ledger.refund(order_id).await? {
                Refund::Refunded(payment) | Refund::AlreadyRefunded(payment) => {
                    self.announce_refund(event.id, &payment).await
                }
                Refund::NothingCharged(_) => Ok(()),
            },
        }
    }

    async fn announce_refund(&self, cause: Uuid, payment: &Payment) -> Result<(), HandlerError> {
        let data = PaymentRefunded { order_id: payment.order_id, amount_cents: payment.amount_cents };
        let event = outgoing(payment.order_id, cause, data);
        self.publisher.publish(&self.payments_topic, &[event]).await.map_err(HandlerError::from)
    }
}

/// An event about an order whose id depends only on the order and the event type.
fn outgoing<E: Event>(order_id: Uuid, cause: Uuid, data: E) -> IncomingEvent {
    let id = derived_id(&[&order_id.to_string(), E::TYPE]);
    let mut event = Envelope::identified(id, SOURCE, order_id.to_string(), data);
    event.causation_id = Some(cause);
    event.to_incoming()
}

#[async_trait]
impl<L: PaymentLedger, P: EventPublisher> EventHandler for PaymentService<L, P> {
    async fn handle(&self, event: &IncomingEvent) -> Result<(), HandlerError> {
        if event.is::<OrderPlaced>() {
            self.charge(&event.decode()?).await
        } else if event.is::<OrderCancelled>() {
            self.refund(&event.decode()?).await
        } else {
            Err(HandlerError::Rejected(format!("the payment service does not handle {}", event.event_type)))
        }
    }
}

#[cfg(test)]
mod tests;
