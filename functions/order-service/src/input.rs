//! Every event the order service is subscribed to, decoded once at the edge of a batch
//! and matched exhaustively: a new subscription is a new variant, and the compiler points
//! at each place that must handle it.

use lambda_kit::RecordError;
use pizza_events::catalogue::{IngredientAdded, InventoryFailed, PaymentFailed, PaymentProcessed, PaymentRefunded};
use pizza_events::{Envelope, Event, WireEvent};
use uuid::Uuid;

/// What one record asks of the order service.
pub enum OrderInput {
    /// A move of the order's state machine: its own conditional write.
    Move(OrderMove),
    /// A pizza out of the last kitchen stage: stored with the rest of the batch.
    PizzaFinished(IngredientAdded),
}

pub enum OrderMove {
    Paid(Envelope<PaymentProcessed>),
    PaymentDeclined { order_id: Uuid },
    OutOfStock { order_id: Uuid },
    Refunded(PaymentRefunded),
}

impl OrderInput {
    /// Decodes `event`; an event the service is not subscribed to, or one that does not
    /// decode, is poison.
    pub fn decode(event: &WireEvent) -> Result<Self, RecordError> {
        let input = match event.event_type.as_str() {
            PaymentProcessed::TYPE => Self::Move(OrderMove::Paid(event.decode()?)),
            PaymentFailed::TYPE => {
                Self::Move(OrderMove::PaymentDeclined { order_id: event.decode::<PaymentFailed>()?.data.order_id })
            }
            InventoryFailed::TYPE => {
                Self::Move(OrderMove::OutOfStock { order_id: event.decode::<InventoryFailed>()?.data.order_id })
            }
            PaymentRefunded::TYPE => Self::Move(OrderMove::Refunded(event.decode::<PaymentRefunded>()?.data)),
            IngredientAdded::TYPE => Self::PizzaFinished(event.decode::<IngredientAdded>()?.data),
            other => return Err(RecordError::permanent(format!("the order service does not handle {other}"))),
        };
        Ok(input)
    }
}

#[cfg(test)]
mod tests {
    use pizza_events::catalogue::{OrderCancelled, PaymentFailed};

    use super::*;

    #[test]
    fn an_event_the_service_is_not_subscribed_to_is_poison() {
        let order_id = Uuid::new_v4();
        let cancelled = Envelope::new(
            "test",
            order_id.to_string(),
            OrderCancelled { order_id, reason: pizza_events::catalogue::CancelReason::OutOfStock },
        )
        .to_wire();
        let err = OrderInput::decode(&cancelled).err().expect("not handled here");
        assert!(!err.is_transient());
    }

    #[test]
    fn a_declined_payment_is_a_move_of_its_order() {
        let order_id = Uuid::new_v4();
        let reason = pizza_events::catalogue::DeclineReason::CardDeclined;
        let declined = PaymentFailed { order_id, customer_id: "c-1".into(), amount_cents: 1250, reason };
        let wire = Envelope::new("test", order_id.to_string(), declined).to_wire();
        let Ok(input) = OrderInput::decode(&wire) else { panic!("a declined payment decodes") };
        assert!(matches!(input, OrderInput::Move(OrderMove::PaymentDeclined { order_id: id }) if id == order_id));
    }
}
