//! Stock per ingredient, and the reservations that take it.
//!
//! Each stage stocks its own ingredients. A kitchen stage reserves one ingredient per
//! pizza, a whole batch at once: the reservations and the stock they take are one
//! transaction, which also checks that the orders are still open. Stock never goes below
//! zero; a pizza reserved once keeps its ingredient however often it is delivered.
//! Releasing an order first closes it, so no reservation can follow, then gives back
//! everything it holds in the mirror transaction.
//! Both are safe to repeat and to race: no unit is ever taken twice or given back twice.
//!
//! "Out of stock" is a fact like a reservation: decided against the stock in the very
//! write that records it, and found again by a redelivery, so one pizza at one stage never
//! gets both an ingredient and a shortage.

#![warn(missing_docs)]

mod allocation;
mod dynamo;
mod memory;

#[cfg(any(test, feature = "contract"))]
pub mod contract;

use async_trait::async_trait;
use dynamo_kit::StoreError;
use uuid::Uuid;

pub use allocation::allocate;
pub use dynamo::DynamoInventory;
pub use memory::InMemoryInventory;

/// A pizza that needs one ingredient of a stage, and the ingredients it would take, in
/// order of preference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReservationRequest {
    /// The order the pizza belongs to.
    pub order_id: Uuid,
    /// The pizza.
    pub pizza_id: Uuid,
    /// The stage's ingredients the pizza would take, the preferred first.
    pub candidates: Vec<String>,
}

/// What a stage's reservation for one pizza came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reservation {
    /// One unit of this ingredient is now held for the pizza at this stage.
    Reserved(String),
    /// The pizza held a unit at this stage already (a redelivery): of this ingredient.
    AlreadyReserved(String),
    /// None of the candidates is in stock: checked against the stock in the same write
    /// that records it, so the decision is final for this pizza and stage.
    OutOfStock,
    /// The pizza was found out of stock at this stage before (a redelivery): it still is.
    AlreadyOutOfStock,
    /// The order is closed (cancelled): nothing more is reserved for it.
    OrderClosed,
}

impl Reservation {
    /// The ingredient the pizza holds, if it holds one.
    pub fn ingredient(&self) -> Option<&str> {
        match self {
            Reservation::Reserved(name) | Reservation::AlreadyReserved(name) => Some(name),
            Reservation::OutOfStock | Reservation::AlreadyOutOfStock | Reservation::OrderClosed => None,
        }
    }

    /// Whether the pizza cannot get an ingredient of this stage, now or ever.
    pub fn is_out_of_stock(&self) -> bool {
        matches!(self, Reservation::OutOfStock | Reservation::AlreadyOutOfStock)
    }
}

/// How much of one ingredient is left and how much is held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StockLevel {
    /// The kitchen stage that puts the ingredient on pizzas (and stocks it).
    pub stage: String,
    /// The ingredient's name, as on the menu.
    pub ingredient: String,
    /// Signed, so that an oversold ingredient would show as such rather than hide.
    pub available: i64,
    /// Units held by reservations (of orders not released).
    pub reserved: u64,
}

/// What a kitchen stage needs.
#[async_trait]
pub trait Pantry: Send + Sync {
    /// Reserves one ingredient of `stage` for each request, taking the first candidate in
    /// stock; one outcome per request, in order.
    async fn reserve(&self, stage: &str, requests: &[ReservationRequest]) -> Result<Vec<Reservation>, StoreError>;
}

/// What the inventory service needs.
#[async_trait]
pub trait Restock: Send + Sync {
    /// Closes the order to new reservations and gives back all it holds; returns how many
    /// units this call gave back.
    async fn release_order(&self, order_id: Uuid) -> Result<u32, StoreError>;
    /// How many units the order holds now, at every stage (a reconciler's check that a
    /// cancelled order gave everything back).
    async fn units_held_by(&self, order_id: Uuid) -> Result<u32, StoreError>;
    /// Whether the order is closed to new reservations (its release began).
    async fn is_closed(&self, order_id: Uuid) -> Result<bool, StoreError>;
}

/// What an operator (and an audit) needs.
#[async_trait]
pub trait StockRoom: Send + Sync {
    /// Sets how many units of a stage's ingredient are left.
    async fn set_stock(&self, stage: &str, ingredient: &str, units: u64) -> Result<(), StoreError>;
    /// Every stocked ingredient, by stage and name.
    async fn levels(&self) -> Result<Vec<StockLevel>, StoreError>;
    /// Every reservation still held: (order, pizza, stage, ingredient).
    async fn reservations(&self) -> Result<Vec<Held>, StoreError>;
}

/// A unit held for one pizza at one stage.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Held {
    /// The order holding it.
    pub order_id: Uuid,
    /// The pizza it is for.
    pub pizza_id: Uuid,
    /// The stage that reserved it.
    pub stage: String,
    /// The ingredient held.
    pub ingredient: String,
}
