//! A pizza's earlier events, read from the journey its later events carry. The archive
//! keeps only the kitchen's last event of each pizza (and a shortage, where one stops it):
//! each of them carries the pizza's request and every earlier stage's event as hops (id,
//! type, version, source, time, cause), which is all a timeline draws of an event.
//! Archiving every hop of every pizza would cost a Firehose record and an SNS delivery each.
//!
//! So a pizza still in the kitchen has left nothing in the archive yet: its events appear
//! once it leaves the last stage (or runs out of stock there).

use std::collections::{BTreeSet, HashMap, HashSet};

use chrono::{DateTime, Utc};
use pizza_events::WireEvent;
use pizza_events::catalogue::{Hop, IngredientAdded};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::Archived;

/// An event known only from the journeys that carry it.
#[derive(Debug, Clone, PartialEq)]
pub struct Carried {
    /// The event as the timeline draws it, at the earliest time any journey gives it. It
    /// has no topic (none is carried), and its data is only what a timeline reads: the
    /// order, the pizza and, for a stage's event, the stage.
    pub archived: Archived,
    /// How many times it was announced: the different times the journeys give it. A copy
    /// of a later event delivered again carries the same journey; an event announced again
    /// (a redelivered cause, the reconciler) is stamped anew, and the journeys after it
    /// say so.
    pub announced: usize,
}

/// The events the journeys of every copy in `history` carry that the archive does not
/// hold itself, each once. They are drawn, never replayed.
pub fn carried(history: &[Archived]) -> Vec<Carried> {
    let held: HashSet<Uuid> = history.iter().map(|a| a.event.id).collect();
    let mut carried: HashMap<Uuid, (Archived, BTreeSet<DateTime<Utc>>)> = HashMap::new();
    for archived in history {
        for hop in journey(&archived.event) {
            if held.contains(&hop.id) {
                continue;
            }
            let event = hop_event(&archived.event, hop);
            let (kept, times) = carried.entry(event.id).or_insert_with(|| {
                (Archived { topic: String::new(), event: event.clone(), traceparent: None }, BTreeSet::new())
            });
            times.insert(event.occurred_at);
            if event.occurred_at < kept.event.occurred_at {
                kept.event = event;
            }
        }
    }
    let mut carried: Vec<Carried> =
        carried.into_values().map(|(archived, times)| Carried { archived, announced: times.len() }).collect();
    carried.sort_by_key(|c| c.archived.position());
    carried
}

/// The hops an event carries; none for an event without a journey (published before
/// journeys were), or with one that does not read (an event is drawn without its hops
/// rather than not at all).
fn journey(event: &WireEvent) -> Vec<Hop> {
    event.data.get("journey").and_then(|j| serde_json::from_value(j.clone()).ok()).unwrap_or_default()
}

/// The hop as an event of the carrier's correlation.
fn hop_event(carrier: &WireEvent, hop: Hop) -> WireEvent {
    let mut data = Map::new();
    for key in ["order_id", "pizza_id"] {
        if let Some(value) = carrier.data.get(key) {
            data.insert(key.to_owned(), value.clone());
        }
    }
    if hop.event_type == <IngredientAdded as pizza_events::Event>::TYPE {
        data.insert("stage".to_owned(), Value::String(hop.source.clone()));
    }
    WireEvent {
        id: hop.id,
        event_type: hop.event_type,
        version: hop.version,
        occurred_at: hop.occurred_at,
        source: hop.source,
        correlation_id: carrier.correlation_id.clone(),
        causation_id: hop.causation_id,
        data: Value::Object(data),
    }
}
