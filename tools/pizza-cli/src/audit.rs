//! The saga's promises, checked against what the stores hold once the system is quiet:
//!
//! - no money is charged twice, and none is kept for an order that was not delivered:
//!   a READY order is charged its price exactly once, a CANCELLED one is refunded all it
//!   was charged, a refunded payment belongs to a cancelled order;
//! - an order is delivered whole: a READY order has exactly its pizzas, each with a
//!   distinct id and an ingredient from every kitchen stage, each from that stage's menu;
//! - no stock leaks: a cancelled order holds no reservation, every ingredient's reserved
//!   count matches the reservations held, nothing is oversold, and (given the stock each
//!   ingredient started with) every unit is either available or reserved.
//!
//! - no order is forgotten: an order still on its way may not have stood still for longer
//!   than the healing the reconciler promises (given that promise).
//!
//! Orders on their way are counted, and judged only by how long they have stood still:
//! audit a quiet system.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use inventory::{Held, StockLevel, StockRoom};
use orders::{Order, OrderDesk, OrderStatus, StoredPizza};
use payments::{Payment, PaymentStatus};
use serde::Serialize;
use uuid::Uuid;

use crate::Stack;

/// What the stores hold.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// When it was read.
    pub taken_at: DateTime<Utc>,
    pub orders: Vec<Order>,
    /// The stored pizzas of every READY order.
    pub pizzas: HashMap<Uuid, Vec<StoredPizza>>,
    pub payments: Vec<Payment>,
    pub reservations: Vec<Held>,
    pub levels: Vec<StockLevel>,
    /// The kitchen stages the stack runs: every pizza has an ingredient of each's menu.
    pub stages: Vec<String>,
}

#[derive(Debug, Default, Serialize, PartialEq)]
pub struct Report {
    pub orders: usize,
    pub ready: usize,
    pub cancelled: usize,
    pub in_progress: usize,
    pub charged_cents: u64,
    pub refunded_cents: u64,
    pub reserved_units: u64,
    pub violations: Vec<String>,
}

impl Report {
    pub fn is_clean(&self) -> bool {
        self.violations.is_empty()
    }
}

/// The counts in one line, as an operator and a test log print them.
impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} orders: {} ready, {} cancelled, {} in progress; {} cents charged, {} refunded; \
             {} units reserved; {} violations",
            self.orders,
            self.ready,
            self.cancelled,
            self.in_progress,
            self.charged_cents,
            self.refunded_cents,
            self.reserved_units,
            self.violations.len()
        )
    }
}

pub async fn snapshot(stack: &Stack) -> Result<Snapshot, dynamo_kit::StoreError> {
    let orders = stack.orders.all_orders().await?;
    let mut pizzas = HashMap::new();
    for order in orders.iter().filter(|o| o.status == OrderStatus::Ready) {
        if let Some(details) = stack.orders.find(order.order_id).await? {
            pizzas.insert(order.order_id, details.pizzas);
        }
    }
    Ok(Snapshot {
        taken_at: Utc::now(),
        orders,
        pizzas,
        payments: stack.ledger.all_payments().await?,
        reservations: stack.stock.reservations().await?,
        levels: stack.stock.levels().await?,
        stages: crate::console::kitchen_stages(&stack.manifest).into_iter().map(|stage| stage.name).collect(),
    })
}

/// What the audit holds the stores to, beyond what always holds.
#[derive(Debug, Clone, Copy, Default)]
pub struct Promises {
    /// What every ingredient was stocked with, if the caller knows (a test does).
    pub initial_stock: Option<u64>,
    /// How long an unfinished order may stand still before it is forgotten: the
    /// reconciler's stalled-after time and two of its rounds.
    pub healed_within: Option<std::time::Duration>,
}

/// How long an unfinished order may stand still on this stack: the reconciler's
/// stalled-after time and two of its rounds (one to find it, one to spare). `None` if the
/// stack has no reconciler on a rate schedule.
pub fn promised_healing(manifest: &local_runner::Manifest) -> Option<std::time::Duration> {
    manifest.functions.iter().find_map(|function| {
        let stalled_after: u64 = function.environment.get("STALLED_AFTER_SECONDS")?.parse().ok()?;
        let round = function.event_sources.iter().find_map(|source| match source {
            local_runner::EventSource::Schedule(schedule) => schedule.period(),
            _ => None,
        })?;
        Some(std::time::Duration::from_secs(stalled_after) + 2 * round)
    })
}

/// Checks the snapshot against the saga's promises.
pub fn audit(snapshot: &Snapshot, promises: Promises) -> Report {
    let held = Holdings::of(snapshot);
    let mut violations = Vec::new();
    for order in &snapshot.orders {
        violations.extend(order_violation(snapshot, &held, order, promises));
    }
    violations.extend(payment_violations(snapshot));
    violations.extend(stock_violations(snapshot, &held, promises.initial_stock));
    let ready = snapshot.orders.iter().filter(|o| o.status == OrderStatus::Ready).count();
    let cancelled = snapshot.orders.iter().filter(|o| o.status == OrderStatus::Cancelled).count();
    Report {
        orders: snapshot.orders.len(),
        ready,
        cancelled,
        in_progress: snapshot.orders.len() - ready - cancelled,
        charged_cents: snapshot
            .payments
            .iter()
            .filter(|p| p.status != PaymentStatus::Declined)
            .map(|p| p.amount_cents)
            .sum(),
        refunded_cents: snapshot
            .payments
            .iter()
            .filter(|p| p.status == PaymentStatus::Refunded)
            .map(|p| p.amount_cents)
            .sum(),
        reserved_units: snapshot.levels.iter().map(|l| l.reserved).sum(),
        violations,
    }
}

/// The snapshot's payments by order, and its reservations counted by order and by
/// ingredient.
struct Holdings<'s> {
    payments: HashMap<Uuid, &'s Payment>,
    by_order: HashMap<Uuid, usize>,
    by_ingredient: BTreeMap<(&'s str, &'s str), u64>,
}

impl<'s> Holdings<'s> {
    fn of(snapshot: &'s Snapshot) -> Self {
        let payments = snapshot.payments.iter().map(|p| (p.order_id, p)).collect();
        let mut holdings = Holdings { payments, by_order: HashMap::new(), by_ingredient: BTreeMap::new() };
        for held in &snapshot.reservations {
            *holdings.by_order.entry(held.order_id).or_default() += 1;
            *holdings.by_ingredient.entry((held.stage.as_str(), held.ingredient.as_str())).or_default() += 1;
        }
        holdings
    }
}

/// What is wrong with one order, given its status: a READY one was charged once and holds
/// its pizzas whole, a CANCELLED one kept no money and no stock, an unfinished one has not
/// stood still for longer than healing takes.
fn order_violation(snapshot: &Snapshot, held: &Holdings, order: &Order, promises: Promises) -> Vec<String> {
    let id = order.order_id;
    let payment = held.payments.get(&id).copied();
    let mut found = Vec::new();
    match order.status {
        OrderStatus::Ready => {
            match payment {
                Some(p) if p.status == PaymentStatus::Charged && p.amount_cents == order.amount_cents => {}
                Some(p) => {
                    found.push(format!("order {id} is READY but its payment is {:?} of {}", p.status, p.amount_cents))
                }
                None => found.push(format!("order {id} is READY and was never charged")),
            }
            if order.pizzas_ready != order.pizzas {
                found.push(format!("order {id} is READY with {} of {} pizzas", order.pizzas_ready, order.pizzas));
            }
            if let Some(problem) =
                snapshot.pizzas.get(&id).and_then(|p| whole_order_problem(order, p, &snapshot.stages))
            {
                found.push(format!("order {id} is READY but {problem}"));
            }
            if order.charged_cents != order.amount_cents || order.refunded_cents != 0 {
                found.push(format!(
                    "order {id} is READY but records {} charged and {} refunded of {}",
                    order.charged_cents, order.refunded_cents, order.amount_cents
                ));
            }
        }
        OrderStatus::Cancelled => {
            if let Some(p) = payment.filter(|p| p.status == PaymentStatus::Charged) {
                found.push(format!("order {id} is CANCELLED but its charge of {} was not refunded", p.amount_cents));
            }
            if let Some(units) = held.by_order.get(&id) {
                found.push(format!("order {id} is CANCELLED but still holds {units} reserved unit(s)"));
            }
        }
        OrderStatus::Placed | OrderStatus::Cooking => {
            let still = (snapshot.taken_at - order.updated_at).to_std().unwrap_or_default();
            if let Some(promise) = promises.healed_within.filter(|promise| still > *promise) {
                found.push(format!(
                    "order {id} is {} and has not moved for {}s, longer than the {}s it would take to heal",
                    order.status.as_str(),
                    still.as_secs(),
                    promise.as_secs()
                ));
            }
        }
    }
    found
}

/// Refunds of orders that are not cancelled, and payments of no order.
fn payment_violations(snapshot: &Snapshot) -> Vec<String> {
    let orders: HashMap<Uuid, &Order> = snapshot.orders.iter().map(|o| (o.order_id, o)).collect();
    let mut found = Vec::new();
    for payment in &snapshot.payments {
        let order = orders.get(&payment.order_id);
        if payment.status == PaymentStatus::Refunded && order.is_some_and(|o| o.status != OrderStatus::Cancelled) {
            found.push(format!("payment of order {} was refunded but the order is not cancelled", payment.order_id));
        }
        if order.is_none() {
            found.push(format!("payment of order {} belongs to no order", payment.order_id));
        }
    }
    found
}

/// Oversold ingredients, reserved counters that disagree with the reservations, and (when
/// the initial stock is known) units that went missing.
fn stock_violations(snapshot: &Snapshot, held: &Holdings, initial_stock: Option<u64>) -> Vec<String> {
    let mut found = Vec::new();
    for level in &snapshot.levels {
        let holding = held.by_ingredient.get(&(level.stage.as_str(), level.ingredient.as_str())).copied().unwrap_or(0);
        if level.available < 0 {
            found.push(format!("{} is oversold: {} available", level.ingredient, level.available));
        }
        if level.reserved != holding {
            found.push(format!(
                "{} counts {} reserved but {} reservations hold it",
                level.ingredient, level.reserved, holding
            ));
        }
        if let Some(initial) = initial_stock
            && level.available + level.reserved as i64 != initial as i64
        {
            found.push(format!(
                "{} leaked: {} available + {} reserved ≠ {} stocked",
                level.ingredient, level.available, level.reserved, initial
            ));
        }
    }
    found
}

/// What is wrong with a READY order's pizzas, if anything.
fn whole_order_problem(order: &Order, pizzas: &[StoredPizza], stages: &[String]) -> Option<String> {
    if pizzas.len() != order.pizzas as usize {
        return Some(format!("{} pizzas are stored of {}", pizzas.len(), order.pizzas));
    }
    let ids: std::collections::HashSet<Uuid> = pizzas.iter().map(|p| p.pizza_id).collect();
    if ids.len() != pizzas.len() {
        return Some("two of its pizzas share an id".into());
    }
    for pizza in pizzas {
        for stage in stages {
            let on_menu = |name: &str| pizza_events::menu::ingredients_for(stage).is_some_and(|m| m.contains(&name));
            if !pizza.ingredients.iter().any(|i| i.stage == *stage && on_menu(&i.name)) {
                return Some(format!("pizza {} has no {stage} from the menu", pizza.pizza_id));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests;
