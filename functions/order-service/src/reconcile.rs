//! The reconciler: what watches a choreography. No service owns an order's whole journey,
//! so an order whose messages were all lost or dead-lettered (a relay that gave up, a
//! publish that never got out) would wait forever. On a schedule, the reconciler finds
//! the orders that have not moved for a while and announces again what they are missing,
//! under the very event ids of the first announcements, so the services absorb a repeat
//! and act on what they never saw:
//!
//! - `PLACED` (never paid): `OrderPlaced` again, from the order's item, which keeps what
//!   its announcement needs until it is paid;
//! - `COOKING` with every pizza stored: the order is completed and confirmed;
//! - `COOKING` with pizzas missing: each missing pizza is requested again;
//! - `CANCELLED` with a charge not refunded or units still reserved: the cancellation
//!   again; once both are undone the order is no longer watched.
//!
//! With nothing stalled a run costs one query of a sparse index.

use pizza_events::WireEvent;
use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use inventory::{DynamoInventory, Restock};
use lambda_kit::telemetry::{Metrics, Unit};
use lambda_kit::{ConfigError, Env, EventBus, TopicArn};
use orders::{DynamoOrders, OrderBook, OrderDesk, OrderDetails, OrderStatus, Transition, Watchlist};
use payments::{DynamoLedger, PaymentLedger, PaymentStatus};
use pizza_events::Outgoing;
use pizza_events::catalogue::PaymentProcessed;
use pizza_events::{Envelope, Event, derived_id};
use serde::Serialize;
use tracing::{info, warn};
use uuid::Uuid;

use crate::Announcements;

/// What a cancelled order still holds of what the saga gave it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Leftovers {
    /// Its charge is not refunded.
    pub charged: bool,
    /// Units of stock it still holds.
    pub units_held: u32,
    /// The inventory closed it to new reservations: without that, a late pizza could
    /// still reserve stock for it, and nobody would be watching.
    pub closed: bool,
}

impl Leftovers {
    /// Nothing left to undo.
    pub const NONE: Leftovers = Leftovers { charged: false, units_held: 0, closed: true };

    fn any(&self) -> bool {
        self.charged || self.units_held > 0 || !self.closed
    }
}

/// What a stalled order needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Remedy {
    /// Its `OrderPlaced` again: the payment service never saw it, or its answer was lost.
    AnnounceOrder,
    /// Every pizza is stored: complete it and confirm it.
    Complete,
    /// These pizzas (by id) are not stored: request them again.
    RequestPizzas(Vec<Uuid>),
    /// Its cancellation again: a charge or reservations are left, or the inventory never
    /// closed it.
    AnnounceCancellation,
    /// Nothing is missing: stop watching it.
    Dismiss,
}

impl Remedy {
    fn name(&self) -> &'static str {
        match self {
            Remedy::AnnounceOrder => "OrdersAnnouncedAgain",
            Remedy::Complete => "OrdersCompleted",
            Remedy::RequestPizzas(_) => "OrdersWithPizzasRequestedAgain",
            Remedy::AnnounceCancellation => "CancellationsAnnouncedAgain",
            Remedy::Dismiss => "OrdersSettled",
        }
    }
}

/// The remedy for a stalled order, from the order and, for a cancelled one, what it still
/// holds.
pub fn remedy(details: &OrderDetails, leftovers: Leftovers) -> Remedy {
    let order = &details.order;
    match order.status {
        OrderStatus::Placed => Remedy::AnnounceOrder,
        OrderStatus::Cooking if order.pizzas_ready >= order.pizzas => Remedy::Complete,
        OrderStatus::Cooking => {
            let stored: Vec<Uuid> = details.pizzas.iter().map(|p| p.pizza_id).collect();
            let missing =
                (0..order.pizzas).map(|i| crate::pizza_id(order.order_id, i)).filter(|id| !stored.contains(id));
            Remedy::RequestPizzas(missing.collect())
        }
        OrderStatus::Cancelled if leftovers.any() => Remedy::AnnounceCancellation,
        OrderStatus::Cancelled | OrderStatus::Ready => Remedy::Dismiss,
    }
}

/// The `PaymentProcessed` that paid an order, rebuilt: its id is fixed by the order, so the
/// pizzas it caused get the same ids again.
fn payment_of(details: &OrderDetails) -> Envelope<PaymentProcessed> {
    let order = &details.order;
    let data = PaymentProcessed {
        order_id: order.order_id,
        customer_id: order.customer_id.clone(),
        amount_cents: order.charged_cents,
    };
    let id = derived_id(&[&order.order_id.to_string(), PaymentProcessed::TYPE]);
    Envelope::identified(id, "payment", order.order_id.to_string(), data)
}

/// What one run did.
#[derive(Debug, Default, Serialize, PartialEq)]
pub struct Report {
    /// Orders found stalled.
    pub stalled: usize,
    /// Remedies applied, by name.
    pub remedies: BTreeMap<&'static str, u32>,
    /// Events announced again.
    pub announced: usize,
    /// Orders that could not be looked at or helped this run (the next run tries again).
    pub failed: u32,
    /// Placed orders whose item holds no card to announce them with (placed before orders
    /// kept it, when it was in an outbox entry that expired): only a person can help.
    pub beyond_repair: Vec<Uuid>,
}

pub struct Reconciler<B, L, R, E> {
    pub book: B,
    pub ledger: L,
    pub stock: R,
    pub bus: E,
    pub announcements: Announcements,
    /// How long an order may stand still before it counts as stalled.
    pub stalled_after: Duration,
    /// The most orders one run looks at (the oldest first).
    pub limit: usize,
    pub metrics: Metrics,
}

impl<E: EventBus<WireEvent>> Reconciler<DynamoOrders, DynamoLedger, DynamoInventory, E> {
    /// The tables and topics the template gives the reconciler, and how long an order may
    /// stand still (`STALLED_AFTER_SECONDS`) before it is healed.
    pub fn from_env(env: &Env, aws: &aws_config::SdkConfig, bus: E) -> Result<Self, ConfigError> {
        Ok(Self {
            book: DynamoOrders::new(aws, env.require("ORDERS_TABLE")?),
            ledger: DynamoLedger::new(aws, env.require("PAYMENTS_TABLE")?),
            stock: DynamoInventory::new(aws, env.require("INVENTORY_TABLE")?),
            bus,
            announcements: Announcements {
                pizza: TopicArn(env.require("PIZZA_TOPIC_ARN")?.to_owned()),
                orders: TopicArn(env.require("ORDERS_TOPIC_ARN")?.to_owned()),
            },
            stalled_after: stalled_after(env)?,
            limit: env
                .get("RECONCILE_LIMIT")
                .map(str::parse)
                .transpose()
                .map_err(|e: std::num::ParseIntError| ConfigError::Invalid {
                    name: "RECONCILE_LIMIT",
                    reason: e.to_string(),
                })?
                .unwrap_or(DEFAULT_LIMIT),
            metrics: Metrics::from_env(env),
        })
    }
}

/// `STALLED_AFTER_SECONDS`: from a second to a week (longer is surely a typo).
fn stalled_after(env: &Env) -> Result<Duration, ConfigError> {
    let seconds: u64 = env.require_parsed("STALLED_AFTER_SECONDS")?;
    if !(1..=7 * 24 * 3600).contains(&seconds) {
        let reason = format!("{seconds} is not between 1 and 604800 seconds");
        return Err(ConfigError::Invalid { name: "STALLED_AFTER_SECONDS", reason });
    }
    Ok(Duration::from_secs(seconds))
}

/// The most stalled orders one run looks at: a run stays well within its timeout, and the
/// next run takes the rest.
const DEFAULT_LIMIT: usize = 200;

impl<B, L, R, E> Reconciler<B, L, R, E>
where
    B: OrderBook + OrderDesk + Watchlist,
    L: PaymentLedger,
    R: Restock,
    E: EventBus<WireEvent>,
{
    /// One pass over the orders stalled at `now`.
    pub async fn run(&self, now: DateTime<Utc>) -> Report {
        let mut report = Report::default();
        let before = now - chrono::Duration::from_std(self.stalled_after).unwrap_or_default();
        let stalled = match self.book.stalled(before, self.limit).await {
            Ok(stalled) => stalled,
            Err(err) => {
                warn!(reason = %lambda_kit::describe(&err), "cannot list the stalled orders; the next run tries again");
                report.failed += 1;
                return self.finish(report);
            }
        };
        report.stalled = stalled.len();
        let mut out = Vec::new();
        for order_id in stalled {
            match self.heal(order_id, before, &mut out, &mut report).await {
                Ok(Some(remedy)) => *report.remedies.entry(remedy.name()).or_default() += 1,
                Ok(None) => {}
                Err(err) => {
                    warn!(%order_id, reason = %lambda_kit::describe(&err), "cannot heal the order this run");
                    report.failed += 1;
                }
            }
        }
        if !out.is_empty() {
            let published = self.bus.publish(&out).await;
            report.announced = out.len().saturating_sub(published.failed.len());
            for (event_id, reason) in &published.failed {
                warn!(%event_id, reason, "an announcement did not get out; the next run tries again");
            }
            report.failed += published.failed.len() as u32;
        }
        self.finish(report)
    }

    /// Whether order `order_id` is still `PLACED` (read again: it may have been paid since).
    async fn still_placed(&self, order_id: Uuid) -> Result<bool, dynamo_kit::StoreError> {
        Ok(self.book.find(order_id).await?.is_some_and(|details| details.order.status == OrderStatus::Placed))
    }

    /// Applies the remedy of one stalled order; its announcements go to `out`.
    async fn heal(
        &self,
        order_id: Uuid,
        before: DateTime<Utc>,
        out: &mut Vec<Outgoing>,
        report: &mut Report,
    ) -> Result<Option<Remedy>, dynamo_kit::StoreError> {
        let Some(details) = self.book.find(order_id).await? else { return Ok(None) };
        if details.order.updated_at >= before {
            // Its status stood still, but it moves: pizzas are being stored.
            return Ok(None);
        }
        let leftovers = if details.order.status == OrderStatus::Cancelled {
            let payment = self.ledger.find(order_id).await?;
            Leftovers {
                charged: payment.is_some_and(|p| p.status == PaymentStatus::Charged),
                units_held: self.stock.units_held_by(order_id).await?,
                closed: self.stock.is_closed(order_id).await?,
            }
        } else {
            Leftovers::NONE
        };
        let remedy = remedy(&details, leftovers);
        let paid = payment_of(&details);
        let current = Transition::Rejected { current: Some(details.order.clone()) };
        match &remedy {
            Remedy::AnnounceOrder => match self.book.placed_order(order_id).await? {
                Some(placed) => out.push(placed.announcement(&self.announcements.orders)),
                // Paid or cancelled since it was read: it moved on, nothing to announce.
                None if !self.still_placed(order_id).await? => return Ok(None),
                None => {
                    warn!(%order_id, "placed, never paid, and nothing to announce it with: only a person can help");
                    report.beyond_repair.push(order_id);
                    self.book.postpone(order_id, details.order.status).await?;
                    return Ok(None);
                }
            },
            Remedy::Complete => {
                let completion = self.book.complete_if_all_stored(order_id).await?;
                out.extend(self.announcements.confirmation(&paid.to_wire(), order_id, &completion));
            }
            Remedy::RequestPizzas(missing) => {
                let requests = self.announcements.cooking(&paid, &current).unwrap_or_default();
                out.extend(requests.into_iter().filter(|request| {
                    let pizza = request.event.decode::<pizza_events::catalogue::PizzaRequested>();
                    pizza.is_ok_and(|p| missing.contains(&p.data.pizza_id))
                }));
            }
            Remedy::AnnounceCancellation => {
                out.extend(self.announcements.cancellation(&paid.to_wire(), order_id, &current).unwrap_or_default());
            }
            Remedy::Dismiss => {
                self.book.dismiss(order_id).await?;
            }
        }
        if remedy != Remedy::Dismiss {
            // To the back of the list: if it stays stuck, the orders behind it still get
            // their turn in the next rounds.
            self.book.postpone(order_id, details.order.status).await?;
        }
        info!(%order_id, status = details.order.status.as_str(), remedy = remedy.name(), "stalled order healed");
        Ok(Some(remedy))
    }

    fn finish(&self, report: Report) -> Report {
        // Two metrics, the alarms' inputs (a custom metric costs $0.30 a month); the rest of
        // the report is in the log line.
        let healed: f64 =
            report.remedies.iter().filter(|(name, _)| **name != "OrdersSettled").map(|(_, n)| f64::from(*n)).sum();
        self.metrics.emit(&[
            ("StalledOrders", healed, Unit::Count),
            ("OrdersBeyondRepair", report.beyond_repair.len() as f64, Unit::Count),
        ]);
        info!(
            stalled = report.stalled,
            announced = report.announced,
            failed = report.failed,
            remedies = ?report.remedies,
            "reconciler round done"
        );
        report
    }
}

#[cfg(test)]
mod tests;
