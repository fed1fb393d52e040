//! Orders in DynamoDB, one item per order: `pk = ORDER#<id>`, `sk = ORDER`. Its stored
//! pizzas are attributes of the same item (`pizza_<id>` = its ingredients) next to their
//! count, so storing a batch of an order's pizzas is one conditional update, not a
//! transaction, and one strongly consistent read shows the order with all its pizzas. New
//! orders' announcements go to the outbox table in the same transaction as the order.

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::types::{AttributeValue, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem};
use chrono::{DateTime, Utc};
use dynamo_kit::item::{Item, get_n, get_n_or_zero, get_s, get_uuid, key, n, opt_s, s};
use dynamo_kit::read::query_partition;
use dynamo_kit::write::{Cancelled, transact, update_or_old};
use dynamo_kit::{StoreError, built, outbox};
use pizza_events::Outgoing;
use pizza_events::catalogue::{CancelReason, Ingredient};
use pizza_events::names::parse_variant;
use uuid::Uuid;

use crate::{
    CANCELLABLE, Completion, FinishedPizza, Order, OrderBook, OrderDesk, OrderDetails, OrderStatus, PizzaStored,
    Placement, StoredPizza, StoredPizzas, Transition, Watchlist,
};

const ORDER_SK: &str = "ORDER";
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
/// A stored pizza is an attribute of its order's item: `pizza_<id>` = its ingredients.
const PIZZA_ATTRIBUTE_PREFIX: &str = "pizza_";
/// Pizzas stored by one update: its condition names each, and an expression is at most 4 KB.
const MAX_PIZZAS_PER_UPDATE: usize = 50;
/// The item that remembers which order a customer placed under an idempotency key.
const KEY_SK: &str = "KEY";

/// The key of the item remembering a customer's idempotency key. Hashed: the table keeps
/// neither the client's key nor a way to find an order from it without the customer.
fn idempotency_key(customer_id: &str, key: &str) -> Item {
    dynamo_kit::item::key(format!("IDEMPOTENCY#{}", crate::customer_fingerprint(customer_id, key)), KEY_SK)
}

pub struct DynamoOrders {
    client: Client,
    table: String,
    /// Where new orders' announcements go; only the API writes there.
    outbox_table: Option<String>,
}

impl DynamoOrders {
    pub fn new(config: &aws_config::SdkConfig, table: impl Into<String>) -> Self {
        Self { client: Client::new(config), table: table.into(), outbox_table: None }
    }

    /// Every order (an operator's audit; it reads the whole table).
    pub async fn all_orders(&self) -> Result<Vec<Order>, StoreError> {
        let items = dynamo_kit::read::scan_all(&self.client, &self.table).await?;
        items.iter().filter(|item| opt_s(item, "sk") == Some(ORDER_SK)).map(order_from_item).collect()
    }

    /// The same store, announcing new orders through the outbox table `outbox_table`.
    pub fn with_outbox(mut self, outbox_table: impl Into<String>) -> Self {
        self.outbox_table = Some(outbox_table.into());
        self
    }

    fn order_key(order_id: Uuid) -> Item {
        key(format!("ORDER#{order_id}"), ORDER_SK)
    }

    fn guarded_update(&self, order_id: Uuid) -> UpdateItemFluentBuilder {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::order_key(order_id)))
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":now", s(Utc::now().to_rfc3339()))
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

    /// Stores some of one order's pizzas on the order's own item and counts them, in one
    /// conditional update (no transaction): the order must be cooking and none of them
    /// stored. Says what it settled and which pizzas to try again.
    async fn store_on_order<'p>(
        &self,
        order_id: Uuid,
        pizzas: &[(usize, &'p FinishedPizza)],
    ) -> Result<Stored<'p>, StoreError> {
        let mut update = self
            .guarded_update(order_id)
            .expression_attribute_values(":cooking", s(OrderStatus::Cooking.as_str()))
            .expression_attribute_values(":stored", n(pizzas.len() as u64));
        let (mut sets, mut conditions) = (vec!["updated_at = :now".to_owned()], vec!["#status = :cooking".to_owned()]);
        for (i, (_, finished)) in pizzas.iter().enumerate() {
            update = update
                .expression_attribute_names(format!("#p{i}"), pizza_attribute(finished.pizza.pizza_id))
                .expression_attribute_values(format!(":p{i}"), ingredients_to_value(&finished.pizza.ingredients));
            sets.push(format!("#p{i} = :p{i}"));
            conditions.push(format!("attribute_not_exists(#p{i})"));
        }
        let update = update
            .update_expression(format!("SET {} ADD pizzas_ready :stored", sets.join(", ")))
            .condition_expression(conditions.join(" AND "));
        let old = match update_or_old(update).await? {
            Ok(new) => {
                let settled = pizzas.iter().map(|(index, _)| (*index, PizzaStored::Stored)).collect();
                let all_stored = Some(order_from_item(&new).is_ok_and(|o| o.pizzas_ready >= o.pizzas));
                return Ok(Stored { order_id, settled, retry: Vec::new(), all_stored });
            }
            Err(old) => old,
        };
        let current = old.as_ref().map(order_from_item).transpose()?;
        let cooking = current.as_ref().is_some_and(|order| order.status == OrderStatus::Cooking);
        let all_stored = current.as_ref().map(|o| o.pizzas_ready >= o.pizzas);
        let mut stored = Stored { order_id, settled: Vec::new(), retry: Vec::new(), all_stored };
        for (index, finished) in pizzas {
            let stored_before =
                old.as_ref().is_some_and(|item| item.contains_key(&pizza_attribute(finished.pizza.pizza_id)));
            if stored_before {
                stored.settled.push((*index, PizzaStored::Duplicate));
            } else if cooking {
                stored.retry.push((*index, *finished));
            } else {
                stored.settled.push((*index, PizzaStored::OrderNotCooking { current: current.clone() }));
            }
        }
        Ok(stored)
    }
}

#[async_trait]
impl OrderDesk for DynamoOrders {
    async fn place(&self, order: &Order, key: Option<&str>, announcement: &Outgoing) -> Result<Placement, StoreError> {
        let outbox_table = self
            .outbox_table
            .as_deref()
            .ok_or_else(|| StoreError::Refused("this order store has no outbox table to announce orders in".into()))?;
        let mut item = Self::order_key(order.order_id);
        item.extend(order_to_attributes(order));
        let mut actions = Vec::with_capacity(3);
        if let Some(key) = key {
            let mut remembered = idempotency_key(&order.customer_id, key);
            remembered.insert("order_id".into(), s(order.order_id.to_string()));
            remembered.insert("created_at".into(), s(order.created_at.to_rfc3339()));
            let put = Put::builder()
                .table_name(&self.table)
                .set_item(Some(remembered))
                .condition_expression("attribute_not_exists(pk)")
                .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
            actions.push(TransactWriteItem::builder().put(built(put.build())?).build());
        }
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        actions.push(TransactWriteItem::builder().put(built(put.build())?).build());
        actions.push(TransactWriteItem::builder().put(outbox::put_entry(outbox_table, announcement)?).build());
        let reasons = match transact(&self.client, actions).await? {
            Ok(()) => return Ok(Placement::Placed),
            Err(reasons) => reasons,
        };
        let existing = reasons.iter().find_map(|reason| match reason {
            Cancelled::ConditionFailed(existing) if !existing.is_empty() => Some(existing),
            _ => None,
        });
        match existing {
            // The customer used this key before: the order it stands for.
            Some(existing) if opt_s(existing, "sk") == Some(KEY_SK) => {
                let order_id = get_uuid(existing, "order_id")?;
                match self.find(order_id).await? {
                    Some(details) => Ok(Placement::Exists(details.order)),
                    None => Err(StoreError::Refused(
                        format!("idempotency key names order {order_id}, which is gone").into(),
                    )),
                }
            }
            Some(existing) => Ok(Placement::Exists(order_from_item(existing)?)),
            // The order is new but its announcement is not: an event id reused for another
            // order, which derived ids make impossible short of a bug.
            None => Err(StoreError::Refused("the order's announcement exists already without the order".into())),
        }
    }

    async fn find(&self, order_id: Uuid) -> Result<Option<OrderDetails>, StoreError> {
        let mut order = None;
        let mut pizzas = Vec::new();
        for item in query_partition(&self.client, &self.table, &format!("ORDER#{order_id}"), "").await? {
            match opt_s(&item, "sk") {
                Some(ORDER_SK) => {
                    order = Some(order_from_item(&item)?);
                    pizzas.extend(pizzas_on(&item)?);
                }
                Some(sk) if sk.starts_with(PIZZA_SK_PREFIX) => pizzas.push(pizza_from_item(&item)?),
                _ => {}
            }
        }
        Ok(order.map(|order| OrderDetails { order, pizzas }))
    }
}

#[async_trait]
impl OrderBook for DynamoOrders {
    async fn start_cooking(&self, order_id: Uuid, charged_cents: u64) -> Result<Transition, StoreError> {
        let update = self
            .guarded_update(order_id)
            .update_expression(
                "SET #status = :cooking, charged_cents = :charged, updated_at = :now, status_since = :now",
            )
            .condition_expression("#status = :placed")
            .expression_attribute_values(":placed", s(OrderStatus::Placed.as_str()))
            .expression_attribute_values(":cooking", s(OrderStatus::Cooking.as_str()))
            .expression_attribute_values(":charged", n(charged_cents));
        self.run_transition(order_id, update).await
    }

    async fn cancel(&self, order_id: Uuid, reason: CancelReason) -> Result<Transition, StoreError> {
        let [placed, cooking] = CANCELLABLE.map(|status| s(status.as_str()));
        let update = self
            .guarded_update(order_id)
            .update_expression(
                "SET #status = :cancelled, cancel_reason = :reason, updated_at = :now, status_since = :now",
            )
            .condition_expression("#status IN (:placed, :cooking)")
            .expression_attribute_values(":placed", placed)
            .expression_attribute_values(":cooking", cooking)
            .expression_attribute_values(":cancelled", s(OrderStatus::Cancelled.as_str()))
            .expression_attribute_values(":reason", s(reason.as_str()));
        self.run_transition(order_id, update).await
    }

    async fn record_refund(&self, order_id: Uuid, refunded_cents: u64) -> Result<(), StoreError> {
        let update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::order_key(order_id)))
            .update_expression("SET refunded_cents = :refunded, updated_at = :now")
            .expression_attribute_values(":now", s(Utc::now().to_rfc3339()))
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":refunded", n(refunded_cents));
        // A refund for no known order has nothing to be recorded on.
        update_or_old(update).await.map(|_| ())
    }

    async fn store_pizzas(&self, pizzas: &[FinishedPizza]) -> Result<StoredPizzas, StoreError> {
        let mut outcomes: Vec<Option<PizzaStored>> = vec![None; pizzas.len()];
        // The same pizza twice in one call: the second is a duplicate of the first (and one
        // transaction may not name an item twice).
        let mut seen = std::collections::HashSet::new();
        let mut pending = Vec::new();
        for (index, finished) in pizzas.iter().enumerate() {
            if seen.insert(finished.pizza.pizza_id) {
                pending.push((index, finished));
            } else {
                outcomes[index] = Some(PizzaStored::Duplicate);
            }
        }
        // Whether each order's count was full when this call last saw it.
        let mut full: std::collections::HashMap<Uuid, bool> = std::collections::HashMap::new();
        while !pending.is_empty() {
            let mut next = Vec::new();
            // One update per order, all at once: orders do not share items.
            let updates = group_by_order(&pending).into_iter().flat_map(|(order_id, pizzas)| {
                let parts: Vec<Pending<'_>> = pizzas.chunks(MAX_PIZZAS_PER_UPDATE).map(<[_]>::to_vec).collect();
                parts.into_iter().map(move |part| async move { self.store_on_order(order_id, &part).await })
            });
            for stored in futures::future::join_all(updates).await {
                let Stored { order_id, settled, retry, all_stored } = stored?;
                for (index, outcome) in settled {
                    outcomes[index] = Some(outcome);
                }
                if let Some(all_stored) = all_stored {
                    full.insert(order_id, all_stored);
                }
                next.extend(retry);
            }
            if next.len() == pending.len() {
                return Err(StoreError::unavailable("storing the pizzas made no progress"));
            }
            pending = next;
        }
        Ok(StoredPizzas {
            outcomes: outcomes.into_iter().map(|o| o.unwrap_or(PizzaStored::Duplicate)).collect(),
            all_stored: full.into_iter().filter(|(_, full)| *full).map(|(order_id, _)| order_id).collect(),
        })
    }

    async fn complete_if_all_stored(&self, order_id: Uuid) -> Result<Completion, StoreError> {
        let update = self
            .guarded_update(order_id)
            .update_expression("SET #status = :ready, updated_at = :now REMOVE watch, status_since")
            .condition_expression("#status = :cooking AND pizzas_ready = pizzas")
            .expression_attribute_values(":cooking", s(OrderStatus::Cooking.as_str()))
            .expression_attribute_values(":ready", s(OrderStatus::Ready.as_str()));
        match update_or_old(update).await? {
            Ok(order) => Ok(Completion::Completed(order_from_item(&order)?)),
            Err(current) => match current.as_ref().map(order_from_item).transpose()? {
                Some(order) if order.status == OrderStatus::Ready => Ok(Completion::AlreadyReady(order)),
                current => Ok(Completion::NotComplete(current)),
            },
        }
    }
}

#[async_trait]
impl Watchlist for DynamoOrders {
    async fn stalled(&self, before: DateTime<Utc>, limit: usize) -> Result<Vec<Uuid>, StoreError> {
        let mut orders = Vec::new();
        let mut start_key = None;
        while orders.len() < limit {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(WATCH_INDEX)
                .key_condition_expression("watch = :watched AND status_since < :before")
                .expression_attribute_values(":watched", s(WATCHED))
                .expression_attribute_values(":before", s(before.to_rfc3339()))
                .limit((limit - orders.len()).min(1000) as i32)
                .set_exclusive_start_key(start_key)
                .send()
                .await
                .map_err(dynamo_kit::classify)?;
            for item in page.items() {
                let pk = get_s(item, "pk")?;
                let id = pk.strip_prefix("ORDER#").and_then(|id| id.parse().ok());
                orders.push(id.ok_or_else(|| StoreError::Corrupt(format!("{pk} is no order key")))?);
            }
            start_key = page.last_evaluated_key().cloned();
            if start_key.is_none() {
                break;
            }
        }
        Ok(orders)
    }

    async fn dismiss(&self, order_id: Uuid) -> Result<bool, StoreError> {
        // Not a move: `updated_at` stays as it was.
        let update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::order_key(order_id)))
            .update_expression("REMOVE watch")
            .condition_expression("#status = :cancelled")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":cancelled", s(OrderStatus::Cancelled.as_str()));
        Ok(update_or_old(update).await?.is_ok())
    }

    async fn postpone(&self, order_id: Uuid, status: OrderStatus) -> Result<(), StoreError> {
        // Not a move either: only the index entry moves back.
        let update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::order_key(order_id)))
            .update_expression("SET status_since = :now")
            .condition_expression("#status = :status AND attribute_exists(watch)")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":status", s(status.as_str()))
            .expression_attribute_values(":now", s(Utc::now().to_rfc3339()));
        update_or_old(update).await.map(|_| ())
    }

    async fn announcement(&self, order_id: Uuid) -> Result<Option<Outgoing>, StoreError> {
        let outbox_table = self.outbox_table.as_deref().ok_or_else(|| {
            StoreError::Refused("this order store has no outbox table to read announcements from".into())
        })?;
        outbox::find_entry(&self.client, outbox_table, crate::announcement_id(order_id)).await
    }
}

/// Pizzas waiting to be stored, with their place in the caller's list.
type Pending<'p> = Vec<(usize, &'p FinishedPizza)>;

/// What one update of an order's pizzas settled (by place in the caller's list), the
/// pizzas to try again, and whether the order had all its pizzas stored as the update saw
/// it (`None`: no such order).
struct Stored<'p> {
    order_id: Uuid,
    settled: Vec<(usize, PizzaStored)>,
    retry: Pending<'p>,
    all_stored: Option<bool>,
}

/// Groups pizzas by order, in order of first appearance.
fn group_by_order<'p>(pending: &[(usize, &'p FinishedPizza)]) -> Vec<(Uuid, Pending<'p>)> {
    let mut orders: Vec<(Uuid, Pending<'p>)> = Vec::new();
    for (index, finished) in pending {
        match orders.iter_mut().find(|(id, _)| *id == finished.order_id) {
            Some((_, pizzas)) => pizzas.push((*index, *finished)),
            None => orders.push((finished.order_id, vec![(*index, *finished)])),
        }
    }
    orders
}

fn pizza_attribute(pizza_id: Uuid) -> String {
    format!("{PIZZA_ATTRIBUTE_PREFIX}{}", pizza_id.simple())
}

/// The pizzas stored on an order's item.
fn pizzas_on(item: &Item) -> Result<Vec<StoredPizza>, StoreError> {
    let mut pizzas = Vec::new();
    for (name, value) in item {
        let Some(pizza_id) = name.strip_prefix(PIZZA_ATTRIBUTE_PREFIX).and_then(|id| id.parse().ok()) else {
            continue;
        };
        pizzas.push(StoredPizza { pizza_id, ingredients: ingredients_from_value(value)? });
    }
    pizzas.sort_by_key(|pizza| pizza.pizza_id);
    Ok(pizzas)
}

fn order_to_attributes(order: &Order) -> Item {
    let mut item = Item::new();
    item.insert("order_id".into(), s(order.order_id.to_string()));
    item.insert("status".into(), s(order.status.as_str()));
    item.insert("customer_id".into(), s(order.customer_id.clone()));
    item.insert("pizzas".into(), n(order.pizzas));
    item.insert("pizzas_ready".into(), n(order.pizzas_ready));
    item.insert("amount_cents".into(), n(order.amount_cents));
    item.insert("charged_cents".into(), n(order.charged_cents));
    item.insert("refunded_cents".into(), n(order.refunded_cents));
    item.insert("payment_fingerprint".into(), s(order.payment_fingerprint.clone()));
    item.insert("created_at".into(), s(order.created_at.to_rfc3339()));
    item.insert("updated_at".into(), s(order.updated_at.to_rfc3339()));
    if !order.status.is_final() {
        item.insert(WATCH.into(), s(WATCHED));
        item.insert(STATUS_SINCE.into(), s(order.updated_at.to_rfc3339()));
    }
    if let Some(reason) = order.cancel_reason {
        item.insert("cancel_reason".into(), s(reason.as_str()));
    }
    item
}

fn order_from_item(item: &Item) -> Result<Order, StoreError> {
    let status = get_s(item, "status")?;
    let cancel_reason = match opt_s(item, "cancel_reason") {
        Some(reason) => {
            Some(parse_variant(reason).ok_or_else(|| StoreError::Corrupt(format!("unknown cancel reason {reason}")))?)
        }
        None => None,
    };
    Ok(Order {
        order_id: get_uuid(item, "order_id")?,
        status: OrderStatus::parse(status).ok_or_else(|| StoreError::Corrupt(format!("unknown status {status}")))?,
        cancel_reason,
        customer_id: get_s(item, "customer_id")?.to_owned(),
        pizzas: get_n(item, "pizzas")?,
        pizzas_ready: get_n(item, "pizzas_ready")?,
        amount_cents: get_n_or_zero(item, "amount_cents")?,
        charged_cents: get_n_or_zero(item, "charged_cents")?,
        refunded_cents: get_n_or_zero(item, "refunded_cents")?,
        payment_fingerprint: opt_s(item, "payment_fingerprint").unwrap_or_default().to_owned(),
        created_at: time(item, "created_at")?,
        updated_at: match opt_s(item, "updated_at") {
            Some(_) => time(item, "updated_at")?,
            None => time(item, "created_at")?,
        },
    })
}

fn time(item: &Item, name: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(get_s(item, name)?)
        .map(|time| time.with_timezone(&Utc))
        .map_err(|e| StoreError::Corrupt(format!("{name}: {e}")))
}

/// A pizza stored as an item of its own (how pizzas were stored before they moved onto
/// their order's item): still read, so orders stored then still show their pizzas.
fn pizza_from_item(item: &Item) -> Result<StoredPizza, StoreError> {
    let ingredients = ingredients_from_value(
        item.get("ingredients").ok_or_else(|| StoreError::Corrupt("missing ingredients".into()))?,
    )?;
    Ok(StoredPizza { pizza_id: get_uuid(item, "pizza_id")?, ingredients })
}

/// A pizza's ingredients, compactly: a list of `stage:name`, in the order they were added.
fn ingredients_to_value(ingredients: &[Ingredient]) -> AttributeValue {
    AttributeValue::L(ingredients.iter().map(|i| s(format!("{}:{}", i.stage, i.name))).collect())
}

fn ingredients_from_value(value: &AttributeValue) -> Result<Vec<Ingredient>, StoreError> {
    let list = value.as_l().map_err(|_| StoreError::Corrupt("ingredients are not a list".into()))?;
    list.iter().map(ingredient_from_value).collect()
}

/// `stage:name`, or (pizzas stored before) a map of `stage` and `name`.
fn ingredient_from_value(value: &AttributeValue) -> Result<Ingredient, StoreError> {
    if let Ok(text) = value.as_s() {
        let (stage, name) =
            text.split_once(':').ok_or_else(|| StoreError::Corrupt(format!("ingredient {text:?} has no stage")))?;
        return Ok(Ingredient { stage: stage.to_owned(), name: name.to_owned() });
    }
    let map = value.as_m().map_err(|_| StoreError::Corrupt("ingredient is neither text nor a map".into()))?;
    Ok(Ingredient { stage: get_s(map, "stage")?.to_owned(), name: get_s(map, "name")?.to_owned() })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[test]
    fn ingredients_are_stored_compactly_and_read_in_both_layouts() {
        let ingredients = vec![
            Ingredient { stage: "sauce".into(), name: "pesto".into() },
            Ingredient { stage: "meat".into(), name: "ham:smoked".into() },
        ];
        let value = ingredients_to_value(&ingredients);
        assert_eq!(value.as_l().expect("a list")[0], s("sauce:pesto"));
        assert_eq!(ingredients_from_value(&value).expect("reads"), ingredients);
        let before = AttributeValue::L(vec![AttributeValue::M(HashMap::from([
            ("stage".to_owned(), s("sauce")),
            ("name".to_owned(), s("pesto")),
        ]))]);
        assert_eq!(ingredients_from_value(&before).expect("reads"), ingredients[..1]);
    }

    #[test]
    fn an_orders_item_lists_the_pizzas_stored_on_it_and_nothing_else() {
        let pizza_id = Uuid::new_v4();
        let mut item = DynamoOrders::order_key(Uuid::new_v4());
        item.insert("pizzas".into(), n(2u64));
        item.insert("pizzas_ready".into(), n(1u64));
        item.insert("payment_fingerprint".into(), s("fp"));
        item.insert(pizza_attribute(pizza_id), AttributeValue::L(vec![s("sauce:tomato")]));
        let pizzas = pizzas_on(&item).expect("reads");
        assert_eq!(pizzas.len(), 1);
        assert_eq!(pizzas[0].pizza_id, pizza_id);
    }
}
