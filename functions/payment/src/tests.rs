use super::*;
use shared::bus::InMemoryPublisher;
use shared::events::CancelReason;
use shared::payments::InMemoryLedger;

type TestService = PaymentService<InMemoryLedger, InMemoryPublisher>;

const LIMIT: u64 = 10_000;

fn service() -> TestService {
    let metrics = Metrics::from_env(&Env::default());
    PaymentService::new(
        InMemoryLedger::default(),
        InMemoryPublisher::default(),
        TopicArn("payments".into()),
        LIMIT,
        metrics,
    )
}

fn placed(customer: &str, card_token: &str, amount_cents: u64) -> IncomingEvent {
    let order_id = Uuid::new_v4();
    let data =
        OrderPlaced { order_id, pizzas: 1, customer_id: customer.into(), card_token: card_token.into(), amount_cents };
    Envelope::new("api", order_id.to_string(), data).to_incoming()
}

fn cancelled(order: &IncomingEvent) -> IncomingEvent {
    let order_id = order.decode::<OrderPlaced>().expect("an order").data.order_id;
    Envelope::new("pizza", order_id.to_string(), OrderCancelled { order_id, reason: CancelReason::OutOfStock })
        .to_incoming()
}

fn published(service: &TestService) -> Vec<IncomingEvent> {
    service.publisher.published().into_iter().map(|(_, e)| e).collect()
}

#[test]
fn the_provider_declines_the_test_token_and_amounts_over_the_limit() {
    assert_eq!(authorize("tok_visa", 100, 100), Ok(()));
    assert_eq!(authorize(DECLINED_CARD_TOKEN, 1, 100), Err(DeclineReason::CardDeclined));
    assert_eq!(authorize("tok_visa", 101, 100), Err(DeclineReason::OverLimit));
}

#[tokio::test]
async fn an_order_is_charged_once_however_often_it_arrives() {
    let service = service();
    let order = placed("c-1", "tok_visa", 2500);
    service.handle(&order).await.expect("charged");
    service.handle(&order).await.expect("redelivered");
    let events = published(&service);
    assert_eq!(events.len(), 2);
    assert_eq!(events[0].id, events[1].id, "the same announcement, twice");
    assert_eq!(events[0].decode::<PaymentProcessed>().expect("processed").data.amount_cents, 2500);
    let payment = service.ledger.find(events[0].decode::<PaymentProcessed>().expect("p").data.order_id).await;
    assert_eq!(payment.expect("reads").expect("recorded").status, PaymentStatus::Charged);
}

#[tokio::test]
async fn a_declined_card_and_an_amount_over_the_limit_fail() {
    let service = service();
    service.ledger.set_credit_limit("frugal", 1000).await.expect("limit set");
    service.handle(&placed("c-1", DECLINED_CARD_TOKEN, 100)).await.expect("declined");
    service.handle(&placed("frugal", "tok_visa", 1001)).await.expect("declined");
    service.handle(&placed("c-2", "tok_visa", LIMIT + 1)).await.expect("declined by the default limit");
    let reasons: Vec<DeclineReason> =
        published(&service).iter().map(|e| e.decode::<PaymentFailed>().expect("failed").data.reason).collect();
    assert_eq!(reasons, [DeclineReason::CardDeclined, DeclineReason::OverLimit, DeclineReason::OverLimit]);
}

#[tokio::test]
async fn a_cancelled_order_is_refunded_exactly_once() {
    let service = service();
    let order = placed("c-1", "tok_visa", 2500);
    service.handle(&order).await.expect("charged");
    service.handle(&cancelled(&order)).await.expect("refunded");
    service.handle(&cancelled(&order)).await.expect("again");
    let refunds: Vec<IncomingEvent> = published(&service).into_iter().filter(|e| e.is::<PaymentRefunded>()).collect();
    assert_eq!(refunds.len(), 2);
    assert_eq!(refunds[0].id, refunds[1].id, "one refund, announced twice");
    assert_eq!(refunds[0].decode::<PaymentRefunded>().expect("refund").data.amount_cents, 2500);

    // The OrderPlaced delivered once more after all that charges nothing and announces nothing.
    service.handle(&order).await.expect("late duplicate");
    assert_eq!(published(&service).iter().filter(|e| e.is::<PaymentProcessed>()).count(), 1);
}

#[tokio::test]
async fn a_declined_order_has_nothing_to_refund() {
    let service = service();
    let order = placed("c-1", DECLINED_CARD_TOKEN, 2500);
    service.handle(&order).await.expect("declined");
    service.handle(&cancelled(&order)).await.expect("nothing to do");
    assert!(published(&service).iter().all(|e| !e.is::<PaymentRefunded>()));
}

#[tokio::test]
async fn a_cancellation_that_overtakes_its_order_voids_the_payment() {
    let service = service();
    let order = placed("c-1", "tok_visa", 2500);
    service.handle(&cancelled(&order)).await.expect("voided");
    service.handle(&order).await.expect("late order");
    assert!(published(&service).is_empty(), "never charged, nothing to announce");
    let order_id = order.decode::<OrderPlaced>().expect("order").data.order_id;
    let payment = service.ledger.find(order_id).await.expect("reads").expect("recorded");
    assert_eq!(payment.status, PaymentStatus::Voided);
}

#[tokio::test]
async fn the_sample_order_is_charged() {
    use aws_lambda_events::event::sqs::SqsEvent;
    let service = service();
    let batch: SqsEvent =
        serde_json::from_str(include_str!("../../../events/sqs/payment-order-placed.json")).expect("an SQS event");
    let metrics = Metrics::from_env(&Env::default());
    let response = shared::batch::process_batch(&service, &metrics, batch).await;
    assert!(response.batch_item_failures.is_empty());
    assert!(published(&service)[0].is::<PaymentProcessed>());
}
