//! The behaviour every adapter of the order ports must have. The same suites run against
//! the in-memory adapter (unit tests) and the DynamoDB adapter on the emulator (system
//! tests), so the fakes the functions' tests rely on behave like the real store.
//! Every suite makes its own orders, so it can run on a table others use.

use messaging::TraceContext;
use pizza_events::TopicArn;
use pizza_events::catalogue::{CancelReason, CardToken, Ingredient, OrderPlaced, Sealed};
use uuid::Uuid;

use crate::{
    Completion, FinishedPizza, Order, OrderBook, OrderDesk, OrderStatus, PizzaStored, PlacedOrder, Placement,
    StoredPizza, Transition, Watchlist,
};

fn orders_topic() -> TopicArn {
    TopicArn("arn:aws:sns:us-east-1:123456789012:orders".into())
}

/// `order` as the API places it: with a sealed card and the request's trace.
fn placing(order: &Order) -> PlacedOrder {
    let card_token = CardToken::Sealed(Sealed {
        key_id: "alias/contract".into(),
        data_key: "ZGF0YSBrZXk=".into(),
        nonce: "bm9uY2Ugbm9uY2U=".into(),
        ciphertext: format!("c2VhbGVk{}", order.pizzas),
    });
    let trace = TraceContext { trace_id: order.order_id.as_u128(), parent_id: 7, sampled: true };
    PlacedOrder { order: order.clone(), card_token, trace: Some(trace) }
}

async fn placed(store: &impl OrderDesk, pizzas: u32) -> Order {
    let order = Order::place(Uuid::new_v4(), "c-contract", pizzas, u64::from(pizzas) * 1250, "fp-contract");
    assert_eq!(store.place(&placing(&order), None).await.expect("placed"), Placement::Placed);
    order
}

fn pizza(order: &Order) -> FinishedPizza {
    let ingredients = vec![
        Ingredient { stage: "sauce".into(), name: "pesto".into() },
        Ingredient { stage: "cheese".into(), name: "vegan".into() },
    ];
    FinishedPizza {
        order_id: order.order_id,
        pizza: StoredPizza { pizza_id: Uuid::new_v4(), ingredients },
        pizzas_in_order: None,
    }
}

/// A pizza of `order` as the kitchen's v2 events bring it, saying the order has `of`.
fn pizza_of(order: &Order, of: u32) -> FinishedPizza {
    FinishedPizza { pizzas_in_order: Some(of), ..pizza(order) }
}

async fn cooking(store: &(impl OrderDesk + OrderBook), pizzas: u32) -> Order {
    let order = placed(store, pizzas).await;
    store.start_cooking(order.order_id, 1250).await.expect("cooking");
    order
}

fn status_of(transition: &Transition) -> Option<OrderStatus> {
    match transition {
        Transition::Applied(order) => Some(order.status),
        Transition::Rejected { current } => current.as_ref().map(|o| o.status),
    }
}

/// `OrderDesk`: an order is placed once; placing it again finds it and writes nothing.
pub async fn order_desk(store: &impl OrderDesk) {
    let order = placed(store, 3).await;
    let mut retry = order.clone();
    retry.pizzas = 5;
    match store.place(&placing(&retry), None).await.expect("answers") {
        Placement::Exists(existing) => {
            assert_eq!((existing.pizzas, existing.order_id), (3, order.order_id), "the first order stands");
        }
        other => panic!("placing an existing order again must find it, got {other:?}"),
    }
    let details = store.find(order.order_id).await.expect("reads").expect("found");
    assert_eq!(details.order.status, OrderStatus::Placed);
    assert_eq!(
        (details.order.pizzas, details.order.amount_cents, details.order.customer_id.as_str()),
        (3, 3750, "c-contract")
    );
    assert!(details.pizzas.is_empty());
    assert_eq!(store.find(Uuid::new_v4()).await.expect("reads"), None);
    idempotency_keys(store).await;
}

/// An idempotency key finds the order its customer placed with it, whatever id a retry
/// comes with; another customer's key of the same text is another order.
async fn idempotency_keys(store: &impl OrderDesk) {
    let key = format!("key-{}", Uuid::new_v4());
    let order = |customer: &str| Order::place(Uuid::new_v4(), customer, 2, 2500, "fp-contract");
    let first = order("c-key-1");
    assert_eq!(store.place(&placing(&first), Some(&key)).await.expect("placed"), Placement::Placed);
    let retry = order("c-key-1");
    match store.place(&placing(&retry), Some(&key)).await.expect("answers") {
        Placement::Exists(existing) => {
            assert_eq!(existing.order_id, first.order_id, "the retry finds the first order");
            assert_eq!(existing.payment_fingerprint, "fp-contract", "and the card it was placed with");
            assert!(existing.same_request_as(&retry));
            let other_card = Order::place(Uuid::new_v4(), "c-key-1", 2, 2500, "fp-other-card");
            assert!(!existing.same_request_as(&other_card), "a retry naming another card is not the same request");
        }
        other => panic!("a retry under the same key must find the first order, got {other:?}"),
    }
    assert_eq!(store.find(retry.order_id).await.expect("reads"), None, "the retry wrote nothing");
    let other_customer = order("c-key-2");
    let placed = store.place(&placing(&other_customer), Some(&key)).await.expect("answers");
    assert_eq!(placed, Placement::Placed, "keys are scoped per customer");
    assert!(store.find(other_customer.order_id).await.expect("reads").is_some());
}

/// `OrderBook` moves: forward only, by the status each move leaves.
pub async fn order_moves(store: &(impl OrderDesk + OrderBook)) {
    let order = placed(store, 2).await;
    let cooking = store.start_cooking(order.order_id, 2500).await.expect("moves");
    assert!(matches!(&cooking, Transition::Applied(o) if o.status == OrderStatus::Cooking && o.charged_cents == 2500));
    let again = store.start_cooking(order.order_id, 2500).await.expect("answers");
    assert!(matches!(again, Transition::Rejected { .. }), "{again:?}");
    assert_eq!(status_of(&again), Some(OrderStatus::Cooking));

    let cancelled = store.cancel(order.order_id, CancelReason::OutOfStock).await.expect("moves");
    assert!(matches!(&cancelled, Transition::Applied(o) if o.cancel_reason == Some(CancelReason::OutOfStock)));
    let twice = store.cancel(order.order_id, CancelReason::PaymentDeclined).await.expect("answers");
    assert!(
        matches!(&twice, Transition::Rejected { current: Some(o) } if o.cancel_reason == Some(CancelReason::OutOfStock))
    );
    assert!(matches!(store.start_cooking(order.order_id, 1).await.expect("answers"), Transition::Rejected { .. }));

    store.record_refund(order.order_id, 2500).await.expect("recorded");
    store.record_refund(order.order_id, 2500).await.expect("recorded again");
    assert_eq!(store.find(order.order_id).await.expect("reads").expect("found").order.refunded_cents, 2500);

    let stranger = Uuid::new_v4();
    assert_eq!(store.start_cooking(stranger, 1).await.expect("answers"), Transition::Rejected { current: None });
    assert_eq!(
        store.cancel(stranger, CancelReason::OutOfStock).await.expect("answers"),
        Transition::Rejected { current: None }
    );
    store.record_refund(stranger, 1).await.expect("a refund for no order changes nothing");
    assert_eq!(store.find(stranger).await.expect("reads"), None);
}

/// `OrderBook` storage: each pizza once, counted once, only while its order cooks; the
/// last one lets the order complete.
pub async fn pizza_storage(store: &(impl OrderDesk + OrderBook)) {
    let order = placed(store, 2).await;
    let early = pizza(&order);
    assert_eq!(
        store.store_pizzas(std::slice::from_ref(&early)).await.expect("answers").outcomes,
        vec![PizzaStored::OrderNotCooking { current: Some(order_with_status(store, &order).await) }],
        "a placed order does not take pizzas yet"
    );
    store.start_cooking(order.order_id, 2500).await.expect("cooking");
    let (first, second) = (pizza(&order), pizza(&order));
    let stray = FinishedPizza { order_id: Uuid::new_v4(), ..pizza(&order) };
    let stored = store.store_pizzas(&[first.clone(), first.clone(), stray]).await.expect("stores");
    assert_eq!(
        stored.outcomes,
        vec![PizzaStored::Stored, PizzaStored::Duplicate, PizzaStored::OrderNotCooking { current: None }]
    );
    assert!(stored.all_stored.is_empty(), "one of two pizzas: not worth completing yet");
    assert!(matches!(
        store.complete_if_all_stored(order.order_id).await.expect("answers"),
        Completion::NotComplete(Some(_))
    ));

    let stored = store.store_pizzas(&[second.clone(), first.clone()]).await.expect("stores");
    assert_eq!(stored.outcomes, vec![PizzaStored::Stored, PizzaStored::Duplicate]);
    assert_eq!(stored.all_stored, [order.order_id].into(), "the write of the last pizza sees the full count");
    match store.complete_if_all_stored(order.order_id).await.expect("answers") {
        Completion::Completed(ready) => assert_eq!((ready.status, ready.pizzas_ready), (OrderStatus::Ready, 2)),
        other => panic!("the last pizza completes the order, got {other:?}"),
    }
    assert!(matches!(
        store.complete_if_all_stored(order.order_id).await.expect("answers"),
        Completion::AlreadyReady(_)
    ));
    let again = store.store_pizzas(std::slice::from_ref(&second)).await.expect("answers");
    assert_eq!(again.outcomes, vec![PizzaStored::Duplicate]);
    assert_eq!(again.all_stored, [order.order_id].into(), "a redelivered last pizza sees it too");
    let late = store.store_pizzas(&[pizza(&order)]).await.expect("answers").outcomes;
    assert!(matches!(&late[0], PizzaStored::OrderNotCooking { current: Some(o) } if o.status == OrderStatus::Ready));
    assert!(matches!(
        store.cancel(order.order_id, CancelReason::OutOfStock).await.expect("answers"),
        Transition::Rejected { .. }
    ));

    let details = store.find(order.order_id).await.expect("reads").expect("found");
    let mut ids: Vec<Uuid> = details.pizzas.iter().map(|p| p.pizza_id).collect();
    ids.sort();
    let mut expected = vec![first.pizza.pizza_id, second.pizza.pizza_id];
    expected.sort();
    assert_eq!(ids, expected);
    assert_eq!(details.pizzas[0].ingredients, first.pizza.ingredients);
    assert_eq!(details.order.pizzas_ready, 2);
}

/// `OrderBook` storage of the kitchen's pizzas, whose ids are their place in the order
/// ([`crate::pizza_id`]): each is read back with its id and its ingredients as they came,
/// on the menu or not, and counted once.
pub async fn kitchen_pizzas(store: &(impl OrderDesk + OrderBook)) {
    let order = cooking(store, 3).await;
    let ingredient = |stage: &str, name: &str| Ingredient { stage: stage.into(), name: name.into() };
    let pizzas: Vec<FinishedPizza> = [
        vec![ingredient("sauce", "garlic-cream"), ingredient("cheese", "gorgonzola"), ingredient("meat", "ham")],
        vec![ingredient("crust", "rye"), ingredient("sauce", "tomato")],
        vec![],
    ]
    .into_iter()
    .enumerate()
    .map(|(index, ingredients)| FinishedPizza {
        order_id: order.order_id,
        pizza: StoredPizza { pizza_id: crate::pizza_id(order.order_id, index as u32), ingredients },
        pizzas_in_order: Some(3),
    })
    .collect();
    let stored = store.store_pizzas(&pizzas[..2]).await.expect("stores");
    assert_eq!(stored.outcomes, vec![PizzaStored::Stored; 2]);
    let again = store.store_pizzas(&pizzas[1..]).await.expect("stores");
    assert_eq!(again.outcomes, vec![PizzaStored::Duplicate, PizzaStored::Stored]);
    assert_eq!(again.all_stored, [order.order_id].into());

    let details = store.find(order.order_id).await.expect("reads").expect("found");
    assert_eq!(details.order.pizzas_ready, 3);
    let mut expected: Vec<StoredPizza> = pizzas.into_iter().map(|finished| finished.pizza).collect();
    expected.sort_by_key(|pizza| pizza.pizza_id);
    let mut found = details.pizzas;
    found.sort_by_key(|pizza| pizza.pizza_id);
    assert_eq!(found, expected);
}

/// `OrderBook` storage of whole orders: a call that brings every pizza of a cooking order
/// with none stored completes it in the same write; anything less (a part of the order, a
/// pizza stored before, a size the order does not have) is stored and left to
/// `complete_if_all_stored`, as are pizzas whose events do not say the order's size.
pub async fn whole_orders(store: &(impl OrderDesk + OrderBook + Watchlist)) {
    let (whole, part) = (cooking(store, 3).await, cooking(store, 2).await);
    let batch: Vec<FinishedPizza> =
        vec![pizza_of(&whole, 3), pizza_of(&part, 2), pizza_of(&whole, 3), pizza_of(&whole, 3)];
    let stored = store.store_pizzas(&batch).await.expect("stores");
    assert_eq!(stored.outcomes, vec![PizzaStored::Stored; 4]);
    let ready = stored.completed.get(&whole.order_id).expect("the whole order is completed by its store");
    assert_eq!((ready.status, ready.pizzas_ready), (OrderStatus::Ready, 3));
    assert_eq!(stored.completed.len(), 1, "half an order is not complete");
    assert_eq!(order_with_status(store, &whole).await.status, OrderStatus::Ready);
    is_stalled(store, &whole, chrono::Utc::now() + chrono::Duration::hours(1), false).await;
    assert!(matches!(
        store.complete_if_all_stored(whole.order_id).await.expect("answers"),
        Completion::AlreadyReady(_)
    ));

    let again = store.store_pizzas(&batch).await.expect("answers");
    assert_eq!(again.outcomes, vec![PizzaStored::Duplicate; 4]);
    assert!(again.completed.is_empty(), "a redelivery completes nothing again");

    let rest = pizza_of(&part, 2);
    let stored = store.store_pizzas(&[rest, batch[1].clone()]).await.expect("stores");
    assert_eq!(stored.outcomes, vec![PizzaStored::Stored, PizzaStored::Duplicate]);
    assert!(stored.completed.is_empty(), "one of them was stored before: the write cannot complete it");
    assert_eq!(stored.all_stored, [part.order_id].into());
    assert!(matches!(store.complete_if_all_stored(part.order_id).await.expect("answers"), Completion::Completed(_)));

    let bigger = cooking(store, 3).await;
    let claimed = [pizza_of(&bigger, 2), pizza_of(&bigger, 2)];
    let stored = store.store_pizzas(&claimed).await.expect("stores");
    assert_eq!(stored.outcomes, vec![PizzaStored::Stored; 2], "a wrong size stores, completes nothing");
    assert!(stored.completed.is_empty() && stored.all_stored.is_empty());
    assert_eq!(order_with_status(store, &bigger).await.status, OrderStatus::Cooking);

    let (one, two) = (cooking(store, 1).await, cooking(store, 2).await);
    let first_copy = pizza_of(&one, 1);
    let copy_for_two = FinishedPizza { order_id: two.order_id, pizzas_in_order: Some(2), ..first_copy.clone() };
    let stored = store.store_pizzas(&[first_copy, copy_for_two, pizza_of(&two, 2)]).await.expect("stores");
    assert_eq!(stored.outcomes, vec![PizzaStored::Stored, PizzaStored::Duplicate, PizzaStored::Stored]);
    assert_eq!(
        stored.completed.keys().collect::<Vec<_>>(),
        vec![&one.order_id],
        "a pizza counts once, for the order of its first copy"
    );
}

async fn order_with_status(store: &impl OrderDesk, order: &Order) -> Order {
    store.find(order.order_id).await.expect("reads").expect("found").order
}

/// Whether `order` is among the watched orders that last moved before `before`. An index
/// may lag its table for a moment, so a change is waited for a little.
async fn is_stalled(store: &impl Watchlist, order: &Order, before: chrono::DateTime<chrono::Utc>, expected: bool) {
    for _ in 0..50 {
        let stalled = store.stalled(before, 10_000).await.expect("reads the watchlist");
        if stalled.contains(&order.order_id) == expected {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("order {} stalled before {before}: expected {expected}", order.order_id);
}

/// `Watchlist`: an order is watched from placing until it is ready, or cancelled and
/// dismissed; its last move is what makes it stalled or not; only a cancelled order can be
/// dismissed.
pub async fn watchlist(store: &(impl OrderDesk + OrderBook + Watchlist)) {
    let later = || chrono::Utc::now() + chrono::Duration::minutes(1);
    let earlier = chrono::Utc::now() - chrono::Duration::hours(1);

    let cooking = placed(store, 1).await;
    is_stalled(store, &cooking, later(), true).await;
    is_stalled(store, &cooking, earlier, false).await;
    announceable_until_paid(store, &cooking).await;
    assert!(!store.dismiss(cooking.order_id).await.expect("answers"), "a cooking order cannot be dismissed");
    is_stalled(store, &cooking, later(), true).await;
    store.store_pizzas(&[pizza(&cooking)]).await.expect("stored");
    store.complete_if_all_stored(cooking.order_id).await.expect("completes");
    is_stalled(store, &cooking, later(), false).await;

    let cancelled = placed(store, 2).await;
    store.cancel(cancelled.order_id, CancelReason::OutOfStock).await.expect("cancels");
    assert_eq!(
        store.placed_order(cancelled.order_id).await.expect("reads"),
        None,
        "a cancelled order is not announced"
    );
    is_stalled(store, &cancelled, later(), true).await;
    let just_now = chrono::Utc::now();
    store.postpone(cancelled.order_id, OrderStatus::Cancelled).await.expect("postpones");
    is_stalled(store, &cancelled, just_now, false).await;
    is_stalled(store, &cancelled, later(), true).await;
    assert!(store.dismiss(cancelled.order_id).await.expect("dismisses"));
    is_stalled(store, &cancelled, later(), false).await;
    assert!(store.dismiss(cancelled.order_id).await.expect("again"), "dismissing twice is fine");
}

/// An unpaid order is found with what its announcement needs, and announcing it again is
/// the very event announcing it first was (id, time, card, trace); paid, it is not found.
async fn announceable_until_paid(store: &(impl OrderDesk + OrderBook + Watchlist), order: &Order) {
    let first = placing(order);
    let found = store.placed_order(order.order_id).await.expect("reads").expect("an unpaid order is announceable");
    assert_eq!((&found.card_token, found.trace), (&first.card_token, first.trace));
    let (again, announced) = (found.announcement(&orders_topic()), first.announcement(&orders_topic()));
    assert_eq!(again, announced, "the same event however often it is announced");
    assert_eq!(announced.event.id, crate::announcement_id(order.order_id));
    assert_eq!(announced.event.occurred_at, order.created_at, "an order's announcement is dated by the order");
    assert_eq!(announced.event.decode::<OrderPlaced>().expect("OrderPlaced").data.order_id, order.order_id);
    assert!(store.placed_order(Uuid::new_v4()).await.expect("reads").is_none(), "no order, no announcement");
    store.start_cooking(order.order_id, order.amount_cents).await.expect("cooks");
    assert_eq!(store.placed_order(order.order_id).await.expect("reads"), None, "a paid order's card is gone");
}
