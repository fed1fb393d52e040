//! The order: its state machine and the ports through which functions read and move it.
//! The order's status only moves forward; every move is a conditional write on the
//! status it expects, so a late or duplicate event cannot move it back.

mod dynamo;
mod memory;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use dynamo::DynamoOrders;
pub use memory::InMemoryOrders;

use crate::events::{CancelReason, Ingredient};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OrderStatus {
    Placed,
    Paid,
    Cooking,
    Ready,
    Cancelled,
}

impl OrderStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Placed => "PLACED",
            OrderStatus::Paid => "PAID",
            OrderStatus::Cooking => "COOKING",
            OrderStatus::Ready => "READY",
            OrderStatus::Cancelled => "CANCELLED",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Placed, Self::Paid, Self::Cooking, Self::Ready, Self::Cancelled].into_iter().find(|s| s.as_str() == text)
    }

    /// A final status never changes again.
    pub fn is_final(self) -> bool {
        matches!(self, OrderStatus::Ready | OrderStatus::Cancelled)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Order {
    pub order_id: Uuid,
    pub status: OrderStatus,
    /// Why a cancelled order was cancelled.
    pub cancel_reason: Option<CancelReason>,
    pub customer_id: String,
    /// How many pizzas were ordered.
    pub pizzas: u32,
    /// How many of them are stored so far.
    pub pizzas_ready: u32,
    /// The price, from the menu.
    pub amount_cents: u64,
    pub charged_cents: u64,
    pub refunded_cents: u64,
    pub created_at: DateTime<Utc>,
}

impl Order {
    pub fn place(order_id: Uuid, customer_id: impl Into<String>, pizzas: u32, amount_cents: u64) -> Self {
        Self {
            order_id,
            status: OrderStatus::Placed,
            cancel_reason: None,
            customer_id: customer_id.into(),
            pizzas,
            pizzas_ready: 0,
            amount_cents,
            charged_cents: 0,
            refunded_cents: 0,
            created_at: Utc::now(),
        }
    }
}

/// The statuses an order can be cancelled from: any before it is ready.
pub const CANCELLABLE: [OrderStatus; 3] = [OrderStatus::Placed, OrderStatus::Paid, OrderStatus::Cooking];

#[derive(Debug, Clone, PartialEq)]
pub struct StoredPizza {
    pub pizza_id: Uuid,
    pub ingredients: Vec<Ingredient>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct OrderDetails {
    pub order: Order,
    pub pizzas: Vec<StoredPizza>,
}

/// The outcome of a conditional status change.
#[derive(Debug, Clone, PartialEq)]
pub enum Transition {
    /// The change was made; the order as it is now.
    Applied(Order),
    /// The order was not in the expected state; `current` is what it was (None: no order).
    Rejected { current: Option<Order> },
}

/// The outcome of trying to complete an order.
#[derive(Debug, Clone, PartialEq)]
pub enum Completion {
    /// This call moved the order to `READY`.
    Completed(Order),
    /// The order was `READY` already.
    AlreadyReady(Order),
    /// Pizzas are still missing, or the order is not cooking (None: no order).
    NotComplete(Option<Order>),
}

#[derive(Debug, Clone, PartialEq)]
pub enum PizzaStored {
    Stored,
    /// This pizza was stored before: nothing changed.
    Duplicate,
    /// The order is not cooking (unknown, cancelled or already complete): nothing changed.
    OrderNotCooking {
        current: Option<Order>,
    },
}

pub use crate::dynamo::StoreError;

/// What the API needs: take orders in and show them.
#[async_trait]
pub trait OrderIntake: Send + Sync {
    /// Stores a new order; `false` if an order with this id exists already.
    async fn create(&self, order: &Order) -> Result<bool, StoreError>;
    async fn find(&self, order_id: Uuid) -> Result<Option<OrderDetails>, StoreError>;
    /// Removes an order that is still `PLACED`, when announcing it failed.
    async fn discard_placed(&self, order_id: Uuid) -> Result<(), StoreError>;
}

/// What the order service and the kitchen need: move orders along and store their pizzas.
#[async_trait]
pub trait OrderProgress: Send + Sync {
    async fn transition(&self, order_id: Uuid, from: OrderStatus, to: OrderStatus) -> Result<Transition, StoreError>;
    /// `PLACED → PAID`, recording what was charged.
    async fn mark_paid(&self, order_id: Uuid, charged_cents: u64) -> Result<Transition, StoreError>;
    /// Any status in [`CANCELLABLE`] → `CANCELLED`, with the reason.
    async fn cancel(&self, order_id: Uuid, reason: CancelReason) -> Result<Transition, StoreError>;
    /// Records the refund of a cancelled order's charge (the same refund, however often).
    async fn record_refund(&self, order_id: Uuid, refunded_cents: u64) -> Result<(), StoreError>;
    /// Stores a finished pizza and counts it on its order, atomically and at most once.
    async fn store_pizza(&self, order_id: Uuid, pizza: &StoredPizza) -> Result<PizzaStored, StoreError>;
    /// Moves a cooking order to `READY` if every pizza of it is stored.
    async fn complete_if_all_stored(&self, order_id: Uuid) -> Result<Completion, StoreError>;
}
