//! Reads for operators and audits, never on a hot path: a whole table, page by page.

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
