use super::*;
use orders::{InMemoryOrders, Order, OrderDesk, OrderStatus};
use pizza_events::catalogue::{
    DeclineReason, Ingredient, InventoryFailed, OrderCancelled, OrderConfirmed, PaymentFailed, PaymentProcessed,
    PizzaRequested,
};
use pizza_events::{Envelope, Event, WireEvent};

type TestService = OrderService<InMemoryOrders>;

fn service() -> TestService {
    let env: Env = [("POWERTOOLS_METRICS_DISABLED", "true")].into_iter().collect();
    let announcements = Announcements { pizza: TopicArn("pizza".into()), orders: TopicArn("orders".into()) };
    OrderService::new(InMemoryOrders::default(), announcements, Metrics::from_env(&env))
}

/// Places an order and returns the `PaymentProcessed` that pays it.
async fn paid(service: &TestService, pizzas: u32) -> Inbound<WireEvent> {
    let order_id = Uuid::new_v4();
    let order = Order::place(order_id, "c-1", pizzas, u64::from(pizzas) * 1250, "fp");
    let card_token = pizza_events::catalogue::CardToken::Legacy("tok_visa".into());
    service
        .book
        .place(&orders::PlacedOrder { order: order.clone(), card_token, trace: None }, None)
        .await
        .expect("placed");
    let data = PaymentProcessed { order_id, customer_id: "c-1".into(), amount_cents: order.amount_cents };
    inbound(order_id, data)
}

fn inbound<E: Event>(order_id: Uuid, data: E) -> Inbound<WireEvent> {
    Inbound::detached(Envelope::new("test", order_id.to_string(), data).to_wire())
}

fn order_id_of(inbound: &Inbound<WireEvent>) -> Uuid {
    inbound.event.correlation_id.parse().expect("an order id")
}

async fn handle(service: &TestService, batch: &[Inbound<WireEvent>]) -> Vec<WireEvent> {
    service.handle_batch(batch).await.into_iter().flat_map(|o| o.expect("handled")).map(|o| o.event).collect()
}

fn of<E: Event>(events: &[WireEvent]) -> Vec<Envelope<E>> {
    events.iter().filter(|e| e.is::<E>()).map(|e| e.decode().expect("decodes")).collect()
}

/// What the last stage would publish for a requested pizza.
fn finished(request: &Envelope<PizzaRequested>) -> Inbound<WireEvent> {
    let ingredients = vec![Ingredient { stage: "veggies".into(), name: "olives".into() }];
    let PizzaRequested { order_id, pizza_id, pizzas_in_order } = request.data;
    let data = IngredientAdded {
        order_id,
        stage: "veggies".into(),
        pizzas_in_order,
        pizzas: vec![ToppedPizza { pizza_id, ingredients, journey: vec![] }],
    };
    Inbound::detached(Envelope::caused_by(request, "veggies", "veggies", data).to_wire())
}

async fn order_of(service: &TestService, order_id: Uuid) -> Order {
    service.book.find(order_id).await.expect("reads").expect("exists").order
}

#[tokio::test]
async fn a_paid_order_cooks_one_request_per_pizza_and_a_redelivery_requests_the_same_ones() {
    let service = service();
    let payment = paid(&service, 3).await;
    let first = handle(&service, std::slice::from_ref(&payment)).await;
    let again = handle(&service, std::slice::from_ref(&payment)).await;
    assert_eq!(first.len(), 3);
    assert_eq!(first.iter().map(|e| e.id).collect::<Vec<_>>(), again.iter().map(|e| e.id).collect::<Vec<_>>());
    let order = order_of(&service, order_id_of(&payment)).await;
    assert_eq!((order.status, order.charged_cents), (OrderStatus::Cooking, 3 * 1250));
}

#[tokio::test]
async fn the_last_pizza_completes_the_order_once_and_duplicates_add_nothing() {
    let service = service();
    let payment = paid(&service, 3).await;
    let requests = of::<PizzaRequested>(&handle(&service, std::slice::from_ref(&payment)).await);
    let order_id = order_id_of(&payment);

    // Two pizzas in one batch, one of them twice.
    let out = handle(&service, &[finished(&requests[0]), finished(&requests[1]), finished(&requests[0])]).await;
    assert!(of::<OrderConfirmed>(&out).is_empty());
    assert_eq!(order_of(&service, order_id).await.pizzas_ready, 2, "a duplicate must not count");

    let out = handle(&service, &[finished(&requests[2])]).await;
    let confirmed = of::<OrderConfirmed>(&out);
    assert_eq!((confirmed.len(), confirmed[0].data.pizzas), (1, 3));
    assert_eq!(order_of(&service, order_id).await.status, OrderStatus::Ready);

    // A late duplicate of the last pizza announces the same confirmation, nothing more.
    let again = of::<OrderConfirmed>(&handle(&service, &[finished(&requests[2])]).await);
    assert_eq!(again[0].id, confirmed[0].id);
    assert_eq!(service.book.find(order_id).await.expect("reads").expect("exists").pizzas.len(), 3);
}

#[tokio::test]
async fn one_event_carrying_every_pizza_of_an_order_stores_them_all_and_completes_it() {
    let service = service();
    let payment = paid(&service, 3).await;
    let requests = of::<PizzaRequested>(&handle(&service, std::slice::from_ref(&payment)).await);
    let order_id = order_id_of(&payment);
    let together = |requests: &[Envelope<PizzaRequested>]| {
        let mut event = finished(&requests[0]);
        let mut data = event.event.decode::<IngredientAdded>().expect("decodes").data;
        for request in &requests[1..] {
            let other = finished(request).event.decode::<IngredientAdded>().expect("decodes").data;
            data.pizzas.extend(other.pizzas);
        }
        event.event = Envelope::caused_by(&requests[0], "veggies", "together", data).to_wire();
        event
    };
    let out = handle(&service, &[together(&requests)]).await;
    let confirmed = of::<OrderConfirmed>(&out);
    assert_eq!((confirmed.len(), confirmed[0].data.pizzas), (1, 3));
    let stored = service.book.find(order_id).await.expect("reads").expect("exists");
    assert_eq!((stored.order.status, stored.pizzas.len()), (OrderStatus::Ready, 3));

    // The same pizzas again, carried otherwise (one alone, two together): nothing more.
    let again = handle(&service, &[finished(&requests[0]), together(&requests[1..])]).await;
    assert_eq!(of::<OrderConfirmed>(&again)[0].id, confirmed[0].id);
    assert_eq!(service.book.find(order_id).await.expect("reads").expect("exists").pizzas.len(), 3);
}

#[tokio::test]
async fn a_declined_payment_cancels_the_order_and_a_late_payment_cooks_nothing() {
    let service = service();
    let payment = paid(&service, 2).await;
    let order_id = order_id_of(&payment);
    let declined =
        PaymentFailed { order_id, customer_id: "c-1".into(), amount_cents: 2500, reason: DeclineReason::CardDeclined };
    let out = handle(&service, &[inbound(order_id, declined.clone()), inbound(order_id, declined)]).await;
    let cancelled = of::<OrderCancelled>(&out);
    assert_eq!(cancelled.len(), 2);
    assert_eq!(cancelled[0].id, cancelled[1].id, "announced twice as the same event");
    let order = order_of(&service, order_id).await;
    assert_eq!((order.status, order.cancel_reason), (OrderStatus::Cancelled, Some(CancelReason::PaymentDeclined)));
    assert!(handle(&service, &[payment]).await.is_empty(), "a late PaymentProcessed cooks nothing");
}

#[tokio::test]
async fn running_out_cancels_a_cooking_order_whose_late_pizzas_are_dropped_and_whose_refund_is_recorded() {
    let service = service();
    let payment = paid(&service, 2).await;
    let order_id = order_id_of(&payment);
    let requests = of::<PizzaRequested>(&handle(&service, &[payment]).await);
    let out = InventoryFailed { order_id, pizza_id: requests[0].data.pizza_id, stage: "meat".into(), journey: vec![] };
    let cancelled = of::<OrderCancelled>(&handle(&service, &[inbound(order_id, out)]).await);
    assert_eq!(cancelled[0].data.reason, CancelReason::OutOfStock);

    assert!(handle(&service, &[finished(&requests[1])]).await.is_empty(), "dropped, not failed");
    handle(&service, &[inbound(order_id, PaymentRefunded { order_id, amount_cents: 2500 })]).await;
    let details = service.book.find(order_id).await.expect("reads").expect("exists");
    assert!(details.pizzas.is_empty());
    assert_eq!((details.order.status, details.order.refunded_cents), (OrderStatus::Cancelled, 2500));
}

#[tokio::test]
async fn a_ready_order_stays_ready_and_unknown_orders_or_events_are_poison() {
    let service = service();
    let payment = paid(&service, 1).await;
    let order_id = order_id_of(&payment);
    let request = of::<PizzaRequested>(&handle(&service, &[payment]).await).remove(0);
    handle(&service, &[finished(&request)]).await;
    let late = InventoryFailed { order_id, pizza_id: request.data.pizza_id, stage: "meat".into(), journey: vec![] };
    assert!(handle(&service, &[inbound(order_id, late)]).await.is_empty());
    assert_eq!(order_of(&service, order_id).await.status, OrderStatus::Ready);

    let stranger = Uuid::new_v4();
    let stray = Envelope::new(
        "test",
        stranger.to_string(),
        PizzaRequested { order_id: stranger, pizza_id: Uuid::new_v4(), pizzas_in_order: Some(1) },
    );
    let unknown = PaymentProcessed { order_id: stranger, customer_id: "c".into(), amount_cents: 1 };
    let tops_nothing =
        IngredientAdded { order_id, stage: "veggies".into(), pizzas_in_order: Some(1), pizzas: Vec::new() };
    let outcomes = service
        .handle_batch(&[
            finished(&stray),
            inbound(stranger, unknown),
            inbound(order_id, OrderConfirmed { order_id, pizzas: 1 }),
            inbound(order_id, tops_nothing),
        ])
        .await;
    assert!(outcomes.iter().all(|o| matches!(o, Err(RecordError::Permanent(_)))), "{outcomes:?}");
}
