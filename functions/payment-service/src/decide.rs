//! The payment service's decisions, with no I/O: what it is asked, what the simulated
//! card provider answers, and what it announces about a recorded payment. An
//! announcement's id is fixed by the order and the event type, so announcing a recorded
//! outcome again is the same event.

use lambda_kit::{RecordError, TopicArn};
use payments::{Payment, PaymentStatus};
use pizza_events::Outgoing;
use pizza_events::catalogue::{
    DeclineReason, OrderCancelled, OrderPlaced, PaymentFailed, PaymentProcessed, PaymentRefunded,
};
use pizza_events::{Envelope, Event, WireEvent};
use uuid::Uuid;

const SOURCE: &str = "payment";

/// The card token the simulated provider always declines.
pub const DECLINED_CARD_TOKEN: &str = "tok_chargeDeclined";

/// Every event the payment service is subscribed to, decoded once.
pub enum PaymentInput {
    /// An order to charge.
    Charge(OrderPlaced),
    /// A cancelled order to refund (or to void, if its charge has not happened yet).
    Refund { order_id: Uuid },
}

impl PaymentInput {
    /// Decodes `event`; an event the service is not subscribed to, or one that does not
    /// decode, is poison.
    pub fn decode(event: &WireEvent) -> Result<Self, RecordError> {
        match event.event_type.as_str() {
            OrderPlaced::TYPE => Ok(Self::Charge(event.decode::<OrderPlaced>()?.data)),
            OrderCancelled::TYPE => Ok(Self::Refund { order_id: event.decode::<OrderCancelled>()?.data.order_id }),
            other => Err(RecordError::permanent(format!("the payment service does not handle {other}"))),
        }
    }
}

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

/// Where the payment service announces, and what.
pub struct Announcements {
    pub payments_topic: TopicArn,
}

impl Announcements {
    /// A recorded payment's outcome: processed, failed, or (refunded, voided: the order is
    /// cancelled) nothing.
    pub fn outcome(&self, cause: &WireEvent, payment: &Payment) -> Vec<Outgoing> {
        let Payment { order_id, customer_id, amount_cents, .. } = payment.clone();
        match (payment.status, payment.decline_reason) {
            (PaymentStatus::Charged, _) => {
                vec![self.announcement(cause, order_id, PaymentProcessed { order_id, customer_id, amount_cents })]
            }
            (PaymentStatus::Declined, Some(reason)) => {
                let data = PaymentFailed { order_id, customer_id, amount_cents, reason };
                vec![self.announcement(cause, order_id, data)]
            }
            _ => Vec::new(),
        }
    }

    /// A refunded charge.
    pub fn refund(&self, cause: &WireEvent, payment: &Payment) -> Vec<Outgoing> {
        let data = PaymentRefunded { order_id: payment.order_id, amount_cents: payment.amount_cents };
        vec![self.announcement(cause, payment.order_id, data)]
    }

    fn announcement<E: Event>(&self, cause: &WireEvent, order_id: Uuid, data: E) -> Outgoing {
        let order = order_id.to_string();
        Outgoing::new(&self.payments_topic, Envelope::of_fact(&[&order, E::TYPE], cause, SOURCE, data).to_wire())
    }
}
