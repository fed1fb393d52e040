//! Stock per ingredient, and the reservations that take it.
//!
//! A reservation and its stock decrement are one transaction: put the reservation if it
//! is absent, take a unit only if one is left, and only while the order is not
//! cancelled. Releasing an order first marks it cancelled, so no reservation can follow,
//! then gives back every reservation it finds, each in the mirror transaction. Both are
//! safe to repeat and to race: stock never goes below zero and no unit leaks.

mod dynamo;
mod memory;

use async_trait::async_trait;
use uuid::Uuid;

pub use dynamo::DynamoInventory;
pub use memory::InMemoryInventory;

pub use crate::dynamo::StoreError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reservation {
    /// One unit of the ingredient is now held for this pizza's stage.
    Reserved,
    /// This pizza's stage holds a unit already (a redelivery): of this ingredient.
    AlreadyReserved {
        ingredient: String,
    },
    OutOfStock,
    /// The order is cancelled: nothing more is reserved for it.
    OrderCancelled,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StockLevel {
    pub ingredient: String,
    /// Signed, so that an oversold ingredient would show as such rather than hide.
    pub available: i64,
    /// Units held by reservations of orders that were not cancelled.
    pub reserved: u64,
}

/// What the kitchen stages and the inventory service need.
#[async_trait]
pub trait Inventory: Send + Sync {
    async fn reserve(
        &self,
        order_id: Uuid,
        pizza_id: Uuid,
        stage: &str,
        ingredient: &str,
    ) -> Result<Reservation, StoreError>;
    /// Closes the order to new reservations and gives back all it holds; returns how many
    /// units this call gave back.
    async fn release_order(&self, order_id: Uuid) -> Result<u32, StoreError>;
}

/// What an operator (and a test) needs: set stock and read it.
#[async_trait]
pub trait StockRoom: Send + Sync {
    async fn set_stock(&self, ingredient: &str, units: u64) -> Result<(), StoreError>;
    /// Every stocked ingredient, by name.
    async fn levels(&self) -> Result<Vec<StockLevel>, StoreError>;
}
