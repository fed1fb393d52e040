//! The payment ledger: one payment per order, whatever arrives twice. A charge is a
//! conditional put keyed by the order; a refund is the conditional move CHARGED → REFUNDED.

#![warn(missing_docs)]

mod dynamo;
mod memory;

#[cfg(any(test, feature = "contract"))]
pub mod contract;

use std::collections::HashMap;

use async_trait::async_trait;
use dynamo_kit::StoreError;
use pizza_events::catalogue::DeclineReason;
use pizza_events::names::{parse_variant, variant_name};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use dynamo::DynamoLedger;
pub use memory::InMemoryLedger;

/// Where a payment stands. Charged may become refunded; nothing else changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PaymentStatus {
    /// The customer was charged the order's amount.
    Charged,
    /// The charge was declined: nothing was charged.
    Declined,
    /// The charge was given back after the order was cancelled.
    Refunded,
    /// The order was cancelled before it was charged: it never will be.
    Voided,
}

impl PaymentStatus {
    /// The status as stored: `CHARGED`, `DECLINED`, `REFUNDED` or `VOIDED`.
    pub fn as_str(self) -> &'static str {
        variant_name(&self)
    }

    /// A status from its stored name; `None` for anything else.
    pub fn parse(text: &str) -> Option<Self> {
        parse_variant(text)
    }
}

/// An order's payment: at most one an order.
#[derive(Debug, Clone, PartialEq)]
pub struct Payment {
    /// The order paid for.
    pub order_id: Uuid,
    /// Who pays.
    pub customer_id: String,
    /// The order's price.
    pub amount_cents: u64,
    /// Where it stands.
    pub status: PaymentStatus,
    /// Why it was declined, when it was.
    pub decline_reason: Option<DeclineReason>,
}

/// The outcome of recording a payment.
#[derive(Debug, Clone, PartialEq)]
pub enum Recorded {
    /// This call recorded it.
    New(Payment),
    /// The order's payment was recorded before (a duplicate, or a cancellation first).
    Existing(Payment),
}

/// The outcome of refunding an order.
#[derive(Debug, Clone, PartialEq)]
pub enum Refund {
    /// This call refunded the charge.
    Refunded(Payment),
    /// The charge was refunded before (a duplicate cancellation): nothing changed.
    AlreadyRefunded(Payment),
    /// Nothing was charged (declined, voided, or no payment yet).
    NothingCharged(Option<Payment>),
}

/// What the payment service needs: the payments of orders and the credit limits of customers.
#[async_trait]
pub trait PaymentLedger: Send + Sync {
    /// The credit limits set for these customers (one read for a whole batch); a customer
    /// without one is absent.
    async fn credit_limits(&self, customers: &[&str]) -> Result<HashMap<String, u64>, StoreError>;
    /// Records the payment of an order unless one is recorded already.
    async fn record(&self, payment: &Payment) -> Result<Recorded, StoreError>;
    /// CHARGED → REFUNDED, at most once.
    async fn refund(&self, order_id: Uuid) -> Result<Refund, StoreError>;
    /// The order's payment, if one is recorded.
    async fn find(&self, order_id: Uuid) -> Result<Option<Payment>, StoreError>;
    /// Sets how much a customer's order may cost before it is declined.
    async fn set_credit_limit(&self, customer_id: &str, limit_cents: u64) -> Result<(), StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_spelled_as_stored() {
        for status in [PaymentStatus::Charged, PaymentStatus::Declined, PaymentStatus::Refunded, PaymentStatus::Voided]
        {
            assert_eq!(PaymentStatus::parse(status.as_str()), Some(status));
        }
        assert_eq!(PaymentStatus::Voided.as_str(), "VOIDED");
    }
}
