//! The order: its state machine and the ports through which the API and the order service
//! read and move it.
//!
//! The status only moves forward (`PLACED → COOKING → READY`, or `→ CANCELLED` with a
//! reason); every move is a conditional write on the status it leaves, so a late, repeated
//! or reordered event cannot move an order back. Paying and starting to cook are one move:
//! the kitchen starts the moment the payment is in.

#![warn(missing_docs)]

mod dynamo;
mod memory;

#[cfg(any(test, feature = "contract"))]
pub mod contract;

use async_trait::async_trait;
use chrono::{DateTime, SubsecRound, Utc};
use dynamo_kit::StoreError;
use messaging::{TopicArn, TraceContext};
use pizza_events::catalogue::{CancelReason, CardToken, Ingredient, OrderPlaced};
use pizza_events::names::{parse_variant, variant_name};
use pizza_events::{Envelope, Outgoing, derived_id};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use dynamo::{DynamoOrders, Inserted};
pub use memory::InMemoryOrders;

/// Where an order is in its life. It only moves forward: PLACED → COOKING → READY, or to CANCELLED before READY.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OrderStatus {
    /// Stored and announced; not paid yet.
    Placed,
    /// Paid: its pizzas are in the kitchen.
    Cooking,
    /// Every pizza is stored. Final.
    Ready,
    /// Declined or out of stock, and compensated. Final.
    Cancelled,
}

impl OrderStatus {
    /// The status as stored and shown: `PLACED`, `COOKING`, `READY` or `CANCELLED`.
    pub fn as_str(self) -> &'static str {
        variant_name(&self)
    }

    /// A status from its stored name; `None` for anything else.
    pub fn parse(text: &str) -> Option<Self> {
        parse_variant(text)
    }

    /// A final status never changes again.
    pub fn is_final(self) -> bool {
        matches!(self, OrderStatus::Ready | OrderStatus::Cancelled)
    }
}

/// The statuses an order can be cancelled from: any before it is ready.
pub const CANCELLABLE: [OrderStatus; 2] = [OrderStatus::Placed, OrderStatus::Cooking];

/// An order as the shop keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct Order {
    /// The order's id, also the correlation id of every event of its life.
    pub order_id: Uuid,
    /// Where it is in its life.
    pub status: OrderStatus,
    /// Why a cancelled order was cancelled.
    pub cancel_reason: Option<CancelReason>,
    /// Who placed it.
    pub customer_id: String,
    /// How many pizzas were ordered.
    pub pizzas: u32,
    /// How many of them are stored so far.
    pub pizzas_ready: u32,
    /// The price, from the menu.
    pub amount_cents: u64,
    /// What the payment charged.
    pub charged_cents: u64,
    /// What a cancellation refunded.
    pub refunded_cents: u64,
    /// A one-way fingerprint of the card token the order is paid with: a retried request
    /// must name the same card, and the token itself is not stored. Only a retry under an
    /// idempotency key can find an order, so a store may keep it with the key alone: an
    /// order read back otherwise may show it empty.
    pub payment_fingerprint: String,
    /// When it was placed (to the millisecond, as every time of an order is kept).
    pub created_at: DateTime<Utc>,
    /// When it last moved: placed, paid, a pizza stored, completed, cancelled, refunded.
    pub updated_at: DateTime<Utc>,
}

impl Order {
    /// A new order, PLACED now, with nothing charged or stored yet.
    pub fn place(
        order_id: Uuid,
        customer_id: impl Into<String>,
        pizzas: u32,
        amount_cents: u64,
        payment_fingerprint: impl Into<String>,
    ) -> Self {
        let now = Utc::now().trunc_subsecs(3);
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
            payment_fingerprint: payment_fingerprint.into(),
            created_at: now,
            updated_at: now,
        }
    }

    /// Whether `other` asks for the same order: a retried request with the same key must.
    pub fn same_request_as(&self, other: &Order) -> bool {
        self.pizzas == other.pizzas
            && self.customer_id == other.customer_id
            && self.payment_fingerprint == other.payment_fingerprint
    }
}

/// A placed order with what its announcement needs: the card, sealed for the payment
/// service, and the trace of the request that placed it. The order's item carries both
/// until the order is paid or cancelled, so that storing the order is announcing it (the
/// relay publishes `OrderPlaced` from the table's stream) and an unpaid order can be
/// announced again, the same event, for as long as it waits.
#[derive(Debug, Clone, PartialEq)]
pub struct PlacedOrder {
    /// The order, `PLACED`.
    pub order: Order,
    /// The card to charge, sealed.
    pub card_token: CardToken,
    /// The trace of the request that placed it, which its announcement continues.
    pub trace: Option<TraceContext>,
}

impl PlacedOrder {
    /// The service an order's announcement comes from.
    pub const SOURCE: &'static str = "api";

    /// The order's `OrderPlaced`, to `topic`: its id ([`announcement_id`]) and time (the
    /// order's) are fixed by the order, so every announcement of it is the same event.
    pub fn announcement(&self, topic: &TopicArn) -> Outgoing {
        let order = &self.order;
        let data = OrderPlaced {
            order_id: order.order_id,
            pizzas: order.pizzas,
            customer_id: order.customer_id.clone(),
            card_token: self.card_token.clone(),
            amount_cents: order.amount_cents,
        };
        let mut event =
            Envelope::identified(announcement_id(order.order_id), Self::SOURCE, order.order_id.to_string(), data);
        event.occurred_at = order.created_at;
        let event = event.to_wire();
        Outgoing { trace: self.trace.map(|trace| trace.child_for(event.id)), ..Outgoing::new(topic, event) }
    }
}

/// The most pizzas one order may have.
pub const MAX_PIZZAS: u32 = 50;

/// The id of the `index`-th pizza of an order (from 0): fixed, so the order's pizzas are
/// requested again, not anew, whenever its payment is announced again.
pub fn pizza_id(order_id: Uuid, index: u32) -> Uuid {
    derived_id(&[&order_id.to_string(), "pizza", &index.to_string()])
}

/// Which of its order's pizzas this is, when its id is one that [`pizza_id`] gives; `None`
/// for any other id.
pub fn pizza_index(order_id: Uuid, pizza: Uuid) -> Option<u32> {
    (0..MAX_PIZZAS).find(|&index| pizza_id(order_id, index) == pizza)
}

/// A finished pizza, as stored with its order.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredPizza {
    /// The pizza's id, from the kitchen's events.
    pub pizza_id: Uuid,
    /// Its ingredients, in the order the stages added them.
    pub ingredients: Vec<Ingredient>,
}

/// A pizza that left the last kitchen stage, for its order.
#[derive(Debug, Clone, PartialEq)]
pub struct FinishedPizza {
    /// The order it belongs to.
    pub order_id: Uuid,
    /// The pizza, as it is stored.
    pub pizza: StoredPizza,
    /// How many pizzas its order has, when the kitchen's event says: a call that brings
    /// every pizza of a cooking order with none stored yet completes it in the same write.
    pub pizzas_in_order: Option<u32>,
}

/// An order with the pizzas stored for it so far: what `GET /orders/{id}` shows.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderDetails {
    /// The order.
    pub order: Order,
    /// Its stored pizzas.
    pub pizzas: Vec<StoredPizza>,
}

/// The outcome of placing an order.
#[derive(Debug, Clone, PartialEq)]
pub enum Placement {
    /// The order and its announcement are stored.
    Placed,
    /// An order with this id exists already; nothing was written.
    Exists(Order),
}

/// The outcome of a conditional status change.
#[derive(Debug, Clone, PartialEq)]
pub enum Transition {
    /// The change was made; the order as it is now.
    Applied(Order),
    /// The order was not in the expected state.
    Rejected {
        /// The order as it was; `None` if there is no such order.
        current: Option<Order>,
    },
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

/// What storing a batch of finished pizzas did.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StoredPizzas {
    /// One outcome per pizza, in order.
    pub outcomes: Vec<PizzaStored>,
    /// The orders this call saw with every pizza stored: the only ones worth trying to
    /// complete. The write that stores an order's last pizza sees the full count, and so
    /// does a redelivery of it; a call that saw the count short cannot complete the order.
    pub all_stored: std::collections::BTreeSet<Uuid>,
    /// The orders this call moved to `READY` in the very write that stored their pizzas
    /// (it brought all of them, none stored before): no completion is left to try.
    pub completed: std::collections::BTreeMap<Uuid, Order>,
}

/// What storing one finished pizza did.
#[derive(Debug, Clone, PartialEq)]
pub enum PizzaStored {
    /// The pizza is stored now.
    Stored,
    /// This pizza was stored before: nothing changed.
    Duplicate,
    /// The order is not cooking (unknown, cancelled or complete): nothing changed.
    OrderNotCooking {
        /// The order as it is, if there is one.
        current: Option<Order>,
    },
}

/// What the API needs: take orders in, with the event that announces them, and show them.
#[async_trait]
pub trait OrderDesk: Send + Sync {
    /// Stores a new order with what its announcement needs, in one write: the store's
    /// change stream is the outbox, from which the relay publishes `OrderPlaced`. With the
    /// client's idempotency `key`, the order is remembered under its customer and that
    /// key: if that customer placed an order with that key before, or an order with this
    /// id exists, writes nothing and returns the existing order. Keys are scoped per
    /// customer: two customers using the same key get two orders.
    async fn place(&self, placed: &PlacedOrder, key: Option<&str>) -> Result<Placement, StoreError>;
    /// The order and its stored pizzas, strongly consistent; `None` if there is no such order.
    async fn find(&self, order_id: Uuid) -> Result<Option<OrderDetails>, StoreError>;
}

/// What the order service needs: move orders along and store their pizzas.
#[async_trait]
pub trait OrderBook: Send + Sync {
    /// `PLACED → COOKING`, recording what was charged.
    async fn start_cooking(&self, order_id: Uuid, charged_cents: u64) -> Result<Transition, StoreError>;
    /// Any status in [`CANCELLABLE`] → `CANCELLED`, with the reason.
    async fn cancel(&self, order_id: Uuid, reason: CancelReason) -> Result<Transition, StoreError>;
    /// Records the refund of a cancelled order's charge (the same refund, however often).
    async fn record_refund(&self, order_id: Uuid, refunded_cents: u64) -> Result<(), StoreError>;
    /// Stores finished pizzas and counts each on its order, atomically and at most once;
    /// one outcome per pizza, in order, and the orders seen with all their pizzas stored.
    /// An order whose every pizza the call brings (as `pizzas_in_order` says), none stored
    /// before, is also completed by that write (see [`StoredPizzas::completed`]).
    async fn store_pizzas(&self, pizzas: &[FinishedPizza]) -> Result<StoredPizzas, StoreError>;
    /// Moves a cooking order to `READY` if every pizza of it is stored.
    async fn complete_if_all_stored(&self, order_id: Uuid) -> Result<Completion, StoreError>;
}

/// A one-way fingerprint of something a customer gave (a card token, an idempotency key):
/// SHA-256 of the customer and the text, in hex. Salted with the customer, so equal texts
/// of two customers do not look alike; the text itself is never kept.
pub fn customer_fingerprint(customer_id: &str, text: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::new().chain_update(customer_id).chain_update([0]).chain_update(text).finalize();
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// The id of an order's `OrderPlaced`: fixed by the order, so the API's announcement and
/// any later one (the reconciler's) are the same event.
pub fn announcement_id(order_id: Uuid) -> Uuid {
    use pizza_events::Event;
    pizza_events::derived_id(&[&order_id.to_string(), pizza_events::catalogue::OrderPlaced::TYPE])
}

/// What the reconciler needs: the orders that may be stuck. An order is watched from the
/// moment it is placed until it is `READY`, or `CANCELLED` with every compensation seen
/// done.
#[async_trait]
pub trait Watchlist: Send + Sync {
    /// Watched orders whose status has not changed since before `before`, oldest first, at
    /// most `limit`: candidates, whose `updated_at` says whether they moved otherwise
    /// (stored a pizza, recorded a refund) since.
    async fn stalled(&self, before: DateTime<Utc>, limit: usize) -> Result<Vec<Uuid>, StoreError>;
    /// Stops watching a `CANCELLED` order (its compensations are done); `false` if the
    /// order is not cancelled, and nothing changes.
    async fn dismiss(&self, order_id: Uuid) -> Result<bool, StoreError>;
    /// Puts a watched order at the back of the list (as if its status had just changed),
    /// so that orders which stay stuck do not hide the others from a bounded round; nothing
    /// changes if its status is no longer `status`.
    async fn postpone(&self, order_id: Uuid, status: OrderStatus) -> Result<(), StoreError>;
    /// The order with what its announcement needs, while it is `PLACED` (to be announced
    /// again); `None` once it was paid or cancelled, or if there is no such order.
    async fn placed_order(&self, order_id: Uuid) -> Result<Option<PlacedOrder>, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_spelled_as_stored() {
        for status in [OrderStatus::Placed, OrderStatus::Cooking, OrderStatus::Ready, OrderStatus::Cancelled] {
            assert_eq!(OrderStatus::parse(status.as_str()), Some(status));
        }
        assert_eq!(OrderStatus::Cooking.as_str(), "COOKING");
        assert_eq!(OrderStatus::parse("PAID"), None);
    }

    #[test]
    fn a_retry_must_ask_for_the_same_order_with_the_same_card() {
        let id = Uuid::new_v4();
        let first = Order::place(id, "c-1", 2, 2500, "fp-a");
        assert!(first.same_request_as(&Order::place(id, "c-1", 2, 2500, "fp-a")));
        assert!(!first.same_request_as(&Order::place(id, "c-1", 3, 3750, "fp-a")));
        assert!(!first.same_request_as(&Order::place(id, "c-1", 2, 2500, "fp-b")));
    }
}
