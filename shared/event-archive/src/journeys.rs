//! A pizza's earlier events, read from the journey its later events carry. The archive
//! keeps only the kitchen's last events (and a shortage, where one stops a pizza): each
//! pizza they carry carries its request and every earlier stage's event as hops (id, type,
//! version, source, time, cause), which is all a timeline draws of an event.
//! Archiving every hop of every pizza would cost a Firehose record and an SNS delivery each.
//!
//! So a pizza still in the kitchen has left nothing in the archive yet: its events appear
//! once it leaves the last stage (or runs out of stock there).

use std::collections::{BTreeSet, HashMap, HashSet};

use chrono::{DateTime, Utc};
use pizza_events::WireEvent;
use pizza_events::catalogue::{Hop, IngredientAdded};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::Archived;

/// An event known only from the journeys that carry it.
#[derive(Debug, Clone, PartialEq)]
pub struct Carried {
    /// The event as the timeline draws it, at the earliest time any journey gives it. It
    /// has no topic (none is carried), and its data is only what a timeline reads: the
    /// order, the pizzas whose journeys carry it (`pizzas`, each with its `pizza_id`) and,
    /// for a stage's event, the stage.
    pub archived: Archived,
    /// How many times it was announced: the different times the journeys give it. A copy
    /// of a later event delivered again carries the same journey; an event announced again
    /// (a redelivered cause, the reconciler) is stamped anew, and the journeys after it
    /// say so.
    pub announced: usize,
}

/// What the journeys say of one carried event: its earliest copy, every time they give
/// it, and the pizzas whose journeys hold it.
struct Sightings {
    kept: Archived,
    times: BTreeSet<DateTime<Utc>>,
    pizzas: BTreeSet<String>,
}

/// The events the journeys of every copy in `history` carry that the archive does not
/// hold itself, each once. They are drawn, never replayed.
pub fn carried(history: &[Archived]) -> Vec<Carried> {
    let held: HashSet<Uuid> = history.iter().map(|a| a.event.id).collect();
    let mut carried: HashMap<Uuid, Sightings> = HashMap::new();
    for archived in history {
        for (pizza_id, hop) in journeys(&archived.event) {
            if held.contains(&hop.id) {
                continue;
            }
            let event = hop_event(&archived.event, hop);
            let Sightings { kept, times, pizzas } = carried.entry(event.id).or_insert_with(|| Sightings {
                kept: Archived { topic: String::new(), event: event.clone(), traceparent: None },
                times: BTreeSet::new(),
                pizzas: BTreeSet::new(),
            });
            times.insert(event.occurred_at);
            pizzas.extend(pizza_id);
            if event.occurred_at < kept.event.occurred_at {
                kept.event = event;
            }
        }
    }
    let mut carried: Vec<Carried> = carried
        .into_values()
        .map(|Sightings { kept: mut archived, times, pizzas }| {
            let pizzas: Vec<Value> = pizzas.into_iter().map(|pizza_id| json!({ "pizza_id": pizza_id })).collect();
            if let Some(data) = archived.event.data.as_object_mut() {
                data.insert("pizzas".to_owned(), Value::Array(pizzas));
            }
            Carried { archived, announced: times.len() }
        })
        .collect();
    carried.sort_by_key(|c| c.archived.position());
    carried
}

/// The hops an event carries, each with the pizza whose journey it is on: the journey of
/// each of its `pizzas` (a stage's event since v4) or its own (a shortage, a stage's event
/// before v4). None for an event without a journey (published before journeys were), or
/// with one that does not read (an event is drawn without its hops rather than not at all).
fn journeys(event: &WireEvent) -> Vec<(Option<String>, Hop)> {
    let pizza_id = |pizza: &Value| pizza.get("pizza_id").and_then(Value::as_str).map(str::to_owned);
    let journey = |holder: &Value| -> Vec<Hop> {
        holder.get("journey").and_then(|j| serde_json::from_value(j.clone()).ok()).unwrap_or_default()
    };
    let mut holders = vec![&event.data];
    if let Some(pizzas) = event.data.get("pizzas").and_then(Value::as_array) {
        holders.extend(pizzas);
    }
    holders.into_iter().flat_map(|holder| journey(holder).into_iter().map(move |hop| (pizza_id(holder), hop))).collect()
}

/// The hop as an event of the carrier's correlation.
fn hop_event(carrier: &WireEvent, hop: Hop) -> WireEvent {
    let mut data = Map::new();
    if let Some(value) = carrier.data.get("order_id") {
        data.insert("order_id".to_owned(), value.clone());
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

/// How many pizzas an event is about: those it carries (a stage's event), its one pizza
/// (a request, a shortage, a stage's event before v4), or none (an order's event).
pub fn pizzas_of(event: &WireEvent) -> usize {
    match event.data.get("pizzas").and_then(Value::as_array) {
        Some(pizzas) => pizzas.len(),
        None => usize::from(event.data.get("pizza_id").is_some()),
    }
}
