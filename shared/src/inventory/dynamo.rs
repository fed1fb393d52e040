//! The inventory in DynamoDB:
//! - `pk = STOCK#<ingredient>, sk = STOCK`: `available` units;
//! - `pk = ORDER#<order>, sk = RES#<pizza>#<stage>`: a reservation of one unit of `ingredient`;
//! - `pk = ORDER#<order>, sk = CANCELLED`: the order takes no more reservations.

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    ConditionCheck, Delete, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
};
use uuid::Uuid;

use super::{Inventory, Reservation, StockLevel, StockRoom};
use crate::dynamo::{Item, StoreError, get_n, get_s, key, n, put, s, transact, unavailable};

const RESERVATION_PREFIX: &str = "RES#";
const STOCK_PREFIX: &str = "STOCK#";

pub struct DynamoInventory {
    client: Client,
    table: String,
}

impl DynamoInventory {
    pub fn new(config: &aws_config::SdkConfig, table: impl Into<String>) -> Self {
        Self { client: Client::new(config), table: table.into() }
    }

    fn stock_key(ingredient: &str) -> Item {
        key(format!("{STOCK_PREFIX}{ingredient}"), "STOCK")
    }

    fn cancelled_key(order_id: Uuid) -> Item {
        key(format!("ORDER#{order_id}"), "CANCELLED")
    }

    /// Gives back one reservation; `false` if another release got there first.
    async fn release(&self, reservation: &Item) -> Result<bool, StoreError> {
        let ingredient = get_s(reservation, "ingredient")?;
        let key = key(get_s(reservation, "pk")?.to_owned(), get_s(reservation, "sk")?.to_owned());
        let delete = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(key))
            .condition_expression("attribute_exists(pk)")
            .build()
            .map_err(|e| unavailable(&e))?;
        let give_back = Update::builder()
            .table_name(&self.table)
            .set_key(Some(Self::stock_key(ingredient)))
            .update_expression("ADD available :one")
            .expression_attribute_values(":one", n(1u32))
            .build()
            .map_err(|e| unavailable(&e))?;
        let items = vec![
            TransactWriteItem::builder().delete(delete).build(),
            TransactWriteItem::builder().update(give_back).build(),
        ];
        match transact(&self.client, items).await? {
            None => Ok(true),
            Some(failed) if matches!(failed.first(), Some(Some(_))) => Ok(false),
            Some(_) => Err(StoreError::Unavailable("release cancelled for no stated reason".into())),
        }
    }
}

#[async_trait]
impl Inventory for DynamoInventory {
    async fn reserve(
        &self,
        order_id: Uuid,
        pizza_id: Uuid,
        stage: &str,
        ingredient: &str,
    ) -> Result<Reservation, StoreError> {
        let open = ConditionCheck::builder()
            .table_name(&self.table)
            .set_key(Some(Self::cancelled_key(order_id)))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(|e| unavailable(&e))?;
        let mut item = key(format!("ORDER#{order_id}"), format!("{RESERVATION_PREFIX}{pizza_id}#{stage}"));
        item.insert("ingredient".into(), s(ingredient));
        item.insert("stage".into(), s(stage));
        item.insert("pizza_id".into(), s(pizza_id.to_string()));
        let hold = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(|e| unavailable(&e))?;
        let take = Update::builder()
            .table_name(&self.table)
            .set_key(Some(Self::stock_key(ingredient)))
            .update_expression("SET available = available - :one")
            .condition_expression("available >= :one")
            .expression_attribute_values(":one", n(1u32))
            .build()
            .map_err(|e| unavailable(&e))?;
        let items = vec![
            TransactWriteItem::builder().condition_check(open).build(),
            TransactWriteItem::builder().put(hold).build(),
            TransactWriteItem::builder().update(take).build(),
        ];
        let Some(failed) = transact(&self.client, items).await? else {
            return Ok(Reservation::Reserved);
        };
        match failed.as_slice() {
            [Some(_), ..] => Ok(Reservation::OrderCancelled),
            [None, Some(held), ..] => {
                Ok(Reservation::AlreadyReserved { ingredient: get_s(held, "ingredient")?.to_owned() })
            }
            [None, None, Some(_)] => Ok(Reservation::OutOfStock),
            _ => Err(StoreError::Unavailable("reservation cancelled for no stated reason".into())),
        }
    }

    async fn release_order(&self, order_id: Uuid) -> Result<u32, StoreError> {
        // Close the order first: from here on no reservation can be added, so the query
        // below sees every reservation there will ever be.
        let mut closed = Self::cancelled_key(order_id);
        closed.insert("order_id".into(), s(order_id.to_string()));
        put(&self.client, &self.table, closed).await?;

        let mut released = 0;
        let mut start_key = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND begins_with(sk, :res)")
                .expression_attribute_values(":pk", s(format!("ORDER#{order_id}")))
                .expression_attribute_values(":res", s(RESERVATION_PREFIX))
                .consistent_read(true)
                .set_exclusive_start_key(start_key)
                .send()
                .await
                .map_err(|e| unavailable(&e))?;
            for reservation in page.items() {
                if self.release(reservation).await? {
                    released += 1;
                }
            }
            start_key = page.last_evaluated_key().cloned();
            if start_key.is_none() {
                return Ok(released);
            }
        }
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
        let mut start_key = None;
        loop {
            let page = self
                .client
                .scan()
                .table_name(&self.table)
                .consistent_read(true)
                .set_exclusive_start_key(start_key)
                .send()
                .await
                .map_err(|e| unavailable(&e))?;
            for item in page.items() {
                let (pk, sk) = (get_s(item, "pk")?, get_s(item, "sk")?);
                if pk.starts_with(STOCK_PREFIX) {
                    available.insert(get_s(item, "ingredient")?.to_owned(), get_n(item, "available")?);
                } else if sk.starts_with(RESERVATION_PREFIX) {
                    *reserved.entry(get_s(item, "ingredient")?.to_owned()).or_default() += 1;
                }
            }
            start_key = page.last_evaluated_key().cloned();
            if start_key.is_none() {
                break;
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
}
