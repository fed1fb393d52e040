//! The archive in DynamoDB: `pk = <correlation id>, sk = <event id>`, the event as JSON, and
//! `expires_at` (the table's TTL attribute) the retention after it occurred. Keyed by id, an
//! event announced twice is one item; the history is sorted by occurrence when read (it is
//! read a whole order at a time).

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
use dynamo_kit::item::{Item, get_s, key, opt_s, s};
use dynamo_kit::{StoreError, built, classify};
use pizza_events::WireEvent;

use crate::{Archived, EventArchive};

/// BatchWriteItem takes at most 25 items a call.
const BATCH_WRITE_LIMIT: usize = 25;
/// Rounds of retrying the items DynamoDB left unprocessed (throttling) before giving up.
const UNPROCESSED_RETRIES: u32 = 5;

pub struct DynamoArchive {
    client: Client,
    table: String,
    retention: Duration,
}

impl DynamoArchive {
    pub fn new(config: &aws_config::SdkConfig, table: impl Into<String>, retention: Duration) -> Self {
        Self { client: Client::new(config), table: table.into(), retention }
    }

    fn item(&self, archived: &Archived) -> Result<Item, StoreError> {
        let event = serde_json::to_string(&archived.event).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let expires_at = archived.event.occurred_at.timestamp().max(0) as u64 + self.retention.as_secs();
        let mut item = key(&archived.event.correlation_id, archived.event.id.to_string());
        item.insert("topic".into(), s(&archived.topic));
        item.insert("event".into(), s(event));
        item.insert("expires_at".into(), dynamo_kit::item::n(expires_at));
        if let Some(traceparent) = &archived.traceparent {
            item.insert("traceparent".into(), s(traceparent));
        }
        Ok(item)
    }

    async fn write_batch(&self, items: Vec<Item>) -> Result<(), StoreError> {
        let requests = items
            .into_iter()
            .map(|item| built(PutRequest::builder().set_item(Some(item)).build()))
            .map(|put| put.map(|p| WriteRequest::builder().put_request(p).build()))
            .collect::<Result<Vec<_>, _>>()?;
        let mut pending = HashMap::from([(self.table.clone(), requests)]);
        for attempt in 0..=UNPROCESSED_RETRIES {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(50 << attempt)).await;
            }
            let output =
                self.client.batch_write_item().set_request_items(Some(pending)).send().await.map_err(classify)?;
            pending = output.unprocessed_items.unwrap_or_default();
            if pending.values().all(Vec::is_empty) {
                return Ok(());
            }
        }
        Err(StoreError::unavailable("DynamoDB left archive writes unprocessed after every retry"))
    }
}

#[async_trait]
impl EventArchive for DynamoArchive {
    async fn append(&self, events: &[Archived]) -> Result<(), StoreError> {
        // One request may not name an item twice: a batch can hold a duplicate delivery.
        let mut items: Vec<Item> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for archived in events {
            if seen.insert((&archived.event.correlation_id, archived.event.id)) {
                items.push(self.item(archived)?);
            }
        }
        futures::future::try_join_all(items.chunks(BATCH_WRITE_LIMIT).map(|chunk| self.write_batch(chunk.to_vec())))
            .await?;
        Ok(())
    }

    async fn history(&self, correlation_id: &str) -> Result<Vec<Archived>, StoreError> {
        let items = dynamo_kit::read::query_partition(&self.client, &self.table, correlation_id, "").await?;
        let mut history = items.iter().map(archived_from_item).collect::<Result<Vec<_>, _>>()?;
        history.sort_by_key(Archived::position);
        Ok(history)
    }
}

fn archived_from_item(item: &Item) -> Result<Archived, StoreError> {
    let event = WireEvent::from_json(get_s(item, "event")?).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    Ok(Archived {
        topic: get_s(item, "topic")?.to_owned(),
        event,
        traceparent: opt_s(item, "traceparent").map(str::to_owned),
    })
}
