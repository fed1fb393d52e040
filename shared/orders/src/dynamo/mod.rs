//! Orders in DynamoDB, one item per order: `pk = ORDER#<id>`, `sk = ORDER`. Its stored
//! pizzas are attributes of the same item (`pizza_<id>` = its ingredients) next to their
//! count, so storing a batch of an order's pizzas is one conditional update, not a
//! transaction, and one strongly consistent read shows the order with all its pizzas.
//!
//! The table's stream is the outbox of new orders: an order's item is put with the sealed
//! card and the trace its `OrderPlaced` needs (`announce_card`, `announce_trace`), the
//! relay publishes that event from the item's insertion, and paying or cancelling the
//! order removes them. One put announces an order, not a transaction of two items.

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::types::{AttributeValue, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem};
use chrono::{DateTime, Utc};
use dynamo_kit::item::{Item, get_n, get_n_or_zero, get_s, get_uuid, key, n, opt_s, s};
use dynamo_kit::read::query_partition;
use dynamo_kit::write::{Cancelled, put_or_old, transact, update_or_old};
use dynamo_kit::{StoreError, built};
use messaging::TraceContext;
use pizza_events::catalogue::{CancelReason, CardToken, Ingredient, Sealed};
use pizza_events::menu::stage_of;
use pizza_events::names::parse_variant;
use uuid::Uuid;

use crate::{
    CANCELLABLE, Completion, FinishedPizza, Order, OrderBook, OrderDesk, OrderDetails, OrderStatus, PizzaStored,
    PlacedOrder, Placement, StoredPizza, StoredPizzas, Transition, Watchlist,
};

const ORDER_SK: &str = "ORDER";
const ORDER_PK_PREFIX: &str = "ORDER#";
/// The sparse index of watched orders: `watch` (one value, [`WATCHED`]) and
/// `status_since`, present from placing until an order needs no more watching. Its sort
/// key moves with the status, not with every stored pizza: an index entry is rewritten
/// three or four times in an order's life, not once per batch of pizzas.
const WATCH_INDEX: &str = "watched-by-status-since";
const WATCH: &str = "watch";
const STATUS_SINCE: &str = "status_since";
const WATCHED: &str = "open";
/// Pizzas stored before they moved onto their order's item were items of their own.
const PIZZA_SK_PREFIX: &str = "PIZZA#";
/// A stored pizza is an attribute of its order's item, = its ingredients: `p<n>` for the
/// order's n-th pizza (its id is `orders::pizza_id(order, n)`), `pizza_<id>` for a pizza
/// whose id is not derived so (and for every pizza stored before the short names).
const PIZZA_NUMBER_PREFIX: &str = "p";
const PIZZA_ATTRIBUTE_PREFIX: &str = "pizza_";
/// Pizzas stored by one update: its condition names each pizza twice (`attribute_not_exists(#p49_1)`
/// and ` AND `, 33 bytes a name), so fifty keep it near 3.4 KB, and an expression is at most 4 KB.
const MAX_PIZZAS_PER_UPDATE: usize = 50;
/// The item that remembers which order a customer placed under an idempotency key, and
/// the fingerprint of the card it was placed with.
const KEY_SK: &str = "KEY";
const FINGERPRINT: &str = "payment_fingerprint";
/// The sealed card of an unpaid order (see `card_to_text`), for its announcement.
const ANNOUNCE_CARD: &str = "announce_card";
/// The trace of the request that placed an unpaid order (`traceparent`).
const ANNOUNCE_TRACE: &str = "announce_trace";
/// What leaving `PLACED` removes: an order's announcement is made once it is paid or cancelled.
const REMOVE_ANNOUNCEMENT: &str = "announce_card, announce_trace";

/// The key of the item remembering a customer's idempotency key. Hashed: the table keeps
/// neither the client's key nor a way to find an order from it without the customer.
fn idempotency_key(customer_id: &str, key: &str) -> Item {
    dynamo_kit::item::key(format!("IDEMPOTENCY#{}", crate::customer_fingerprint(customer_id, key)), KEY_SK)
}

/// What an item inserted into the orders table is to the relay.
#[derive(Debug, Clone, PartialEq)]
pub enum Inserted {
    /// A new order, with what its announcement needs.
    Order(Box<PlacedOrder>),
    /// An order put without its card, by an API from before orders kept it: its outbox
    /// entry announced it.
    Unannounceable(Uuid),
    /// Another item (an idempotency key's).
    NotAnOrder,
}

/// The orders in one DynamoDB table: one item per order, holding its stored pizzas, and one per client
/// idempotency key.
pub struct DynamoOrders {
    client: Client,
    table: String,
}

impl DynamoOrders {
    /// The orders in `table`.
    pub fn new(config: &aws_config::SdkConfig, table: impl Into<String>) -> Self {
        Self { client: Client::new(config), table: table.into() }
    }

    /// Every order (an operator's audit; it reads the whole table).
    pub async fn all_orders(&self) -> Result<Vec<Order>, StoreError> {
        let items = dynamo_kit::read::scan_all(&self.client, &self.table).await?;
        items.iter().filter(|item| opt_s(item, "sk") == Some(ORDER_SK)).map(order_from_item).collect()
    }

    /// The item an order is placed as: what the relay finds inserted in the stream.
    pub fn placed_item(placed: &PlacedOrder) -> Result<Item, StoreError> {
        placed_to_item(placed)
    }

    /// The item of a cooking order with `pizzas` stored on it, as its updates leave it: for
    /// sizing what storing pizzas costs.
    pub fn cooking_item(placed: &PlacedOrder, pizzas: &[StoredPizza]) -> Item {
        let mut order = placed.order.clone();
        (order.status, order.charged_cents) = (OrderStatus::Cooking, order.amount_cents);
        order.pizzas_ready = pizzas.len() as u32;
        order.updated_at = order.created_at + chrono::Duration::milliseconds(1);
        let mut item = Self::order_key(order.order_id);
        item.extend(order_to_attributes(&order));
        for pizza in pizzas {
            item.insert(pizza_attribute(order.order_id, pizza.pizza_id), ingredients_to_value(&pizza.ingredients));
        }
        item
    }

    /// What an item inserted into the table is to the relay, from the stream record's
    /// `Keys` and `NewImage`. An order's insertion without its new image is an error: the
    /// stream must show new images, or orders go unannounced.
    pub fn inserted(
        keys: &serde_json::Map<String, serde_json::Value>,
        new_image: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<Inserted, StoreError> {
        if opt_s(&dynamo_kit::stream::item_from_image(keys)?, "sk") != Some(ORDER_SK) {
            return Ok(Inserted::NotAnOrder);
        }
        if new_image.is_empty() {
            return Err(StoreError::Corrupt("an order's insertion without its new image (StreamViewType?)".into()));
        }
        let item = dynamo_kit::stream::item_from_image(new_image)?;
        match placed_from_item(&item)? {
            Some(placed) => Ok(Inserted::Order(Box::new(placed))),
            None => Ok(Inserted::Unannounceable(order_from_item(&item)?.order_id)),
        }
    }

    fn order_key(order_id: Uuid) -> Item {
        key(format!("{ORDER_PK_PREFIX}{order_id}"), ORDER_SK)
    }

    /// The order an item's key (`pk`, `sk`) names, if it is an order's item: for readers
    /// of keys only (an index, a stream record's `Keys`).
    pub fn order_of_key(pk: &str, sk: &str) -> Option<Uuid> {
        pk.strip_prefix(ORDER_PK_PREFIX).filter(|_| sk == ORDER_SK).and_then(|id| id.parse().ok())
    }

    fn guarded_update(&self, order_id: Uuid) -> UpdateItemFluentBuilder {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::order_key(order_id)))
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":now", s(stored_time(Utc::now())))
    }

    async fn run_transition(&self, order_id: Uuid, update: UpdateItemFluentBuilder) -> Result<Transition, StoreError> {
        match update_or_old(update).await? {
            Ok(order) => Ok(Transition::Applied(order_from_item(&order)?)),
            Err(current) => {
                let current = current.as_ref().map(order_from_item).transpose()?;
                tracing::debug!(%order_id, ?current, "order transition rejected");
                Ok(Transition::Rejected { current })
            }
        }
    }
}

mod book;
mod desk;
mod items;
#[cfg(test)]
mod tests;
mod watchlist;

use items::*;
