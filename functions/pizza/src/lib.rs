//! The pizza service, at both ends of the kitchen pipeline:
//! - an `OrderPlaced` starts cooking: the order moves to `COOKING` and one
//!   `PizzaRequested` per pizza goes to the `pizza` topic;
//! - an `IngredientAdded` from the last stage is a finished pizza: it is stored once, and
//!   the last one moves the order to `READY` and announces `OrderConfirmed`.

use async_trait::async_trait;
use shared::batch::{EventHandler, HandlerError};
use shared::bus::{EventPublisher, SnsPublisher, TopicArn};
use shared::config::{ConfigError, Env};
use shared::envelope::{Envelope, Event, IncomingEvent, derived_id};
use shared::events::{IngredientAdded, OrderConfirmed, OrderPlaced, PizzaRequested};
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
    /// Where order milestones go (`orders`).
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

fn failed(err: impl std::fmt::Display) -> HandlerError {
    HandlerError::Failed(err.to_string())
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

    async fn start_cooking(&self, event: &Envelope<OrderPlaced>) -> Result<(), HandlerError> {
        let OrderPlaced { order_id, pizzas } = event.data;
        match self.orders.transition(order_id, OrderStatus::Placed, OrderStatus::Cooking).await.map_err(failed)? {
            Transition::Applied => {}
            // Cooking already: we crashed after the move last time, so request the pizzas again
            // (same ids: the duplicates collapse downstream).
            Transition::Rejected { current: Some(Order { status: OrderStatus::Cooking, .. }) } => {}
            Transition::Rejected { current: Some(order) } => {
                info!(%order_id, status = order.status.as_str(), "order is past cooking; nothing to do");
                return Ok(());
            }
            Transition::Rejected { current: None } => {
                return Err(HandlerError::Rejected(format!("order {order_id} does not exist")));
            }
        }
        let requests: Vec<IncomingEvent> = (0..pizzas)
            .map(|index| {
                let data = PizzaRequested { order_id, pizza_id: pizza_id(order_id, index) };
                Envelope::caused_by(event, SOURCE, &index.to_string(), data).to_incoming()
            })
            .collect();
        self.publisher.publish(&self.topics.pizza, &requests).await.map_err(failed)?;
        info!(%order_id, pizzas, "order is cooking");
        self.metrics.emit(&[("PizzasRequested", f64::from(pizzas), Unit::Count)]);
        Ok(())
    }

    async fn store(&self, event: &Envelope<IngredientAdded>) -> Result<(), HandlerError> {
        let IngredientAdded { order_id, pizza_id, ingredients, .. } = &event.data;
        let pizza = StoredPizza { pizza_id: *pizza_id, ingredients: ingredients.clone() };
        match self.orders.store_pizza(*order_id, &pizza).await.map_err(failed)? {
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
        let order = match self.orders.complete_if_all_stored(order_id).await.map_err(failed)? {
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
        self.publisher.publish(&self.topics.orders, &[confirmed.to_incoming()]).await.map_err(failed)
    }
}

#[async_trait]
impl<O: OrderProgress, P: EventPublisher> EventHandler for Kitchen<O, P> {
    async fn handle(&self, event: &IncomingEvent) -> Result<(), HandlerError> {
        if event.is::<OrderPlaced>() {
            self.start_cooking(&event.decode()?).await
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

    fn kitchen() -> Kitchen<InMemoryOrders, InMemoryPublisher> {
        let topics = Topics { pizza: TopicArn("pizza".into()), orders: TopicArn("orders".into()) };
        Kitchen::new(
            InMemoryOrders::default(),
            InMemoryPublisher::default(),
            topics,
            Metrics::from_env(&Env::default()),
        )
    }

    async fn placed(kitchen: &Kitchen<InMemoryOrders, InMemoryPublisher>, pizzas: u32) -> IncomingEvent {
        let order_id = Uuid::new_v4();
        assert!(kitchen.orders.create(&Order::place(order_id, pizzas)).await.expect("created"));
        Envelope::new("api", order_id.to_string(), OrderPlaced { order_id, pizzas }).to_incoming()
    }

    fn published_of<E: Event>(kitchen: &Kitchen<InMemoryOrders, InMemoryPublisher>) -> Vec<Envelope<E>> {
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

    async fn status(kitchen: &Kitchen<InMemoryOrders, InMemoryPublisher>, order: &IncomingEvent) -> OrderStatus {
        let order_id = order.decode::<OrderPlaced>().expect("order").data.order_id;
        kitchen.orders.find(order_id).await.expect("reads").expect("exists").order.status
    }

    #[tokio::test]
    async fn an_order_requests_one_pizza_each_and_a_redelivery_requests_the_same_ones() {
        let kitchen = kitchen();
        let order = placed(&kitchen, 3).await;
        kitchen.handle(&order).await.expect("dispatched");
        kitchen.handle(&order).await.expect("redelivered");
        let requests = published_of::<PizzaRequested>(&kitchen);
        assert_eq!(requests.len(), 6);
        let ids: std::collections::BTreeSet<_> = requests.iter().map(|r| (r.id, r.data.pizza_id)).collect();
        assert_eq!(ids.len(), 3, "the redelivery repeats the same three events");
        assert_eq!(status(&kitchen, &order).await, OrderStatus::Cooking);
    }

    #[tokio::test]
    async fn the_last_pizza_completes_the_order_and_duplicates_add_nothing() {
        let kitchen = kitchen();
        let order = placed(&kitchen, 2).await;
        kitchen.handle(&order).await.expect("dispatched");
        let requests = published_of::<PizzaRequested>(&kitchen);

        kitchen.handle(&finished(&requests[0])).await.expect("first pizza");
        kitchen.handle(&finished(&requests[0])).await.expect("duplicate");
        assert_eq!(status(&kitchen, &order).await, OrderStatus::Cooking, "a duplicate must not count");
        assert!(published_of::<OrderConfirmed>(&kitchen).is_empty());

        kitchen.handle(&finished(&requests[1])).await.expect("last pizza");
        assert_eq!(status(&kitchen, &order).await, OrderStatus::Ready);
        let confirmed = published_of::<OrderConfirmed>(&kitchen);
        assert_eq!(confirmed.len(), 1);
        assert_eq!(confirmed[0].data.pizzas, 2);

        // A late duplicate of the last pizza repeats the same confirmation, nothing more.
        kitchen.handle(&finished(&requests[1])).await.expect("late duplicate");
        let confirmed_again = published_of::<OrderConfirmed>(&kitchen);
        assert_eq!(confirmed_again.len(), 2);
        assert_eq!(confirmed_again[0].id, confirmed_again[1].id);
        let order_id = confirmed[0].data.order_id;
        assert_eq!(kitchen.orders.find(order_id).await.expect("reads").expect("exists").pizzas.len(), 2);
    }

    #[tokio::test]
    async fn a_pizza_of_an_unknown_order_is_rejected_and_one_of_a_cancelled_order_dropped() {
        let kitchen = kitchen();
        let order_id = Uuid::new_v4();
        let stray = Envelope::new("test", order_id.to_string(), PizzaRequested { order_id, pizza_id: Uuid::new_v4() });
        assert!(matches!(kitchen.handle(&finished(&stray)).await, Err(HandlerError::Rejected(_))));

        let order = placed(&kitchen, 1).await;
        kitchen.handle(&order).await.expect("dispatched");
        let order_id = order.decode::<OrderPlaced>().expect("order").data.order_id;
        kitchen.orders.transition(order_id, OrderStatus::Cooking, OrderStatus::Cancelled).await.expect("cancelled");
        let requests = published_of::<PizzaRequested>(&kitchen);
        kitchen.handle(&finished(&requests[0])).await.expect("dropped, not failed");
        assert_eq!(status(&kitchen, &order).await, OrderStatus::Cancelled);
        assert!(published_of::<OrderConfirmed>(&kitchen).is_empty());
    }

    #[tokio::test]
    async fn an_order_past_cooking_is_not_cooked_again_and_other_events_are_rejected() {
        let kitchen = kitchen();
        let order = placed(&kitchen, 1).await;
        let order_id = order.decode::<OrderPlaced>().expect("order").data.order_id;
        kitchen.orders.transition(order_id, OrderStatus::Placed, OrderStatus::Cancelled).await.expect("cancelled");
        kitchen.handle(&order).await.expect("ignored");
        assert!(published_of::<PizzaRequested>(&kitchen).is_empty());

        let confirmed = Envelope::new("test", "c", OrderConfirmed { order_id, pizzas: 1 }).to_incoming();
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
    async fn the_sample_order_is_dispatched_and_its_sample_pizza_stored() {
        let topics = Topics { pizza: TopicArn("pizza".into()), orders: TopicArn("orders".into()) };
        let kitchen = Kitchen::new(
            InMemoryOrders::default(),
            InMemoryPublisher::default(),
            topics,
            Metrics::from_env(&Env::default()),
        );
        let metrics = Metrics::from_env(&Env::default());
        let placed: SqsEvent =
            serde_json::from_str(include_str!("../../../events/sqs/kitchen-order-placed.json")).expect("SQS");
        let order = IncomingEvent::from_json(placed.records[0].body.as_deref().unwrap_or_default()).expect("envelope");
        let order_id = order.decode::<OrderPlaced>().expect("OrderPlaced").data.order_id;
        kitchen.orders.create(&Order::place(order_id, 2)).await.expect("created");

        assert!(process_batch(&kitchen, &metrics, placed).await.batch_item_failures.is_empty());
        assert_eq!(kitchen.publisher.published().len(), 2);

        let finished: SqsEvent =
            serde_json::from_str(include_str!("../../../events/sqs/store-ingredient-added.json")).expect("SQS");
        assert!(process_batch(&kitchen, &metrics, finished).await.batch_item_failures.is_empty());
        let stored = kitchen.orders.find(order_id).await.expect("reads").expect("exists");
        assert_eq!(stored.pizzas.len(), 1);
        assert_eq!(stored.pizzas[0].ingredients.len(), 4);
    }
}
