//! The transactional outbox: an event written in the same DynamoDB transaction as the state
//! it announces, and published by a relay that reads the outbox table's stream. Nothing is
//! written-then-published, so a crash between the two cannot lose the event.
//!
//! An entry is keyed by its event id, so writing the same event twice is caught by the
//! entry's condition, and it expires after a day (TTL): by then the relay has long
//! published it, and the archive keeps it.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::types::Put;
use pizza_events::Outgoing;

use crate::item::{n, s};
use crate::{StoreError, built};

/// The attributes of an outbox entry, which the relay reads from the stream.
pub const EVENT_ID: &str = "pk";
/// The event's JSON envelope, as it will be published.
pub const EVENT: &str = "event";
/// The ARN of the topic the event goes to.
pub const TOPIC_ARN: &str = "topic_arn";
/// The W3C trace context the event continues, if any.
pub const TRACEPARENT: &str = "traceparent";
/// The event's correlation id, for an operator looking for an order's entries.
pub const CORRELATION_ID: &str = "correlation_id";
/// When the entry expires (epoch seconds), for the table's TTL.
pub const EXPIRES_AT: &str = "expires_at";

/// How long an entry stays after it is written.
pub const RETENTION: Duration = Duration::from_secs(24 * 3600);

/// The put of an entry for `event`, conditional on the entry being new.
pub fn put_entry(table: &str, event: &Outgoing) -> Result<Put, StoreError> {
    let expires_at = (SystemTime::now() + RETENTION).duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let mut put = Put::builder()
        .table_name(table)
        .item(EVENT_ID, s(event.event.id.to_string()))
        .item(EVENT, s(event.event.to_json()))
        .item(TOPIC_ARN, s(event.topic.0.clone()))
        .item(CORRELATION_ID, s(event.event.correlation_id.clone()))
        .item(EXPIRES_AT, n(expires_at))
        .condition_expression("attribute_not_exists(pk)");
    if let Some(trace) = &event.trace {
        put = put.item(TRACEPARENT, s(trace.traceparent()));
    }
    built(put.build())
}

/// The entry of event `event_id`, as the relay would publish it; `None` once it expired
/// (or if it never was). The reconciler reads it to announce an order again.
pub async fn find_entry(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    event_id: uuid::Uuid,
) -> Result<Option<Outgoing>, StoreError> {
    let output = client
        .get_item()
        .table_name(table)
        .key(EVENT_ID, s(event_id.to_string()))
        .consistent_read(true)
        .send()
        .await
        .map_err(crate::classify)?;
    let Some(item) = output.item else { return Ok(None) };
    let event = pizza_events::WireEvent::from_json(crate::item::get_s(&item, EVENT)?)
        .map_err(|e| StoreError::Corrupt(format!("outbox entry {event_id}: {e}")))?;
    let topic = messaging::TopicArn(crate::item::get_s(&item, TOPIC_ARN)?.to_owned());
    let trace = crate::item::opt_s(&item, TRACEPARENT).and_then(messaging::TraceContext::from_traceparent);
    Ok(Some(Outgoing { topic, event, trace }))
}
