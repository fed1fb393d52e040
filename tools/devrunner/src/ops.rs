//! What an operator does with queues: look at depths, read a dead-letter queue, redrive it.
//! The emulator has no StartMessageMoveTask, so redrive is receive → send back → delete,
//! which works the same on AWS.

use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};

use shared::inventory::{DynamoInventory, StockRoom};
use shared::payments::{DynamoLedger, PaymentLedger};

use crate::manifest::{Manifest, Queue};

#[derive(Debug, thiserror::Error)]
pub enum OpsError {
    #[error("no queue {0:?} in the stack (use its logical id or name; see `pizza-dev queues`)")]
    UnknownQueue(String),
    #[error("queue {0} has no dead-letter queue")]
    NoDeadLetterQueue(String),
    #[error("the stack has no table {0}")]
    NoTable(&'static str),
    #[error("{0}")]
    Sqs(String),
    #[error(transparent)]
    Store(#[from] shared::dynamo::StoreError),
}

fn sqs_error(err: impl std::error::Error + 'static) -> OpsError {
    OpsError::Sqs(shared::aws::describe(&err))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Depth {
    pub visible: u64,
    pub in_flight: u64,
}

pub async fn depth(sqs: &Client, url: &str) -> Result<Depth, OpsError> {
    let output = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .map_err(sqs_error)?;
    let read = |name: QueueAttributeName| {
        output.attributes().and_then(|a| a.get(&name)).and_then(|v| v.parse().ok()).unwrap_or(0)
    };
    Ok(Depth {
        visible: read(QueueAttributeName::ApproximateNumberOfMessages),
        in_flight: read(QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
    })
}

/// A queue by logical id (`SauceQueue`) or name (`sauce-q`).
pub fn find_queue<'m>(manifest: &'m Manifest, name: &str) -> Result<&'m Queue, OpsError> {
    manifest
        .queues
        .iter()
        .find(|(logical_id, queue)| *logical_id == name || queue.name() == name)
        .map(|(_, queue)| queue)
        .ok_or_else(|| OpsError::UnknownQueue(name.to_owned()))
}

#[derive(Debug, Clone)]
pub struct DeadLetter {
    pub message_id: String,
    pub body: String,
    pub receive_count: u32,
}

/// Reads up to `limit` messages of a queue's DLQ without taking them: each is made visible
/// again at once.
pub async fn peek_dead_letters(sqs: &Client, queue: &Queue, limit: usize) -> Result<Vec<DeadLetter>, OpsError> {
    let dlq = queue.dead_letter_queue_url.as_deref().ok_or_else(|| OpsError::NoDeadLetterQueue(queue.name().into()))?;
    let mut seen = Vec::new();
    let mut ids = std::collections::HashSet::new();
    for _ in 0..limit.div_ceil(10).max(1) * 2 {
        let output = sqs
            .receive_message()
            .queue_url(dlq)
            .max_number_of_messages(10)
            .visibility_timeout(0)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .send()
            .await
            .map_err(sqs_error)?;
        let messages = output.messages.unwrap_or_default();
        if messages.is_empty() {
            break;
        }
        for message in messages {
            let id = message.message_id.clone().unwrap_or_default();
            if ids.insert(id.clone()) && seen.len() < limit {
                let receive_count = message
                    .attributes()
                    .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                    .and_then(|c| c.parse().ok())
                    .unwrap_or(0);
                seen.push(DeadLetter { message_id: id, body: message.body.unwrap_or_default(), receive_count });
            }
        }
        if seen.len() >= limit {
            break;
        }
    }
    Ok(seen)
}

/// Moves every message of a queue's DLQ back to the queue; returns how many moved.
pub async fn redrive(sqs: &Client, queue: &Queue) -> Result<usize, OpsError> {
    let dlq = queue.dead_letter_queue_url.as_deref().ok_or_else(|| OpsError::NoDeadLetterQueue(queue.name().into()))?;
    let mut moved = 0;
    loop {
        let output = sqs
            .receive_message()
            .queue_url(dlq)
            .max_number_of_messages(10)
            .visibility_timeout(30)
            .message_attribute_names("All")
            .send()
            .await
            .map_err(sqs_error)?;
        let messages = output.messages.unwrap_or_default();
        if messages.is_empty() {
            return Ok(moved);
        }
        for message in messages {
            // Send first, delete after: a crash in between duplicates a message, which
            // consumers absorb, rather than losing it.
            sqs.send_message()
                .queue_url(&queue.url)
                .set_message_body(message.body.clone())
                .set_message_attributes(message.message_attributes.clone())
                .send()
                .await
                .map_err(sqs_error)?;
            sqs.delete_message()
                .queue_url(dlq)
                .set_receipt_handle(message.receipt_handle.clone())
                .send()
                .await
                .map_err(sqs_error)?;
            moved += 1;
        }
    }
}

fn table<'m>(manifest: &'m Manifest, logical_id: &'static str) -> Result<&'m str, OpsError> {
    manifest.tables.get(logical_id).map(String::as_str).ok_or(OpsError::NoTable(logical_id))
}

/// The stack's stock room (its `InventoryTable`).
pub fn stock_room(manifest: &Manifest, aws: &aws_config::SdkConfig) -> Result<DynamoInventory, OpsError> {
    Ok(DynamoInventory::new(aws, table(manifest, "InventoryTable")?))
}

/// The stack's payment ledger (its `PaymentsTable`).
pub fn ledger(manifest: &Manifest, aws: &aws_config::SdkConfig) -> Result<DynamoLedger, OpsError> {
    Ok(DynamoLedger::new(aws, table(manifest, "PaymentsTable")?))
}

/// Stocks every menu ingredient that has no stock yet with `units`; returns how many it
/// stocked. Stock already set (by an operator, or sold) is left alone, so it is safe to
/// run at every start.
pub async fn seed_stock(room: &impl StockRoom, units: u64) -> Result<usize, OpsError> {
    let stocked: std::collections::HashSet<String> = room.levels().await?.into_iter().map(|l| l.ingredient).collect();
    let mut seeded = 0;
    for ingredient in shared::menu::all_ingredients().filter(|i| !stocked.contains(*i)) {
        room.set_stock(ingredient, units).await?;
        seeded += 1;
    }
    Ok(seeded)
}

pub async fn set_credit_limit(ledger: &impl PaymentLedger, customer_id: &str, cents: u64) -> Result<(), OpsError> {
    Ok(ledger.set_credit_limit(customer_id, cents).await?)
}
