//! The archive in memory, for unit tests: what was appended, every copy kept.

use std::sync::Mutex;

use async_trait::async_trait;

use crate::{ArchiveError, Archived, EventArchive, Window};

/// An archive in memory, for tests and the contract suite.
#[derive(Default)]
pub struct InMemoryArchive {
    events: Mutex<Vec<Archived>>,
}

impl InMemoryArchive {
    /// Archives copies of events, as the delivery stream would.
    pub fn append(&self, events: &[Archived]) {
        self.events.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).extend_from_slice(events);
    }
}

#[async_trait]
impl EventArchive for InMemoryArchive {
    async fn history(&self, correlation_id: &str, window: Window) -> Result<Vec<Archived>, ArchiveError> {
        let events = self.events.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut history: Vec<Archived> = events
            .iter()
            .filter(|a| a.event.correlation_id == correlation_id)
            .filter(|a| (window.from..=window.to).contains(&a.event.occurred_at))
            .cloned()
            .collect();
        history.sort_by_key(Archived::position);
        Ok(history)
    }
}
