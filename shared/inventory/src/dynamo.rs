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

pub struct DynamoInventory {
    client: Client,
    table: String,
}

/// What one round of a batch needs, per order.
struct OrderRound<'r> {
    order_id: Uuid,
    /// (request index, request, ingredient it gets this round or None: none left)
    pizzas: Vec<(usize, &'r ReservationRequest, Option<String>)>,
}

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

    /// Tries one round; settles what it learns in `outcomes` and `known`.
    async fn round(
        &self,
        stage: &str,
        orders: &[OrderRound<'_>],
        outcomes: &mut [Option<Reservation>],
        known: &mut HashMap<String, u64>,
    ) -> Result<(), StoreError> {
        let mut takes: BTreeMap<&str, u64> = BTreeMap::new();
        let mut candidates: BTreeSet<&str> = BTreeSet::new();
        // Every ingredient a pizza of the round goes without must really be short.
        let mut short: BTreeSet<&str> = BTreeSet::new();
        for (_, request, pick) in orders.iter().flat_map(|order| &order.pizzas) {
            let wanted = request.candidates.iter().map(String::as_str);
            match pick {
                Some(ingredient) => *takes.entry(ingredient.as_str()).or_default() += 1,
                None => short.extend(wanted.clone()),
            }
            candidates.extend(wanted);
        }
        let mut actions = vec![self.stock_action(stage, &takes, &short)?];
        for order in orders {
            actions.push(self.reservation_action(stage, order)?);
        }

        let reasons = match transact(&self.client, actions).await? {
            Ok(()) => {
                for order in orders {
                    for (index, _, pick) in &order.pizzas {
                        outcomes[*index] = Some(match pick {
                            Some(ingredient) => Reservation::Reserved(ingredient.clone()),
                            None => Reservation::OutOfStock,
                        });
                    }
                }
                return Ok(());
            }
            Err(reasons) => reasons,
        };
        let mut reasons = reasons.into_iter();
        if let Some(Cancelled::ConditionFailed(old)) = reasons.next() {
            let levels = available_in(&old)?;
            for ingredient in candidates {
                known.insert(ingredient.to_owned(), levels.get(ingredient).copied().unwrap_or(0).max(0) as u64);
            }
        }
        for (order, reason) in orders.iter().zip(reasons) {
            let Cancelled::ConditionFailed(old) = reason else { continue };
            let closed = old.contains_key("closed");
            for (index, request, _) in &order.pizzas {
                if let Some(ingredient) = opt_s(&old, &pizza_attribute(request.pizza_id)) {
                    outcomes[*index].get_or_insert(Reservation::AlreadyReserved(ingredient.to_owned()));
                } else if old.contains_key(&shortage_attribute(request.pizza_id)) {
                    outcomes[*index].get_or_insert(Reservation::AlreadyOutOfStock);
                } else if closed {
                    outcomes[*index].get_or_insert(Reservation::OrderClosed);
                }
            }
        }
        Ok(())
    }

    /// The stage's stock: `takes` units taken of each ingredient, which must be there, and
    /// of every `short` ingredient no more than is taken (a pizza of the round goes
    /// without it). A round that takes nothing only checks.
    fn stock_action(
        &self,
        stage: &str,
        takes: &BTreeMap<&str, u64>,
        short: &BTreeSet<&str>,
    ) -> Result<TransactWriteItem, StoreError> {
        let mut expression = Expression::default();
        let available = expression.name("#available".into(), AVAILABLE);
        let (mut sets, mut conditions) = (Vec::new(), Vec::new());
        let ingredients: BTreeSet<&str> = takes.keys().copied().chain(short.iter().copied()).collect();
        for (i, ingredient) in ingredients.iter().enumerate() {
            let path = format!("{available}.{}", expression.name(format!("#i{i}"), *ingredient));
            let units = takes.get(ingredient).copied().unwrap_or(0);
            if units > 0 {
                let take = expression.value(format!(":t{i}"), n(units));
                sets.push(format!("{path} = {path} - {take}"));
                conditions.push(format!("{path} >= {take}"));
            }
            if short.contains(ingredient) {
                let more = expression.value(format!(":m{i}"), n(units + 1));
                conditions.push(format!("(attribute_not_exists({path}) OR {path} < {more})"));
            }
        }
        let condition =
            if conditions.is_empty() { "attribute_exists(pk)".to_owned() } else { conditions.join(" AND ") };
        let Expression { names, values } = expression;
        let values = (!values.is_empty()).then_some(values);
        let action = if sets.is_empty() {
            let check = ConditionCheck::builder()
                .table_name(&self.table)
                .set_key(Some(Self::stock_key(stage)))
                .condition_expression(condition)
                .set_expression_attribute_names(Some(names))
                .set_expression_attribute_values(values)
                .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
            TransactWriteItem::builder().condition_check(built(check.build())?).build()
        } else {
            let take = Update::builder()
                .table_name(&self.table)
                .set_key(Some(Self::stock_key(stage)))
                .update_expression(format!("SET {}", sets.join(", ")))
                .condition_expression(condition)
                .set_expression_attribute_names(Some(names))
                .set_expression_attribute_values(values)
                .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
            TransactWriteItem::builder().update(built(take.build())?).build()
        };
        Ok(action)
    }

    /// The order's reservation item: not closed, and each pizza of the round gets its
    /// ingredient's attribute, or its shortage's, and must have had neither.
    fn reservation_action(&self, stage: &str, order: &OrderRound<'_>) -> Result<TransactWriteItem, StoreError> {
        let mut expression = Expression::default();
        let mut sets = vec![
            format!("order_id = {}", expression.value(":order".into(), s(order.order_id.to_string()))),
            format!("{} = {}", expression.name("#stage".into(), "stage"), expression.value(":stage".into(), s(stage))),
        ];
        let mut conditions = vec!["attribute_not_exists(closed)".to_owned()];
        for (i, (_, request, pick)) in order.pizzas.iter().enumerate() {
            let held = expression.name(format!("#p{i}"), pizza_attribute(request.pizza_id));
            let lacking = expression.name(format!("#x{i}"), shortage_attribute(request.pizza_id));
            conditions.push(format!("attribute_not_exists({held}) AND attribute_not_exists({lacking})"));
            match pick {
                Some(ingredient) => {
                    let value = expression.value(format!(":p{i}"), s(ingredient.clone()));
                    sets.push(format!("{held} = {value}"));
                }
                None => {
                    let value = expression.value(format!(":x{i}"), s("out of stock"));
                    sets.push(format!("{lacking} = {value}"));
                }
            }
        }
        let Expression { names, values } = expression;
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(Self::reservations_key(order.order_id, stage)))
            .update_expression(format!("SET {}", sets.join(", ")))
            .condition_expression(conditions.join(" AND "))
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        Ok(TransactWriteItem::builder().update(built(update.build())?).build())
    }

    /// Closes the order's reservations at `stage` and returns them as they are now: no
    /// reservation can be added after this.
    async fn close(&self, order_id: Uuid, stage: &str) -> Result<Item, StoreError> {
        let output = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::reservations_key(order_id, stage)))
            .update_expression("SET closed = :closed, order_id = :order, #stage = :stage")
            .expression_attribute_names("#stage", "stage")
            .expression_attribute_values(":closed", AttributeValue::Bool(true))
            .expression_attribute_values(":order", s(order_id.to_string()))
            .expression_attribute_values(":stage", s(stage))
            .return_values(ReturnValue::AllNew)
            .send()
            .await
            .map_err(classify)?;
        output.attributes.ok_or_else(|| StoreError::Corrupt("closing reservations returned no item".into()))
    }

    /// Gives back a closed reservation item's units, once: `0` if it held none or another
    /// release got there first.
    async fn give_back(&self, reservations: &Item) -> Result<u32, StoreError> {
        // A released item holds no pizza attribute any more: the release removed them.
        let held: Vec<(Uuid, &str)> = pizzas_in(reservations).collect();
        if held.is_empty() {
            return Ok(0);
        }
        let stage = get_s(reservations, "stage")?;
        let mut units: BTreeMap<&str, u64> = BTreeMap::new();
        for (_, ingredient) in &held {
            *units.entry(ingredient).or_default() += 1;
        }
        let mut release = Expression::default();
        let removed: Vec<String> = held
            .iter()
            .enumerate()
            .map(|(i, (pizza_id, _))| release.name(format!("#p{i}"), pizza_attribute(*pizza_id)))
            .collect();
        let count = release.value(":units".into(), n(held.len() as u64));
        let Expression { names, values } = release;
        let released = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(get_s(reservations, "pk")?, get_s(reservations, "sk")?)))
            .update_expression(format!("SET released = {count} REMOVE {}", removed.join(", ")))
            .condition_expression("attribute_not_exists(released)")
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values));
        let mut restock = Expression::default();
        let available = restock.name("#available".into(), AVAILABLE);
        let zero = restock.value(":zero".into(), n(0u64));
        let mut sets = Vec::new();
        for (i, (ingredient, count)) in units.iter().enumerate() {
            let path = format!("{available}.{}", restock.name(format!("#i{i}"), *ingredient));
            let back = restock.value(format!(":b{i}"), n(*count));
            sets.push(format!("{path} = if_not_exists({path}, {zero}) + {back}"));
        }
        let Expression { names, values } = restock;
        let restocked = Update::builder()
            .table_name(&self.table)
            .set_key(Some(Self::stock_key(stage)))
            .update_expression(format!("SET {}", sets.join(", ")))
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values));
        let actions = vec![
            TransactWriteItem::builder().update(built(released.build())?).build(),
            TransactWriteItem::builder().update(built(restocked.build())?).build(),
        ];
        match transact(&self.client, actions).await? {
            Ok(()) => Ok(held.len() as u32),
            Err(reasons) if matches!(reasons.first(), Some(Cancelled::ConditionFailed(_))) => Ok(0),
            Err(_) => Err(StoreError::unavailable("a release was cancelled for no stated reason")),
        }
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

#[async_trait]
impl Pantry for DynamoInventory {
    async fn reserve(&self, stage: &str, requests: &[ReservationRequest]) -> Result<Vec<Reservation>, StoreError> {
        self.reserve_believing(stage, requests, HashMap::new()).await
    }
}

impl DynamoInventory {
    /// As [`Pantry::reserve`], starting from what the caller believes is left of some
    /// ingredients. A belief can be stale: the writes check it, so it only costs a round
    /// when it is wrong. (The system tests use it to prove that a stale level never makes
    /// a pizza go without.)
    pub async fn reserve_believing(
        &self,
        stage: &str,
        requests: &[ReservationRequest],
        believed: HashMap<String, u64>,
    ) -> Result<Vec<Reservation>, StoreError> {
        let mut outcomes: Vec<Option<Reservation>> = vec![None; requests.len()];
        let mut first_of: HashMap<Uuid, usize> = HashMap::new();
        let mut pending: Vec<usize> = Vec::new();
        for (index, request) in requests.iter().enumerate() {
            if let std::collections::hash_map::Entry::Vacant(first) = first_of.entry(request.pizza_id) {
                first.insert(index);
                pending.push(index);
            }
        }
        let mut known = believed;
        for _ in 0..MAX_ROUNDS {
            if pending.is_empty() {
                break;
            }
            let before = (pending.len(), known.clone());
            for part in split_to_fit(&pending, requests) {
                let batch: Vec<&ReservationRequest> = part.iter().map(|i| &requests[*i]).collect();
                let picks = allocate(&batch, &known);
                let mut orders: Vec<OrderRound<'_>> = Vec::new();
                for (index, pick) in part.iter().zip(picks) {
                    let request = &requests[*index];
                    match orders.iter_mut().find(|o| o.order_id == request.order_id) {
                        Some(order) => order.pizzas.push((*index, request, pick)),
                        None => orders
                            .push(OrderRound { order_id: request.order_id, pizzas: vec![(*index, request, pick)] }),
                    }
                }
                self.round(stage, &orders, &mut outcomes, &mut known).await?;
            }
            pending.retain(|index| outcomes[*index].is_none());
            if (pending.len(), &known) == (before.0, &before.1) {
                return Err(StoreError::unavailable(
                    "reserving made no progress: the stock is changing under the batch",
                ));
            }
        }
        if !pending.is_empty() {
            return Err(StoreError::unavailable("the batch's reservations did not settle; it will be retried"));
        }
        // A pizza named twice in one call holds what its first mention got.
        Ok(requests
            .iter()
            .enumerate()
            .map(|(index, request)| {
                let first = first_of[&request.pizza_id];
                match (&outcomes[first], first == index) {
                    (Some(Reservation::Reserved(ingredient)), false) => {
                        Reservation::AlreadyReserved(ingredient.clone())
                    }
                    (Some(Reservation::OutOfStock), false) => Reservation::AlreadyOutOfStock,
                    (Some(outcome), _) => outcome.clone(),
                    (None, _) => Reservation::OutOfStock,
                }
            })
            .collect())
    }
}

/// Splits pending requests so that each part's transaction stays within 100 actions: the
/// stock item and one reservation item per order.
fn split_to_fit(pending: &[usize], requests: &[ReservationRequest]) -> Vec<Vec<usize>> {
    let mut parts: Vec<Vec<usize>> = vec![Vec::new()];
    let mut orders: Vec<Uuid> = Vec::new();
    for index in pending {
        let order_id = requests[*index].order_id;
        if !orders.contains(&order_id) {
            if orders.len() == MAX_ORDERS_PER_TRANSACTION {
                parts.push(Vec::new());
                orders.clear();
            }
            orders.push(order_id);
        }
        if let Some(part) = parts.last_mut() {
            part.push(*index);
        }
    }
    parts.retain(|part| !part.is_empty());
    parts
}

#[async_trait]
impl Restock for DynamoInventory {
    async fn release_order(&self, order_id: Uuid) -> Result<u32, StoreError> {
        let mut closed = Self::closed_key(order_id);
        closed.insert("order_id".into(), s(order_id.to_string()));
        put(&self.client, &self.table, closed).await?;
        // Close the order's reservations at every stage there is (and any it holds at a
        // stage whose stock is gone): once closed, what an item holds is all it will
        // ever hold, so giving it back leaves nothing behind.
        let mut stages: BTreeSet<String> = self.stages().await?.into_iter().collect();
        for item in self.order_reservations(order_id).await? {
            stages.insert(get_s(&item, "stage")?.to_owned());
        }
        let mut released = 0;
        for stage in stages {
            let reservations = self.close(order_id, &stage).await?;
            released += self.give_back(&reservations).await?;
        }
        Ok(released)
    }

    async fn is_closed(&self, order_id: Uuid) -> Result<bool, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(Self::closed_key(order_id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(classify)?;
        Ok(output.item.is_some())
    }

    async fn units_held_by(&self, order_id: Uuid) -> Result<u32, StoreError> {
        let items = self.order_reservations(order_id).await?;
        Ok(items.iter().map(|item| pizzas_in(item).count() as u32).sum())
    }
}

#[async_trait]
impl StockRoom for DynamoInventory {
    async fn set_stock(&self, stage: &str, ingredient: &str, units: u64) -> Result<(), StoreError> {
        // The map must exist before one of its entries can be set: two writes, for an
        // operator's rare call.
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::stock_key(stage)))
            .update_expression("SET #available = if_not_exists(#available, :none), #stage = :stage")
            .expression_attribute_names("#available", AVAILABLE)
            .expression_attribute_names("#stage", "stage")
            .expression_attribute_values(":none", AttributeValue::M(HashMap::new()))
            .expression_attribute_values(":stage", s(stage))
            .send()
            .await
            .map_err(classify)?;
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::stock_key(stage)))
            .update_expression("SET #available.#ingredient = :units")
            .expression_attribute_names("#available", AVAILABLE)
            .expression_attribute_names("#ingredient", ingredient)
            .expression_attribute_values(":units", n(units))
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }

    async fn levels(&self) -> Result<Vec<StockLevel>, StoreError> {
        let mut available: BTreeMap<(String, String), i64> = BTreeMap::new();
        let mut reserved: BTreeMap<(String, String), u64> = BTreeMap::new();
        for item in self.scan().await? {
            if opt_s(&item, "pk") == Some(STOCK_PK) {
                let stage = get_s(&item, "sk")?;
                for (ingredient, units) in available_in(&item)? {
                    available.insert((stage.to_owned(), ingredient), units);
                }
            } else if is_reservation_item(&item) {
                let stage = get_s(&item, "stage")?;
                for (_, ingredient) in pizzas_in(&item) {
                    *reserved.entry((stage.to_owned(), ingredient.to_owned())).or_default() += 1;
                }
            }
        }
        Ok(available
            .into_iter()
            .map(|((stage, ingredient), available)| {
                let reserved = reserved.get(&(stage.clone(), ingredient.clone())).copied().unwrap_or_default();
                StockLevel { stage, ingredient, available, reserved }
            })
            .collect())
    }

    async fn reservations(&self) -> Result<Vec<Held>, StoreError> {
        let mut held = Vec::new();
        for item in self.scan().await?.iter().filter(|item| is_reservation_item(item)) {
            let (order_id, stage) = (get_uuid(item, "order_id")?, get_s(item, "stage")?);
            for (pizza_id, ingredient) in pizzas_in(item) {
                held.push(Held { order_id, pizza_id, stage: stage.to_owned(), ingredient: ingredient.to_owned() });
            }
        }
        held.sort();
        Ok(held)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(order_id: Uuid) -> ReservationRequest {
        ReservationRequest { order_id, pizza_id: Uuid::new_v4(), candidates: vec!["ham".into()] }
    }

    #[test]
    fn a_batch_of_many_orders_is_split_so_each_transaction_fits() {
        let requests: Vec<_> = (0..250).map(|_| request(Uuid::new_v4())).collect();
        let pending: Vec<usize> = (0..250).collect();
        let parts = split_to_fit(&pending, &requests);
        assert_eq!(parts.iter().map(Vec::len).collect::<Vec<_>>(), vec![99, 99, 52]);
        assert_eq!(parts.concat(), pending);

        let order = Uuid::new_v4();
        let one_order: Vec<_> = (0..300).map(|_| request(order)).collect();
        assert_eq!(split_to_fit(&(0..300).collect::<Vec<_>>(), &one_order).len(), 1, "one order is one action");
    }

    #[test]
    fn a_reservation_item_lists_its_pizzas() {
        let pizza = Uuid::new_v4();
        let mut item = DynamoInventory::reservations_key(Uuid::new_v4(), "sauce");
        item.insert(pizza_attribute(pizza), s("pesto"));
        item.insert(shortage_attribute(Uuid::new_v4()), s("out of stock"));
        item.insert("stage".into(), s("sauce"));
        item.insert("order_id".into(), s(Uuid::new_v4().to_string()));
        assert_eq!(pizzas_in(&item).collect::<Vec<_>>(), vec![(pizza, "pesto")]);
    }

    #[test]
    fn a_stock_item_is_read_as_a_level_per_ingredient() {
        let mut item = DynamoInventory::stock_key("meat");
        let levels = HashMap::from([("ham".to_owned(), n(3u64)), ("bacon".to_owned(), n(0u64))]);
        item.insert(AVAILABLE.into(), AttributeValue::M(levels));
        let read = available_in(&item).expect("reads");
        assert_eq!(read, BTreeMap::from([("bacon".to_owned(), 0), ("ham".to_owned(), 3)]));
        assert!(available_in(&Item::new()).expect("no item, no stock").is_empty());
    }
}
