//! The ranges of the orders table's stream (the outbox of new orders) that the relay gave
//! up on. After its retries, the relay's stream mapping sends a record of the failed range
//! (stream, first and last sequence number) to the relay's dead-letter queue, not the
//! orders themselves. `republish` reads each range back from the stream, finds each order
//! inserted in it, and announces the ones still unpaid again, as the very event the relay
//! would have published: consumers absorb what they already saw.
//!
//! The reconciler announces a stuck order again by itself; this is for an operator who
//! wants those orders moving now.

use aws_sdk_dynamodbstreams::types::ShardIteratorType;
use lambda_kit::{EventBus, TopicArn};
use orders::{DynamoOrders, Watchlist};
use serde::Serialize;
use uuid::Uuid;

use crate::Stack;

#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    #[error("the stack has no {0}")]
    Missing(&'static str),
    #[error("SQS: {0}")]
    Sqs(String),
    #[error("DynamoDB Streams: {0}")]
    Streams(String),
    #[error("the relay's dead letter {0:?} is no record of a stream range")]
    NotARange(String),
    #[error(
        "the relay's dead letter names a range of {0}, not of the orders table's stream (a retired outbox's?): \
         left in the queue"
    )]
    OtherStream(String),
    #[error(transparent)]
    Store(#[from] dynamo_kit::StoreError),
}

/// What `republish` did.
#[derive(Debug, Default, Serialize, PartialEq)]
pub struct Republished {
    /// Ranges read back and removed from the relay's dead-letter queue.
    pub ranges: usize,
    /// Events published again.
    pub events: usize,
    /// Orders of those ranges paid or cancelled since: announced already, nothing to do.
    pub moved_on: Vec<Uuid>,
}

impl crate::commands::Report for Republished {}

impl std::fmt::Display for Republished {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} range(s): {} event(s) published again", self.ranges, self.events)?;
        if !self.moved_on.is_empty() {
            write!(f, "; {} order(s) paid or cancelled since, not announced again", self.moved_on.len())?;
        }
        Ok(())
    }
}

/// A stream range, as Lambda records it for an on-failure destination.
#[derive(Debug, Clone, PartialEq)]
struct Range {
    stream_arn: String,
    /// The shard it lies in, when the record names it (Lambda's does).
    shard_id: Option<String>,
    first: String,
    last: String,
}

fn range_of(body: &str) -> Option<Range> {
    let record: serde_json::Value = serde_json::from_str(body).ok()?;
    let info = &record["DDBStreamBatchInfo"];
    Some(Range {
        stream_arn: info["streamArn"].as_str()?.to_owned(),
        shard_id: info["shardId"].as_str().map(str::to_owned),
        first: info["startSequenceNumber"].as_str()?.to_owned(),
        last: info["endSequenceNumber"].as_str()?.to_owned(),
    })
}

/// Empty pages in a row after which a shard is taken to hold nothing more of a range: an
/// open shard may answer empty pages before its next records.
const EMPTY_PAGES: usize = 5;

/// Sequence numbers are decimal strings of any length: the longer is the later.
fn not_after(sequence: &str, last: &str) -> bool {
    (sequence.len(), sequence) <= (last.len(), last)
}

/// Republishes every range in the relay's dead-letter queue, deleting each once its
/// events are out.
pub async fn republish(stack: &Stack) -> Result<Republished, OutboxError> {
    let dlq = &stack.manifest.queue("RelayDeadLetterQueue").ok_or(OutboxError::Missing("RelayDeadLetterQueue"))?.url;
    let orders_table = stack.manifest.table("OrdersTable").ok_or(OutboxError::Missing("OrdersTable"))?;
    let orders_stream = stack.manifest.tables.get("OrdersTable").and_then(|t| t.stream_arn.as_deref());
    let orders_stream = orders_stream.ok_or(OutboxError::Missing("orders table's stream"))?;
    // The relay's own configuration: this command publishes what it would have.
    let relay = stack.manifest.function("RelayFunction").ok_or(OutboxError::Missing("RelayFunction"))?;
    let orders_topic = relay.environment.get("ORDERS_TOPIC_ARN").ok_or(OutboxError::Missing("ORDERS_TOPIC_ARN"))?;
    let orders_topic = TopicArn(orders_topic.clone());
    let aws = local_runner::sdk_config(&stack.manifest).await;
    let (streams, book) = (aws_sdk_dynamodbstreams::Client::new(&aws), DynamoOrders::new(&aws, orders_table));
    let mut done = Republished::default();
    loop {
        let received = stack
            .sqs
            .receive_message()
            .queue_url(dlq)
            .max_number_of_messages(10)
            .visibility_timeout(60)
            .send()
            .await
            .map_err(|e| OutboxError::Sqs(aws_sdk_sqs::error::DisplayErrorContext(e).to_string()))?;
        let messages = received.messages.unwrap_or_default();
        if messages.is_empty() {
            return Ok(done);
        }
        for message in messages {
            let body = message.body.clone().unwrap_or_default();
            let range = range_of(&body).ok_or(OutboxError::NotARange(body))?;
            if range.stream_arn != orders_stream {
                return Err(OutboxError::OtherStream(range.stream_arn));
            }
            let mut events = Vec::new();
            for order_id in inserted_in(&streams, &range).await? {
                match book.placed_order(order_id).await? {
                    Some(placed) => events.push(placed.announcement(&orders_topic)),
                    None => done.moved_on.push(order_id),
                }
            }
            let report = stack.bus.publish(&events).await;
            if let Some((event_id, reason)) = report.failed.iter().next() {
                return Err(OutboxError::Sqs(format!(
                    "event {event_id} was not published ({reason}); nothing deleted"
                )));
            }
            stack
                .sqs
                .delete_message()
                .queue_url(dlq)
                .set_receipt_handle(message.receipt_handle)
                .send()
                .await
                .map_err(|e| OutboxError::Sqs(aws_sdk_sqs::error::DisplayErrorContext(e).to_string()))?;
            done.ranges += 1;
            done.events += events.len();
        }
    }
}

/// The orders inserted in a range of the orders table's stream.
async fn inserted_in(streams: &aws_sdk_dynamodbstreams::Client, range: &Range) -> Result<Vec<Uuid>, OutboxError> {
    let error = |e: String| OutboxError::Streams(e);
    let described = streams
        .describe_stream()
        .stream_arn(&range.stream_arn)
        .send()
        .await
        .map_err(|e| error(aws_sdk_dynamodbstreams::error::DisplayErrorContext(e).to_string()))?;
    let shards = described.stream_description.map(|d| d.shards.unwrap_or_default()).unwrap_or_default();
    // The range lies in one shard: the one the record names, else the one that takes an
    // iterator at its first number.
    let candidates: Vec<String> = match &range.shard_id {
        Some(shard_id) => vec![shard_id.clone()],
        None => shards.into_iter().filter_map(|shard| shard.shard_id).collect(),
    };
    for shard_id in candidates {
        let iterator = streams
            .get_shard_iterator()
            .stream_arn(&range.stream_arn)
            .shard_id(shard_id)
            .shard_iterator_type(ShardIteratorType::AtSequenceNumber)
            .sequence_number(&range.first)
            .send()
            .await;
        let Ok(iterator) = iterator else { continue };
        let mut next = iterator.shard_iterator;
        let mut ids = Vec::new();
        let mut empty_pages = 0;
        while let Some(position) = next.take() {
            let page = streams
                .get_records()
                .shard_iterator(position)
                .send()
                .await
                .map_err(|e| error(aws_sdk_dynamodbstreams::error::DisplayErrorContext(e).to_string()))?;
            let records = page.records.unwrap_or_default();
            empty_pages = if records.is_empty() { empty_pages + 1 } else { 0 };
            let mut past_the_range = empty_pages >= EMPTY_PAGES;
            for record in records {
                let Some(change) = record.dynamodb else { continue };
                let sequence = change.sequence_number.clone().unwrap_or_default();
                if !not_after(&sequence, &range.last) {
                    past_the_range = true;
                    break;
                }
                let inserted = record.event_name.as_ref().is_some_and(|n| n.as_str() == "INSERT");
                let key = |name: &str| change.keys.as_ref().and_then(|k| k.get(name)).and_then(|v| v.as_s().ok());
                let order_id = key("pk").zip(key("sk")).and_then(|(pk, sk)| DynamoOrders::order_of_key(pk, sk));
                if let (true, Some(id)) = (inserted, order_id) {
                    ids.push(id);
                }
            }
            if !past_the_range {
                next = page.next_shard_iterator;
            }
        }
        return Ok(ids);
    }
    Err(error(format!("no shard of {} holds sequence number {}", range.stream_arn, range.first)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_relay_dead_letter_names_its_range() {
        let body = r#"{"requestContext": {"condition": "RetryAttemptsExhausted"},
            "DDBStreamBatchInfo": {"streamArn": "arn:s", "startSequenceNumber": "9", "endSequenceNumber": "12",
            "batchSize": 2}}"#;
        let range = range_of(body).expect("a range");
        assert_eq!(range, Range { stream_arn: "arn:s".into(), shard_id: None, first: "9".into(), last: "12".into() });
        assert!(range_of("{}").is_none());
    }

    #[test]
    fn sequence_numbers_compare_as_numbers() {
        assert!(not_after("9", "12"));
        assert!(not_after("12", "12"));
        assert!(!not_after("13", "12"));
        assert!(!not_after("100", "99"));
    }
}
