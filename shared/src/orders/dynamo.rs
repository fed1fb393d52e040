//! Orders in DynamoDB, one item collection per order:
//! `pk = ORDER#<id>`, `sk = ORDER` for the order and `sk = PIZZA#<pizza id>` per pizza,
//! so one strongly consistent query reads an order with all its pizzas.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{
    AttributeValue, Put, ReturnValue, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{
    Completion, Order, OrderDetails, OrderIntake, OrderProgress, OrderStatus, PizzaStored, StoreError, StoredPizza,
    Transition,
};
use crate::aws::describe;
use crate::events::Ingredient;

type Item = HashMap<String, AttributeValue>;

const ORDER_SK: &str = "ORDER";
const PIZZA_SK_PREFIX: &str = "PIZZA#";

pub struct DynamoOrders {
    client: Client,
    table: String,
}

impl DynamoOrders {
    pub fn new(config: &aws_config::SdkConfig, table: impl Into<String>) -> Self {
        Self { client: Client::new(config), table: table.into() }
    }

    fn key(order_id: Uuid, sk: String) -> Item {
        HashMap::from([("pk".into(), s(format!("ORDER#{order_id}"))), ("sk".into(), s(sk))])
    }

    fn conditional_update(
        &self,
        order_id: Uuid,
    ) -> aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(order_id, ORDER_SK.into())))
            .expression_attribute_names("#status", "status")
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
    }

    async fn run_transition(
        &self,
        order_id: Uuid,
        update: aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder,
    ) -> Result<Transition, StoreError> {
        match update.send().await {
            Ok(_) => Ok(Transition::Applied),
            Err(err) => match err.into_service_error() {
                UpdateItemError::ConditionalCheckFailedException(failed) => {
                    let current = failed.item().map(order_from_item).transpose()?;
                    tracing::debug!(%order_id, ?current, "order transition rejected");
                    Ok(Transition::Rejected { current })
                }
                other => Err(unavailable(&other)),
            },
        }
    }
}

#[async_trait]
impl OrderIntake for DynamoOrders {
    async fn create(&self, order: &Order) -> Result<bool, StoreError> {
        let mut item = Self::key(order.order_id, ORDER_SK.into());
        item.insert("order_id".into(), s(order.order_id.to_string()));
        item.insert("status".into(), s(order.status.as_str()));
        item.insert("pizzas".into(), n(order.pizzas));
        item.insert("pizzas_ready".into(), n(order.pizzas_ready));
        item.insert("created_at".into(), s(order.created_at.to_rfc3339()));
        item.insert("updated_at".into(), s(order.created_at.to_rfc3339()));
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(err) => {
                let err = err.into_service_error();
                if err.is_conditional_check_failed_exception() { Ok(false) } else { Err(unavailable(&err)) }
            }
        }
    }

    async fn find(&self, order_id: Uuid) -> Result<Option<OrderDetails>, StoreError> {
        let mut order = None;
        let mut pizzas = Vec::new();
        let mut start_key = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk")
                .expression_attribute_values(":pk", s(format!("ORDER#{order_id}")))
                .consistent_read(true)
                .set_exclusive_start_key(start_key)
                .send()
                .await
                .map_err(|e| unavailable(&e))?;
            for item in page.items() {
                match item.get("sk").and_then(|v| v.as_s().ok()).map(String::as_str) {
                    Some(ORDER_SK) => order = Some(order_from_item(item)?),
                    Some(sk) if sk.starts_with(PIZZA_SK_PREFIX) => pizzas.push(pizza_from_item(item)?),
                    _ => {}
                }
            }
            start_key = page.last_evaluated_key().cloned();
            if start_key.is_none() {
                break;
            }
        }
        Ok(order.map(|order| OrderDetails { order, pizzas }))
    }

    async fn discard_placed(&self, order_id: Uuid) -> Result<(), StoreError> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(order_id, ORDER_SK.into())))
            .condition_expression("#status = :placed")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":placed", s(OrderStatus::Placed.as_str()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err) => {
                let err = err.into_service_error();
                if err.is_conditional_check_failed_exception() { Ok(()) } else { Err(unavailable(&err)) }
            }
        }
    }
}

#[async_trait]
impl OrderProgress for DynamoOrders {
    async fn transition(&self, order_id: Uuid, from: OrderStatus, to: OrderStatus) -> Result<Transition, StoreError> {
        let update = self
            .conditional_update(order_id)
            .update_expression("SET #status = :to, updated_at = :now")
            .condition_expression("#status = :from")
            .expression_attribute_values(":from", s(from.as_str()))
            .expression_attribute_values(":to", s(to.as_str()))
            .expression_attribute_values(":now", s(Utc::now().to_rfc3339()));
        self.run_transition(order_id, update).await
    }

    async fn store_pizza(&self, order_id: Uuid, pizza: &StoredPizza) -> Result<PizzaStored, StoreError> {
        let now = Utc::now().to_rfc3339();
        let mut item = Self::key(order_id, format!("{PIZZA_SK_PREFIX}{}", pizza.pizza_id));
        item.insert("pizza_id".into(), s(pizza.pizza_id.to_string()));
        item.insert(
            "ingredients".into(),
            AttributeValue::L(pizza.ingredients.iter().map(ingredient_to_value).collect()),
        );
        item.insert("stored_at".into(), s(now.clone()));
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(|e| unavailable(&e))?;
        let count = Update::builder()
            .table_name(&self.table)
            .set_key(Some(Self::key(order_id, ORDER_SK.into())))
            .update_expression("ADD pizzas_ready :one SET updated_at = :now")
            .condition_expression("#status = :cooking")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":now", s(now))
            .expression_attribute_values(":cooking", s(OrderStatus::Cooking.as_str()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(|e| unavailable(&e))?;
        let result = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().put(put).build())
            .transact_items(TransactWriteItem::builder().update(count).build())
            .send()
            .await;
        let err = match result {
            Ok(_) => return Ok(PizzaStored::Stored),
            Err(err) => err.into_service_error(),
        };
        let TransactWriteItemsError::TransactionCanceledException(cancelled) = &err else {
            return Err(unavailable(&err));
        };
        let reasons = cancelled.cancellation_reasons();
        let condition_failed = |i: usize| reasons.get(i).and_then(|r| r.code()) == Some("ConditionalCheckFailed");
        if condition_failed(0) {
            Ok(PizzaStored::Duplicate)
        } else if condition_failed(1) {
            let current = reasons.get(1).and_then(|r| r.item()).map(order_from_item).transpose()?;
            Ok(PizzaStored::OrderNotCooking { current })
        } else {
            // Conflicts with a concurrent transaction on the same order: retried by the caller.
            Err(unavailable(&err))
        }
    }

    async fn complete_if_all_stored(&self, order_id: Uuid) -> Result<Completion, StoreError> {
        let result = self
            .conditional_update(order_id)
            .update_expression("SET #status = :ready, updated_at = :now")
            .condition_expression("#status = :cooking AND pizzas_ready = pizzas")
            .expression_attribute_values(":cooking", s(OrderStatus::Cooking.as_str()))
            .expression_attribute_values(":ready", s(OrderStatus::Ready.as_str()))
            .expression_attribute_values(":now", s(Utc::now().to_rfc3339()))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match result {
            Ok(output) => {
                let item = output.attributes().ok_or_else(|| StoreError::Corrupt("no attributes returned".into()))?;
                Ok(Completion::Completed(order_from_item(item)?))
            }
            Err(err) => match err.into_service_error() {
                UpdateItemError::ConditionalCheckFailedException(failed) => {
                    match failed.item().map(order_from_item).transpose()? {
                        Some(order) if order.status == OrderStatus::Ready => Ok(Completion::AlreadyReady(order)),
                        current => Ok(Completion::NotComplete(current)),
                    }
                }
                other => Err(unavailable(&other)),
            },
        }
    }
}

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn n(value: u32) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn unavailable(err: &(dyn std::error::Error + 'static)) -> StoreError {
    StoreError::Unavailable(describe(err))
}

fn get_s<'a>(item: &'a Item, name: &str) -> Result<&'a str, StoreError> {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
        .ok_or_else(|| StoreError::Corrupt(format!("missing string attribute {name}")))
}

fn get_n(item: &Item, name: &str) -> Result<u32, StoreError> {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| StoreError::Corrupt(format!("missing number attribute {name}")))
}

fn get_uuid(item: &Item, name: &str) -> Result<Uuid, StoreError> {
    get_s(item, name)?.parse().map_err(|e| StoreError::Corrupt(format!("{name}: {e}")))
}

fn order_from_item(item: &Item) -> Result<Order, StoreError> {
    let status = get_s(item, "status")?;
    Ok(Order {
        order_id: get_uuid(item, "order_id")?,
        status: OrderStatus::parse(status).ok_or_else(|| StoreError::Corrupt(format!("unknown status {status}")))?,
        pizzas: get_n(item, "pizzas")?,
        pizzas_ready: get_n(item, "pizzas_ready")?,
        created_at: DateTime::parse_from_rfc3339(get_s(item, "created_at")?)
            .map_err(|e| StoreError::Corrupt(format!("created_at: {e}")))?
            .with_timezone(&Utc),
    })
}

fn pizza_from_item(item: &Item) -> Result<StoredPizza, StoreError> {
    let ingredients = item
        .get("ingredients")
        .and_then(|v| v.as_l().ok())
        .ok_or_else(|| StoreError::Corrupt("missing ingredients".into()))?
        .iter()
        .map(ingredient_from_value)
        .collect::<Result<_, _>>()?;
    Ok(StoredPizza { pizza_id: get_uuid(item, "pizza_id")?, ingredients })
}

fn ingredient_to_value(ingredient: &Ingredient) -> AttributeValue {
    AttributeValue::M(HashMap::from([
        ("stage".into(), s(ingredient.stage.clone())),
        ("name".into(), s(ingredient.name.clone())),
    ]))
}

fn ingredient_from_value(value: &AttributeValue) -> Result<Ingredient, StoreError> {
    let map = value.as_m().map_err(|_| StoreError::Corrupt("ingredient is not a map".into()))?;
    Ok(Ingredient { stage: get_s(map, "stage")?.to_owned(), name: get_s(map, "name")?.to_owned() })
}
