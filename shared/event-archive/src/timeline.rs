//! An order's life drawn from its archived events (and the kitchen hops their journeys
//! carry, [`crate::journeys`]): the causal tree (each event under the event that caused
//! it), the latency of every hop, the critical path from the first event to the outcome,
//! and the same steps of many pizzas folded into one line with their min/median/max hop
//! latency. Pure analysis: `pizza trace` draws it (as text or an SVG
//! waterfall, in the CLI) and prints it as JSON.
//!
//! Each event is drawn once, at the time it first occurred, however often it was announced
//! (a re-announced or replayed event is archived again, stamped later): the rows follow the
//! causal chain (a cause above its effects), never the order copies reached the archive,
//! and an event announced more than once is marked.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::{Archived, first_copies, journeys};

/// The events that end an order, and what they mean.
const OUTCOMES: &[(&str, &str)] = &[("OrderConfirmed", "READY"), ("OrderCancelled", "CANCELLED")];

/// One correlation's events laid out in time and along their causes: what `pizza trace` draws.
#[derive(Debug, Clone, Serialize)]
pub struct Timeline {
    /// The correlation id (an order's id) the events share.
    pub correlation_id: String,
    /// When the first event happened; `None` when nothing was archived.
    pub started_at: Option<DateTime<Utc>>,
    /// Every event, oldest first.
    pub events: Vec<Step>,
    /// READY or CANCELLED once the outcome is archived.
    pub outcome: Option<String>,
    /// From the first event to the outcome (or the latest event): indices into `events`.
    pub critical_path: Vec<usize>,
    /// The events folded by their causal path: one line per stage however many pizzas.
    pub groups: Vec<Group>,
    /// Causes named by some event that are not in the archive.
    pub missing_parents: Vec<Uuid>,
}

/// One event on the timeline.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    /// The event's id.
    pub id: Uuid,
    /// The event's type.
    pub event_type: String,
    /// The service that published it.
    pub service: String,
    /// What varies between events of one step: the stage of an ingredient.
    pub detail: Option<String>,
    /// The topic it was published to; empty for a carried event.
    pub topic: String,
    /// When it happened: the time of its first copy.
    pub occurred_at: DateTime<Utc>,
    /// Milliseconds since the first event.
    pub at_ms: f64,
    /// The event that caused it (its causation id), if it names one.
    pub parent: Option<Uuid>,
    /// Milliseconds from the cause to this event; `None` for a root or a missing cause.
    pub hop_ms: Option<f64>,
    /// How many causes lie between it and the root of its chain.
    pub depth: usize,
    /// The index of the group it is folded into.
    pub group: usize,
    /// How many times it was announced: the copies the archive holds, or for a carried
    /// event the different times its journeys give it. More than one for an event
    /// announced again.
    pub copies: usize,
    /// Known from the journey a later event of its pizza carries, not archived itself
    /// (it has no topic).
    pub carried: bool,
    /// How many pizzas it is about: a stage's event carries each order's pizzas of its
    /// batch; an order's own event is about none.
    pub pizzas: usize,
}

impl Step {
    /// How a row names it: its type, the detail that varies, and its service.
    pub fn label(&self) -> String {
        match &self.detail {
            Some(detail) => format!("{} ({detail}) · {}", self.event_type, self.service),
            None => format!("{} · {}", self.event_type, self.service),
        }
    }
}

/// The events of one step folded into one row: one line per stage however many pizzas.
#[derive(Debug, Clone, Serialize)]
pub struct Group {
    /// What the row is called: the label of its events.
    pub label: String,
    /// The depth of its events in the causal chain.
    pub depth: usize,
    /// How many events it folds.
    pub count: usize,
    /// How many pizzas its events are about.
    pub pizzas: usize,
    /// When its first event happened, in milliseconds since the timeline's first event.
    pub first_at_ms: f64,
    /// When its last event happened, in milliseconds since the timeline's first event.
    pub last_at_ms: f64,
    /// How long its events waited for their causes, when they name causes the archive has.
    pub hop_ms: Option<Spread>,
    /// How many of its events were announced more than once.
    pub reannounced: usize,
}

impl Group {
    /// Its label, with how many of its events were announced again, if any.
    pub fn marked_label(&self) -> String {
        match self.reannounced {
            0 => self.label.clone(),
            n => format!("{} ↻{n}", self.label),
        }
    }
}

/// The least, the median and the most of some durations, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Spread {
    /// The least.
    pub min: f64,
    /// The median (the lower middle of an even count).
    pub median: f64,
    /// The most.
    pub max: f64,
}

impl Spread {
    fn of(mut values: Vec<f64>) -> Option<Spread> {
        values.sort_by(f64::total_cmp);
        let middle = values.len() / 2;
        let median = match values.len() {
            0 => return None,
            n if n % 2 == 1 => values[middle],
            _ => (values[middle - 1] + values[middle]) / 2.0,
        };
        Some(Spread { min: values[0], median, max: values[values.len() - 1] })
    }
}

impl Timeline {
    /// Draws the timeline of one correlation's archived events (every copy, in any order).
    /// The kitchen's earlier events of each pizza, which the archive does not hold, are
    /// read from the journey its later events carry.
    pub fn of(correlation_id: &str, archived: &[Archived]) -> Timeline {
        let mut once = first_copies(archived);
        let carried = journeys::carried(archived);
        let carried_ids: HashSet<Uuid> = carried.iter().map(|c| c.archived.event.id).collect();
        once.extend(carried.into_iter().map(|c| (c.archived, c.announced)));
        once.sort_by_key(|(archived, _)| archived.position());
        let archived: Vec<(&Archived, usize)> =
            causal_order(&once).into_iter().map(|i| (&once[i].0, once[i].1)).collect();
        let started_at = once.first().map(|(a, _)| a.event.occurred_at);
        let index_of: HashMap<Uuid, usize> = archived.iter().enumerate().map(|(i, (a, _))| (a.event.id, i)).collect();
        let (mut events, missing_parents) = steps(&archived, &index_of, started_at, &carried_ids);
        let groups = group(&mut events);
        let (outcome, critical_path) = critical_path(&events, &index_of);
        Timeline {
            correlation_id: correlation_id.to_owned(),
            started_at,
            events,
            outcome,
            critical_path,
            groups,
            missing_parents,
        }
    }

    /// Milliseconds from the first event to the last of the critical path.
    pub fn duration_ms(&self) -> f64 {
        self.critical_path.last().map_or(0.0, |&last| self.events[last].at_ms)
    }

    /// How many events of one type (and detail, if given) the timeline draws, carried or
    /// archived.
    pub fn count(&self, event_type: &str, detail: Option<&str>) -> usize {
        self.of_kind(event_type, detail).count()
    }

    /// How many pizzas the events of one type (and detail, if given) are about.
    pub fn pizzas(&self, event_type: &str, detail: Option<&str>) -> usize {
        self.of_kind(event_type, detail).map(|e| e.pizzas).sum()
    }

    fn of_kind<'a>(&'a self, event_type: &'a str, detail: Option<&'a str>) -> impl Iterator<Item = &'a Step> {
        self.events.iter().filter(move |e| e.event_type == event_type && e.detail.as_deref() == detail)
    }
}

fn millis(from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
    (to - from).num_microseconds().unwrap_or(0) as f64 / 1000.0
}

/// Each event as a step of the timeline, in causal order (so a cause is always placed
/// before its effects), and the causes the archive does not hold.
fn steps(
    archived: &[(&Archived, usize)],
    index_of: &HashMap<Uuid, usize>,
    started_at: Option<DateTime<Utc>>,
    carried: &HashSet<Uuid>,
) -> (Vec<Step>, Vec<Uuid>) {
    let mut events: Vec<Step> = Vec::with_capacity(archived.len());
    let mut missing_parents = Vec::new();
    for (archived, copies) in archived {
        let event = &archived.event;
        let parent = event.causation_id.and_then(|id| index_of.get(&id).copied()).filter(|&p| p < events.len());
        if let (Some(cause), None) = (event.causation_id, parent) {
            missing_parents.push(cause);
        }
        events.push(Step {
            id: event.id,
            event_type: event.event_type.clone(),
            service: event.source.clone(),
            detail: event.data.get("stage").and_then(|s| s.as_str()).map(str::to_owned),
            topic: archived.topic.clone(),
            occurred_at: event.occurred_at,
            at_ms: started_at.map_or(0.0, |start| millis(start, event.occurred_at)),
            parent: event.causation_id,
            hop_ms: parent.map(|p| millis(events[p].occurred_at, event.occurred_at)),
            depth: parent.map_or(0, |p| events[p].depth + 1),
            group: 0,
            copies: *copies,
            carried: carried.contains(&event.id),
            pizzas: journeys::pizzas_of(event),
        });
    }
    (events, missing_parents)
}

/// Folds the steps that took the same path from the root (every pizza's sauce, say) into
/// one group each, and says which group each step is in.
fn group(events: &mut [Step]) -> Vec<Group> {
    let index_of: HashMap<Uuid, usize> = events.iter().enumerate().map(|(i, e)| (e.id, i)).collect();
    let mut paths: Vec<String> = Vec::with_capacity(events.len());
    let mut groups: Vec<Group> = Vec::new();
    let mut group_of_path: HashMap<String, usize> = HashMap::new();
    let mut group_hops: Vec<Vec<f64>> = Vec::new();
    for (at, step) in events.iter_mut().enumerate() {
        let parent = step.parent.and_then(|id| index_of.get(&id).copied()).filter(|&p| p < at);
        let path = match parent {
            Some(p) => format!("{}/{}", paths[p], step.label()),
            None => step.label(),
        };
        let index = *group_of_path.entry(path.clone()).or_insert_with(|| {
            groups.push(Group {
                label: step.label(),
                depth: step.depth,
                count: 0,
                pizzas: 0,
                first_at_ms: step.at_ms,
                last_at_ms: step.at_ms,
                hop_ms: None,
                reannounced: 0,
            });
            group_hops.push(Vec::new());
            groups.len() - 1
        });
        let group = &mut groups[index];
        group.count += 1;
        group.pizzas += step.pizzas;
        group.first_at_ms = group.first_at_ms.min(step.at_ms);
        group.last_at_ms = group.last_at_ms.max(step.at_ms);
        group.reannounced += usize::from(step.copies > 1);
        group_hops[index].extend(step.hop_ms);
        step.group = index;
        paths.push(path);
    }
    for (group, hops) in groups.iter_mut().zip(group_hops) {
        group.hop_ms = Spread::of(hops);
    }
    groups
}

/// The order's outcome, and the chain of causes that led to it (or to the latest event,
/// if it has none yet), first cause first.
fn critical_path(events: &[Step], index_of: &HashMap<Uuid, usize>) -> (Option<String>, Vec<usize>) {
    let is_outcome = |e: &Step| OUTCOMES.iter().any(|(t, _)| *t == e.event_type);
    let latest_of = |candidates: &mut dyn Iterator<Item = usize>| {
        candidates.max_by(|&a, &b| events[a].at_ms.total_cmp(&events[b].at_ms))
    };
    let terminal = latest_of(&mut (0..events.len()).filter(|&i| is_outcome(&events[i])));
    let outcome = terminal.and_then(|t| OUTCOMES.iter().find(|(ty, _)| *ty == events[t].event_type));
    let mut path = Vec::new();
    let mut cursor = terminal.or_else(|| latest_of(&mut (0..events.len())));
    while let Some(at) = cursor {
        path.push(at);
        cursor = events[at].parent.and_then(|id| index_of.get(&id).copied()).filter(|&p| p < at);
    }
    path.reverse();
    (outcome.map(|(_, status)| (*status).to_owned()), path)
}

/// The events (each once, oldest first) in causal order: every root by time, each followed
/// by its effects, depth first, siblings by time. A cause is always above its effects,
/// whatever their times say.
fn causal_order(events: &[(Archived, usize)]) -> Vec<usize> {
    let index_of: HashMap<Uuid, usize> = events.iter().enumerate().map(|(i, (a, _))| (a.event.id, i)).collect();
    let mut effects: HashMap<usize, Vec<usize>> = HashMap::new();
    let mut roots = Vec::new();
    for (i, (archived, _)) in events.iter().enumerate() {
        match archived.event.causation_id.and_then(|cause| index_of.get(&cause)) {
            Some(&cause) if cause != i => effects.entry(cause).or_default().push(i),
            _ => roots.push(i),
        }
    }
    let mut order = Vec::with_capacity(events.len());
    let mut seen = vec![false; events.len()];
    let mut stack: Vec<usize> = roots.into_iter().rev().collect();
    while let Some(at) = stack.pop() {
        if std::mem::replace(&mut seen[at], true) {
            continue;
        }
        order.push(at);
        stack.extend(effects.get(&at).into_iter().flatten().rev());
    }
    // A cycle of causes (never made by our handlers) still shows every event.
    order.extend((0..events.len()).filter(|&i| !seen[i]));
    order
}

#[cfg(test)]
mod tests;
