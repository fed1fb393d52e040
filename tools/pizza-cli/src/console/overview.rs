//! What the console shows, computed from what the stack's stores and queues say: the
//! orders of the last hour by state, each kitchen stage's work, every queue's depth.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use local_runner::manifest::{EventSource, Manifest};
use orders::{Order, OrderStatus};
use serde::Serialize;

use crate::queues::{Depth, QueueDepths};

/// How far back the console looks for orders.
pub const WINDOW: Duration = Duration::hours(1);

#[derive(Debug, Clone, Serialize)]
pub struct Overview {
    pub stack: String,
    pub generated_at: DateTime<Utc>,
    /// Orders placed within [`WINDOW`], newest first.
    pub orders: Vec<OrderCard>,
    /// How many of them are in each state, every state named (zero included).
    pub counts: BTreeMap<&'static str, usize>,
    pub kitchen: Vec<StageLoad>,
    pub queues: Vec<QueueDepths>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OrderCard {
    pub order_id: String,
    pub status: &'static str,
    pub pizzas: u32,
    pub pizzas_ready: u32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub cancel_reason: Option<String>,
}

/// A kitchen stage's work: what waits in its queue and what its function holds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StageLoad {
    pub stage: String,
    pub queue: String,
    pub waiting: u64,
    pub in_flight: u64,
}

/// A kitchen stage of the stack: a function with a `STAGE`, and the queue it reads.
#[derive(Debug, Clone, PartialEq)]
pub struct Stage {
    pub name: String,
    pub queue_url: String,
    pub queue: String,
}

const STATES: [OrderStatus; 4] =
    [OrderStatus::Placed, OrderStatus::Cooking, OrderStatus::Ready, OrderStatus::Cancelled];

/// The stack's kitchen stages in the menu's order (stages the menu lacks go last).
pub fn kitchen_stages(manifest: &Manifest) -> Vec<Stage> {
    let mut stages: Vec<Stage> = manifest
        .functions
        .iter()
        .filter_map(|function| {
            let name = function.environment.get("STAGE")?;
            let queue = function.event_sources.iter().find_map(|source| match source {
                EventSource::Sqs(sqs) => Some(&sqs.queue),
                _ => None,
            })?;
            Some(Stage { name: name.clone(), queue_url: queue.url.clone(), queue: queue.name().to_owned() })
        })
        .collect();
    let position =
        |stage: &Stage| pizza_events::menu::MENU.iter().position(|m| m.stage == stage.name).unwrap_or(usize::MAX);
    stages.sort_by(|a, b| position(a).cmp(&position(b)).then_with(|| a.name.cmp(&b.name)));
    stages
}

impl Overview {
    /// The overview of `stack` at `now` from `orders`, with the stages' and queues' depths.
    pub fn of(
        stack: &str,
        now: DateTime<Utc>,
        orders: &[Order],
        stages: &[(Stage, Depth)],
        queues: Vec<QueueDepths>,
    ) -> Overview {
        let mut recent: Vec<&Order> = orders.iter().filter(|o| now - o.created_at <= WINDOW).collect();
        recent.sort_by(|a, b| b.created_at.cmp(&a.created_at).then_with(|| a.order_id.cmp(&b.order_id)));
        let mut counts: BTreeMap<&'static str, usize> = STATES.iter().map(|s| (s.as_str(), 0)).collect();
        for order in &recent {
            *counts.entry(order.status.as_str()).or_default() += 1;
        }
        Overview {
            stack: stack.to_owned(),
            generated_at: now,
            orders: recent.into_iter().map(OrderCard::of).collect(),
            counts,
            kitchen: stages
                .iter()
                .map(|(stage, depth)| StageLoad {
                    stage: stage.name.clone(),
                    queue: stage.queue.clone(),
                    waiting: depth.visible,
                    in_flight: depth.in_flight,
                })
                .collect(),
            queues,
        }
    }
}

impl OrderCard {
    fn of(order: &Order) -> OrderCard {
        OrderCard {
            order_id: order.order_id.to_string(),
            status: order.status.as_str(),
            pizzas: order.pizzas,
            pizzas_ready: order.pizzas_ready,
            created_at: order.created_at,
            updated_at: order.updated_at,
            cancel_reason: order.cancel_reason.map(|reason| reason.as_str().to_owned()),
        }
    }
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;

    fn order(minutes_ago: i64, status: OrderStatus, now: DateTime<Utc>) -> Order {
        let mut order = Order::place(Uuid::new_v4(), "c-1", 2, 2500, "fp");
        order.created_at = now - Duration::minutes(minutes_ago);
        order.status = status;
        order
    }

    #[test]
    fn shows_the_last_hours_orders_newest_first_and_counts_every_state() {
        let now = Utc::now();
        let orders = [
            order(5, OrderStatus::Ready, now),
            order(90, OrderStatus::Ready, now),
            order(1, OrderStatus::Cooking, now),
        ];
        let overview = Overview::of("shop", now, &orders, &[], Vec::new());
        let ids: Vec<_> = overview.orders.iter().map(|c| c.order_id.clone()).collect();
        assert_eq!(ids, [orders[2].order_id.to_string(), orders[0].order_id.to_string()]);
        assert_eq!(overview.counts["COOKING"], 1);
        assert_eq!(overview.counts["READY"], 1);
        assert_eq!(overview.counts["PLACED"], 0);
        assert_eq!(overview.counts["CANCELLED"], 0);
    }

    #[test]
    fn a_stage_shows_its_queues_waiting_and_in_flight_messages() {
        let stage = Stage { name: "sauce".into(), queue_url: "http://q/sauce-q".into(), queue: "sauce-q".into() };
        let overview =
            Overview::of("shop", Utc::now(), &[], &[(stage, Depth { visible: 3, in_flight: 7 })], Vec::new());
        assert_eq!(
            overview.kitchen,
            [StageLoad { stage: "sauce".into(), queue: "sauce-q".into(), waiting: 3, in_flight: 7 }]
        );
    }
}
