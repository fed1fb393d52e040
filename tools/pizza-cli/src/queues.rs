//! Queue depths, dead letters, and their redrive. The emulator has no
//! StartMessageMoveTask, so redrive is receive → send back → delete, which works the same
//! on AWS.

use std::collections::HashSet;

use aws_sdk_sqs::Client;
use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};
use lambda_kit::retry::{DEAD_LETTER_REASON, DEAD_LETTER_SOURCE};
use local_runner::manifest::{Manifest, Queue};
use serde::Serialize;

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("no queue {0:?} in the stack (use its logical id or name; see `pizza queues`)")]
    Unknown(String),
    #[error("queue {0} has no dead-letter queue")]
    NoDeadLetterQueue(String),
    #[error("SQS: {0}")]
    Sqs(String),
}

fn sqs_error<E: std::error::Error + 'static>(err: E) -> QueueError {
    QueueError::Sqs(DisplayErrorContext(err).to_string())
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Depth {
    pub visible: u64,
    pub in_flight: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct QueueDepths {
    pub queue: String,
    pub depth: Depth,
    pub dead_letters: Option<Depth>,
}

pub async fn depth(sqs: &Client, url: &str) -> Result<Depth, QueueError> {
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

/// Every consumer queue of the stack with its DLQ's depth.
pub async fn all_depths(sqs: &Client, manifest: &Manifest) -> Result<Vec<QueueDepths>, QueueError> {
    let mut all = Vec::new();
    for (queue, dlq) in manifest.dead_letter_queues() {
        all.push(QueueDepths {
            queue: queue.name().to_owned(),
            depth: depth(sqs, &queue.url).await?,
            dead_letters: Some(depth(sqs, dlq).await?),
        });
    }
    Ok(all)
}

pub fn find<'m>(manifest: &'m Manifest, name: &str) -> Result<&'m Queue, QueueError> {
    manifest.queue(name).ok_or_else(|| QueueError::Unknown(name.to_owned()))
}

#[derive(Debug, Clone, Serialize)]
pub struct DeadLetter {
    pub message_id: String,
    pub body: String,
    pub receive_count: u32,
    /// Why the consumer dead-lettered it, when it did so itself (poison); `None` when the
    /// queue moved it after its last receive.
    pub reason: Option<String>,
}

/// Reads up to `limit` messages of a queue's DLQ without taking them: each is made visible
/// again at once.
pub async fn peek_dead_letters(sqs: &Client, queue: &Queue, limit: usize) -> Result<Vec<DeadLetter>, QueueError> {
    let dlq = dead_letter_queue(queue)?;
    let mut seen = Vec::new();
    let mut ids = HashSet::new();
    for _ in 0..limit.div_ceil(10).max(1) * 2 {
        let output = sqs
            .receive_message()
            .queue_url(dlq)
            .max_number_of_messages(10)
            .visibility_timeout(0)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .message_attribute_names(DEAD_LETTER_REASON)
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
                let reason = message
                    .message_attributes()
                    .and_then(|a| a.get(DEAD_LETTER_REASON))
                    .and_then(|reason| reason.string_value.clone());
                seen.push(DeadLetter { message_id: id, body: message.body.unwrap_or_default(), receive_count, reason });
            }
        }
        if seen.len() >= limit {
            break;
        }
    }
    Ok(seen)
}

/// Moves every message of a queue's DLQ back to the queue; returns how many moved.
pub async fn redrive(sqs: &Client, queue: &Queue) -> Result<usize, QueueError> {
    redrive_reporting(sqs, queue, |_| {}).await
}

/// As [`redrive`], telling `moved` how many have moved so far after each message.
pub async fn redrive_reporting(sqs: &Client, queue: &Queue, moved_so_far: impl Fn(usize)) -> Result<usize, QueueError> {
    let dlq = dead_letter_queue(queue)?;
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
            // The dead letter's own notes stay behind: the message goes back as it came.
            let mut attributes = message.message_attributes.clone().unwrap_or_default();
            attributes.retain(|name, _| name != DEAD_LETTER_REASON && name != DEAD_LETTER_SOURCE);
            sqs.send_message()
                .queue_url(&queue.url)
                .set_message_body(message.body.clone())
                .set_message_attributes(Some(attributes))
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
            moved_so_far(moved);
        }
    }
}

fn dead_letter_queue(queue: &Queue) -> Result<&str, QueueError> {
    queue.dead_letter_queue_url.as_deref().ok_or_else(|| QueueError::NoDeadLetterQueue(queue.name().into()))
}
