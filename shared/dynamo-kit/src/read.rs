//! Paged reads: a partition (an order and its pizzas, its reservations), or a whole table
//! for operators and audits (never on a hot path).

use aws_sdk_dynamodb::Client;

use crate::{Item, StoreError, classify};

/// Every item of a table, strongly consistent.
pub async fn scan_all(client: &Client, table: &str) -> Result<Vec<Item>, StoreError> {
    let mut items = Vec::new();
    let mut start_key = None;
    loop {
        let page = client
            .scan()
            .table_name(table)
            .consistent_read(true)
            .set_exclusive_start_key(start_key)
            .send()
            .await
            .map_err(classify)?;
        items.extend(page.items().iter().cloned());
        start_key = page.last_evaluated_key().cloned();
        if start_key.is_none() {
            return Ok(items);
        }
    }
}

/// Every item of one partition (`pk`) whose sort key starts with `sk_prefix` (all of them
/// for an empty prefix), strongly consistent, in sort key order.
pub async fn query_partition(client: &Client, table: &str, pk: &str, sk_prefix: &str) -> Result<Vec<Item>, StoreError> {
    let mut items = Vec::new();
    let mut start_key = None;
    loop {
        let query = client
            .query()
            .table_name(table)
            .expression_attribute_values(":pk", crate::item::s(pk))
            .consistent_read(true)
            .set_exclusive_start_key(start_key);
        let query = if sk_prefix.is_empty() {
            query.key_condition_expression("pk = :pk")
        } else {
            query
                .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
                .expression_attribute_values(":prefix", crate::item::s(sk_prefix))
        };
        let page = query.send().await.map_err(classify)?;
        items.extend(page.items().iter().cloned());
        start_key = page.last_evaluated_key().cloned();
        if start_key.is_none() {
            return Ok(items);
        }
    }
}
