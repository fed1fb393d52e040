//! `pizza replay`: an order's archived events published again, each to its topic, and
//! what that changed.

use std::time::Duration;

use orders::OrderDesk;
use serde::Serialize;

use super::{Report, progress};
use crate::replay::{self, Sent};
use crate::settle::until_still;
use crate::{Stack, StackError};

/// How long an order's state must stand still to count as settled.
const QUIET: Duration = Duration::from_secs(3);

/// What an operator compares before and after a replay.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OrderState {
    pub status: String,
    pub pizzas_stored: u32,
    pub charged_cents: u64,
    pub refunded_cents: u64,
}

#[derive(Debug, Serialize)]
pub struct Replayed {
    pub order: String,
    pub sent: Vec<Sent>,
    pub before: Option<OrderState>,
    pub after: Option<OrderState>,
}

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error(transparent)]
    Stack(#[from] StackError),
    #[error(transparent)]
    Replay(#[from] replay::ReplayError),
    #[error("reading the order: {0}")]
    Orders(#[from] dynamo_kit::StoreError),
}

async fn order_state(stack: &Stack, order_id: uuid::Uuid) -> Result<Option<OrderState>, dynamo_kit::StoreError> {
    Ok(stack.orders.find(order_id).await?.map(|details| OrderState {
        status: details.order.status.as_str().to_owned(),
        pizzas_stored: details.pizzas.len() as u32,
        charged_cents: details.order.charged_cents,
        refunded_cents: details.order.refunded_cents,
    }))
}

/// Replays an order's events (from the first of type `from` on), waits until its state
/// has not moved for a few seconds or `patience` ran out, and says what was sent and what
/// changed.
pub async fn run(
    stack: &Stack,
    order: &str,
    from: Option<&str>,
    patience: Duration,
    quiet: bool,
) -> Result<Replayed, ReplayError> {
    let order_id: uuid::Uuid = order.parse().map_err(|_| StackError::NotAnOrder(order.to_owned()))?;
    let history = stack.order_history(order).await?;
    let events = replay::select(&history, from)?;
    let before = order_state(stack, order_id).await?;
    let sent = replay::replay(&stack.bus, &events).await?;
    let spinner = progress::spinner(format!("sent {} event(s); waiting for {order} to settle", sent.len()), quiet);
    let after = until_still(patience, QUIET, Duration::from_millis(250), async || {
        spinner.tick();
        order_state(stack, order_id).await
    })
    .await?;
    spinner.finish_and_clear();
    Ok(Replayed { order: order.to_owned(), sent, before, after })
}

impl std::fmt::Display for Replayed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut by_type: Vec<(&str, usize)> = Vec::new();
        for event in &self.sent {
            match by_type.iter_mut().find(|(t, _)| *t == event.event_type) {
                Some((_, n)) => *n += 1,
                None => by_type.push((&event.event_type, 1)),
            }
        }
        let summary: Vec<String> = by_type.iter().map(|(t, n)| format!("{n} {t}")).collect();
        writeln!(f, "sent {} event(s) of {}: {}", self.sent.len(), self.order, summary.join(", "))?;
        match (&self.before, &self.after) {
            (Some(b), Some(a)) if b == a => {
                write!(f, "nothing changed: {} with {} pizza(s) stored", a.status, a.pizzas_stored)
            }
            (before, after) => write!(f, "before: {}\nafter:  {}", show(before), show(after)),
        }
    }
}

fn show(state: &Option<OrderState>) -> String {
    state.as_ref().map_or("no order".to_owned(), |s| {
        format!(
            "{}, {} pizza(s) stored, {} cents charged, {} refunded",
            s.status, s.pizzas_stored, s.charged_cents, s.refunded_cents
        )
    })
}

impl Report for Replayed {}
