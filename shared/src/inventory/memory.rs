use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Mutex;

use async_trait::async_trait;
use uuid::Uuid;

use super::{Inventory, Reservation, StockLevel, StockRoom, StoreError};

/// The inventory in memory, with the same transactional rules, for tests.
#[derive(Default)]
pub struct InMemoryInventory {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    available: BTreeMap<String, u64>,
    /// (order, pizza, stage) → ingredient
    reservations: HashMap<(Uuid, Uuid, String), String>,
    cancelled: HashSet<Uuid>,
}

impl InMemoryInventory {
    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> Result<T, StoreError> {
        let mut state = self.state.lock().map_err(|_| StoreError::Unavailable("poisoned lock".into()))?;
        Ok(f(&mut state))
    }
}

#[async_trait]
impl Inventory for InMemoryInventory {
    async fn reserve(
        &self,
        order_id: Uuid,
        pizza_id: Uuid,
        stage: &str,
        ingredient: &str,
    ) -> Result<Reservation, StoreError> {
        self.with(|state| {
            let key = (order_id, pizza_id, stage.to_owned());
            if state.cancelled.contains(&order_id) {
                return Reservation::OrderCancelled;
            }
            if let Some(held) = state.reservations.get(&key) {
                return Reservation::AlreadyReserved { ingredient: held.clone() };
            }
            match state.available.get_mut(ingredient) {
                Some(units) if *units >= 1 => {
                    *units -= 1;
                    state.reservations.insert(key, ingredient.to_owned());
                    Reservation::Reserved
                }
                _ => Reservation::OutOfStock,
            }
        })
    }

    async fn release_order(&self, order_id: Uuid) -> Result<u32, StoreError> {
        self.with(|state| {
            state.cancelled.insert(order_id);
            let held: Vec<_> = state.reservations.keys().filter(|(order, _, _)| *order == order_id).cloned().collect();
            for key in &held {
                if let Some(ingredient) = state.reservations.remove(key) {
                    *state.available.entry(ingredient).or_default() += 1;
                }
            }
            held.len() as u32
        })
    }
}

#[async_trait]
impl StockRoom for InMemoryInventory {
    async fn set_stock(&self, ingredient: &str, units: u64) -> Result<(), StoreError> {
        self.with(|state| {
            state.available.insert(ingredient.to_owned(), units);
        })
    }

    async fn levels(&self) -> Result<Vec<StockLevel>, StoreError> {
        self.with(|state| {
            state
                .available
                .iter()
                .map(|(ingredient, available)| StockLevel {
                    ingredient: ingredient.clone(),
                    available: *available as i64,
                    reserved: state.reservations.values().filter(|held| *held == ingredient).count() as u64,
                })
                .collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reservations_take_stock_once_and_release_gives_it_all_back() {
        let inventory = InMemoryInventory::default();
        inventory.set_stock("ham", 2).await.expect("set");
        let (order, pizza) = (Uuid::new_v4(), Uuid::new_v4());
        assert_eq!(inventory.reserve(order, pizza, "meat", "ham").await.ok(), Some(Reservation::Reserved));
        assert_eq!(
            inventory.reserve(order, pizza, "meat", "bacon").await.ok(),
            Some(Reservation::AlreadyReserved { ingredient: "ham".into() })
        );
        assert_eq!(inventory.reserve(order, Uuid::new_v4(), "meat", "bacon").await.ok(), Some(Reservation::OutOfStock));
        assert_eq!(inventory.release_order(order).await.ok(), Some(1));
        assert_eq!(inventory.release_order(order).await.ok(), Some(0));
        assert_eq!(
            inventory.reserve(order, Uuid::new_v4(), "meat", "ham").await.ok(),
            Some(Reservation::OrderCancelled)
        );
        let levels = inventory.levels().await.expect("levels");
        assert_eq!(levels, vec![StockLevel { ingredient: "ham".into(), available: 2, reserved: 0 }]);
    }
}
