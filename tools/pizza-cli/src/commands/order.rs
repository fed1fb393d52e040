//! `pizza order`: places orders through the HTTP API at once and follows each until it is
//! READY or CANCELLED.

use std::time::{Duration, Instant};

use serde::Serialize;

use super::{Report, progress};
use crate::http::{Client, HttpError};
use crate::settle::poll_until;

/// How long the orders may take to settle.
const PATIENCE: Duration = Duration::from_secs(300);

#[derive(Debug, Serialize)]
pub struct Placed {
    pub orders: usize,
    pub pizzas: u32,
    pub ready: usize,
    pub cancelled: usize,
    pub unsettled: usize,
    pub seconds: f64,
}

/// Places one order of each size at once and waits until each is settled.
pub async fn place(client: &Client, sizes: &[u32], quiet: bool) -> Result<Placed, HttpError> {
    let started = Instant::now();
    let mut pending = futures::future::try_join_all(sizes.iter().map(|n| client.place(*n))).await?;
    let bar = progress::bar(sizes.len() as u64, "orders settled", quiet);
    let (mut ready, mut cancelled) = (0, 0);
    let mut failure = None;
    poll_until(PATIENCE, Duration::from_millis(200), async || {
        let mut still = Vec::new();
        for order_id in std::mem::take(&mut pending) {
            match client.status(&order_id).await {
                Ok(Some(status)) if status == "READY" => ready += 1,
                Ok(Some(status)) if status == "CANCELLED" => cancelled += 1,
                Ok(_) => still.push(order_id),
                Err(err) => {
                    failure = Some(err);
                    return Some(());
                }
            }
        }
        bar.set_position((ready + cancelled) as u64);
        pending = still;
        pending.is_empty().then_some(())
    })
    .await;
    bar.finish_and_clear();
    if let Some(err) = failure {
        return Err(err);
    }
    Ok(Placed {
        orders: sizes.len(),
        pizzas: sizes.iter().sum(),
        ready,
        cancelled,
        unsettled: pending.len(),
        seconds: started.elapsed().as_secs_f64(),
    })
}

impl std::fmt::Display for Placed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} order(s), {} pizzas: {} ready, {} cancelled, {} unsettled, in {:.1}s (local)",
            self.orders, self.pizzas, self.ready, self.cancelled, self.unsettled, self.seconds
        )
    }
}

impl Report for Placed {
    fn succeeded(&self) -> bool {
        self.unsettled == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_left_unsettled_fail_the_command() {
        let placed = Placed { orders: 2, pizzas: 5, ready: 1, cancelled: 0, unsettled: 1, seconds: 1.25 };
        assert!(!placed.succeeded());
        assert_eq!(placed.to_string(), "2 order(s), 5 pizzas: 1 ready, 0 cancelled, 1 unsettled, in 1.2s (local)");
        assert!(Placed { unsettled: 0, ..placed }.succeeded());
    }
}
