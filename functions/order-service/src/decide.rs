//! What the order service announces after each move, with no I/O. Ids are fixed by the
//! fact (an order's cancellation, its confirmation) or by the cause (its pizzas), so an
//! announcement made again is the same event.

use lambda_kit::{RecordError, TopicArn};
use orders::{Completion, Order, OrderStatus, Transition, pizza_id};
use pizza_events::Outgoing;
use pizza_events::catalogue::{OrderCancelled, OrderConfirmed, PaymentProcessed, PizzaRequested};
use pizza_events::{Envelope, Event, WireEvent};
use uuid::Uuid;

const SOURCE: &str = "orders";

/// What the order service announces after a move, and where.
pub struct Announcements {
    /// Where new pizzas start (`pizza`).
    pub pizza: TopicArn,
    /// Where order milestones go (`orders`): confirmed, cancelled.
    pub orders: TopicArn,
}

fn unknown(order_id: Uuid) -> RecordError {
    RecordError::permanent(format!("order {order_id} does not exist"))
}

impl Announcements {
    /// A paid order cooks: one request per pizza. Found cooking already (a redelivery, or a
    /// crash after the move), the same requests go out again; found ready or cancelled,
    /// nothing does.
    pub fn cooking(
        &self,
        paid: &Envelope<PaymentProcessed>,
        transition: &Transition,
    ) -> Result<Vec<Outgoing>, RecordError> {
        let order_id = paid.data.order_id;
        let order = match transition {
            Transition::Applied(order) => order,
            Transition::Rejected { current: Some(order) } if order.status == OrderStatus::Cooking => order,
            Transition::Rejected { current: Some(_) } => return Ok(Vec::new()),
            Transition::Rejected { current: None } => return Err(unknown(order_id)),
        };
        Ok((0..order.pizzas)
            .map(|index| {
                let data = PizzaRequested {
                    order_id,
                    pizza_id: pizza_id(order_id, index),
                    pizzas_in_order: Some(order.pizzas),
                };
                Outgoing::new(&self.pizza, Envelope::caused_by(paid, SOURCE, &index.to_string(), data).to_wire())
            })
            .collect())
    }

    /// A cancelled order is announced so that every service undoes its part; found
    /// cancelled already, it is announced again (with the reason it was cancelled for).
    pub fn cancellation(
        &self,
        cause: &WireEvent,
        order_id: Uuid,
        transition: &Transition,
    ) -> Result<Vec<Outgoing>, RecordError> {
        let reason = match transition {
            Transition::Applied(Order { cancel_reason: Some(reason), .. }) => *reason,
            Transition::Rejected {
                current: Some(Order { status: OrderStatus::Cancelled, cancel_reason: Some(reason), .. }),
            } => *reason,
            Transition::Rejected { current: None } => return Err(unknown(order_id)),
            // Ready: too late to cancel; the pizzas are out.
            _ => return Ok(Vec::new()),
        };
        let fact = [order_id.to_string(), OrderCancelled::TYPE.to_owned()];
        let event = Envelope::of_fact(&[&fact[0], &fact[1]], cause, SOURCE, OrderCancelled { order_id, reason });
        Ok(vec![Outgoing::new(&self.orders, event.to_wire())])
    }

    /// A ready order is announced, whenever it is found ready.
    pub fn confirmation(&self, cause: &WireEvent, order_id: Uuid, completion: &Completion) -> Option<Outgoing> {
        let (Completion::Completed(order) | Completion::AlreadyReady(order)) = completion else { return None };
        let fact = [order_id.to_string(), OrderConfirmed::TYPE.to_owned()];
        let event =
            Envelope::of_fact(&[&fact[0], &fact[1]], cause, SOURCE, OrderConfirmed { order_id, pizzas: order.pizzas });
        Some(Outgoing::new(&self.orders, event.to_wire()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pizza_events::catalogue::CancelReason;

    fn announcements() -> Announcements {
        Announcements { pizza: TopicArn("pizza".into()), orders: TopicArn("orders".into()) }
    }

    fn order(status: OrderStatus, pizzas: u32) -> Order {
        let mut order = Order::place(Uuid::new_v4(), "c", pizzas, 0, "fp");
        order.status = status;
        order
    }

    fn paid(order: &Order) -> Envelope<PaymentProcessed> {
        Envelope::new(
            "payment",
            order.order_id.to_string(),
            PaymentProcessed { order_id: order.order_id, customer_id: "c".into(), amount_cents: 1 },
        )
    }

    #[test]
    fn a_cooking_order_requests_its_pizzas_under_the_same_ids_however_often() {
        let order = order(OrderStatus::Cooking, 3);
        let payment = paid(&order);
        let first = announcements().cooking(&payment, &Transition::Applied(order.clone())).expect("cooks");
        let again =
            announcements().cooking(&payment, &Transition::Rejected { current: Some(order.clone()) }).expect("again");
        assert_eq!(first.len(), 3);
        assert_eq!(
            first.iter().map(|o| o.event.id).collect::<Vec<_>>(),
            again.iter().map(|o| o.event.id).collect::<Vec<_>>()
        );
        let requested = first[2].event.decode::<PizzaRequested>().expect("decodes").data;
        assert_eq!(requested.pizza_id, pizza_id(order.order_id, 2));
        assert!(first.iter().all(|o| o.topic.0 == "pizza"));
    }

    #[test]
    fn an_order_past_cooking_requests_nothing_and_an_unknown_one_is_poison() {
        for status in [OrderStatus::Ready, OrderStatus::Cancelled] {
            let order = order(status, 2);
            assert!(
                announcements()
                    .cooking(&paid(&order), &Transition::Rejected { current: Some(order.clone()) })
                    .expect("ok")
                    .is_empty()
            );
        }
        let stranger = order(OrderStatus::Placed, 1);
        assert!(matches!(
            announcements().cooking(&paid(&stranger), &Transition::Rejected { current: None }),
            Err(RecordError::Permanent(_))
        ));
    }

    #[test]
    fn a_cancellation_is_announced_with_the_recorded_reason_once_and_again_but_not_for_a_ready_order() {
        let mut cancelled = order(OrderStatus::Cancelled, 1);
        cancelled.cancel_reason = Some(CancelReason::PaymentDeclined);
        let cause = paid(&cancelled).to_wire();
        let applied = announcements()
            .cancellation(&cause, cancelled.order_id, &Transition::Applied(cancelled.clone()))
            .expect("ok");
        let other_cause = paid(&cancelled).to_wire();
        let again = announcements()
            .cancellation(&other_cause, cancelled.order_id, &Transition::Rejected { current: Some(cancelled.clone()) })
            .expect("ok");
        assert_eq!(applied[0].event.id, again[0].event.id, "one fact, one event id");
        assert_eq!(
            again[0].event.decode::<OrderCancelled>().expect("decodes").data.reason,
            CancelReason::PaymentDeclined
        );
        let ready = order(OrderStatus::Ready, 1);
        assert!(
            announcements()
                .cancellation(&cause, ready.order_id, &Transition::Rejected { current: Some(ready.clone()) })
                .expect("ok")
                .is_empty()
        );
    }

    #[test]
    fn a_ready_order_is_confirmed_whenever_it_is_found_ready() {
        let ready = order(OrderStatus::Ready, 2);
        let cause = paid(&ready).to_wire();
        let first = announcements()
            .confirmation(&cause, ready.order_id, &Completion::Completed(ready.clone()))
            .expect("confirmed");
        let again = announcements()
            .confirmation(&cause, ready.order_id, &Completion::AlreadyReady(ready.clone()))
            .expect("again");
        assert_eq!(first.event.id, again.event.id);
        assert!(announcements().confirmation(&cause, ready.order_id, &Completion::NotComplete(None)).is_none());
    }
}
