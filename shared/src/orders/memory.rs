//! An in-memory order store with the same conditional semantics as the DynamoDB one,
//! for fast tests of the functions' logic.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use uuid::Uuid;

use crate::events::CancelReason;

use super::{
    CANCELLABLE, Completion, Order, OrderDetails, OrderIntake, OrderProgress, OrderStatus, PizzaStored, StoreError,
    StoredPizza, Transition,
};

#[derive(Default)]
pub struct InMemoryOrders {
    orders: Mutex<HashMap<Uuid, OrderDetails>>,
}

impl InMemoryOrders {
    fn with<T>(&self, f: impl FnOnce(&mut HashMap<Uuid, OrderDetails>) -> T) -> Result<T, StoreError> {
        let mut orders = self.orders.lock().map_err(|_| StoreError::Unavailable("poisoned lock".into()))?;
        Ok(f(&mut orders))
    }
}

impl InMemoryOrders {
    /// Applies `update` if `expected` holds, like a conditional write.
    fn change(
        &self,
        order_id: Uuid,
        expected: impl FnOnce(&Order) -> bool,
        update: impl FnOnce(&mut Order),
    ) -> Result<Transition, StoreError> {
        self.with(|orders| match orders.get_mut(&order_id) {
            Some(details) if expected(&details.order) => {
                update(&mut details.order);
                Transition::Applied(details.order.clone())
            }
            other => Transition::Rejected { current: other.map(|d| d.order.clone()) },
        })
    }
}

#[async_trait]
impl OrderIntake for InMemoryOrders {
    async fn create(&self, order: &Order) -> Result<bool, StoreError> {
        self.with(|orders| {
            if orders.contains_key(&order.order_id) {
                return false;
            }
            orders.insert(order.order_id, OrderDetails { order: order.clone(), pizzas: Vec::new() });
            true
        })
    }

    async fn find(&self, order_id: Uuid) -> Result<Option<OrderDetails>, StoreError> {
        self.with(|orders| orders.get(&order_id).cloned())
    }

    async fn discard_placed(&self, order_id: Uuid) -> Result<(), StoreError> {
        self.with(|orders| {
            if orders.get(&order_id).is_some_and(|d| d.order.status == OrderStatus::Placed) {
                orders.remove(&order_id);
            }
        })
    }
}

#[async_trait]
impl OrderProgress for InMemoryOrders {
    async fn transition(&self, order_id: Uuid, from: OrderStatus, to: OrderStatus) -> Result<Transition, StoreError> {
        self.change(order_id, |order| order.status == from, |order| order.status = to)
    }

    async fn mark_paid(&self, order_id: Uuid, charged_cents: u64) -> Result<Transition, StoreError> {
        self.change(
            order_id,
            |order| order.status == OrderStatus::Placed,
            |order| {
                order.status = OrderStatus::Paid;
                order.charged_cents = charged_cents;
            },
        )
    }

    async fn cancel(&self, order_id: Uuid, reason: CancelReason) -> Result<Transition, StoreError> {
        self.change(
            order_id,
            |order| CANCELLABLE.contains(&order.status),
            |order| {
                order.status = OrderStatus::Cancelled;
                order.cancel_reason = Some(reason);
            },
        )
    }

    async fn record_refund(&self, order_id: Uuid, refunded_cents: u64) -> Result<(), StoreError> {
        self.with(|orders| {
            if let Some(details) = orders.get_mut(&order_id) {
                details.order.refunded_cents = refunded_cents;
            }
        })
    }

    async fn store_pizza(&self, order_id: Uuid, pizza: &StoredPizza) -> Result<PizzaStored, StoreError> {
        self.with(|orders| match orders.get_mut(&order_id) {
            Some(details) if details.pizzas.iter().any(|p| p.pizza_id == pizza.pizza_id) => PizzaStored::Duplicate,
            Some(details) if details.order.status == OrderStatus::Cooking => {
                details.pizzas.push(pizza.clone());
                details.order.pizzas_ready += 1;
                PizzaStored::Stored
            }
            other => PizzaStored::OrderNotCooking { current: other.map(|d| d.order.clone()) },
        })
    }

    async fn complete_if_all_stored(&self, order_id: Uuid) -> Result<Completion, StoreError> {
        self.with(|orders| match orders.get_mut(&order_id) {
            Some(details)
                if details.order.status == OrderStatus::Cooking
                    && details.order.pizzas_ready == details.order.pizzas =>
            {
                details.order.status = OrderStatus::Ready;
                Completion::Completed(details.order.clone())
            }
            Some(details) if details.order.status == OrderStatus::Ready => {
                Completion::AlreadyReady(details.order.clone())
            }
            other => Completion::NotComplete(other.map(|d| d.order.clone())),
        })
    }
}
