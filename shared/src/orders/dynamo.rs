//! Orders in DynamoDB, one item collection per order:
//! `pk = ORDER#<id>`, `sk = ORDER` for the order and `sk = PIZZA#<pizza id>` per pizza,
//! so one strongly consistent query reads an order with all its pizzas.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{
    CANCELLABLE, Completion, Order, OrderDetails, OrderIntake, OrderProgress, OrderStatus, PizzaStored, StoredPizza,
    Transition,
};
use crate::dynamo::{
    Item, StoreError, condition_failed, get_n, get_n_or_zero, get_s, get_uuid, key, n, put_or_old, s, transact,
    unavailable, update_or_old,
};
use crate::events::{CancelReason, Ingredient};

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
        key(format!("ORDER#{order_id}"), sk)
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

#[async_trait]
impl OrderIntake for DynamoOrders {
    async fn create(&self, order: &Order) -> Result<bool, StoreError> {
        let mut item = Self::key(order.order_id, ORDER_SK.into());
        item.insert("order_id".into(), s(order.order_id.to_string()));
        item.insert("status".into(), s(order.status.as_str()));
        item.insert("customer_id".into(), s(order.customer_id.clone()));
        item.insert("pizzas".into(), n(order.pizzas));
        item.insert("pizzas_ready".into(), n(order.pizzas_ready));
        item.insert("amount_cents".into(), n(order.amount_cents));
        item.insert("charged_cents".into(), n(order.charged_cents));
        item.insert("refunded_cents".into(), n(order.refunded_cents));
        item.insert("created_at".into(), s(order.created_at.to_rfc3339()));
        item.insert("updated_at".into(), s(order.created_at.to_rfc3339()));
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)");
        Ok(put_or_old(put).await?.is_ok())
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
        result.map(|_| ()).or_else(|err| condition_failed(err).map(|_| ()))
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

    async fn mark_paid(&self, order_id: Uuid, charged_cents: u64) -> Result<Transition, StoreError> {
        let update = self
            .conditional_update(order_id)
            .update_expression("SET #status = :paid, charged_cents = :charged, updated_at = :now")
            .condition_expression("#status = :placed")
            .expression_attribute_values(":placed", s(OrderStatus::Placed.as_str()))
            .expression_attribute_values(":paid", s(OrderStatus::Paid.as_str()))
            .expression_attribute_values(":charged", n(charged_cents))
            .expression_attribute_values(":now", s(Utc::now().to_rfc3339()));
        self.run_transition(order_id, update).await
    }

    async fn cancel(&self, order_id: Uuid, reason: CancelReason) -> Result<Transition, StoreError> {
        let [a, b, c] = CANCELLABLE.map(|status| s(status.as_str()));
        let update = self
            .conditional_update(order_id)
            .update_expression("SET #status = :cancelled, cancel_reason = :reason, updated_at = :now")
            .condition_expression("#status IN (:a, :b, :c)")
            .expression_attribute_values(":a", a)
            .expression_attribute_values(":b", b)
            .expression_attribute_values(":c", c)
            .expression_attribute_values(":cancelled", s(OrderStatus::Cancelled.as_str()))
            .expression_attribute_values(":reason", s(reason.as_str()))
            .expression_attribute_values(":now", s(Utc::now().to_rfc3339()));
        self.run_transition(order_id, update).await
    }

    async fn record_refund(&self, order_id: Uuid, refunded_cents: u64) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(order_id, ORDER_SK.into())))
            .update_expression("SET refunded_cents = :refunded, updated_at = :now")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":refunded", n(refunded_cents))
            .expression_attribute_values(":now", s(Utc::now().to_rfc3339()))
            .send()
            .await
            .map(|_| ())
            .or_else(|err| condition_failed(err).map(|_| ()))
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
            .expression_attribute_values(":one", n(1u32))
            .expression_attribute_values(":now", s(now))
            .expression_attribute_values(":cooking", s(OrderStatus::Cooking.as_str()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(|e| unavailable(&e))?;
        let items =
            vec![TransactWriteItem::builder().put(put).build(), TransactWriteItem::builder().update(count).build()];
        let Some(failed) = transact(&self.client, items).await? else {
            return Ok(PizzaStored::Stored);
        };
        match failed.as_slice() {
            [Some(_), _] => Ok(PizzaStored::Duplicate),
            [None, Some(order)] => {
                let current = if order.is_empty() { None } else { Some(order_from_item(order)?) };
                Ok(PizzaStored::OrderNotCooking { current })
            }
            _ => Err(StoreError::Unavailable("transaction cancelled for no stated reason".into())),
        }
    }

    async fn complete_if_all_stored(&self, order_id: Uuid) -> Result<Completion, StoreError> {
        let update = self
            .conditional_update(order_id)
            .update_expression("SET #status = :ready, updated_at = :now")
            .condition_expression("#status = :cooking AND pizzas_ready = pizzas")
            .expression_attribute_values(":cooking", s(OrderStatus::Cooking.as_str()))
            .expression_attribute_values(":ready", s(OrderStatus::Ready.as_str()))
            .expression_attribute_values(":now", s(Utc::now().to_rfc3339()));
        match update_or_old(update).await? {
            Ok(order) => Ok(Completion::Completed(order_from_item(&order)?)),
            Err(current) => match current.as_ref().map(order_from_item).transpose()? {
                Some(order) if order.status == OrderStatus::Ready => Ok(Completion::AlreadyReady(order)),
                current => Ok(Completion::NotComplete(current)),
            },
        }
    }
}

fn order_from_item(item: &Item) -> Result<Order, StoreError> {
    let status = get_s(item, "status")?;
    let cancel_reason = match item.get("cancel_reason").and_then(|v| v.as_s().ok()) {
        Some(reason) => Some(
            CancelReason::parse(reason)
                .ok_or_else(|| StoreError::Corrupt(format!("unknown cancel reason {reason}")))?,
        ),
        None => None,
    };
    Ok(Order {
        order_id: get_uuid(item, "order_id")?,
        status: OrderStatus::parse(status).ok_or_else(|| StoreError::Corrupt(format!("unknown status {status}")))?,
        cancel_reason,
        customer_id: item.get("customer_id").and_then(|v| v.as_s().ok()).cloned().unwrap_or_default(),
        pizzas: get_n(item, "pizzas")?,
        pizzas_ready: get_n(item, "pizzas_ready")?,
        amount_cents: get_n_or_zero(item, "amount_cents")?,
        charged_cents: get_n_or_zero(item, "charged_cents")?,
        refunded_cents: get_n_or_zero(item, "refunded_cents")?,
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
