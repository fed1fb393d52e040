//! The behaviour every adapter of the archive must have; run against the in-memory archive
//! in unit tests and against S3 on the emulator in the system tests.

use async_trait::async_trait;
use chrono::{Duration, Utc};
use pizza_events::WireEvent;
use uuid::Uuid;

use crate::{Archived, EventArchive, InMemoryArchive, S3Archive, Window, first_copies};

/// How a test puts events into an archive: what the delivery stream does on AWS.
#[async_trait]
pub trait Archiving: EventArchive {
    /// Stores these copies as the delivery stream would, in order.
    async fn archive(&self, events: &[Archived]);
}

#[async_trait]
impl Archiving for InMemoryArchive {
    async fn archive(&self, events: &[Archived]) {
        self.append(events);
    }
}

#[async_trait]
impl Archiving for S3Archive {
    async fn archive(&self, events: &[Archived]) {
        self.write_as_firehose(events).await.unwrap_or_else(|e| panic!("writing the archive: {e}"));
    }
}

/// An event of `correlation_id` that occurred `after_ms` from now.
pub fn event(correlation_id: &str, after_ms: i64, cause: Option<Uuid>) -> Archived {
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

/// Every copy of a correlation's events archived in the window, oldest first, and nothing
/// of another correlation or from outside the window; an event announced again is one
/// event at its first time.
pub async fn event_archive(archive: &impl Archiving) {
    let order = format!("order-{}", Uuid::new_v4());
    let other = format!("order-{}", Uuid::new_v4());
    // Archived newest first, in two objects, with another order's event among them.
    let mut events: Vec<Archived> = (0..30).rev().map(|i| event(&order, i, None)).collect();
    events.push(event(&other, 0, None));
    archive.archive(&events[..12]).await;
    archive.archive(&events[12..]).await;
    // The same fact announced again later (its id derived from the fact).
    let mut announced_again = events[7].clone();
    announced_again.event.occurred_at += Duration::milliseconds(500);
    archive.archive(std::slice::from_ref(&announced_again)).await;

    let window = Window::of_order(Utc::now(), Utc::now());
    let history = archive.history(&order, window).await.expect("reads");
    assert_eq!(history.len(), 31, "every copy: {history:#?}");
    assert!(history.windows(2).all(|w| w[0].position() <= w[1].position()), "oldest first");
    assert!(history.iter().all(|a| a.event.correlation_id == order), "only the order's");
    let once = first_copies(&history);
    assert_eq!(once.len(), 30, "each event once");
    let (kept, copies) = once.iter().find(|(a, _)| a.event.id == events[7].event.id).expect("the repeated event");
    assert_eq!((kept, *copies), (&events[7], 2), "at its first time, with its copies counted");
    assert_eq!(archive.history(&other, window).await.expect("reads").len(), 1);
    assert!(archive.history("order-never", window).await.expect("reads").is_empty());
    let long_ago = Window { from: Utc::now() - Duration::days(3), to: Utc::now() - Duration::days(2) };
    assert!(archive.history(&order, long_ago).await.expect("reads").is_empty(), "only the window is read");
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn the_in_memory_archive_keeps_the_contract() {
        super::event_archive(&crate::InMemoryArchive::default()).await;
    }
}
