//! A pizza's earlier events, read from the journey its later events carry. The archive
//! keeps only the kitchen's last event of each pizza (and a shortage, where one stops it):
//! each of them carries the pizza's request and every earlier stage's event as hops (id,
//! type, source, time, cause), which is all a timeline draws of an event. Archiving every
//! hop of every pizza would cost a Firehose record and an SNS delivery each.

use std::collections::{HashMap, HashSet};

use pizza_events::WireEvent;
use pizza_events::catalogue::{Hop, IngredientAdded};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::Archived;

/// The events the journeys of `archived` carry that the archive does not hold itself, each
/// once, at the earliest time any copy gives it. They have no topic (none is carried), and
/// their data is only what a timeline reads: the order, the pizza and, for a stage's event,
/// the stage. They are drawn, never replayed.
pub fn carried(archived: &[(Archived, usize)]) -> Vec<Archived> {
    let held: HashSet<Uuid> = archived.iter().map(|(a, _)| a.event.id).collect();
    let mut carried: HashMap<Uuid, Archived> = HashMap::new();
    for (archived, _) in archived {
        for hop in journey(&archived.event) {
            if held.contains(&hop.id) {
                continue;
            }
            let event = hop_event(&archived.event, hop);
            match carried.get(&event.id) {
                Some(kept) if kept.event.occurred_at <= event.occurred_at => {}
                _ => {
                    carried.insert(event.id, Archived { topic: String::new(), event, traceparent: None });
                }
            }
        }
    }
    let mut carried: Vec<Archived> = carried.into_values().collect();
    carried.sort_by_key(Archived::position);
    carried
}

/// The hops an event carries; none for an event without a journey, or with one that does
/// not read (an event is drawn without its hops rather than not at all).
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
