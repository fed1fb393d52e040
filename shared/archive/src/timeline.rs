//! An order's life drawn from its archived events: the causal tree (each event under the
//! event that caused it), the latency of every hop, the critical path from the first event
//! to the outcome, and the same steps of many pizzas folded into one line with their
//! min/median/max hop latency. Pure: the CLI prints it as text, JSON or an SVG waterfall.
//!
//! Each event is drawn once, at the time it first occurred, however often it was announced
//! (a re-announced or replayed event is archived again, stamped later): the rows follow the
//! causal chain (a cause above its effects), never the order copies reached the archive,
//! and an event announced more than once is marked.

use std::collections::HashMap;
use std::fmt::Write;

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::{Archived, first_copies};

/// The events that end an order, and what they mean.
const OUTCOMES: &[(&str, &str)] = &[("OrderConfirmed", "READY"), ("OrderCancelled", "CANCELLED")];

#[derive(Debug, Clone, Serialize)]
pub struct Timeline {
    pub correlation_id: String,
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

#[derive(Debug, Clone, Serialize)]
pub struct Step {
    pub id: Uuid,
    pub event_type: String,
    /// The service that published it.
    pub service: String,
    /// What varies between events of one step: the stage of an ingredient.
    pub detail: Option<String>,
    pub topic: String,
    pub occurred_at: DateTime<Utc>,
    /// Milliseconds since the first event.
    pub at_ms: f64,
    pub parent: Option<Uuid>,
    /// Milliseconds from the cause to this event; `None` for a root or a missing cause.
    pub hop_ms: Option<f64>,
    pub depth: usize,
    /// The index of the group it is folded into.
    pub group: usize,
    /// How many copies the archive holds: more than one for an event announced again.
    pub copies: usize,
}

impl Step {
    pub fn label(&self) -> String {
        match &self.detail {
            Some(detail) => format!("{} ({detail}) · {}", self.event_type, self.service),
            None => format!("{} · {}", self.event_type, self.service),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Group {
    pub label: String,
    pub depth: usize,
    pub count: usize,
    pub first_at_ms: f64,
    pub last_at_ms: f64,
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

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Spread {
    pub min: f64,
    pub median: f64,
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
    pub fn of(correlation_id: &str, archived: &[Archived]) -> Timeline {
        let once = first_copies(archived);
        let archived: Vec<(&Archived, usize)> =
            causal_order(&once).into_iter().map(|i| (&once[i].0, once[i].1)).collect();
        let started_at = once.first().map(|(a, _)| a.event.occurred_at);
        let index_of: HashMap<Uuid, usize> = archived.iter().enumerate().map(|(i, (a, _))| (a.event.id, i)).collect();
        let millis =
            |from: DateTime<Utc>, to: DateTime<Utc>| (to - from).num_microseconds().unwrap_or(0) as f64 / 1000.0;

        let mut events: Vec<Step> = Vec::with_capacity(archived.len());
        let mut paths: Vec<String> = Vec::with_capacity(archived.len());
        let mut groups: Vec<Group> = Vec::new();
        let mut group_of_path: HashMap<String, usize> = HashMap::new();
        let mut group_hops: Vec<Vec<f64>> = Vec::new();
        let mut missing_parents = Vec::new();
        for (archived, copies) in &archived {
            let event = &archived.event;
            // In causal order, a cause is always placed before its effects.
            let parent = event.causation_id.and_then(|id| index_of.get(&id).copied()).filter(|&p| p < events.len());
            if let (Some(cause), None) = (event.causation_id, parent) {
                missing_parents.push(cause);
            }
            let detail = event.data.get("stage").and_then(|s| s.as_str()).map(str::to_owned);
            let mut step = Step {
                id: event.id,
                event_type: event.event_type.clone(),
                service: event.source.clone(),
                detail,
                topic: archived.topic.clone(),
                occurred_at: event.occurred_at,
                at_ms: started_at.map_or(0.0, |start| millis(start, event.occurred_at)),
                parent: event.causation_id,
                hop_ms: parent.map(|p| millis(events[p].occurred_at, event.occurred_at)),
                depth: parent.map_or(0, |p| events[p].depth + 1),
                group: 0,
                copies: *copies,
            };
            let path = match parent {
                Some(p) => format!("{}/{}", paths[p], step.label()),
                None => step.label(),
            };
            step.group = *group_of_path.entry(path.clone()).or_insert_with(|| {
                groups.push(Group {
                    label: step.label(),
                    depth: step.depth,
                    count: 0,
                    first_at_ms: step.at_ms,
                    last_at_ms: step.at_ms,
                    hop_ms: None,
                    reannounced: 0,
                });
                group_hops.push(Vec::new());
                groups.len() - 1
            });
            let group = &mut groups[step.group];
            group.count += 1;
            group.first_at_ms = group.first_at_ms.min(step.at_ms);
            group.last_at_ms = group.last_at_ms.max(step.at_ms);
            group.reannounced += usize::from(step.copies > 1);
            group_hops[step.group].extend(step.hop_ms);
            paths.push(path);
            events.push(step);
        }
        for (group, hops) in groups.iter_mut().zip(group_hops) {
            group.hop_ms = Spread::of(hops);
        }

        let is_outcome = |e: &Step| OUTCOMES.iter().any(|(t, _)| *t == e.event_type);
        let terminal = (0..events.len())
            .filter(|&i| is_outcome(&events[i]))
            .max_by(|&a, &b| events[a].at_ms.total_cmp(&events[b].at_ms));
        let outcome = terminal.and_then(|t| OUTCOMES.iter().find(|(ty, _)| *ty == events[t].event_type));
        let mut critical_path = Vec::new();
        let latest = (0..events.len()).max_by(|&a, &b| events[a].at_ms.total_cmp(&events[b].at_ms));
        let mut cursor = terminal.or(latest);
        while let Some(at) = cursor {
            critical_path.push(at);
            cursor = events[at].parent.and_then(|id| index_of.get(&id).copied()).filter(|&p| p < at);
        }
        critical_path.reverse();
        Timeline {
            correlation_id: correlation_id.to_owned(),
            started_at,
            events,
            outcome: outcome.map(|(_, status)| (*status).to_owned()),
            critical_path,
            groups,
            missing_parents,
        }
    }

    /// Milliseconds from the first event to the last of the critical path.
    pub fn duration_ms(&self) -> f64 {
        self.critical_path.last().map_or(0.0, |&last| self.events[last].at_ms)
    }

    /// How many events of one type (and detail, if given) the archive holds.
    pub fn count(&self, event_type: &str, detail: Option<&str>) -> usize {
        self.events.iter().filter(|e| e.event_type == event_type && e.detail.as_deref() == detail).count()
    }

    /// The timeline as text: one line per group (`expand` prints every event instead),
    /// then the critical path.
    pub fn render_text(&self, expand: bool) -> String {
        let mut out = String::new();
        let status = self.outcome.as_deref().unwrap_or("not finished");
        let _ = writeln!(
            out,
            "{}  {status} after {:.0} ms  ({} events)\n",
            self.correlation_id,
            self.duration_ms(),
            self.events.len()
        );
        let _ = writeln!(out, "{:>9} {:>8}  {:<54} {:>5}  hop min / median / max", "at ms", "hop ms", "event", "×");
        if expand {
            for step in &self.events {
                let again = if step.copies > 1 { format!(" ↻{}", step.copies - 1) } else { String::new() };
                let name = format!("{}{}{again}", tree_prefix(step.depth), step.label());
                let hop = step.hop_ms.map_or("-".to_owned(), |h| format!("{h:.0}"));
                let _ = writeln!(out, "{:>9.0} {hop:>8}  {name:<54} {:>5}  {}", step.at_ms, 1, short(step.id));
            }
        } else {
            for group in &self.groups {
                let name = format!("{}{}", tree_prefix(group.depth), group.marked_label());
                let (hop, spread) = match group.hop_ms {
                    Some(s) if group.count > 1 => {
                        (format!("{:.0}", s.median), format!("{:.0} / {:.0} / {:.0}", s.min, s.median, s.max))
                    }
                    Some(s) => (format!("{:.0}", s.median), String::new()),
                    None => ("-".to_owned(), String::new()),
                };
                let _ = writeln!(out, "{:>9.0} {hop:>8}  {name:<54} {:>5}  {spread}", group.first_at_ms, group.count);
            }
            let _ = writeln!(out, "\n(--expand shows every event on its own line)");
        }
        let reannounced: usize = self.groups.iter().map(|g| g.reannounced).sum();
        if reannounced > 0 {
            let _ = writeln!(
                out,
                "↻: {reannounced} event(s) were announced again (a retry, a re-announcement, a replay); each is \
                 drawn once, when it first occurred"
            );
        }
        let _ = writeln!(out, "\ncritical path ({:.0} ms):", self.duration_ms());
        for &at in &self.critical_path {
            let step = &self.events[at];
            let hop = step.hop_ms.map_or(String::new(), |h| format!("+{h:.0} ms"));
            let _ = writeln!(out, "  {:>9}  {}", hop, step.label());
        }
        if !self.missing_parents.is_empty() {
            let _ = writeln!(out, "\n{} event(s) name a cause the archive does not hold", self.missing_parents.len());
        }
        out
    }

    /// The timeline as an SVG waterfall: a row per group, a bar from its first event to
    /// its last, a tick per event; the critical path's events in red.
    pub fn render_svg(&self) -> String {
        const ROW: f64 = 22.0;
        const LABEL: f64 = 360.0;
        const WIDTH: f64 = 1100.0;
        let span = self.events.iter().map(|e| e.at_ms).fold(1.0, f64::max);
        let x = |ms: f64| LABEL + (ms / span) * (WIDTH - LABEL - 20.0);
        let height = ROW * (self.groups.len() as f64 + 3.0);
        let mut svg = format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{height}\" \
             font-family=\"monospace\" font-size=\"12\">\n\
             <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
             <text x=\"8\" y=\"16\" font-weight=\"bold\">{} · {} · {:.0} ms · {} events</text>\n",
            escape(&self.correlation_id),
            self.outcome.as_deref().unwrap_or("not finished"),
            self.duration_ms(),
            self.events.len()
        );
        let critical: std::collections::HashSet<usize> = self.critical_path.iter().copied().collect();
        for (row, group) in self.groups.iter().enumerate() {
            let y = ROW * (row as f64 + 2.0);
            // Indented by depth: SVG collapses leading spaces.
            let label = format!("{} ×{}", group.marked_label(), group.count);
            let indent = 8.0 + 10.0 * group.depth as f64;
            let _ = writeln!(svg, "<text x=\"{indent:.1}\" y=\"{:.1}\">{}</text>", y + 12.0, escape(&label));
            let (from, to) = (x(group.first_at_ms), x(group.last_at_ms).max(x(group.first_at_ms) + 2.0));
            let _ = writeln!(
                svg,
                "<rect x=\"{from:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"12\" fill=\"#9ecae1\">\
                 <title>{}: {:.0}–{:.0} ms</title></rect>",
                y + 2.0,
                to - from,
                escape(&group.label),
                group.first_at_ms,
                group.last_at_ms
            );
            for (index, step) in self.events.iter().enumerate().filter(|(_, e)| e.group == row) {
                let colour = if critical.contains(&index) { "#d62728" } else { "#3182bd" };
                let _ = writeln!(
                    svg,
                    "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"2\" height=\"16\" fill=\"{colour}\"/>",
                    x(step.at_ms),
                    y
                );
            }
        }
        let axis = ROW * (self.groups.len() as f64 + 2.5);
        let _ = writeln!(svg, "<text x=\"{LABEL}\" y=\"{axis:.1}\">0 ms</text>");
        let _ =
            writeln!(svg, "<text x=\"{:.1}\" y=\"{axis:.1}\" text-anchor=\"end\">{span:.0} ms</text>", WIDTH - 20.0);
        svg.push_str("</svg>\n");
        svg
    }
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

fn tree_prefix(depth: usize) -> String {
    if depth == 0 { String::new() } else { format!("{}└ ", "  ".repeat(depth - 1)) }
}

fn short(id: Uuid) -> String {
    id.simple().to_string()[..8].to_owned()
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use chrono::Duration;
    use pizza_events::WireEvent;
    use serde_json::json;

    use super::*;

    fn event(
        event_type: &str,
        source: &str,
        cause: Option<&Archived>,
        after_ms: i64,
        data: serde_json::Value,
    ) -> Archived {
        let start: DateTime<Utc> = "2026-12-01T10:00:00Z".parse().expect("a time");
        Archived {
            topic: format!("arn:aws:sns:us-east-1:1:{source}"),
            event: WireEvent {
                id: Uuid::new_v4(),
                event_type: event_type.into(),
                version: 1,
                occurred_at: start + Duration::milliseconds(after_ms),
                source: source.into(),
                correlation_id: "order-1".into(),
                causation_id: cause.map(|c| c.event.id),
                data,
            },
            traceparent: None,
        }
    }

    /// An order of two pizzas through two stages, confirmed.
    fn order() -> Vec<Archived> {
        let placed = event("OrderPlaced", "api", None, 0, json!({}));
        let paid = event("PaymentProcessed", "payment", Some(&placed), 10, json!({}));
        let mut all = vec![placed, paid.clone()];
        let mut last = None;
        for (pizza, offset) in [(1, 0), (2, 5)] {
            let requested = event("PizzaRequested", "orders", Some(&paid), 20 + offset, json!({ "pizza": pizza }));
            let sauce =
                event("IngredientAdded", "sauce", Some(&requested), 40 + offset * 2, json!({ "stage": "sauce" }));
            let cheese =
                event("IngredientAdded", "cheese", Some(&sauce), 70 + offset * 3, json!({ "stage": "cheese" }));
            last = Some(cheese.clone());
            all.extend([requested, sauce, cheese]);
        }
        all.push(event("OrderConfirmed", "orders", last.as_ref(), 100, json!({})));
        all.reverse(); // the archive's order must not matter
        all
    }

    #[test]
    fn the_pizzas_fold_into_one_line_per_stage_with_their_hop_spread() {
        let timeline = Timeline::of("order-1", &order());
        let labels: Vec<(&str, usize)> = timeline.groups.iter().map(|g| (g.label.as_str(), g.count)).collect();
        assert_eq!(
            labels,
            [
                ("OrderPlaced · api", 1),
                ("PaymentProcessed · payment", 1),
                ("PizzaRequested · orders", 2),
                ("IngredientAdded (sauce) · sauce", 2),
                ("IngredientAdded (cheese) · cheese", 2),
                ("OrderConfirmed · orders", 1),
            ]
        );
        let sauce = &timeline.groups[3];
        assert_eq!(sauce.hop_ms, Some(Spread { min: 20.0, median: 22.5, max: 25.0 }));
        assert_eq!(timeline.count("IngredientAdded", Some("cheese")), 2);
        assert!(timeline.missing_parents.is_empty());
    }

    #[test]
    fn the_critical_path_runs_from_the_first_event_to_the_outcome() {
        let timeline = Timeline::of("order-1", &order());
        assert_eq!(timeline.outcome.as_deref(), Some("READY"));
        let path: Vec<String> = timeline.critical_path.iter().map(|&i| timeline.events[i].label()).collect();
        assert_eq!(
            path,
            [
                "OrderPlaced · api",
                "PaymentProcessed · payment",
                "PizzaRequested · orders",
                "IngredientAdded (sauce) · sauce",
                "IngredientAdded (cheese) · cheese",
                "OrderConfirmed · orders"
            ]
        );
        // The path goes through the later pizza: its cheese is what the order waited for.
        let cheese = &timeline.events[timeline.critical_path[4]];
        assert_eq!(cheese.at_ms, 85.0);
        assert_eq!(timeline.duration_ms(), 100.0);
        assert_eq!(timeline.events[timeline.critical_path[5]].hop_ms, Some(15.0));
    }

    #[test]
    fn a_lost_cause_is_reported_and_the_rest_still_drawn() {
        let mut events = order();
        events.retain(|a| a.event.event_type != "PaymentProcessed");
        let timeline = Timeline::of("order-1", &events);
        assert_eq!(timeline.missing_parents.len(), 2, "both pizzas name the lost payment");
        assert_eq!(timeline.events.len(), 8);
        assert!(timeline.render_text(false).contains("2 event(s) name a cause the archive does not hold"));
    }

    #[test]
    fn text_and_svg_show_every_group() {
        let timeline = Timeline::of("order-1", &order());
        let text = timeline.render_text(false);
        assert!(text.contains("READY after 100 ms"), "{text}");
        assert!(text.contains("IngredientAdded (sauce) · sauce"), "{text}");
        assert!(text.contains("20 / 22 / 25") || text.contains("20 / 23 / 25"), "{text}");
        assert_eq!(timeline.render_text(true).matches("IngredientAdded").count(), 4 + 2, "each event, then the path");
        let svg = timeline.render_svg();
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert_eq!(svg.matches("<title>").count(), timeline.groups.len());
    }

    /// Where each label first appears in a rendering.
    fn positions(text: &str, labels: &[&str]) -> Vec<usize> {
        labels.iter().map(|label| text.find(label).unwrap_or_else(|| panic!("{label} is drawn: {text}"))).collect()
    }

    const CAUSAL: [&str; 6] = [
        "OrderPlaced · api",
        "PaymentProcessed · payment",
        "PizzaRequested · orders",
        "IngredientAdded (sauce) · sauce",
        "IngredientAdded (cheese) · cheese",
        "OrderConfirmed · orders",
    ];

    #[test]
    fn a_replayed_order_is_drawn_once_at_its_first_times_in_causal_order_and_marked() {
        let first = order();
        // The replay: every event archived again, stamped a minute later.
        let mut replayed = first.clone();
        for archived in &mut replayed {
            archived.event.occurred_at += Duration::seconds(60);
        }
        let mut history = replayed;
        history.extend(first);
        let timeline = Timeline::of("order-1", &history);

        assert_eq!(timeline.events.len(), 9, "each event once");
        assert_eq!(timeline.duration_ms(), 100.0, "timed by the first copies, not the replay");
        let labels: Vec<&str> = timeline.groups.iter().map(|g| g.label.as_str()).collect();
        assert_eq!(labels, CAUSAL);
        assert!(timeline.groups.iter().all(|g| g.reannounced == g.count), "every event is marked as announced again");
        let svg = timeline.render_svg();
        let rows = positions(&svg, &CAUSAL);
        assert!(rows.windows(2).all(|w| w[0] < w[1]), "the waterfall's rows follow the causal chain: {svg}");
        assert!(svg.contains("OrderConfirmed · orders ↻1 ×1"), "{svg}");
        let text = timeline.render_text(false);
        assert!(text.contains("READY after 100 ms"), "{text}");
        assert!(text.contains("9 event(s) were announced again"), "{text}");
    }

    #[test]
    fn a_cause_stays_above_its_effects_whatever_their_times_say() {
        // Only a late copy of the payment reached the archive: by time it would come after
        // the pizzas it caused.
        let mut history = order();
        for archived in history.iter_mut().filter(|a| a.event.event_type == "PaymentProcessed") {
            archived.event.occurred_at += Duration::seconds(60);
        }
        let timeline = Timeline::of("order-1", &history);
        let labels: Vec<&str> = timeline.groups.iter().map(|g| g.label.as_str()).collect();
        assert_eq!(labels, CAUSAL);
        let rows = positions(&timeline.render_text(true), &CAUSAL);
        assert!(rows.windows(2).all(|w| w[0] < w[1]), "and so is every expanded line");
        assert!(timeline.events.iter().all(|e| e.depth == 0 || e.parent.is_some()));
        assert_eq!(timeline.outcome.as_deref(), Some("READY"));
    }

    #[test]
    fn spreads_take_the_middle_of_an_even_count() {
        assert_eq!(Spread::of(vec![3.0, 1.0, 2.0, 4.0]), Some(Spread { min: 1.0, median: 2.5, max: 4.0 }));
        assert_eq!(Spread::of(vec![]), None);
    }
}
