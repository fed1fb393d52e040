//! The payment ledger: one payment per order, whatever arrives twice. A charge is a
//! conditional put keyed by the order; a refund is the conditional move CHARGED → REFUNDED.

mod dynamo;
mod memory;

use async_trait::async_trait;
use uuid::Uuid;

pub use dynamo::DynamoLedger;
pub use memory::InMemoryLedger;

pub use crate::dynamo::StoreError;
use crate::events::DeclineReason;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaymentStatus {
    Charged,
    Declined,
    Refunded,
    /// The order was cancelled before it was charged: it never will be.
    Voided,
}

impl PaymentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentStatus::Charged => "CHARGED",
            PaymentStatus::Declined => "DECLINED",
            PaymentStatus::Refunded => "REFUNDED",
            PaymentStatus::Voided => "VOIDED",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Charged, Self::Declined, Self::Refunded, Self::Voided].into_iter().find(|s| s.as_str() == text)
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
    /// Records the payment of an order unless one is recorded already.
    async fn record(&self, payment: &Payment) -> Result<Recorded, StoreError>;
    /// CHARGED → REFUNDED, at most once.
    async fn refund(&self, order_id: Uuid) -> Result<Refund, StoreError>;
    async fn find(&self, order_id: Uuid) -> Result<Option<Payment>, StoreError>;
    /// The customer's credit limit, if one is set.
    async fn credit_limit(&self, customer_id: &str) -> Result<Option<u64>, StoreError>;
    async fn set_credit_limit(&self, customer_id: &str, limit_cents: u64) -> Result<(), StoreError>;
}
