use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use uuid::Uuid;

use super::{Payment, PaymentLedger, PaymentStatus, Recorded, Refund, StoreError};

/// The ledger in memory, with the DynamoDB ledger's conditional semantics, for tests.
#[derive(Default)]
pub struct InMemoryLedger {
    payments: Mutex<HashMap<Uuid, Payment>>,
    limits: Mutex<HashMap<String, u64>>,
}

fn poisoned<T>(_: T) -> StoreError {
    StoreError::Unavailable("poisoned lock".into())
}

#[async_trait]
impl PaymentLedger for InMemoryLedger {
    async fn record(&self, payment: &Payment) -> Result<Recorded, StoreError> {
        let mut payments = self.payments.lock().map_err(poisoned)?;
        if let Some(existing) = payments.get(&payment.order_id) {
            return Ok(Recorded::Existing(existing.clone()));
        }
        payments.insert(payment.order_id, payment.clone());
        Ok(Recorded::New(payment.clone()))
    }

    async fn refund(&self, order_id: Uuid) -> Result<Refund, StoreError> {
        let mut payments = self.payments.lock().map_err(poisoned)?;
        Ok(match payments.get_mut(&order_id) {
            Some(payment) if payment.status == PaymentStatus::Charged => {
                payment.status = PaymentStatus::Refunded;
                Refund::Refunded(payment.clone())
            }
            Some(payment) if payment.status == PaymentStatus::Refunded => Refund::AlreadyRefunded(payment.clone()),
            other => Refund::NothingCharged(other.cloned()),
        })
    }

    async fn find(&self, order_id: Uuid) -> Result<Option<Payment>, StoreError> {
        Ok(self.payments.lock().map_err(poisoned)?.get(&order_id).cloned())
    }

    async fn credit_limit(&self, customer_id: &str) -> Result<Option<u64>, StoreError> {
        Ok(self.limits.lock().map_err(poisoned)?.get(customer_id).copied())
    }

    async fn set_credit_limit(&self, customer_id: &str, limit_cents: u64) -> Result<(), StoreError> {
        self.limits.lock().map_err(poisoned)?.insert(customer_id.to_owned(), limit_cents);
        Ok(())
    }
}
