//! The payment service.
//! - `OrderPlaced`: asks the (simulated) card provider, records the outcome once per order
//!   and announces `PaymentProcessed` or `PaymentFailed`. A redelivery finds the recorded
//!   outcome and announces it again, as the same event: no order is charged twice. A batch
//!   reads its customers' credit limits in one request.
//! - `OrderCancelled`: refunds a charge once (`CHARGED → REFUNDED`) and announces
//!   `PaymentRefunded`. A cancellation that overtakes its `OrderPlaced` voids the payment
//!   first, so the late `OrderPlaced` charges nothing.

use std::collections::HashMap;

use async_trait::async_trait;
use futures::future::join_all;
use lambda_kit::telemetry::{Metrics, Unit};
use lambda_kit::{BatchHandler, ConfigError, Env, Inbound, RecordError, RecordOutcome, TopicArn};
use payments::{DynamoLedger, Payment, PaymentLedger, PaymentStatus, Recorded, Refund};
use pizza_events::WireEvent;
use pizza_events::catalogue::{CardToken, OrderPlaced};
use sealing::KmsDataKeys;
use tracing::info;
use uuid::Uuid;

mod decide;

pub use decide::{Announcements, DECLINED_CARD_TOKEN, PaymentInput, authorize};

pub struct PaymentService<L> {
    ledger: L,
    announcements: Announcements,
    /// The credit limit of a customer without one of their own.
    default_limit_cents: u64,
    metrics: Metrics,
    /// Opens the card tokens the API sealed: this service alone may.
    cards: sealing::Envelope,
}

impl PaymentService<DynamoLedger> {
    pub fn from_env(env: &Env, aws: &aws_config::SdkConfig) -> Result<Self, ConfigError> {
        Ok(Self::new(
            DynamoLedger::new(aws, env.require("PAYMENTS_TABLE")?),
            TopicArn(env.require("PAYMENTS_TOPIC_ARN")?.to_owned()),
            env.require_parsed("DEFAULT_CREDIT_LIMIT_CENTS")?,
            Metrics::from_env(env),
            sealing::Envelope::new(KmsDataKeys::new(aws, env.require("CARD_TOKEN_KEY_ID")?)),
        ))
    }
}

impl<L: PaymentLedger> PaymentService<L> {
    pub fn new(
        ledger: L,
        payments_topic: TopicArn,
        default_limit_cents: u64,
        metrics: Metrics,
        cards: sealing::Envelope,
    ) -> Self {
        Self { ledger, announcements: Announcements { payments_topic }, default_limit_cents, metrics, cards }
    }

    /// The order's card token in clear, for the provider only: never logged, never kept.
    async fn card_token(&self, placed: &OrderPlaced) -> Result<String, RecordError> {
        let sealed = match &placed.card_token {
            CardToken::Sealed(sealed) => sealed,
            CardToken::Legacy(token) => return Ok(token.clone()),
        };
        let context = OrderPlaced::card_context(placed.order_id, &placed.customer_id);
        match self.cards.open(sealed, &context).await {
            Ok(token) => String::from_utf8(token).map_err(|_| RecordError::permanent("the card token is not text")),
            Err(err) if err.is_transient() => Err(RecordError::transient(err)),
            Err(err) => Err(RecordError::permanent(err)),
        }
    }

    pub fn ledger(&self) -> &L {
        &self.ledger
    }

    async fn charge(
        &self,
        inbound: &Inbound<WireEvent>,
        placed: OrderPlaced,
        limits: &HashMap<String, u64>,
    ) -> RecordOutcome<WireEvent> {
        let limit = limits.get(&placed.customer_id).copied().unwrap_or(self.default_limit_cents);
        let outcome = authorize(&self.card_token(&placed).await?, placed.amount_cents, limit);
        let payment = Payment {
            order_id: placed.order_id,
            customer_id: placed.customer_id.clone(),
            amount_cents: placed.amount_cents,
            status: if outcome.is_ok() { PaymentStatus::Charged } else { PaymentStatus::Declined },
            decline_reason: outcome.err(),
        };
        let payment = match self.ledger.record(&payment).await? {
            Recorded::New(payment) => {
                inbound.span.in_scope(|| {
                    info!(status = payment.status.as_str(), amount_cents = payment.amount_cents, "payment recorded")
                });
                let metric =
                    if payment.status == PaymentStatus::Charged { "PaymentsCharged" } else { "PaymentsDeclined" };
                self.metrics.add(&[(metric, 1.0, Unit::Count)]);
                payment
            }
            // The first outcome stands, whatever this delivery would have decided.
            Recorded::Existing(payment) => payment,
        };
        Ok(self.announcements.outcome(&inbound.event, &payment))
    }

    async fn refund(&self, inbound: &Inbound<WireEvent>, order_id: Uuid) -> RecordOutcome<WireEvent> {
        let refunded = match self.ledger.refund(order_id).await? {
            Refund::Refunded(payment) => {
                inbound.span.in_scope(|| info!(amount_cents = payment.amount_cents, "charge refunded"));
                self.metrics.add(&[("PaymentsRefunded", 1.0, Unit::Count)]);
                payment
            }
            Refund::AlreadyRefunded(payment) => payment,
            Refund::NothingCharged(Some(payment)) => {
                inbound.span.in_scope(|| info!(status = payment.status.as_str(), "nothing charged; nothing to refund"));
                return Ok(Vec::new());
            }
            Refund::NothingCharged(None) => return self.void(inbound, order_id).await,
        };
        Ok(self.announcements.refund(&inbound.event, &refunded))
    }

    /// The cancellation overtook the order: void its payment so it is never charged.
    async fn void(&self, inbound: &Inbound<WireEvent>, order_id: Uuid) -> RecordOutcome<WireEvent> {
        let void = Payment {
            order_id,
            customer_id: String::new(),
            amount_cents: 0,
            status: PaymentStatus::Voided,
            decline_reason: None,
        };
        match self.ledger.record(&void).await? {
            Recorded::New(_) => {
                inbound.span.in_scope(|| info!("cancelled before it was charged; payment voided"));
                Ok(Vec::new())
            }
            // The charge landed in between: refund it after all.
            Recorded::Existing(_) => match self.ledger.refund(order_id).await? {
                Refund::Refunded(payment) | Refund::AlreadyRefunded(payment) => {
                    Ok(self.announcements.refund(&inbound.event, &payment))
                }
                Refund::NothingCharged(_) => Ok(Vec::new()),
            },
        }
    }

    async fn handle(
        &self,
        inbound: &Inbound<WireEvent>,
        limits: &Result<HashMap<String, u64>, RecordError>,
    ) -> RecordOutcome<WireEvent> {
        match PaymentInput::decode(&inbound.event)? {
            PaymentInput::Charge(placed) => {
                // Only a charge needs the credit limits: a failed read fails the charges alone.
                let limits = limits.as_ref().map_err(RecordError::shared)?;
                self.charge(inbound, placed, limits).await
            }
            PaymentInput::Refund { order_id } => self.refund(inbound, order_id).await,
        }
    }

    /// The credit limits of every customer the batch charges, in one read.
    async fn limits_for(&self, batch: &[Inbound<WireEvent>]) -> Result<HashMap<String, u64>, RecordError> {
        let customers: Vec<String> =
            batch.iter().filter_map(|i| i.event.decode::<OrderPlaced>().ok()).map(|p| p.data.customer_id).collect();
        if customers.is_empty() {
            return Ok(HashMap::new());
        }
        let names: Vec<&str> = customers.iter().map(String::as_str).collect();
        Ok(self.ledger.credit_limits(&names).await?)
    }
}

#[async_trait]
impl<L: PaymentLedger> BatchHandler for PaymentService<L> {
    type Message = WireEvent;

    async fn handle_batch(&self, batch: &[Inbound<WireEvent>]) -> Vec<RecordOutcome<WireEvent>> {
        let limits = self.limits_for(batch).await;
        join_all(batch.iter().map(|inbound| self.handle(inbound, &limits))).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use payments::InMemoryLedger;
    use pizza_events::catalogue::CancelReason;
    use pizza_events::catalogue::{DeclineReason, OrderCancelled, PaymentFailed, PaymentProcessed, PaymentRefunded};
    use pizza_events::{Envelope, WireEvent};
    use sealing::LocalDataKeys;

    const LIMIT: u64 = 10_000;

    fn service() -> PaymentService<InMemoryLedger> {
        service_with(LocalDataKeys::new())
    }

    fn service_with(keys: LocalDataKeys) -> PaymentService<InMemoryLedger> {
        let env: Env = [("POWERTOOLS_METRICS_DISABLED", "true")].into_iter().collect();
        let cards = sealing::Envelope::new(keys);
        PaymentService::new(
            InMemoryLedger::default(),
            TopicArn("payments".into()),
            LIMIT,
            Metrics::from_env(&env),
            cards,
        )
    }

    /// An order paid with `card_token` as an older API announced it, in clear.
    fn placed(customer: &str, card_token: &str, amount_cents: u64) -> Inbound<WireEvent> {
        inbound(Uuid::new_v4(), customer, CardToken::Legacy(card_token.into()), amount_cents)
    }

    fn inbound(order_id: Uuid, customer: &str, card_token: CardToken, amount_cents: u64) -> Inbound<WireEvent> {
        let data = OrderPlaced { order_id, pizzas: 1, customer_id: customer.into(), card_token, amount_cents };
        Inbound::detached(Envelope::new("api", order_id.to_string(), data).to_wire())
    }

    /// An order paid with `card_token`, sealed as the API seals it, with `keys`.
    async fn sealed(keys: &LocalDataKeys, order_id: Uuid, customer: &str, card_token: &str) -> Inbound<WireEvent> {
        let context = OrderPlaced::card_context(order_id, customer);
        let sealed = sealing::Envelope::new(keys.clone()).seal(card_token.as_bytes(), &context).await.expect("sealed");
        inbound(order_id, customer, CardToken::Sealed(sealed), 1250)
    }

    #[tokio::test]
    async fn a_sealed_card_is_opened_for_its_own_order_only() {
        let keys = LocalDataKeys::new();
        let service = service_with(keys.clone());
        let declined = sealed(&keys, Uuid::new_v4(), "c-1", DECLINED_CARD_TOKEN).await;
        let accepted = sealed(&keys, Uuid::new_v4(), "c-1", "tok_visa").await;
        let events = handle(&service, &[declined, accepted]).await;
        let types: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
        assert_eq!(types, ["PaymentFailed", "PaymentProcessed"], "the provider saw the tokens in clear");

        // A sealed token copied into another order, or sealed by another key, never opens:
        // poison, for the dead-letter queue, and nothing is charged.
        let mut moved = sealed(&keys, Uuid::new_v4(), "c-1", "tok_visa").await;
        let mut data = moved.event.decode::<OrderPlaced>().expect("an order").data;
        data.order_id = Uuid::new_v4();
        moved = inbound(data.order_id, "c-1", data.card_token, 1250);
        let stranger = sealed(&LocalDataKeys::new(), Uuid::new_v4(), "c-1", "tok_visa").await;
        let refused = [moved, stranger];
        for outcome in service.handle_batch(&refused).await {
            let err = outcome.expect_err("refused");
            assert!(!err.is_transient(), "{err}");
        }
        for inbound in &refused {
            let order_id = inbound.event.decode::<OrderPlaced>().expect("an order").data.order_id;
            assert_eq!(service.ledger().find(order_id).await.expect("reads"), None, "nothing charged");
        }
    }

    fn cancelled(order: &Inbound<WireEvent>) -> Inbound<WireEvent> {
        let order_id = order.event.decode::<OrderPlaced>().expect("an order").data.order_id;
        let data = OrderCancelled { order_id, reason: CancelReason::OutOfStock };
        Inbound::detached(Envelope::new("orders", order_id.to_string(), data).to_wire())
    }

    async fn handle(service: &PaymentService<InMemoryLedger>, batch: &[Inbound<WireEvent>]) -> Vec<WireEvent> {
        let outcomes = service.handle_batch(batch).await;
        outcomes.into_iter().flat_map(|o| o.expect("handled")).map(|o| o.event).collect()
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
        let events = handle(&service, &[order.clone(), order.clone()]).await;
        let again = handle(&service, std::slice::from_ref(&order)).await;
        assert_eq!(events.len(), 2);
        assert!(events.iter().chain(&again).all(|e| e.id == events[0].id), "the same announcement every time");
        let processed = events[0].decode::<PaymentProcessed>().expect("processed").data;
        assert_eq!(processed.amount_cents, 2500);
        let payment = service.ledger.find(processed.order_id).await.expect("reads").expect("recorded");
        assert_eq!(payment.status, PaymentStatus::Charged);
    }

    #[tokio::test]
    async fn a_batch_declines_a_bad_card_and_amounts_over_each_customers_limit() {
        let service = service();
        service.ledger.set_credit_limit("frugal", 1000).await.expect("limit set");
        let batch = [
            placed("c-1", DECLINED_CARD_TOKEN, 100),
            placed("frugal", "tok_visa", 1001),
            placed("c-2", "tok_visa", LIMIT + 1),
            placed("frugal", "tok_visa", 999),
        ];
        let events = handle(&service, &batch).await;
        let reasons: Vec<Option<DeclineReason>> =
            events.iter().map(|e| e.decode::<PaymentFailed>().ok().map(|f| f.data.reason)).collect();
        assert_eq!(
            reasons,
            [Some(DeclineReason::CardDeclined), Some(DeclineReason::OverLimit), Some(DeclineReason::OverLimit), None]
        );
        assert!(events[3].is::<PaymentProcessed>());
    }

    #[tokio::test]
    async fn a_cancelled_order_is_refunded_exactly_once() {
        let service = service();
        let order = placed("c-1", "tok_visa", 2500);
        handle(&service, std::slice::from_ref(&order)).await;
        let refunds = handle(&service, &[cancelled(&order)]).await;
        let again = handle(&service, &[cancelled(&order)]).await;
        assert_eq!(refunds[0].id, again[0].id, "one refund, announced twice");
        assert_eq!(refunds[0].decode::<PaymentRefunded>().expect("refund").data.amount_cents, 2500);
        // The OrderPlaced delivered once more after all that charges nothing and announces nothing.
        assert!(handle(&service, &[order]).await.is_empty());
    }

    /// A ledger whose credit limits cannot be read (DynamoDB throttles the read).
    struct LimitsUnreadable(InMemoryLedger);

    #[async_trait]
    impl PaymentLedger for LimitsUnreadable {
        async fn credit_limits(&self, _: &[&str]) -> Result<HashMap<String, u64>, dynamo_kit::StoreError> {
            Err(dynamo_kit::StoreError::unavailable("throttled"))
        }
        async fn record(&self, payment: &Payment) -> Result<Recorded, dynamo_kit::StoreError> {
            self.0.record(payment).await
        }
        async fn refund(&self, order_id: Uuid) -> Result<Refund, dynamo_kit::StoreError> {
            self.0.refund(order_id).await
        }
        async fn find(&self, order_id: Uuid) -> Result<Option<Payment>, dynamo_kit::StoreError> {
            self.0.find(order_id).await
        }
        async fn set_credit_limit(&self, customer: &str, cents: u64) -> Result<(), dynamo_kit::StoreError> {
            self.0.set_credit_limit(customer, cents).await
        }
    }

    #[tokio::test]
    async fn refunds_go_through_when_the_credit_limits_cannot_be_read_and_only_charges_wait() {
        let charged = service();
        let earlier = placed("c-1", "tok_visa", 2500);
        handle(&charged, std::slice::from_ref(&earlier)).await;
        let env: Env = [("POWERTOOLS_METRICS_DISABLED", "true")].into_iter().collect();
        let service = PaymentService::new(
            LimitsUnreadable(charged.ledger),
            TopicArn("payments".into()),
            LIMIT,
            Metrics::from_env(&env),
            sealing::Envelope::new(LocalDataKeys::new()),
        );
        let outcomes = service.handle_batch(&[placed("c-2", "tok_visa", 100), cancelled(&earlier)]).await;
        assert!(matches!(&outcomes[0], Err(err) if err.is_transient()), "the charge waits for its limit");
        let refund = outcomes[1].as_ref().expect("the refund needs no limit");
        assert_eq!(refund[0].event.decode::<PaymentRefunded>().expect("refunded").data.amount_cents, 2500);
    }

    #[tokio::test]
    async fn a_declined_order_has_nothing_to_refund() {
        let service = service();
        let order = placed("c-1", DECLINED_CARD_TOKEN, 2500);
        handle(&service, std::slice::from_ref(&order)).await;
        assert!(handle(&service, &[cancelled(&order)]).await.is_empty());
    }

    #[tokio::test]
    async fn a_cancellation_that_overtakes_its_order_voids_the_payment() {
        let service = service();
        let order = placed("c-1", "tok_visa", 2500);
        assert!(handle(&service, &[cancelled(&order)]).await.is_empty());
        assert!(handle(&service, std::slice::from_ref(&order)).await.is_empty(), "never charged, nothing to announce");
        let order_id = order.event.decode::<OrderPlaced>().expect("order").data.order_id;
        let payment = service.ledger.find(order_id).await.expect("reads").expect("recorded");
        assert_eq!(payment.status, PaymentStatus::Voided);
    }

    #[tokio::test]
    async fn an_event_the_service_does_not_handle_is_poison_and_its_batch_mates_go_on() {
        let service = service();
        let order = placed("c-1", "tok_visa", 100);
        let stray = Inbound::detached(
            Envelope::new("x", "o", PaymentRefunded { order_id: Uuid::new_v4(), amount_cents: 1 }).to_wire(),
        );
        let outcomes = service.handle_batch(&[stray, order]).await;
        assert!(matches!(outcomes[0], Err(RecordError::Permanent(_))));
        assert_eq!(outcomes[1].as_ref().expect("charged").len(), 1);
    }
}
