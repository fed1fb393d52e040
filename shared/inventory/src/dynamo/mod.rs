//! The inventory in DynamoDB:
//! - `pk = STOCK, sk = <stage>`: the stage's stock, `available` = a map from ingredient to
//!   units. One item per stage, so a batch takes every unit it needs with one conditional
//!   update, and one query of the `STOCK` partition lists the stages.
//! - `pk = ORDER#<order>, sk = RES#<stage>`: the order's reservations at a stage, one
//!   attribute `p<pizza id>` = ingredient per pizza, and `x<pizza id>` for a pizza found
//!   out of stock; `closed` once the order's release began (no reservation may follow) and
//!   `released` once its units are given back. One item per order and stage, so a batch of
//!   one order's pizzas writes one reservation item, and the closed check is part of it.
//! - `pk = ORDER#<order>, sk = CLOSED`: the order's release began (for `is_closed`; the
//!   hot path never reads it).
//!
//! A batch is one transaction of two kinds of write: per order, its reservation item (not
//! closed, each pizza's attributes absent); and the stage's stock item (`available[i] >=
//! k` and the take of `k` units of every ingredient taken; where a pizza of the batch goes
//! without an ingredient, `available[i] < k + 1` too: a shortage is decided against the
//! stock it is recorded with, never against a stale read). A cancelled transaction says
//! which condition failed and what the item held, so the next attempt knows which pizzas
//! were settled before, which orders are closed and how much of each ingredient is left,
//! and it is redone without guessing.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, ReturnValue, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
};
use dynamo_kit::item::{Item, get_s, get_uuid, key, n, opt_s, s};
use dynamo_kit::read::query_partition;
use dynamo_kit::write::{Cancelled, put, transact};
use dynamo_kit::{StoreError, built, classify};
use uuid::Uuid;

use crate::{Held, Pantry, Reservation, ReservationRequest, Restock, StockLevel, StockRoom, allocate};

const STOCK_PK: &str = "STOCK";
const AVAILABLE: &str = "available";
const RESERVATIONS_PREFIX: &str = "RES#";
const CLOSED_SK: &str = "CLOSED";
const PIZZA_ATTRIBUTE_PREFIX: &str = "p";
const SHORTAGE_ATTRIBUTE_PREFIX: &str = "x";
/// A transaction takes at most 100 actions: the stock item and up to 99 orders.
const MAX_ORDERS_PER_TRANSACTION: usize = 99;
/// Rounds of learning (a closed order, an earlier reservation, a short ingredient) before
/// a batch gives up as contended; each round settles something or learns a lower level.
const MAX_ROUNDS: usize = 12;

/// The inventory in one DynamoDB table: a stock item per stage, a reservation item per order and stage.
pub struct DynamoInventory {
    client: Client,
    table: String,
}

mod release;
mod reserve;
mod stock_room;
#[cfg(test)]
mod tests;

/// Expression names and values under construction, with short placeholders.
#[derive(Default)]
struct Expression {
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
}

impl Expression {
    fn name(&mut self, placeholder: String, name: impl Into<String>) -> String {
        self.names.insert(placeholder.clone(), name.into());
        placeholder
    }

    fn value(&mut self, placeholder: String, value: AttributeValue) -> String {
        self.values.insert(placeholder.clone(), value);
        placeholder
    }
}

impl DynamoInventory {
    /// The inventory in `table`.
    pub fn new(config: &aws_config::SdkConfig, table: impl Into<String>) -> Self {
        Self { client: Client::new(config), table: table.into() }
    }

    fn stock_key(stage: &str) -> Item {
        key(STOCK_PK, stage)
    }

    fn closed_key(order_id: Uuid) -> Item {
        key(format!("ORDER#{order_id}"), CLOSED_SK)
    }

    fn reservations_key(order_id: Uuid, stage: &str) -> Item {
        key(format!("ORDER#{order_id}"), format!("{RESERVATIONS_PREFIX}{stage}"))
    }

    /// Every stage with a stock item.
    async fn stages(&self) -> Result<Vec<String>, StoreError> {
        let items = query_partition(&self.client, &self.table, STOCK_PK, "").await?;
        items.iter().map(|item| get_s(item, "sk").map(str::to_owned)).collect()
    }

    async fn order_reservations(&self, order_id: Uuid) -> Result<Vec<Item>, StoreError> {
        query_partition(&self.client, &self.table, &format!("ORDER#{order_id}"), RESERVATIONS_PREFIX).await
    }

    async fn scan(&self) -> Result<Vec<Item>, StoreError> {
        dynamo_kit::read::scan_all(&self.client, &self.table).await
    }
}

fn pizza_attribute(pizza_id: Uuid) -> String {
    format!("{PIZZA_ATTRIBUTE_PREFIX}{}", pizza_id.simple())
}

fn shortage_attribute(pizza_id: Uuid) -> String {
    format!("{SHORTAGE_ATTRIBUTE_PREFIX}{}", pizza_id.simple())
}

/// (pizza id, ingredient) of every reservation in a reservation item.
fn pizzas_in(item: &Item) -> impl Iterator<Item = (Uuid, &str)> {
    item.iter().filter_map(|(name, value)| {
        let pizza = name.strip_prefix(PIZZA_ATTRIBUTE_PREFIX)?.parse().ok()?;
        Some((pizza, value.as_s().ok()?.as_str()))
    })
}

/// The units of each ingredient in a stock item (none for no item). Signed, so that an
/// oversold ingredient would show as such rather than hide.
fn available_in(item: &Item) -> Result<BTreeMap<String, i64>, StoreError> {
    let Some(available) = item.get(AVAILABLE) else { return Ok(BTreeMap::new()) };
    let map = available.as_m().map_err(|_| StoreError::Corrupt("stock is not a map".into()))?;
    map.iter()
        .map(|(ingredient, units)| {
            let units = units.as_n().ok().and_then(|n| n.parse().ok());
            let units = units.ok_or_else(|| StoreError::Corrupt(format!("stock of {ingredient} is not a number")))?;
            Ok((ingredient.clone(), units))
        })
        .collect()
}

fn is_reservation_item(item: &Item) -> bool {
    opt_s(item, "sk").is_some_and(|sk| sk.starts_with(RESERVATIONS_PREFIX))
}
