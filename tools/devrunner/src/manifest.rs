//! The deployed stack as `tools/local/deploy.py` read it back from the emulator.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
pub struct Manifest {
    pub stack_name: String,
    pub region: String,
    #[serde(default)]
    pub endpoint_url: String,
    pub functions: Vec<Function>,
    pub routes: Vec<Route>,
    pub queues: BTreeMap<String, Queue>,
    pub topics: BTreeMap<String, String>,
    pub tables: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Function {
    pub logical_id: String,
    pub name: String,
    /// The cargo binary that implements the function (`BuildProperties.Binary`).
    pub binary: String,
    pub timeout_seconds: u64,
    pub environment: BTreeMap<String, String>,
    pub event_sources: Vec<EventSource>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct EventSource {
    pub queue: Queue,
    pub batch_size: u32,
    pub report_batch_item_failures: bool,
    pub enabled: bool,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Queue {
    #[serde(default)]
    pub logical_id: String,
    pub url: String,
    pub arn: String,
    pub visibility_timeout_seconds: u32,
    pub max_receive_count: Option<u32>,
    pub dead_letter_queue_url: Option<String>,
}

impl Queue {
    pub fn name(&self) -> &str {
        self.url.rsplit('/').next().unwrap_or(&self.url)
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct Route {
    pub method: String,
    pub path: String,
    pub function: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("cannot read the stack manifest {path}: {source} (deploy first: `make deploy`)")]
    Unreadable { path: String, source: std::io::Error },
    #[error("the stack manifest {path} is invalid: {source}")]
    Invalid { path: String, source: serde_json::Error },
}

impl Manifest {
    pub fn load(path: &Path) -> Result<Self, ManifestError> {
        let display = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|source| ManifestError::Unreadable { path: display.clone(), source })?;
        serde_json::from_str(&text).map_err(|source| ManifestError::Invalid { path: display, source })
    }

    pub fn function(&self, logical_id: &str) -> Option<&Function> {
        self.functions.iter().find(|f| f.logical_id == logical_id)
    }

    /// Every queue that has a dead-letter queue, with it.
    pub fn dead_letter_queues(&self) -> impl Iterator<Item = (&Queue, &str)> {
        self.queues.values().filter_map(|q| q.dead_letter_queue_url.as_deref().map(|dlq| (q, dlq)))
    }
}
