//! An order's timeline as text: one line per group (or per event), then the critical path.

use std::fmt::Write;

use event_archive::Timeline;
use uuid::Uuid;

/// The timeline as text: one line per group (`expand` prints every event instead),
/// then the critical path.
pub fn text(timeline: &Timeline, expand: bool) -> String {
    let mut out = String::new();
    let status = timeline.outcome.as_deref().unwrap_or("not finished");
    let _ = writeln!(
        out,
        "{}  {status} after {:.0} ms  ({} events)\n",
        timeline.correlation_id,
        timeline.duration_ms(),
        timeline.events.len()
    );
    let _ = writeln!(
        out,
        "{:>9} {:>8}  {:<54} {:>5} {:>6}  hop min / median / max",
        "at ms", "hop ms", "event", "×", "pizzas"
    );
    rows(&mut out, timeline, expand);
    let reannounced: usize = timeline.groups.iter().map(|g| g.reannounced).sum();
    if reannounced > 0 {
        let _ = writeln!(
            out,
            "↻: {reannounced} event(s) were announced again (a retry, a re-announcement, a replay); each is \
             drawn once, when it first occurred"
        );
    }
    let carried = timeline.events.iter().filter(|e| e.carried).count();
    if carried > 0 {
        let _ = writeln!(
            out,
            "{carried} event(s) are read from the journeys the kitchen's last events carry (the archive holds the \
             order's events and the last stage's)"
        );
    }
    if timeline.outcome.is_none() {
        let _ = writeln!(
            out,
            "not finished: a pizza's kitchen events reach the archive when it leaves the last stage; `pizza queues` \
             and `pizza dlq show` say where the others wait"
        );
    }
    let _ = writeln!(out, "\ncritical path ({:.0} ms):", timeline.duration_ms());
    for &at in &timeline.critical_path {
        let step = &timeline.events[at];
        let hop = step.hop_ms.map_or(String::new(), |h| format!("+{h:.0} ms"));
        let _ = writeln!(out, "  {:>9}  {}", hop, step.label());
    }
    if !timeline.missing_parents.is_empty() {
        let _ = writeln!(out, "\n{} event(s) name a cause the archive does not hold", timeline.missing_parents.len());
    }
    out
}

/// One line per group, or per event when `expand`.
fn rows(out: &mut String, timeline: &Timeline, expand: bool) {
    if expand {
        for step in &timeline.events {
            let again = if step.copies > 1 { format!(" ↻{}", step.copies - 1) } else { String::new() };
            let name = format!("{}{}{again}", tree_prefix(step.depth), step.label());
            let hop = step.hop_ms.map_or("-".to_owned(), |h| format!("{h:.0}"));
            let _ = writeln!(
                out,
                "{:>9.0} {hop:>8}  {name:<54} {:>5} {:>6}  {}",
                step.at_ms,
                1,
                pizzas(step.pizzas),
                short(step.id)
            );
        }
    } else {
        for group in &timeline.groups {
            let name = format!("{}{}", tree_prefix(group.depth), group.marked_label());
            let (hop, spread) = match group.hop_ms {
                Some(s) if group.count > 1 => {
                    (format!("{:.0}", s.median), format!("{:.0} / {:.0} / {:.0}", s.min, s.median, s.max))
                }
                Some(s) => (format!("{:.0}", s.median), String::new()),
                None => ("-".to_owned(), String::new()),
            };
            let _ = writeln!(
                out,
                "{:>9.0} {hop:>8}  {name:<54} {:>5} {:>6}  {spread}",
                group.first_at_ms,
                group.count,
                pizzas(group.pizzas)
            );
        }
        let _ = writeln!(out, "\n(--expand shows every event on its own line)");
    }
}

/// A count of pizzas, blank for an order's own events (about none).
fn pizzas(count: usize) -> String {
    if count == 0 { String::new() } else { count.to_string() }
}

fn tree_prefix(depth: usize) -> String {
    if depth == 0 { String::new() } else { format!("{}└ ", "  ".repeat(depth - 1)) }
}

fn short(id: Uuid) -> String {
    id.simple().to_string()[..8].to_owned()
}

#[cfg(test)]
mod tests {
    use event_archive::sample::{CAUSAL, ORDER, replayed, two_pizza_order};

    use super::*;

    /// Where each label first appears in a rendering.
    fn positions(text: &str, labels: &[&str]) -> Vec<usize> {
        labels.iter().map(|label| text.find(label).unwrap_or_else(|| panic!("{label} is drawn: {text}"))).collect()
    }

    #[test]
    fn every_group_then_the_critical_path() {
        let timeline = Timeline::of(ORDER, &two_pizza_order());
        let folded = text(&timeline, false);
        assert!(folded.contains("READY after 100 ms"), "{folded}");
        assert!(folded.contains("IngredientAdded (sauce) · sauce"), "{folded}");
        assert!(folded.contains("20 / 22 / 25") || folded.contains("20 / 23 / 25"), "{folded}");
        assert_eq!(text(&timeline, true).matches("IngredientAdded").count(), 4 + 2, "each event, then the path");
        let rows = positions(&text(&timeline, true), &CAUSAL);
        assert!(rows.windows(2).all(|w| w[0] < w[1]), "every expanded line along the causal chain");
    }

    #[test]
    fn a_stage_line_counts_its_events_and_the_pizzas_they_carried() {
        let drawn = text(&Timeline::of(ORDER, &event_archive::sample::three_pizzas_together()), false);
        let sauce = drawn.lines().find(|l| l.contains("(sauce)")).expect("a sauce line");
        let counts: Vec<&str> = sauce.rsplit("sauce").next().unwrap_or_default().split_whitespace().take(2).collect();
        assert_eq!(counts, ["2", "3"], "two events, three pizzas: {drawn}");
    }

    #[test]
    fn the_events_read_from_journeys_are_counted() {
        let archived = event_archive::sample::as_archived(&two_pizza_order(), "cheese");
        let drawn = text(&Timeline::of(ORDER, &archived), false);
        assert!(drawn.contains("4 event(s) are read from the journeys"), "{drawn}");
        assert!(!text(&Timeline::of(ORDER, &two_pizza_order()), false).contains("journeys"));
        let cooking: Vec<_> = archived.into_iter().filter(|a| a.event.event_type != "OrderConfirmed").collect();
        let drawn = text(&Timeline::of(ORDER, &cooking), false);
        assert!(drawn.contains("not finished: a pizza's kitchen events reach the archive"), "{drawn}");
    }

    #[test]
    fn a_lost_cause_is_told() {
        let mut events = two_pizza_order();
        events.retain(|a| a.event.event_type != "PaymentProcessed");
        let drawn = text(&Timeline::of(ORDER, &events), false);
        assert!(drawn.contains("2 event(s) name a cause the archive does not hold"), "{drawn}");
    }

    #[test]
    fn a_replay_is_told_and_timed_by_the_first_copies() {
        let drawn = text(&Timeline::of(ORDER, &replayed(&two_pizza_order())), false);
        assert!(drawn.contains("READY after 100 ms"), "{drawn}");
        assert!(drawn.contains("9 event(s) were announced again"), "{drawn}");
    }
}
