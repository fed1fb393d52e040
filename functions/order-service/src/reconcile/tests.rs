//! The tests of `reconcile`.

use super::*;
use inventory::{InMemoryInventory, Pantry, ReservationRequest, StockRoom};
use lambda_kit::bus::InMemoryBus;
use orders::{FinishedPizza, InMemoryOrders, Order, StoredPizza};
use payments::{InMemoryLedger, Payment};
use pizza_events::catalogue::{CancelReason, OrderCancelled, OrderConfirmed, OrderPlaced, PizzaRequested};
use std::sync::Arc;

type TestReconciler = Reconciler<InMemoryOrders, InMemoryLedger, InMemoryInventory, Arc<InMemoryBus<WireEvent>>>;

fn reconciler() -> TestReconciler {
    let env: Env = [("POWERTOOLS_METRICS_DISABLED", "true")].into_iter().collect();
    Reconciler {
        book: InMemoryOrders::default(),
        ledger: InMemoryLedger::default(),
        stock: InMemoryInventory::default(),
        bus: Arc::new(InMemoryBus::default()),
        announcements: Announcements { pizza: TopicArn("pizza".into()), orders: TopicArn("orders".into()) },
        stalled_after: Duration::from_secs(600),
        limit: 100,
        metrics: Metrics::from_env(&env),
    }
}

/// An order of `pizzas` pizzas, placed as the API places it (its item announces it).
async fn placed(reconciler: &TestReconciler, pizzas: u32) -> Order {
    let order = Order::place(Uuid::new_v4(), "c-1", pizzas, u64::from(pizzas) * 1250, "fp");
    let card_token = pizza_events::catalogue::CardToken::Legacy("tok_visa".into());
    let placed = orders::PlacedOrder { order: order.clone(), card_token, trace: None };
    reconciler.book.place(&placed, None).await.expect("placed");
    order
}

fn later() -> DateTime<Utc> {
    Utc::now() + chrono::Duration::hours(1)
}

fn stored(order: &Order, index: u32) -> FinishedPizza {
    FinishedPizza {
        order_id: order.order_id,
        pizza: StoredPizza { pizza_id: crate::pizza_id(order.order_id, index), ingredients: vec![] },
        pizzas_in_order: None,
    }
}

#[tokio::test]
async fn nothing_stalled_nothing_done() {
    let reconciler = reconciler();
    placed(&reconciler, 1).await;
    let report = reconciler.run(Utc::now()).await;
    assert_eq!(report, Report::default(), "a fresh order is not stalled");
    assert!(reconciler.bus.published().is_empty());
}

#[tokio::test]
async fn a_placed_order_nobody_paid_is_announced_again_as_the_same_event() {
    let reconciler = reconciler();
    let order = placed(&reconciler, 2).await;
    let report = reconciler.run(later()).await;
    assert_eq!(report.remedies.get("OrdersAnnouncedAgain"), Some(&1));
    let published = reconciler.bus.events_on("orders");
    assert_eq!(published.len(), 1);
    assert_eq!(published[0].id, orders::announcement_id(order.order_id));
    assert_eq!(published[0].decode::<OrderPlaced>().expect("OrderPlaced").occurred_at, order.created_at);
}

#[tokio::test]
async fn a_cooking_order_gets_its_missing_pizzas_requested_again_under_their_first_ids() {
    let reconciler = reconciler();
    let order = placed(&reconciler, 3).await;
    reconciler.book.start_cooking(order.order_id, order.amount_cents).await.expect("cooking");
    reconciler.book.store_pizzas(&[stored(&order, 1)]).await.expect("one stored");
    reconciler.run(later()).await;
    let requested: Vec<Uuid> = reconciler
        .bus
        .events_on("pizza")
        .iter()
        .map(|e| e.decode::<PizzaRequested>().expect("a request").data.pizza_id)
        .collect();
    assert_eq!(requested, [crate::pizza_id(order.order_id, 0), crate::pizza_id(order.order_id, 2)]);
    // The very events the order service first published, so the stages absorb them.
    let paid = payment_of(&reconciler.book.find(order.order_id).await.expect("reads").expect("exists"));
    let first = reconciler.announcements.cooking(&paid, &Transition::Applied(order.clone())).expect("cooks");
    assert_eq!(reconciler.bus.events_on("pizza")[0].id, first[0].event.id);
}

#[tokio::test]
async fn a_cooking_order_with_every_pizza_stored_is_completed_and_confirmed() {
    let reconciler = reconciler();
    let order = placed(&reconciler, 2).await;
    reconciler.book.start_cooking(order.order_id, order.amount_cents).await.expect("cooking");
    reconciler.book.store_pizzas(&[stored(&order, 0), stored(&order, 1)]).await.expect("stored");
    reconciler.run(later()).await;
    let details = reconciler.book.find(order.order_id).await.expect("reads").expect("exists");
    assert_eq!(details.order.status, OrderStatus::Ready);
    assert_eq!(reconciler.bus.events_on("orders").iter().filter(|e| e.is::<OrderConfirmed>()).count(), 1);
    assert!(reconciler.book.stalled(later(), 10).await.expect("reads").is_empty(), "ready: not watched");
}

#[tokio::test]
async fn a_cancelled_order_is_announced_again_until_its_charge_and_stock_are_given_back_then_dismissed() {
    let reconciler = reconciler();
    let order = placed(&reconciler, 1).await;
    reconciler.book.start_cooking(order.order_id, order.amount_cents).await.expect("cooking");
    reconciler.book.cancel(order.order_id, CancelReason::OutOfStock).await.expect("cancelled");
    let payment = Payment {
        order_id: order.order_id,
        customer_id: "c-1".into(),
        amount_cents: order.amount_cents,
        status: PaymentStatus::Charged,
        decline_reason: None,
    };
    reconciler.ledger.record(&payment).await.expect("charged");
    reconciler.stock.set_stock("sauce", "pesto", 1).await.expect("stocked");
    let request = ReservationRequest {
        order_id: order.order_id,
        pizza_id: crate::pizza_id(order.order_id, 0),
        candidates: vec!["pesto".into()],
    };
    reconciler.stock.reserve("sauce", &[request]).await.expect("reserved");

    let report = reconciler.run(later()).await;
    assert_eq!(report.remedies.get("CancellationsAnnouncedAgain"), Some(&1));
    let cancelled = reconciler.bus.events_on("orders");
    assert!(cancelled[0].is::<OrderCancelled>());

    // The refund alone is not enough: the inventory has not closed the order yet.
    reconciler.ledger.refund(order.order_id).await.expect("refunded");
    let report = reconciler.run(later()).await;
    assert_eq!(report.remedies.get("CancellationsAnnouncedAgain"), Some(&1), "{report:?}");
    // The compensations run; the next pass finds nothing left and stops watching.
    reconciler.stock.release_order(order.order_id).await.expect("released");
    let report = reconciler.run(later()).await;
    assert_eq!(report.remedies.get("OrdersSettled"), Some(&1));
    assert_eq!(reconciler.run(later()).await, Report::default());
}

#[tokio::test]
async fn a_placed_order_with_nothing_to_announce_it_with_is_reported_for_a_person() {
    let reconciler = reconciler();
    let order = placed(&reconciler, 1).await;
    reconciler.book.forget_card(order.order_id);
    let report = reconciler.run(later()).await;
    assert_eq!(report.beyond_repair, [order.order_id]);
    assert!(reconciler.bus.published().is_empty());
}
