//! The pizza service: the order's state machine and both ends of the kitchen pipeline.
//! - `PaymentProcessed`: the order moves `PLACED → PAID → COOKING` and one
//!   `PizzaRequested` per pizza goes to the `pizza` topic;
//! - `PaymentFailed` or `InventoryFailed`: the order is `CANCELLED` with its reason and
//!   `OrderCancelled` tells the payment and inventory services to undo their part;
//! - `PaymentRefunded`: the refund is recorded on the order;
//! - an `IngredientAdded` from the last stage is a finished pizza: it is stored once, and
//!   the last one moves the order to `READY` and announces `OrderConfirmed`.
//!
//! Every move is a conditional write on the status it expects, so a late, repeated or
//! reordered event changes nothing it must not.

use async_trait::async_trait;
use shared::batch::{EventHandler, HandlerError};
use shared::bus::{EventPublisher, SnsPublisher, TopicArn};
use shared::config::{ConfigError, Env};
use shared::envelope::{Envelope, Event, IncomingEvent, derived_id};
use shared::events::{
    CancelReason, IngredientAdded, InventoryFailed, OrderCancelled, OrderConfirmed, PaymentFailed, PaymentProcessed,
    PaymentRefunded, PizzaRequested,
};
use shared::orders::{
    Completion, DynamoOrders, Order, OrderProgress, OrderStatus, PizzaStored, StoredPizza, Transition,
};
use shared::telemetry::{Metrics, Unit};
use tracing::{info, warn};
use uuid::Uuid;

const SOURCE: &str = "pizza";

pub struct Topics {
    /// Where new pizzas start (`pizza`).
    pub pizza: TopicArn,
    /// Where order milestones go (`orders`): confirmed, cancelled.
    pub orders: TopicArn,
}

pub struct Kitchen<O, P> {
    orders: O,
    publisher: P,
    topics: Topics,
    metrics: Metrics,
}

impl Kitchen<DynamoOrders, SnsPublisher> {
    pub fn from_env(env: &Env, aws: &aws_config::SdkConfig) -> Result<Self, ConfigError> {
        let topics = Topics {
            pizza: TopicArn(env.require("PIZZA_TOPIC_ARN")?.to_owned()),
            orders: TopicArn(env.require("ORDERS_TOPIC_ARN")?.to_owned()),
        };
        let orders = DynamoOrders::new(aws, env.require("ORDERS_TABLE")?);
        Ok(Self::new(orders, SnsPublisher::new(aws), topics, Metrics::from_env(env)))
    }
}

/// The id of the `index`-th pizza of an order: fixed, so a redelivered `OrderPlaced`
/// requests the same pizzas again rather than new ones.
pub fn pizza_id(order_id: Uuid, index: u32) -> Uuid {
    derived_id(&[&order_id.to_string(), "pizza", &index.to_string()])
}

impl<O: OrderProgress, P: EventPublisher> Kitchen<O, P> {
    pub fn new(orders: O, publisher: P, topics: Topics, metrics: Metrics) -> Self {
        Self { orders, publisher, topics, metrics }
    }

    async fn start_cooking(&self, event: &Envelope<PaymentProcessed>) -> Result<(), HandlerError> {
        let PaymentProcessed { order_id, amount_cents, .. } = event.data;
        let order = match self.orders.mark_paid(order_id, amount_cents).await? {
            Transition::Applied(order) => order,
            // Paid or cooking already: a redelivery, or we stopped halfway last time.
            Transition::Rejected { current: Some(order) }
                if matches!(order.status, OrderStatus::Paid | OrderStatus::Cooking) =>
            {
                order
            }
            Transition::Rejected { current: Some(order) } => {
                info!(%order_id, status = order.status.as_str(), "order is past payment; not cooked");
                return Ok(());
            }
            Transition::Rejected { current: None } => {
                return Err(HandlerError::Rejected(format!("order {order_id} does not exist")));
            }
        };
        if order.status == OrderStatus::Paid {
            match self.orders.transition(order_id, OrderStatus::Paid, OrderStatus::Cooking).await? {
                Transition::Applied(_) => {}
                Transition::Rejected { current: Some(Order { status: OrderStatus::Cooking, .. }) } => {}
                Transition::Rejected { current } => {
                    info!(%order_id, status = ?current.map(|o| o.status), "order left PAID meanwhile; not cooked");
                    return Ok(());
                }
            }
        }
        // Requested again after a stop halfway: the same ids, so the duplicates collapse.
        let requests: Vec<IncomingEvent> = (0..order.pizzas)
            .map(|index| {
                let data = PizzaRequested { order_id, pizza_id: pizza_id(order_id, index) };
                Envelope::caused_by(event, SOURCE, &index.to_string(), data).to_incoming()
            })
            .collect();
        self.publisher.publish(&self.topics.pizza, &requests).await?;
        info!(%order_id, pizzas = order.pizzas, "order is cooking");
        self.metrics.emit(&[("PizzasRequested", f64::from(order.pizzas), Unit::Count)]);
        Ok(())
    }

    /// Cancels the order and announces it, so that every service undoes its part.
    async fn cancel(&self, event: &IncomingEvent, order_id: Uuid, reason: CancelReason) -> Result<(), HandlerError> {
        let reason = match self.orders.cancel(order_id, reason).await? {
            Transition::Applied(_) => {
                info!(%order_id, reason = reason.as_str(), "order cancelled");
                self.metrics.emit(&[("OrdersCancelled", 1.0, Unit::Count)]);
                reason
            }
            // Cancelled before (maybe for another reason): announce it again, with the same
            // id, in case the last attempt stopped before announcing.
            Transition::Rejected { current: Some(Order { status: OrderStatus::Cancelled, cancel_reason, .. }) } => {
                cancel_reason.unwrap_or(reason)
            }
            Transition::Rejected { current: Some(order) } => {
                warn!(%order_id, status = order.status.as_str(), reason = reason.as_str(), "too late to cancel");
                return Ok(());
            }
            Transition::Rejected { current: None } => {
                return Err(HandlerError::Rejected(format!("order {order_id} does not exist")));
            }
        };
        let id = derived_id(&[&order_id.to_string(), OrderCancelled::TYPE]);
        let mut cancelled = Envelope::identified(id, SOURCE, order_id.to_string(), OrderCancelled { order_id, reason });
        cancelled.causation_id = Some(event.id);
        self.publisher.publish(&self.topics.orders, &[cancelled.to_incoming()]).await.map_err(HandlerError::from)
    }

    async fn store(&self, event: &Envelope<IngredientAdded>) -> Result<(), HandlerError> {
        let IngredientAdded { order_id, pizza_id, ingredients, .. } = &event.data;
        let pizza = StoredPizza { pizza_id: *pizza_id, ingredients: ingredients.clone() };
        match self.orders.store_pizza(*order_id, &pizza).await? {
            PizzaStored::Stored => {
                info!(%order_id, %pizza_id, "pizza stored");
                self.metrics.emit(&[("PizzasStored", 1.0, Unit::Count)]);
            }
            // Still try to complete: the previous delivery may have stopped right after storing.
            PizzaStored::Duplicate => info!(%order_id, %pizza_id, "pizza stored before; duplicate ignored"),
            PizzaStored::OrderNotCooking { current: None } => {
                return Err(HandlerError::Rejected(format!("pizza {pizza_id} belongs to no known order {order_id}")));
            }
            PizzaStored::OrderNotCooking { current: Some(order) } => {
                warn!(%order_id, %pizza_id, status = order.status.as_str(), "order is not cooking; pizza dropped");
                return Ok(());
            }
        }
        self.complete(event, *order_id).await
    }

    /// Completes the order if this was its last pizza. Confirmation is announced whenever
    /// the order is found `READY`, so a crash between the two is repaired by the retry; its
    /// id is fixed per order, so repeats collapse.
    async fn complete(&self, event: &Envelope<IngredientAdded>, order_id: Uuid) -> Result<(), HandlerError> {
        let order = match self.orders.complete_if_all_stored(order_id).await? {
            Completion::Completed(order) => {
                info!(%order_id, pizzas = order.pizzas, "order ready");
                self.metrics.emit(&[("OrdersCompleted", 1.0, Unit::Count)]);
                order
            }
            Completion::AlreadyReady(order) => order,
            Completion::NotComplete(_) => return Ok(()),
        };
        let id = derived_id(&[&order_id.to_string(), OrderConfirmed::TYPE]);
        let data = OrderConfirmed { order_id, pizzas: order.pizzas };
        let mut confirmed = Envelope::identified(id, SOURCE, order_id.to_string(), data);
        confirmed.causation_id = Some(event.id);
        self.publisher.publish(&self.topics.orders, &[confirmed.to_incoming()]).await.map_err(HandlerError::from)
    }
}

#[async_trait]
impl<O: OrderProgress, P: EventPublisher> EventHandler for Kitchen<O, P> {
    async fn handle(&self, event: &IncomingEvent) -> Result<(), HandlerError> {
        if event.is::<PaymentProcessed>() {
            self.start_cooking(&event.decode()?).await
        } else if event.is::<PaymentFailed>() {
            let order_id = event.decode::<PaymentFailed>()?.data.order_id;
            self.cancel(event, order_id, CancelReason::PaymentDeclined).await
        } else if event.is::<InventoryFailed>() {
            let order_id = event.decode::<InventoryFailed>()?.data.order_id;
            self.cancel(event, order_id, CancelReason::OutOfStock).await
        } else if event.is::<PaymentRefunded>() {
            let PaymentRefunded { order_id, amount_cents } = event.decode()?.data;
            self.orders.record_refund(order_id, amount_cents).await.map_err(HandlerError::from)
        } else if event.is::<IngredientAdded>() {
            self.store(&event.decode()?).await
        } else {
            Err(HandlerError::Rejected(format!("the pizza service does not handle {}", event.event_type)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::bus::InMemoryPublisher;
    use shared::events::Ingredient;
    use shared::orders::{InMemoryOrders, OrderIntake};

    type TestKitchen = Kitchen<InMemoryOrders, InMemoryPublisher>;

    fn kitchen() -> TestKitchen {
        let topics = Topics { pizza: TopicArn("pizza".into()), orders: TopicArn("orders".into()) };
        Kitchen::new(
            InMemoryOrders::default(),
            InMemoryPublisher::default(),
            topics,
            Metrics::from_env(&Env::default()),
        )
    }

    /// Places an order and returns the `PaymentProcessed` that pays it.
    async fn paid(kitchen: &TestKitchen, pizzas: u32) -> IncomingEvent {
        let order_id = Uuid::new_v4();
        let order = Order::place(order_id, "c-1", pizzas, u64::from(pizzas) * 1250);
        assert!(kitchen.orders.create(&order).await.expect("created"));
        let data = PaymentProcessed { order_id, customer_id: "c-1".into(), amount_cents: order.amount_cents };
        Envelope::new("payment", order_id.to_string(), data).to_incoming()
    }

    fn order_id_of(event: &IncomingEvent) -> Uuid {
        event.data["order_id"].as_str().and_then(|id| id.parse().ok()).expect("an order id")
    }

    fn published_of<E: Event>(kitchen: &TestKitchen) -> Vec<Envelope<E>> {
        kitchen
            .publisher
            .published()
            .iter()
            .filter(|(_, e)| e.is::<E>())
            .map(|(_, e)| e.decode().expect("decodes"))
            .collect()
    }

    /// What the last stage would publish for a requested pizza.
    fn finished(request: &Envelope<PizzaRequested>) -> IncomingEvent {
        let ingredients = vec![Ingredient { stage: "sauce".into(), name: "tomato".into() }];
        let data = IngredientAdded {
            order_id: request.data.order_id,
            pizza_id: request.data.pizza_id,
            stage: "sauce".into(),
            ingredients,
        };
        Envelope::caused_by(request, "sauce", "sauce", data).to_incoming()
    }

    async fn order_of(kitchen: &TestKitchen, event: &IncomingEvent) -> Order {
        kitchen.orders.find(order_id_of(event)).await.expect("reads").expect("exists").order
    }

    fn failure<E: Event>(order_id: Uuid, data: E) -> IncomingEvent {
        Envelope::new("test", order_id.to_string(), data).to_incoming()
    }

    #[tokio::test]
    async fn a_paid_order_is_cooked_one_request_per_pizza_and_a_redelivery_requests_the_same_ones() {
        let kitchen = kitchen();
        let payment = paid(&kitchen, 3).await;
        kitchen.handle(&payment).await.expect("cooking");
        kitchen.handle(&payment).await.expect("redelivered");
        let requests = published_of::<PizzaRequested>(&kitchen);
        assert_eq!(requests.len(), 6);
        let ids: std::collections::BTreeSet<_> = requests.iter().map(|r| (r.id, r.data.pizza_id)).collect();
        assert_eq!(ids.len(), 3, "the redelivery repeats the same three events");
        let order = order_of(&kitchen, &payment).await;
        assert_eq!((order.status, order.charged_cents), (OrderStatus::Cooking, 3 * 1250));
    }

    #[tokio::test]
    async fn the_last_pizza_completes_the_order_and_duplicates_add_nothing() {
        let kitchen = kitchen();
        let payment = paid(&kitchen, 2).await;
        kitchen.handle(&payment).await.expect("cooking");
        let requests = published_of::<PizzaRequested>(&kitchen);

        kitchen.handle(&finished(&requests[0])).await.expect("first pizza");
        kitchen.handle(&finished(&requests[0])).await.expect("duplicate");
        assert_eq!(order_of(&kitchen, &payment).await.status, OrderStatus::Cooking, "a duplicate must not count");
        assert!(published_of::<OrderConfirmed>(&kitchen).is_empty());

        kitchen.handle(&finished(&requests[1])).await.expect("last pizza");
        assert_eq!(order_of(&kitchen, &payment).await.status, OrderStatus::Ready);
        let confirmed = published_of::<OrderConfirmed>(&kitchen);
        assert_eq!(confirmed.len(), 1);
        assert_eq!(confirmed[0].data.pizzas, 2);

        // A late duplicate of the last pizza repeats the same confirmation, nothing more.
        kitchen.handle(&finished(&requests[1])).await.expect("late duplicate");
        let confirmed_again = published_of::<OrderConfirmed>(&kitchen);
        assert_eq!(confirmed_again.len(), 2);
        assert_eq!(confirmed_again[0].id, confirmed_again[1].id);
        let stored = kitchen.orders.find(order_id_of(&payment)).await.expect("reads").expect("exists");
        assert_eq!(stored.pizzas.len(), 2);
    }

    #[tokio::test]
    async fn a_declined_payment_cancels_the_order_and_nothing_is_cooked() {
        let kitchen = kitchen();
        let payment = paid(&kitchen, 2).await;
        let order_id = order_id_of(&payment);
        let declined = PaymentFailed {
            order_id,
            customer_id: "c-1".into(),
            amount_cents: 2500,
            reason: shared::events::DeclineReason::CardDeclined,
        };
        kitchen.handle(&failure(order_id, declined.clone())).await.expect("cancelled");
        kitchen.handle(&failure(order_id, declined)).await.expect("again");
        let order = order_of(&kitchen, &payment).await;
        assert_eq!((order.status, order.cancel_reason), (OrderStatus::Cancelled, Some(CancelReason::PaymentDeclined)));
        let cancelled = published_of::<OrderCancelled>(&kitchen);
        assert_eq!(cancelled.len(), 2);
        assert_eq!(cancelled[0].id, cancelled[1].id, "announced twice as the same event");

        // A late PaymentProcessed (out of order) cooks nothing.
        kitchen.handle(&payment).await.expect("ignored");
        assert!(published_of::<PizzaRequested>(&kitchen).is_empty());
        assert_eq!(order_of(&kitchen, &payment).await.status, OrderStatus::Cancelled);
    }

    #[tokio::test]
    async fn running_out_cancels_a_cooking_order_and_its_late_pizzas_are_dropped() {
        let kitchen = kitchen();
        let payment = paid(&kitchen, 2).await;
        let order_id = order_id_of(&payment);
        kitchen.handle(&payment).await.expect("cooking");
        let requests = published_of::<PizzaRequested>(&kitchen);
        let out = InventoryFailed { order_id, pizza_id: requests[0].data.pizza_id, stage: "meat".into() };
        kitchen.handle(&failure(order_id, out)).await.expect("cancelled");
        let order = order_of(&kitchen, &payment).await;
        assert_eq!((order.status, order.cancel_reason), (OrderStatus::Cancelled, Some(CancelReason::OutOfStock)));
        assert_eq!(published_of::<OrderCancelled>(&kitchen)[0].data.reason, CancelReason::OutOfStock);

        kitchen.handle(&finished(&requests[1])).await.expect("dropped, not failed");
        let stored = kitchen.orders.find(order_id).await.expect("reads").expect("exists");
        assert!(stored.pizzas.is_empty());
        assert_eq!(stored.order.status, OrderStatus::Cancelled);

        kitchen.handle(&failure(order_id, PaymentRefunded { order_id, amount_cents: 2500 })).await.expect("recorded");
        assert_eq!(order_id_refunded(&kitchen, order_id).await, 2500);
    }

    async fn order_id_refunded(kitchen: &TestKitchen, order_id: Uuid) -> u64 {
        kitchen.orders.find(order_id).await.expect("reads").expect("exists").order.refunded_cents
    }

    #[tokio::test]
    async fn a_ready_order_cannot_be_cancelled_and_unknown_orders_are_rejected() {
        let kitchen = kitchen();
        let payment = paid(&kitchen, 1).await;
        let order_id = order_id_of(&payment);
        kitchen.handle(&payment).await.expect("cooking");
        let request = published_of::<PizzaRequested>(&kitchen).remove(0);
        kitchen.handle(&finished(&request)).await.expect("ready");
        let late = InventoryFailed { order_id, pizza_id: request.data.pizza_id, stage: "meat".into() };
        kitchen.handle(&failure(order_id, late)).await.expect("ignored");
        assert_eq!(order_of(&kitchen, &payment).await.status, OrderStatus::Ready);
        assert!(published_of::<OrderCancelled>(&kitchen).is_empty());

        let stranger = Uuid::new_v4();
        let stray = Envelope::new(
            "test",
            stranger.to_string(),
            PizzaRequested { order_id: stranger, pizza_id: Uuid::new_v4() },
        );
        assert!(matches!(kitchen.handle(&finished(&stray)).await, Err(HandlerError::Rejected(_))));
        let unknown = PaymentProcessed { order_id: stranger, customer_id: "c".into(), amount_cents: 1 };
        assert!(matches!(kitchen.handle(&failure(stranger, unknown)).await, Err(HandlerError::Rejected(_))));
        let confirmed = failure(order_id, OrderConfirmed { order_id, pizzas: 1 });
        assert!(matches!(kitchen.handle(&confirmed).await, Err(HandlerError::Rejected(_))));
    }
}

#[cfg(test)]
mod fixtures {
    //! The sample events in `events/`, through the same entry point Lambda calls.
    use super::*;
    use aws_lambda_events::event::sqs::SqsEvent;
    use shared::batch::process_batch;
    use shared::bus::InMemoryPublisher;
    use shared::orders::{InMemoryOrders, OrderIntake};

    #[tokio::test]
    async fn the_sample_payment_starts_cooking_and_the_sample_pizza_is_stored() {
        let topics = Topics { pizza: TopicArn("pizza".into()), orders: TopicArn("orders".into()) };
        let kitchen = Kitchen::new(
            InMemoryOrders::default(),
            InMemoryPublisher::default(),
            topics,
            Metrics::from_env(&Env::default()),
        );
        let metrics = Metrics::from_env(&Env::default());
        let paid: SqsEvent =
            serde_json::from_str(include_str!("../../../events/sqs/kitchen-payment-processed.json")).expect("SQS");
        let payment = IncomingEvent::from_json(paid.records[0].body.as_deref().unwrap_or_default()).expect("envelope");
        let order_id = payment.decode::<PaymentProcessed>().expect("PaymentProcessed").data.order_id;
        kitchen.orders.create(&Order::place(order_id, "c-42", 2, 2500)).await.expect("created");

        assert!(process_batch(&kitchen, &metrics, paid).await.batch_item_failures.is_empty());
        assert_eq!(kitchen.publisher.published().len(), 2);

        let finished: SqsEvent =
            serde_json::from_str(include_str!("../../../events/sqs/store-ingredient-added.json")).expect("SQS");
        assert!(process_batch(&kitchen, &metrics, finished).await.batch_item_failures.is_empty());
        let stored = kitchen.orders.find(order_id).await.expect("reads").expect("exists");
        assert_eq!(stored.pizzas.len(), 1);
        assert_eq!(stored.pizzas[0].ingredients.len(), 4);
    }
}
