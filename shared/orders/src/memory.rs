//! Orders in memory, with the DynamoDB adapter's conditional semantics (the contract suite
//! holds both to the same behaviour), for fast tests of the functions' logic.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dynamo_kit::StoreError;
use pizza_events::catalogue::CancelReason;
use uuid::Uuid;

use crate::{
    CANCELLABLE, Completion, FinishedPizza, Order, OrderBook, OrderDesk, OrderDetails, OrderStatus, PizzaStored,
    PlacedOrder, Placement, StoredPizzas, Transition, Watchlist,
};

/// The orders in memory, for tests and the contract suite: the same outcomes as the table's.
#[derive(Default)]
pub struct InMemoryOrders {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    orders: HashMap<Uuid, OrderDetails>,
    /// Every order placed, with its announcement's makings, in order: what the table's
    /// stream would show the relay.
    placed: Vec<PlacedOrder>,
    /// Watched orders, with the time of their last change of status.
    watched: HashMap<Uuid, DateTime<Utc>>,
    /// The order each customer placed under each idempotency key.
    keys: HashMap<(String, String), Uuid>,
}

impl State {
    /// The order moved (`status`: its status changed): no more watched once it is ready.
    fn moved(&mut self, order_id: Uuid, status: bool) {
        let now = Utc::now();
        let Some(details) = self.orders.get_mut(&order_id) else { return };
        details.order.updated_at = now;
        if details.order.status == OrderStatus::Ready {
            self.watched.remove(&order_id);
        } else if let Some(since) = self.watched.get_mut(&order_id).filter(|_| status) {
            *since = now;
        }
    }
}

/// The orders a call completes, once it stored its pizzas (`outcomes`): it stored every one
/// of their pizzas, none having been stored before, and each says the order has that many
/// (`pizzas_in_order`), as the DynamoDB store's one-write completion requires.
fn orders_brought_whole(state: &State, pizzas: &[FinishedPizza], outcomes: &[PizzaStored]) -> Vec<Uuid> {
    let mut stored: HashMap<Uuid, Vec<&FinishedPizza>> = HashMap::new();
    for (finished, _) in pizzas.iter().zip(outcomes).filter(|(_, outcome)| **outcome == PizzaStored::Stored) {
        stored.entry(finished.order_id).or_default().push(finished);
    }
    stored
        .into_iter()
        .filter(|(order_id, brought)| {
            let count = brought.len() as u32;
            let all_say_so = brought.iter().all(|finished| finished.pizzas_in_order == Some(count));
            let all_now = state
                .orders
                .get(order_id)
                .is_some_and(|details| details.order.pizzas_ready == count && details.order.pizzas == count);
            all_say_so && all_now
        })
        .map(|(order_id, _)| order_id)
        .collect()
}

impl InMemoryOrders {
    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> Result<T, StoreError> {
        let mut state = self.state.lock().map_err(|_| StoreError::unavailable("poisoned lock"))?;
        Ok(f(&mut state))
    }

    /// Every order placed, as the relay would see it inserted and announce it.
    pub fn placed(&self) -> Vec<PlacedOrder> {
        self.with(|state| state.placed.clone()).unwrap_or_default()
    }

    /// Forgets what the announcement of order `order_id` needs, as for an order placed
    /// before orders kept it (it was in an outbox entry that expired): the reconciler can
    /// no longer announce it.
    pub fn forget_card(&self, order_id: Uuid) {
        let _ = self.with(|state| state.placed.retain(|placed| placed.order.order_id != order_id));
    }

    /// Applies `update` if `expected` holds, like a conditional write.
    fn change(
        &self,
        order_id: Uuid,
        expected: impl FnOnce(&Order) -> bool,
        update: impl FnOnce(&mut Order),
    ) -> Result<Transition, StoreError> {
        self.with(|state| match state.orders.get_mut(&order_id) {
            Some(details) if expected(&details.order) => {
                update(&mut details.order);
                state.moved(order_id, true);
                match state.orders.get(&order_id) {
                    Some(details) => Transition::Applied(details.order.clone()),
                    None => Transition::Rejected { current: None },
                }
            }
            other => Transition::Rejected { current: other.map(|d| d.order.clone()) },
        })
    }
}

#[async_trait]
impl OrderDesk for InMemoryOrders {
    async fn place(&self, placed: &PlacedOrder, key: Option<&str>) -> Result<Placement, StoreError> {
        let order = &placed.order;
        self.with(|state| {
            let scoped = key.map(|key| (order.customer_id.clone(), key.to_owned()));
            let earlier = scoped.as_ref().and_then(|scoped| state.keys.get(scoped)).copied().unwrap_or(order.order_id);
            if let Some(existing) = state.orders.get(&earlier) {
                return Placement::Exists(existing.order.clone());
            }
            if let Some(scoped) = scoped {
                state.keys.insert(scoped, order.order_id);
            }
            state.orders.insert(order.order_id, OrderDetails { order: order.clone(), pizzas: Vec::new() });
            state.watched.insert(order.order_id, order.created_at);
            state.placed.push(placed.clone());
            Placement::Placed
        })
    }

    async fn find(&self, order_id: Uuid) -> Result<Option<OrderDetails>, StoreError> {
        self.with(|state| state.orders.get(&order_id).cloned())
    }
}

#[async_trait]
impl OrderBook for InMemoryOrders {
    async fn start_cooking(&self, order_id: Uuid, charged_cents: u64) -> Result<Transition, StoreError> {
        self.change(
            order_id,
            |order| order.status == OrderStatus::Placed,
            |order| {
                order.status = OrderStatus::Cooking;
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
        self.with(|state| {
            if let Some(details) = state.orders.get_mut(&order_id) {
                details.order.refunded_cents = refunded_cents;
                state.moved(order_id, false);
            }
        })
    }

    async fn store_pizzas(&self, pizzas: &[FinishedPizza]) -> Result<StoredPizzas, StoreError> {
        self.with(|state| {
            let mut seen = HashSet::new();
            let outcomes: Vec<PizzaStored> = pizzas
                .iter()
                .map(|finished| {
                    let first = seen.insert(finished.pizza.pizza_id);
                    match state.orders.get_mut(&finished.order_id) {
                        Some(details) if details.pizzas.iter().any(|p| p.pizza_id == finished.pizza.pizza_id) => {
                            PizzaStored::Duplicate
                        }
                        _ if !first => PizzaStored::Duplicate,
                        Some(details) if details.order.status == OrderStatus::Cooking => {
                            details.pizzas.push(finished.pizza.clone());
                            details.order.pizzas_ready += 1;
                            PizzaStored::Stored
                        }
                        other => PizzaStored::OrderNotCooking { current: other.map(|d| d.order.clone()) },
                    }
                })
                .collect();
            for (finished, outcome) in pizzas.iter().zip(&outcomes) {
                if *outcome == PizzaStored::Stored {
                    state.moved(finished.order_id, false);
                }
            }
            let all_stored = pizzas
                .iter()
                .filter(|finished| {
                    state.orders.get(&finished.order_id).is_some_and(|d| d.order.pizzas_ready >= d.order.pizzas)
                })
                .map(|finished| finished.order_id)
                .collect();
            let mut completed = std::collections::BTreeMap::new();
            for order_id in orders_brought_whole(state, pizzas, &outcomes) {
                if let Some(details) = state.orders.get_mut(&order_id) {
                    details.order.status = OrderStatus::Ready;
                    state.moved(order_id, true);
                }
                if let Some(details) = state.orders.get(&order_id) {
                    completed.insert(order_id, details.order.clone());
                }
            }
            StoredPizzas { outcomes, all_stored, completed }
        })
    }

    async fn complete_if_all_stored(&self, order_id: Uuid) -> Result<Completion, StoreError> {
        self.with(|state| match state.orders.get_mut(&order_id) {
            Some(details)
                if details.order.status == OrderStatus::Cooking
                    && details.order.pizzas_ready == details.order.pizzas =>
            {
                details.order.status = OrderStatus::Ready;
                state.moved(order_id, true);
                match state.orders.get(&order_id) {
                    Some(details) => Completion::Completed(details.order.clone()),
                    None => Completion::NotComplete(None),
                }
            }
            Some(details) if details.order.status == OrderStatus::Ready => {
                Completion::AlreadyReady(details.order.clone())
            }
            other => Completion::NotComplete(other.map(|d| d.order.clone())),
        })
    }
}

#[async_trait]
impl Watchlist for InMemoryOrders {
    async fn stalled(&self, before: DateTime<Utc>, limit: usize) -> Result<Vec<Uuid>, StoreError> {
        self.with(|state| {
            let mut stalled: Vec<(DateTime<Utc>, Uuid)> =
                state.watched.iter().filter(|(_, last)| **last < before).map(|(id, last)| (*last, *id)).collect();
            stalled.sort();
            stalled.into_iter().take(limit).map(|(_, id)| id).collect()
        })
    }

    async fn dismiss(&self, order_id: Uuid) -> Result<bool, StoreError> {
        self.with(|state| {
            let cancelled = state.orders.get(&order_id).is_some_and(|d| d.order.status == OrderStatus::Cancelled);
            if cancelled {
                state.watched.remove(&order_id);
            }
            cancelled
        })
    }

    async fn postpone(&self, order_id: Uuid, status: OrderStatus) -> Result<(), StoreError> {
        self.with(|state| {
            let still = state.orders.get(&order_id).is_some_and(|d| d.order.status == status);
            if let Some(since) = state.watched.get_mut(&order_id).filter(|_| still) {
                *since = Utc::now();
            }
        })
    }

    async fn placed_order(&self, order_id: Uuid) -> Result<Option<PlacedOrder>, StoreError> {
        self.with(|state| {
            let unpaid = state.orders.get(&order_id).is_some_and(|d| d.order.status == OrderStatus::Placed);
            state.placed.iter().find(|placed| placed.order.order_id == order_id).filter(|_| unpaid).cloned()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract;

    #[tokio::test]
    async fn the_in_memory_orders_keep_the_contract() {
        let store = InMemoryOrders::default();
        contract::order_desk(&store).await;
        contract::order_moves(&store).await;
        contract::pizza_storage(&store).await;
        contract::kitchen_pizzas(&store).await;
        contract::whole_orders(&store).await;
        contract::watchlist(&store).await;
        assert!(!store.placed().is_empty(), "orders were placed");
    }
}
