//! The behaviour every adapter of the archive must have; run against the in-memory archive
//! in unit tests and against DynamoDB on the emulator in the system tests.

use chrono::{Duration, Utc};
use pizza_events::WireEvent;
use uuid::Uuid;

use crate::{Archived, EventArchive};

fn event(correlation_id: &str, after_ms: i64, cause: Option<Uuid>) -> Archived {
    Archived {
        topic: "arn:aws:sns:us-east-1:123456789012:pizza".into(),
        event: WireEvent {
            id: Uuid::new_v4(),
            event_type: "PizzaRequested".into(),
            version: 1,
            occurred_at: Utc::now() + Duration::milliseconds(after_ms),
            source: "orders".into(),
            correlation_id: correlation_id.into(),
            causation_id: cause,
            data: serde_json::json!({ "n": after_ms }),
        },
        traceparent: Some("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".into()),
    }
}

/// Every event once, oldest first, per correlation id, however often it was appended (an
/// id appended again keeps its latest copy); more than one write request's worth at a time.
pub async fn event_archive(archive: &impl EventArchive) {
    let order = format!("order-{}", Uuid::new_v4());
    let other = format!("order-{}", Uuid::new_v4());
    // Appended newest first, with a duplicate in the same call and 30 events (over the
    // 25 one BatchWriteItem takes).
    let mut events: Vec<Archived> = (0..30).rev().map(|i| event(&order, i, None)).collect();
    events.push(events[3].clone());
    events.push(event(&other, 0, None));
    archive.append(&events).await.expect("appends");
    archive.append(&events[..5]).await.expect("appends again");
    // The same fact announced again later (its id derived from the fact): one event.
    let mut announced_again = events[7].clone();
    announced_again.event.occurred_at += Duration::milliseconds(500);
    archive.append(std::slice::from_ref(&announced_again)).await.expect("appends");
    events[7] = announced_again;

    let history = archive.history(&order).await.expect("reads");
    assert_eq!(history.len(), 30, "each event once");
    let mut expected: Vec<Archived> = events.iter().filter(|e| e.event.correlation_id == order).cloned().collect();
    expected.truncate(30); // the duplicate delivery appended at the end
    expected.sort_by_key(Archived::position);
    assert_eq!(history, expected, "whole, in occurrence order");
    assert_eq!(archive.history(&other).await.expect("reads").len(), 1);
    assert!(archive.history("order-never").await.expect("reads").is_empty());
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn the_in_memory_archive_keeps_the_contract() {
        super::event_archive(&crate::InMemoryArchive::default()).await;
    }
}
