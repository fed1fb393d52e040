//! The order service: the order's state machine and both ends of the kitchen pipeline.
//! - `PaymentProcessed`: the order moves `PLACED → COOKING` and one `PizzaRequested` per
//!   pizza goes to the `pizza` topic;
//! - `PaymentFailed` or `InventoryFailed`: the order is `CANCELLED` with its reason and
//!   `OrderCancelled` tells the payment and inventory services to undo their part;
//! - `PaymentRefunded`: the refund is recorded on the order;
//! - `IngredientAdded` from the last stage carries finished pizzas of one order: a batch
//!   of them is stored at once, each pizza once, and an order whose last pizza arrives becomes `READY` and is
//!   announced with `OrderConfirmed`.
//!
//! Every move is a conditional write on the status it expects, so a late, repeated or
//! reordered event changes nothing it must not; and whatever a repeated event finds
//! already done, it announces again under the same ids, so a crash between a write and
//! its announcement is repaired by the redelivery.

mod decide;
mod input;
pub mod reconcile;

use std::collections::HashMap;

use async_trait::async_trait;
use futures::future::join_all;
use input::{OrderInput, OrderMove};
use lambda_kit::telemetry::{Metrics, Unit};
use lambda_kit::{BatchHandler, ConfigError, Env, Inbound, RecordError, RecordOutcome, TopicArn};
use orders::{Completion, DynamoOrders, FinishedPizza, OrderBook, PizzaStored, StoredPizza};
use pizza_events::WireEvent;
use pizza_events::catalogue::{CancelReason, IngredientAdded, PaymentRefunded, ToppedPizza};
use tracing::info;
use uuid::Uuid;

pub use decide::Announcements;
pub use orders::pizza_id;

pub struct OrderService<B> {
    book: B,
    announcements: Announcements,
    metrics: Metrics,
}

impl OrderService<DynamoOrders> {
    pub fn from_env(env: &Env, aws: &aws_config::SdkConfig) -> Result<Self, ConfigError> {
        let announcements = Announcements {
            pizza: TopicArn(env.require("PIZZA_TOPIC_ARN")?.to_owned()),
            orders: TopicArn(env.require("ORDERS_TOPIC_ARN")?.to_owned()),
        };
        Ok(Self::new(DynamoOrders::new(aws, env.require("ORDERS_TABLE")?), announcements, Metrics::from_env(env)))
    }
}

impl<B: OrderBook> OrderService<B> {
    pub fn new(book: B, announcements: Announcements, metrics: Metrics) -> Self {
        Self { book, announcements, metrics }
    }

    pub fn book(&self) -> &B {
        &self.book
    }

    /// One move of an order (payment, shortage, refund): its own conditional write.
    async fn handle_move(&self, inbound: &Inbound<WireEvent>, order_move: OrderMove) -> RecordOutcome<WireEvent> {
        match order_move {
            OrderMove::Paid(paid) => {
                let transition = self.book.start_cooking(paid.data.order_id, paid.data.amount_cents).await?;
                let out = self.announcements.cooking(&paid, &transition)?;
                if !out.is_empty() {
                    inbound.span.in_scope(|| info!(pizzas = out.len(), "order is cooking"));
                    self.metrics.add(&[("PizzasRequested", out.len() as f64, Unit::Count)]);
                }
                Ok(out)
            }
            OrderMove::PaymentDeclined { order_id } => {
                self.cancel(inbound, order_id, CancelReason::PaymentDeclined).await
            }
            OrderMove::OutOfStock { order_id } => self.cancel(inbound, order_id, CancelReason::OutOfStock).await,
            OrderMove::Refunded(PaymentRefunded { order_id, amount_cents }) => {
                self.book.record_refund(order_id, amount_cents).await?;
                Ok(Vec::new())
            }
        }
    }

    async fn cancel(
        &self,
        inbound: &Inbound<WireEvent>,
        order_id: Uuid,
        reason: CancelReason,
    ) -> RecordOutcome<WireEvent> {
        let transition = self.book.cancel(order_id, reason).await?;
        let out = self.announcements.cancellation(&inbound.event, order_id, &transition)?;
        if matches!(transition, orders::Transition::Applied(_)) {
            inbound.span.in_scope(|| info!(reason = reason.as_str(), "order cancelled"));
            self.metrics.add(&[("OrdersCancelled", 1.0, Unit::Count)]);
        }
        Ok(out)
    }

    /// Every finished pizza of the batch: stored in one call, then each order that may
    /// have just received its last pizza is completed and confirmed.
    async fn store(
        &self,
        finished: Vec<(usize, &Inbound<WireEvent>, IngredientAdded)>,
        outcomes: &mut [Option<RecordOutcome<WireEvent>>],
    ) {
        let (pizzas, owners) = finished_pizzas(finished);
        if pizzas.is_empty() {
            return;
        }
        let stored = match self.book.store_pizzas(&pizzas).await {
            Ok(stored) => stored,
            Err(err) => {
                let err = RecordError::from(err);
                for (index, _) in &owners {
                    outcomes[*index] = Some(Err(err.shared()));
                }
                return;
            }
        };
        // The first record of each order to complete stands as the confirmation's cause. An
        // order seen with pizzas still missing is not tried: its completion would fail.
        let mut to_complete: HashMap<Uuid, usize> = HashMap::new();
        let mut new_pizzas = 0;
        for ((index, inbound), (pizza, outcome)) in owners.iter().zip(pizzas.iter().zip(&stored.outcomes)) {
            // A record fails if any of its pizzas does.
            if matches!(outcomes[*index], Some(Err(_))) {
                continue;
            }
            outcomes[*index] = Some(match outcome {
                PizzaStored::Stored | PizzaStored::Duplicate => {
                    if *outcome == PizzaStored::Stored {
                        new_pizzas += 1;
                    }
                    if stored.all_stored.contains(&pizza.order_id) {
                        to_complete.entry(pizza.order_id).or_insert(*index);
                    }
                    Ok(Vec::new())
                }
                PizzaStored::OrderNotCooking { current: None } => Err(RecordError::permanent(format!(
                    "pizza {} belongs to no known order {}",
                    pizza.pizza.pizza_id, pizza.order_id
                ))),
                PizzaStored::OrderNotCooking { current: Some(order) } => {
                    inbound.span.in_scope(|| {
                        let (pizza_id, status) = (pizza.pizza.pizza_id, order.status.as_str());
                        tracing::warn!(%pizza_id, status, "order is not cooking; pizza dropped")
                    });
                    Ok(Vec::new())
                }
            });
        }
        self.metrics.tally(&[("PizzasStored", f64::from(new_pizzas))]);
        // An order the store completed itself needs no second write.
        let completions = join_all(to_complete.keys().map(|order_id| async {
            match stored.completed.get(order_id) {
                Some(order) => Ok(Completion::Completed(order.clone())),
                None => self.book.complete_if_all_stored(*order_id).await,
            }
        }))
        .await;
        for ((order_id, cause), completion) in to_complete.iter().zip(completions) {
            let Some((_, cause_inbound)) = owners.iter().find(|(index, _)| index == cause) else { continue };
            match completion {
                Ok(completion) => {
                    if let Completion::Completed(order) = &completion {
                        cause_inbound.span.in_scope(|| info!(pizzas = order.pizzas, "order ready"));
                        self.metrics.add(&[("OrdersCompleted", 1.0, Unit::Count)]);
                    }
                    let confirmation = self.announcements.confirmation(&cause_inbound.event, *order_id, &completion);
                    if let (Some(out), Some(Ok(events))) = (confirmation, outcomes[*cause].as_mut()) {
                        events.push(out);
                    }
                }
                Err(err) => {
                    let err = RecordError::from(err);
                    for ((index, _), pizza) in owners.iter().zip(&pizzas) {
                        if pizza.order_id == *order_id {
                            outcomes[*index] = Some(Err(err.shared()));
                        }
                    }
                }
            }
        }
    }
}

/// Each pizza the events carry, with the record (its index and event) that brought it.
fn finished_pizzas(
    finished: Vec<(usize, &Inbound<WireEvent>, IngredientAdded)>,
) -> (Vec<FinishedPizza>, Vec<(usize, &Inbound<WireEvent>)>) {
    let mut pizzas = Vec::with_capacity(finished.len());
    let mut owners = Vec::with_capacity(finished.len());
    for (index, inbound, IngredientAdded { order_id, pizzas_in_order, pizzas: topped, .. }) in finished {
        for ToppedPizza { pizza_id, ingredients, .. } in topped {
            pizzas.push(FinishedPizza { order_id, pizza: StoredPizza { pizza_id, ingredients }, pizzas_in_order });
            owners.push((index, inbound));
        }
    }
    (pizzas, owners)
}

#[async_trait]
impl<B: OrderBook> BatchHandler for OrderService<B> {
    type Message = WireEvent;

    async fn handle_batch(&self, batch: &[Inbound<WireEvent>]) -> Vec<RecordOutcome<WireEvent>> {
        let mut outcomes: Vec<Option<RecordOutcome<WireEvent>>> = batch.iter().map(|_| None).collect();
        let mut finished = Vec::new();
        let mut moves = Vec::new();
        for (index, inbound) in batch.iter().enumerate() {
            match OrderInput::decode(&inbound.event) {
                Ok(OrderInput::PizzaFinished(pizza)) => finished.push((index, inbound, pizza)),
                Ok(OrderInput::Move(order_move)) => moves.push((index, inbound, order_move)),
                Err(poison) => outcomes[index] = Some(Err(poison)),
            }
        }
        let indexes: Vec<usize> = moves.iter().map(|(index, _, _)| *index).collect();
        let moved = join_all(moves.into_iter().map(|(_, inbound, order_move)| self.handle_move(inbound, order_move)));
        let (results, ()) = futures::join!(moved, self.store(finished, &mut outcomes));
        for (index, result) in indexes.into_iter().zip(results) {
            outcomes[index] = Some(result);
        }
        outcomes
            .into_iter()
            .map(|outcome| outcome.unwrap_or_else(|| Err(RecordError::transient("the record was not handled"))))
            .collect()
    }
}

#[cfg(test)]
mod tests;
