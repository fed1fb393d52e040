//! An order's timeline as an SVG waterfall: what `pizza trace --svg` writes and the
//! console shows.

use std::fmt::Write;

use event_archive::Timeline;

/// The timeline as an SVG waterfall: a row per group, a bar from its first event to
/// its last, a tick per event; the critical path's events in red.
pub fn waterfall(timeline: &Timeline) -> String {
    const ROW: f64 = 22.0;
    const LABEL: f64 = 360.0;
    const WIDTH: f64 = 1100.0;
    let span = timeline.events.iter().map(|e| e.at_ms).fold(1.0, f64::max);
    let x = |ms: f64| LABEL + (ms / span) * (WIDTH - LABEL - 20.0);
    let height = ROW * (timeline.groups.len() as f64 + 3.0);
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{height}\" \
         font-family=\"monospace\" font-size=\"12\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"8\" y=\"16\" font-weight=\"bold\">{} · {} · {:.0} ms · {} events</text>\n",
        escape(&timeline.correlation_id),
        timeline.outcome.as_deref().unwrap_or("not finished"),
        timeline.duration_ms(),
        timeline.events.len()
    );
    let critical: std::collections::HashSet<usize> = timeline.critical_path.iter().copied().collect();
    for (row, group) in timeline.groups.iter().enumerate() {
        let y = ROW * (row as f64 + 2.0);
        // Indented by depth: SVG collapses leading spaces.
        let label = match group.pizzas {
            // A stage's events carry several pizzas each: say how many in all.
            pizzas if pizzas > group.count => format!("{} ×{} ({pizzas} pizzas)", group.marked_label(), group.count),
            _ => format!("{} ×{}", group.marked_label(), group.count),
        };
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
        for (index, step) in timeline.events.iter().enumerate().filter(|(_, e)| e.group == row) {
            let colour = if critical.contains(&index) { "#d62728" } else { "#3182bd" };
            let _ = writeln!(
                svg,
                "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"2\" height=\"16\" fill=\"{colour}\"/>",
                x(step.at_ms),
                y
            );
        }
    }
    let axis = ROW * (timeline.groups.len() as f64 + 2.5);
    let _ = writeln!(svg, "<text x=\"{LABEL}\" y=\"{axis:.1}\">0 ms</text>");
    let _ = writeln!(svg, "<text x=\"{:.1}\" y=\"{axis:.1}\" text-anchor=\"end\">{span:.0} ms</text>", WIDTH - 20.0);
    svg.push_str("</svg>\n");
    svg
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use event_archive::sample::{CAUSAL, ORDER, replayed, two_pizza_order};

    use super::*;

    #[test]
    fn a_row_per_group() {
        let timeline = Timeline::of(ORDER, &two_pizza_order());
        let svg = waterfall(&timeline);
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert_eq!(svg.matches("<title>").count(), timeline.groups.len());
    }

    #[test]
    fn a_replayed_order_is_drawn_once_in_causal_order_and_marked() {
        let svg = waterfall(&Timeline::of(ORDER, &replayed(&two_pizza_order())));
        let rows: Vec<usize> = CAUSAL.iter().map(|label| svg.find(label).unwrap_or(usize::MAX)).collect();
        assert!(rows.windows(2).all(|w| w[0] < w[1]), "the waterfall's rows follow the causal chain: {svg}");
        assert!(svg.contains("OrderConfirmed · orders ↻1 ×1"), "{svg}");
    }
}
