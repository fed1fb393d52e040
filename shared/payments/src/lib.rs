//! The payment ledger: one payment per order, whatever arrives twice. A charge is a
//! conditional put keyed by the order; a refund is the conditional move CHARGED → REFUNDED.

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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PaymentStatus {
    Charged,
    Declined,
    Refunded,
    /// The order was cancelled before it was charged: it never will be.
    Voided,
}

impl PaymentStatus {
    pub fn as_str(self) -> &'static str {
        variant_name(&self)
    }

    pub fn parse(text: &str) -> Option<Self> {
        parse_variant(text)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Payment {
    pub order_id: Uuid,
    pub customer_id: String,
    pub amount_cents: u64,
    pub status: PaymentStatus,
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

#[derive(Debug, Clone, PartialEq)]
pub enum Refund {
    /// This call refunded the charge.
    Refunded(Payment),
    AlreadyRefunded(Payment),
    /// Nothing was charged (declined, voided, or no payment yet).
    NothingCharged(Option<Payment>),
}

#[async_trait]
pub trait PaymentLedger: Send + Sync {
    /// The credit limits set for these customers (one read for a whole batch); a customer
    /// without one is absent.
    async fn credit_limits(&self, customers: &[&str]) -> Result<HashMap<String, u64>, StoreError>;
    /// Records the payment of an order unless one is recorded already.
    async fn record(&self, payment: &Payment) -> Result<Recorded, StoreError>;
    /// CHARGED → REFUNDED, at most once.
    async fn refund(&self, order_id: Uuid) -> Result<Refund, StoreError>;
    async fn find(&self, order_id: Uuid) -> Result<Option<Payment>, StoreError>;
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
