//! The inventory in memory, with the DynamoDB adapter's rules (the contract suite holds
//! both to them), for fast tests of the kitchen's logic.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Mutex;

use async_trait::async_trait;
use dynamo_kit::StoreError;
use uuid::Uuid;

use crate::{Held, Pantry, Reservation, ReservationRequest, Restock, StockLevel, StockRoom, allocate};

/// The inventory in memory, for tests and the contract suite: the same outcomes as the table's.
#[derive(Default)]
pub struct InMemoryInventory {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// (stage, ingredient) → units
    available: BTreeMap<(String, String), u64>,
    /// (order, pizza, stage) → ingredient
    reservations: HashMap<(Uuid, Uuid, String), String>,
    /// (order, pizza, stage) found out of stock
    shortages: HashSet<(Uuid, Uuid, String)>,
    closed: HashSet<Uuid>,
}

impl InMemoryInventory {
    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> Result<T, StoreError> {
        let mut state = self.state.lock().map_err(|_| StoreError::unavailable("poisoned lock"))?;
        Ok(f(&mut state))
    }
}

#[async_trait]
impl Pantry for InMemoryInventory {
    async fn reserve(&self, stage: &str, requests: &[ReservationRequest]) -> Result<Vec<Reservation>, StoreError> {
        self.with(|state| {
            let known: HashMap<String, u64> = state
                .available
                .iter()
                .filter(|((of, _), _)| of == stage)
                .map(|((_, ingredient), units)| (ingredient.clone(), *units))
                .collect();
            let mut outcomes = Vec::with_capacity(requests.len());
            // Reserved first, before the picks of the others are counted against the stock.
            let mut open = Vec::new();
            for (index, request) in requests.iter().enumerate() {
                let key = (request.order_id, request.pizza_id, stage.to_owned());
                outcomes.push(if state.closed.contains(&request.order_id) {
                    Some(Reservation::OrderClosed)
                } else if let Some(held) = state.reservations.get(&key) {
                    Some(Reservation::AlreadyReserved(held.clone()))
                } else if state.shortages.contains(&key) {
                    Some(Reservation::AlreadyOutOfStock)
                } else if requests[..index].iter().any(|earlier| earlier.pizza_id == request.pizza_id) {
                    None // settled below, after its first mention
                } else {
                    open.push(index);
                    None
                });
            }
            let batch: Vec<&ReservationRequest> = open.iter().map(|i| &requests[*i]).collect();
            // An ingredient that is not stocked at all has none.
            let known = requests
                .iter()
                .flat_map(|r| r.candidates.iter())
                .map(|c| (c.clone(), known.get(c).copied().unwrap_or(0)))
                .collect();
            for (index, pick) in open.iter().zip(allocate(&batch, &known)) {
                let request = &requests[*index];
                outcomes[*index] = Some(match pick {
                    Some(ingredient) => {
                        if let Some(units) = state.available.get_mut(&(stage.to_owned(), ingredient.clone())) {
                            *units -= 1;
                        }
                        let key = (request.order_id, request.pizza_id, stage.to_owned());
                        state.reservations.insert(key, ingredient.clone());
                        Reservation::Reserved(ingredient)
                    }
                    None => {
                        state.shortages.insert((request.order_id, request.pizza_id, stage.to_owned()));
                        Reservation::OutOfStock
                    }
                });
            }
            requests
                .iter()
                .enumerate()
                .map(|(index, request)| match outcomes[index].take() {
                    Some(outcome) => outcome,
                    None => {
                        let key = (request.order_id, request.pizza_id, stage.to_owned());
                        match state.reservations.get(&key) {
                            Some(held) => Reservation::AlreadyReserved(held.clone()),
                            None => Reservation::AlreadyOutOfStock,
                        }
                    }
                })
                .collect()
        })
    }
}

#[async_trait]
impl Restock for InMemoryInventory {
    async fn release_order(&self, order_id: Uuid) -> Result<u32, StoreError> {
        self.with(|state| {
            state.closed.insert(order_id);
            let held: Vec<_> = state.reservations.keys().filter(|(order, _, _)| *order == order_id).cloned().collect();
            for key in &held {
                if let Some(ingredient) = state.reservations.remove(key) {
                    *state.available.entry((key.2.clone(), ingredient)).or_default() += 1;
                }
            }
            held.len() as u32
        })
    }

    async fn is_closed(&self, order_id: Uuid) -> Result<bool, StoreError> {
        self.with(|state| state.closed.contains(&order_id))
    }

    async fn units_held_by(&self, order_id: Uuid) -> Result<u32, StoreError> {
        self.with(|state| state.reservations.keys().filter(|(order, _, _)| *order == order_id).count() as u32)
    }
}

#[async_trait]
impl StockRoom for InMemoryInventory {
    async fn set_stock(&self, stage: &str, ingredient: &str, units: u64) -> Result<(), StoreError> {
        self.with(|state| {
            state.available.insert((stage.to_owned(), ingredient.to_owned()), units);
        })
    }

    async fn levels(&self) -> Result<Vec<StockLevel>, StoreError> {
        self.with(|state| {
            state
                .available
                .iter()
                .map(|((stage, ingredient), available)| StockLevel {
                    stage: stage.clone(),
                    ingredient: ingredient.clone(),
                    available: *available as i64,
                    reserved: state
                        .reservations
                        .iter()
                        .filter(|((_, _, held_at), held)| held_at == stage && *held == ingredient)
                        .count() as u64,
                })
                .collect()
        })
    }

    async fn reservations(&self) -> Result<Vec<Held>, StoreError> {
        self.with(|state| {
            let mut held: Vec<Held> = state
                .reservations
                .iter()
                .map(|((order_id, pizza_id, stage), ingredient)| Held {
                    order_id: *order_id,
                    pizza_id: *pizza_id,
                    stage: stage.clone(),
                    ingredient: ingredient.clone(),
                })
                .collect();
            held.sort();
            held
        })
    }
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn the_in_memory_inventory_keeps_the_contract() {
        crate::contract::inventory(&super::InMemoryInventory::default()).await;
    }
}
