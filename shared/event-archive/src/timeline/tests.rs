use chrono::Duration;

use super::*;
use crate::sample::{CAUSAL, ORDER, as_archived, replayed, three_pizzas_together, two_pizza_order};

#[test]
fn the_pizzas_fold_into_one_line_per_stage_with_their_hop_spread() {
    let timeline = Timeline::of(ORDER, &two_pizza_order());
    let labels: Vec<(&str, usize)> = timeline.groups.iter().map(|g| (g.label.as_str(), g.count)).collect();
    let counts = [1, 1, 2, 2, 2, 1];
    assert_eq!(labels, CAUSAL.into_iter().zip(counts).collect::<Vec<_>>());
    let sauce = &timeline.groups[3];
    assert_eq!(sauce.hop_ms, Some(Spread { min: 20.0, median: 22.5, max: 25.0 }));
    assert_eq!(timeline.count("IngredientAdded", Some("cheese")), 2);
    assert!(timeline.missing_parents.is_empty());
}

#[test]
fn the_critical_path_runs_from_the_first_event_to_the_outcome() {
    let timeline = Timeline::of(ORDER, &two_pizza_order());
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
    let mut events = two_pizza_order();
    events.retain(|a| a.event.event_type != "PaymentProcessed");
    let timeline = Timeline::of(ORDER, &events);
    assert_eq!(timeline.missing_parents.len(), 2, "both pizzas name the lost payment");
    assert_eq!(timeline.events.len(), 8);
}

#[test]
fn a_replayed_order_is_analysed_once_at_its_first_times_in_causal_order_and_marked() {
    let timeline = Timeline::of(ORDER, &replayed(&two_pizza_order()));
    assert_eq!(timeline.events.len(), 9, "each event once");
    assert_eq!(timeline.duration_ms(), 100.0, "timed by the first copies, not the replay");
    let labels: Vec<&str> = timeline.groups.iter().map(|g| g.label.as_str()).collect();
    assert_eq!(labels, CAUSAL);
    assert!(timeline.groups.iter().all(|g| g.reannounced == g.count), "every event is marked as announced again");
    assert_eq!(timeline.groups[5].marked_label(), "OrderConfirmed · orders ↻1");
}

#[test]
fn a_cause_stays_above_its_effects_whatever_their_times_say() {
    // Only a late copy of the payment reached the archive: by time it would come after
    // the pizzas it caused.
    let mut history = two_pizza_order();
    for archived in history.iter_mut().filter(|a| a.event.event_type == "PaymentProcessed") {
        archived.event.occurred_at += Duration::seconds(60);
    }
    let timeline = Timeline::of(ORDER, &history);
    let labels: Vec<&str> = timeline.groups.iter().map(|g| g.label.as_str()).collect();
    assert_eq!(labels, CAUSAL);
    let steps: Vec<String> = timeline.events.iter().map(Step::label).collect();
    let first = |label: &str| steps.iter().position(|s| s.starts_with(label)).unwrap_or(usize::MAX);
    let rows: Vec<usize> = CAUSAL.iter().map(|label| first(label.split(" · ").next().unwrap_or(label))).collect();
    assert!(rows.windows(2).all(|w| w[0] <= w[1]), "and so is every event: {steps:?}");
    assert!(timeline.events.iter().all(|e| e.depth == 0 || e.parent.is_some()));
    assert_eq!(timeline.outcome.as_deref(), Some("READY"));
}

#[test]
fn the_last_stages_journeys_draw_the_same_timeline_as_every_event_archived() {
    let every = Timeline::of(ORDER, &two_pizza_order());
    let archived = as_archived(&two_pizza_order(), "cheese");
    assert_eq!(archived.len(), 5, "placed, paid, two pizzas' cheese, confirmed");
    let kept = Timeline::of(ORDER, &archived);

    let rows = |t: &Timeline| -> Vec<(String, usize, Option<Spread>)> {
        t.groups.iter().map(|g| (g.label.clone(), g.count, g.hop_ms)).collect()
    };
    assert_eq!(rows(&kept), rows(&every));
    assert_eq!(kept.critical_path, every.critical_path);
    assert_eq!(kept.duration_ms(), every.duration_ms());
    assert!(kept.missing_parents.is_empty());
    let carried: Vec<&str> = kept.events.iter().filter(|e| e.carried).map(|e| e.event_type.as_str()).collect();
    assert_eq!(carried, ["PizzaRequested", "IngredientAdded", "PizzaRequested", "IngredientAdded"]);
    assert_eq!(kept.count("IngredientAdded", Some("sauce")), 2, "a carried stage keeps its stage");
}

#[test]
fn a_stage_event_announced_again_later_is_drawn_at_its_first_time_and_marked() {
    // Cheese ran twice for the first pizza (its sauce event redelivered after a crash):
    // the second cheese event, published later, carries a sauce hop stamped anew.
    let mut archived = as_archived(&two_pizza_order(), "cheese");
    let first_pizza = archived
        .iter()
        .filter(|a| a.event.event_type == "IngredientAdded")
        .min_by_key(|a| a.event.occurred_at)
        .cloned()
        .expect("a cheese event");
    let mut again = first_pizza.clone();
    again.event.occurred_at += Duration::seconds(30);
    again.event.data["journey"][1]["occurred_at"] = serde_json::json!("2026-12-01T10:00:31Z");
    archived.push(again);

    let timeline = Timeline::of(ORDER, &archived);
    assert_eq!(timeline.duration_ms(), 100.0, "the first copies' times");
    let sauce = &timeline.groups[3];
    assert_eq!((sauce.label.as_str(), sauce.reannounced), ("IngredientAdded (sauce) · sauce", 1));
    assert_eq!(sauce.first_at_ms, 40.0, "drawn when it first occurred");
    let requested = &timeline.groups[2];
    assert_eq!(requested.reannounced, 0, "the request's hop is the same in both journeys");
}

#[test]
fn a_shortage_carries_its_pizza_and_an_event_without_a_journey_is_drawn_alone() {
    let every = two_pizza_order();
    let mut archived = as_archived(&every, "cheese");
    // The second pizza ran out at cheese: a shortage carries the same journey.
    let (index, cheese) = archived
        .iter()
        .enumerate()
        .filter(|(_, a)| a.event.event_type == "IngredientAdded")
        .max_by_key(|(_, a)| a.event.occurred_at)
        .map(|(i, a)| (i, a.clone()))
        .expect("a cheese event");
    let mut short = cheese;
    short.event.event_type = "InventoryFailed".into();
    archived[index] = short;
    let timeline = Timeline::of(ORDER, &archived);
    assert_eq!(timeline.count("InventoryFailed", Some("cheese")), 1);
    assert_eq!(timeline.count("IngredientAdded", Some("sauce")), 2, "both pizzas' sauce, one from the shortage");
    assert!(timeline.missing_parents.is_empty());

    // A pizza finished before journeys were carried: its cause is simply not archived.
    let mut old = as_archived(&every, "cheese");
    for archived in old.iter_mut().filter(|a| a.event.event_type == "IngredientAdded") {
        archived.event.data.as_object_mut().map(|d| d.remove("journey"));
    }
    let timeline = Timeline::of(ORDER, &old);
    assert_eq!(timeline.count("IngredientAdded", Some("cheese")), 2);
    assert_eq!(timeline.missing_parents.len(), 2, "each names a sauce event the archive lacks");
}

#[test]
fn a_replay_marks_what_was_announced_again_not_what_its_journeys_carry() {
    let archived = as_archived(&two_pizza_order(), "cheese");
    let timeline = Timeline::of(ORDER, &replayed(&archived));
    assert_eq!(timeline.events.len(), 9, "each event once");
    assert_eq!(timeline.duration_ms(), 100.0, "timed by the first copies, not the replay");
    for (index, group) in timeline.groups.iter().enumerate() {
        let carried = timeline.events.iter().any(|e| e.group == index && e.carried);
        let expected = if carried { 0 } else { group.count };
        assert_eq!(group.reannounced, expected, "{}", group.label);
    }
}

#[test]
fn spreads_take_the_middle_of_an_even_count() {
    assert_eq!(Spread::of(vec![3.0, 1.0, 2.0, 4.0]), Some(Spread { min: 1.0, median: 2.5, max: 4.0 }));
    assert_eq!(Spread::of(vec![]), None);
}

#[test]
fn pizzas_announced_together_are_drawn_as_the_events_that_carried_them_each_pizza_counted() {
    let timeline = Timeline::of(ORDER, &three_pizzas_together());
    let rows: Vec<(&str, usize, usize)> =
        timeline.groups.iter().map(|g| (g.label.as_str(), g.count, g.pizzas)).collect();
    assert_eq!(
        rows,
        [
            ("OrderPlaced · api", 1, 0),
            ("PaymentProcessed · payment", 1, 0),
            ("PizzaRequested · orders", 3, 3),
            ("IngredientAdded (sauce) · sauce", 2, 3),
            ("IngredientAdded (cheese) · cheese", 1, 3),
            ("OrderConfirmed · orders", 1, 0),
        ]
    );
    assert_eq!(
        (timeline.count("IngredientAdded", Some("sauce")), timeline.pizzas("IngredientAdded", Some("sauce"))),
        (2, 3)
    );
    assert!(timeline.missing_parents.is_empty());
    let path: Vec<String> = timeline.critical_path.iter().map(|&i| timeline.events[i].label()).collect();
    assert_eq!(path.len(), 6, "placed, paid, requested, sauce, cheese, confirmed: {path:?}");
    assert_eq!(timeline.duration_ms(), 95.0);
    let carried = timeline.events.iter().filter(|e| e.carried).count();
    assert_eq!(carried, 5, "three requests and two sauce events, read from the cheese event's pizzas");
}
