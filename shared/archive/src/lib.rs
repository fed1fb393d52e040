//! The event archive, the bus's durable log: every event any topic carried, kept by
//! correlation id (the order) in the order the events occurred, for the retention the
//! template sets. An operator draws an order's [`timeline`] from it, or replays its events.
//!
//! Appending is idempotent: an event is keyed by its correlation id and its id, so the same
//! event archived twice (an at-least-once queue, a replay, a fact announced again with the
//! same derived id) is kept once; the history is read back in occurrence order.

mod dynamo;
mod memory;
pub mod timeline;

#[cfg(any(test, feature = "contract"))]
pub mod contract;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dynamo_kit::StoreError;
use pizza_events::WireEvent;
use serde::Serialize;
use uuid::Uuid;

pub use dynamo::DynamoArchive;
pub use memory::InMemoryArchive;
pub use timeline::Timeline;

/// One archived event, with where it was published and the trace it belonged to.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Archived {
    /// The topic ARN it was published to: a replay sends it there again.
    pub topic: String,
    pub event: WireEvent,
    pub traceparent: Option<String>,
}

impl Archived {
    /// The position of the event in its correlation's history: its time, then its id to
    /// break ties.
    pub fn position(&self) -> (DateTime<Utc>, Uuid) {
        (self.event.occurred_at, self.event.id)
    }
}

#[async_trait]
pub trait EventArchive: Send + Sync {
    /// Keeps every event, once however often it is appended (the latest copy of an id).
    async fn append(&self, events: &[Archived]) -> Result<(), StoreError>;

    /// Every archived event of one correlation id, oldest first.
    async fn history(&self, correlation_id: &str) -> Result<Vec<Archived>, StoreError>;
}
