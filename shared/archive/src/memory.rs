//! The archive in memory, for unit tests.

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;
use dynamo_kit::StoreError;

use crate::{Archived, EventArchive};

/// Events by (correlation id, event id), as the table keys them.
type Events = BTreeMap<(String, String), Archived>;

#[derive(Default)]
pub struct InMemoryArchive {
    events: Mutex<Events>,
}

impl InMemoryArchive {
    fn events(&self) -> Result<std::sync::MutexGuard<'_, Events>, StoreError> {
        self.events.lock().map_err(|_| StoreError::unavailable("the in-memory archive was poisoned"))
    }
}

#[async_trait]
impl EventArchive for InMemoryArchive {
    async fn append(&self, events: &[Archived]) -> Result<(), StoreError> {
        let mut archived = self.events()?;
        for event in events {
            archived.insert((event.event.correlation_id.clone(), event.event.id.to_string()), event.clone());
        }
        Ok(())
    }

    async fn history(&self, correlation_id: &str) -> Result<Vec<Archived>, StoreError> {
        let mut history: Vec<Archived> =
            self.events()?.iter().filter(|((c, _), _)| c == correlation_id).map(|(_, e)| e.clone()).collect();
        history.sort_by_key(Archived::position);
        Ok(history)
    }
}
