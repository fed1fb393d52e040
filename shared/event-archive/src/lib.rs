//! The event archive, the bus's durable log: every event of the order topics and of the
//! kitchen's last topic, as SNS delivered it to the archive's Firehose stream and Firehose
//! wrote it to S3, kept for the retention the template sets. The kitchen's earlier events
//! travel on as the [`journeys`] of its last ones. An operator draws an order's
//! [`timeline`] from it, or replays its events.
//!
//! The log is append-only: an event announced again (a retry, a reconciler's
//! re-announcement, a replay) is archived again. Reading keeps every copy; the timeline
//! and a replay take each event once, at its first copy ([`first_copies`]), and the
//! timeline marks the events that were announced more than once.

#![warn(missing_docs)]

pub mod journeys;
mod memory;
pub mod records;
mod s3;
#[cfg(any(test, feature = "contract"))]
pub mod sample;
pub mod timeline;

#[cfg(any(test, feature = "contract"))]
pub mod contract;

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use pizza_events::WireEvent;
use serde::Serialize;
use uuid::Uuid;

pub use memory::InMemoryArchive;
pub use s3::{S3Archive, hour_prefixes};
pub use timeline::Timeline;

/// One archived copy of an event, with where it was published and the trace it belonged to.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Archived {
    /// The topic ARN it was published to: a replay sends it there again.
    pub topic: String,
    /// The event, exactly as it was published.
    pub event: WireEvent,
    /// The W3C trace context it was published with, if any.
    pub traceparent: Option<String>,
}

impl Archived {
    /// The position of the event in its correlation's history: its time, then its id to
    /// break ties.
    pub fn position(&self) -> (DateTime<Utc>, Uuid) {
        (self.event.occurred_at, self.event.id)
    }
}

/// When an order's events were archived: the archive reads only the objects written then,
/// not every event ever kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// The earliest time an object of the window may have been written.
    pub from: DateTime<Utc>,
    /// The latest time an object of the window may have been written.
    pub to: DateTime<Utc>,
}

impl Window {
    /// The life of an order placed at `created_at` and last moved at `updated_at`, widened by
    /// the time a copy may take to reach the archive (Firehose's buffer) and by anything
    /// announced for it later (a re-announcement, a replay) up to now.
    pub fn of_order(created_at: DateTime<Utc>, now: DateTime<Utc>) -> Self {
        Self { from: created_at - chrono::Duration::minutes(5), to: now + chrono::Duration::minutes(20) }
    }
}

/// Why the archive could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// The store could not be reached, or refused the listing or a read.
    #[error("the event archive is unavailable: {0}")]
    Unavailable(String),
    /// An object was read but is not an archive object (not gzip, or not records).
    #[error("archive object {key} cannot be read: {reason}")]
    Unreadable {
        /// The object's key.
        key: String,
        /// What was wrong with it.
        reason: String,
    },
}

/// Where archived events are read back, for `pizza trace` and `pizza replay`.
#[async_trait]
pub trait EventArchive: Send + Sync {
    /// Every archived copy of one correlation id's events archived within `window`, oldest
    /// first.
    async fn history(&self, correlation_id: &str, window: Window) -> Result<Vec<Archived>, ArchiveError>;
}

/// Each event once, at its first copy (an event announced again keeps the time it first
/// occurred), oldest first, with how many copies the archive holds of it.
pub fn first_copies(history: &[Archived]) -> Vec<(Archived, usize)> {
    let mut first: HashMap<Uuid, (Archived, usize)> = HashMap::new();
    for archived in history {
        first
            .entry(archived.event.id)
            .and_modify(|(kept, copies)| {
                *copies += 1;
                if archived.position() < kept.position() {
                    *kept = archived.clone();
                }
            })
            .or_insert_with(|| (archived.clone(), 1));
    }
    let mut events: Vec<(Archived, usize)> = first.into_values().collect();
    events.sort_by_key(|(archived, _)| archived.position());
    events
}
