//! The ledger in memory, with the DynamoDB ledger's conditional semantics, for tests.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use dynamo_kit::StoreError;
use uuid::Uuid;

use crate::{Payment, PaymentLedger, PaymentStatus, Recorded, Refund};

/// The ledger in memory, for tests and the contract suite: the same outcomes as the table's.
#[derive(Default)]
pub struct InMemoryLedger {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    payments: HashMap<Uuid, Payment>,
    limits: HashMap<String, u64>,
}

impl InMemoryLedger {
    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> Result<T, StoreError> {
        let mut state = self.state.lock().map_err(|_| StoreError::unavailable("poisoned lock"))?;
        Ok(f(&mut state))
    }
}

#[async_trait]
impl PaymentLedger for InMemoryLedger {
    async fn credit_limits(&self, customers: &[&str]) -> Result<HashMap<String, u64>, StoreError> {
        self.with(|state| {
            customers.iter().filter_map(|c| state.limits.get(*c).map(|limit| ((*c).to_owned(), *limit))).collect()
        })
    }

    async fn record(&self, payment: &Payment) -> Result<Recorded, StoreError> {
        self.with(|state| match state.payments.get(&payment.order_id) {
            Some(existing) => Recorded::Existing(existing.clone()),
            None => {
                state.payments.insert(payment.order_id, payment.clone());
                Recorded::New(payment.clone())
            }
        })
    }

    async fn refund(&self, order_id: Uuid) -> Result<Refund, StoreError> {
        self.with(|state| match state.payments.get_mut(&order_id) {
            Some(payment) if payment.status == PaymentStatus::Charged => {
                payment.status = PaymentStatus::Refunded;
                Refund::Refunded(payment.clone())
            }
            Some(payment) if payment.status == PaymentStatus::Refunded => Refund::AlreadyRefunded(payment.clone()),
            other => Refund::NothingCharged(other.cloned()),
        })
    }

    async fn find(&self, order_id: Uuid) -> Result<Option<Payment>, StoreError> {
        self.with(|state| state.payments.get(&order_id).cloned())
    }

    async fn set_credit_limit(&self, customer_id: &str, limit_cents: u64) -> Result<(), StoreError> {
        self.with(|state| {
            state.limits.insert(customer_id.to_owned(), limit_cents);
        })
    }
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn the_in_memory_ledger_keeps_the_contract() {
        crate::contract::payment_ledger(&super::InMemoryLedger::default()).await;
    }
}
