//! The inventory in DynamoDB:
//! - `pk = STOCK#<ingredient>, sk = STOCK`: `available` units;
//! - `pk = ORDER#<order>, sk = CLOSED`: the order takes no more reservations;
//! - `pk = ORDER#<order>, sk = RES#<stage>`: the order's reservations at a stage, one
//!   attribute `p<pizza id>` = ingredient per pizza, and `x<pizza id>` for a pizza found
//!   out of stock. One item per order and stage, so a batch of one order's pizzas writes
//!   one reservation item, not one per pizza.
//!
//! A batch is one transaction: per order, the closed check and its reservation item (each
//! pizza's attributes must be absent); per ingredient, `available >= k` and the take of
//! `k` units, and where a pizza of the batch goes without it, `available < k + 1` too: a
//! shortage is decided against the stock it is recorded with, never against a stale read.
//! A cancelled transaction says which condition failed and what the item held, so the
//! next attempt knows which pizzas were settled before, which orders are closed and how
//! much of each ingredient is left, and it is redone without guessing.

use std::collections::{BTreeMap, HashMap, HashSet};

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{ConditionCheck, Delete, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update};
use dynamo_kit::item::{Item, get_n, get_s, get_uuid, key, n, opt_s, s};
use dynamo_kit::read::query_partition;
use dynamo_kit::write::{Cancelled, put, transact};
use dynamo_kit::{StoreError, built};
use uuid::Uuid;

use crate::{Held, Pantry, Reservation, ReservationRequest, Restock, StockLevel, StockRoom, allocate};

const STOCK_PREFIX: &str = "STOCK#";
const RESERVATIONS_PREFIX: &str = "RES#";
const PIZZA_ATTRIBUTE_PREFIX: &str = "p";
const SHORTAGE_ATTRIBUTE_PREFIX: &str = "x";
const MAX_ACTIONS: usize = 100;
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

impl DynamoInventory {
    pub fn new(config: &aws_config::SdkConfig, table: impl Into<String>) -> Self {
        Self { client: Client::new(config), table: table.into() }
    }

    fn stock_key(ingredient: &str) -> Item {
        key(format!("{STOCK_PREFIX}{ingredient}"), "STOCK")
    }

    fn closed_key(order_id: Uuid) -> Item {
        key(format!("ORDER#{order_id}"), "CLOSED")
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
        enum Action {
            Closed(usize),
            Reservations(usize),
            Stock(String),
        }
        let mut actions = Vec::new();
        let mut meaning = Vec::new();
        let mut takes: BTreeMap<&str, u64> = BTreeMap::new();
        for (order_index, order) in orders.iter().enumerate() {
            let closed = ConditionCheck::builder()
                .table_name(&self.table)
                .set_key(Some(Self::closed_key(order.order_id)))
                .condition_expression("attribute_not_exists(pk)");
            actions.push(TransactWriteItem::builder().condition_check(built(closed.build())?).build());
            meaning.push(Action::Closed(order_index));
            actions.push(self.reservation_action(stage, order)?);
            meaning.push(Action::Reservations(order_index));
            for (_, _, pick) in &order.pizzas {
                if let Some(ingredient) = pick {
                    *takes.entry(ingredient.as_str()).or_default() += 1;
                }
            }
        }
        // Every ingredient a pizza of the round goes without must really be short.
        let mut short: BTreeMap<&str, u64> = BTreeMap::new();
        for order in orders {
            for (_, request, pick) in &order.pizzas {
                if pick.is_none() {
                    for candidate in &request.candidates {
                        short.insert(candidate.as_str(), takes.get(candidate.as_str()).copied().unwrap_or(0));
                    }
                }
            }
        }
        for (ingredient, units) in &takes {
            actions.push(self.take_action(ingredient, *units, short.contains_key(ingredient))?);
            meaning.push(Action::Stock((*ingredient).to_owned()));
        }
        for ingredient in short.keys().filter(|i| !takes.contains_key(*i)) {
            let check = ConditionCheck::builder()
                .table_name(&self.table)
                .set_key(Some(Self::stock_key(ingredient)))
                .condition_expression("attribute_not_exists(available) OR available < :one")
                .expression_attribute_values(":one", n(1u64))
                .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
            actions.push(TransactWriteItem::builder().condition_check(built(check.build())?).build());
            meaning.push(Action::Stock((*ingredient).to_owned()));
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
        for (action, reason) in meaning.iter().zip(&reasons) {
            let Cancelled::ConditionFailed(old) = reason else { continue };
            match action {
                Action::Closed(order_index) => {
                    for (index, _, _) in &orders[*order_index].pizzas {
                        outcomes[*index] = Some(Reservation::OrderClosed);
                    }
                }
                Action::Reservations(order_index) => {
                    for (index, request, _) in &orders[*order_index].pizzas {
                        if let Some(ingredient) = opt_s(old, &pizza_attribute(request.pizza_id)) {
                            outcomes[*index].get_or_insert(Reservation::AlreadyReserved(ingredient.to_owned()));
                        } else if old.contains_key(&shortage_attribute(request.pizza_id)) {
                            outcomes[*index].get_or_insert(Reservation::AlreadyOutOfStock);
                        }
                    }
                }
                Action::Stock(ingredient) => {
                    let available = if old.is_empty() { 0 } else { get_n::<i64>(old, "available")?.max(0) as u64 };
                    known.insert(ingredient.clone(), available);
                }
            }
        }
        Ok(())
    }

    /// Takes `units` of an ingredient; `exactly`: and no more were left (a pizza of the
    /// round goes without it).
    fn take_action(&self, ingredient: &str, units: u64, exactly: bool) -> Result<TransactWriteItem, StoreError> {
        let condition = if exactly { "available >= :units AND available < :more" } else { "available >= :units" };
        let mut take = Update::builder()
            .table_name(&self.table)
            .set_key(Some(Self::stock_key(ingredient)))
            .update_expression("SET available = available - :units")
            .condition_expression(condition)
            .expression_attribute_values(":units", n(units))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        if exactly {
            take = take.expression_attribute_values(":more", n(units + 1));
        }
        Ok(TransactWriteItem::builder().update(built(take.build())?).build())
    }

    /// The order's reservation item: each pizza of the round gets its ingredient's
    /// attribute, or its shortage's, and must have had neither.
    fn reservation_action(&self, stage: &str, order: &OrderRound<'_>) -> Result<TransactWriteItem, StoreError> {
        let key = Self::reservations_key(order.order_id, stage);
        let mut names =
            HashMap::from([("#order".to_owned(), "order_id".to_owned()), ("#stage".into(), "stage".into())]);
        let mut values =
            HashMap::from([(":order".to_owned(), s(order.order_id.to_string())), (":stage".into(), s(stage))]);
        let mut sets = vec!["#order = :order".to_owned(), "#stage = :stage".to_owned()];
        let mut absent = Vec::new();
        for (i, (_, request, pick)) in order.pizzas.iter().enumerate() {
            names.insert(format!("#p{i}"), pizza_attribute(request.pizza_id));
            names.insert(format!("#x{i}"), shortage_attribute(request.pizza_id));
            absent.push(format!("attribute_not_exists(#p{i}) AND attribute_not_exists(#x{i})"));
            match pick {
                Some(ingredient) => {
                    values.insert(format!(":p{i}"), s(ingredient.clone()));
                    sets.push(format!("#p{i} = :p{i}"));
                }
                None => {
                    values.insert(format!(":x{i}"), s("out of stock"));
                    sets.push(format!("#x{i} = :x{i}"));
                }
            }
        }
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key))
            .update_expression(format!("SET {}", sets.join(", ")))
            .condition_expression(absent.join(" AND "))
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        Ok(TransactWriteItem::builder().update(built(update.build())?).build())
    }

    /// Gives back one reservation item's units; `0` if another release got there first.
    async fn release(&self, reservations: &Item) -> Result<u32, StoreError> {
        let mut units: BTreeMap<&str, u64> = BTreeMap::new();
        for (_, ingredient) in pizzas_in(reservations) {
            *units.entry(ingredient).or_default() += 1;
        }
        let key = key(get_s(reservations, "pk")?.to_owned(), get_s(reservations, "sk")?.to_owned());
        let delete =
            Delete::builder().table_name(&self.table).set_key(Some(key)).condition_expression("attribute_exists(pk)");
        let mut actions = vec![TransactWriteItem::builder().delete(built(delete.build())?).build()];
        for (ingredient, count) in &units {
            let give_back = Update::builder()
                .table_name(&self.table)
                .set_key(Some(Self::stock_key(ingredient)))
                .update_expression("ADD available :units SET ingredient = :ingredient")
                .expression_attribute_values(":units", n(*count))
                .expression_attribute_values(":ingredient", s(*ingredient));
            actions.push(TransactWriteItem::builder().update(built(give_back.build())?).build());
        }
        match transact(&self.client, actions).await? {
            Ok(()) => Ok(units.values().sum::<u64>() as u32),
            Err(reasons) if matches!(reasons.first(), Some(Cancelled::ConditionFailed(_))) => Ok(0),
            Err(_) => Err(StoreError::unavailable("a release was cancelled for no stated reason")),
        }
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

/// Splits pending requests so that each part's transaction stays within 100 actions
/// (two per order and one per ingredient it might take).
fn split_to_fit(pending: &[usize], requests: &[ReservationRequest]) -> Vec<Vec<usize>> {
    let mut parts: Vec<Vec<usize>> = vec![Vec::new()];
    let (mut orders, mut ingredients): (HashSet<Uuid>, HashSet<&str>) = Default::default();
    for index in pending {
        let request = &requests[*index];
        let new_order = usize::from(!orders.contains(&request.order_id));
        let new_ingredients = request.candidates.iter().filter(|c| !ingredients.contains(c.as_str())).count();
        if 2 * (orders.len() + new_order) + ingredients.len() + new_ingredients > MAX_ACTIONS
            && parts.last().is_some_and(|p| !p.is_empty())
        {
            parts.push(Vec::new());
            orders.clear();
            ingredients.clear();
        }
        orders.insert(request.order_id);
        ingredients.extend(request.candidates.iter().map(String::as_str));
        if let Some(part) = parts.last_mut() {
            part.push(*index);
        }
    }
    parts
}

#[async_trait]
impl Restock for DynamoInventory {
    async fn release_order(&self, order_id: Uuid) -> Result<u32, StoreError> {
        // Close the order first: from here on no reservation can be added, so the query
        // below sees every reservation there will ever be.
        let mut closed = Self::closed_key(order_id);
        closed.insert("order_id".into(), s(order_id.to_string()));
        put(&self.client, &self.table, closed).await?;

        let order = format!("ORDER#{order_id}");
        let mut released = 0;
        for reservations in query_partition(&self.client, &self.table, &order, RESERVATIONS_PREFIX).await? {
            released += self.release(&reservations).await?;
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
            .map_err(dynamo_kit::classify)?;
        Ok(output.item.is_some())
    }

    async fn units_held_by(&self, order_id: Uuid) -> Result<u32, StoreError> {
        let order = format!("ORDER#{order_id}");
        let items = query_partition(&self.client, &self.table, &order, RESERVATIONS_PREFIX).await?;
        Ok(items.iter().map(|item| pizzas_in(item).count() as u32).sum())
    }
}

#[async_trait]
impl StockRoom for DynamoInventory {
    async fn set_stock(&self, ingredient: &str, units: u64) -> Result<(), StoreError> {
        let mut item = Self::stock_key(ingredient);
        item.insert("ingredient".into(), s(ingredient));
        item.insert("available".into(), n(units));
        put(&self.client, &self.table, item).await
    }

    async fn levels(&self) -> Result<Vec<StockLevel>, StoreError> {
        let mut available: BTreeMap<String, i64> = BTreeMap::new();
        let mut reserved: BTreeMap<String, u64> = BTreeMap::new();
        for item in self.scan().await? {
            if get_s(&item, "pk")?.starts_with(STOCK_PREFIX) {
                available.insert(get_s(&item, "ingredient")?.to_owned(), get_n(&item, "available")?);
            } else if is_reservation_item(&item) {
                for (_, ingredient) in pizzas_in(&item) {
                    *reserved.entry(ingredient.to_owned()).or_default() += 1;
                }
            }
        }
        Ok(available
            .into_iter()
            .map(|(ingredient, available)| {
                let reserved = reserved.get(&ingredient).copied().unwrap_or_default();
                StockLevel { ingredient, available, reserved }
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

    fn request(order_id: Uuid, candidates: usize) -> ReservationRequest {
        ReservationRequest {
            order_id,
            pizza_id: Uuid::new_v4(),
            candidates: (0..candidates).map(|i| format!("i{i}-{}", Uuid::new_v4().simple())).collect(),
        }
    }

    #[test]
    fn a_large_batch_is_split_so_each_transaction_fits() {
        let requests: Vec<_> = (0..60).map(|_| request(Uuid::new_v4(), 1)).collect();
        let pending: Vec<usize> = (0..60).collect();
        let parts = split_to_fit(&pending, &requests);
        assert!(parts.len() > 1);
        for part in &parts {
            let orders: HashSet<_> = part.iter().map(|i| requests[*i].order_id).collect();
            let ingredients: HashSet<_> = part.iter().flat_map(|i| requests[*i].candidates.iter()).collect();
            assert!(2 * orders.len() + ingredients.len() <= MAX_ACTIONS);
        }
        assert_eq!(parts.concat(), pending);

        let order = Uuid::new_v4();
        let small: Vec<_> = (0..10).map(|_| request(order, 1)).collect();
        assert_eq!(split_to_fit(&(0..10).collect::<Vec<_>>(), &small).len(), 1);
    }

    #[test]
    fn a_reservation_item_lists_its_pizzas() {
        let pizza = Uuid::new_v4();
        let mut item = DynamoInventory::reservations_key(Uuid::new_v4(), "sauce");
        item.insert(pizza_attribute(pizza), s("pesto"));
        item.insert("stage".into(), s("sauce"));
        item.insert("order_id".into(), s(Uuid::new_v4().to_string()));
        assert_eq!(pizzas_in(&item).collect::<Vec<_>>(), vec![(pizza, "pesto")]);
    }
}
