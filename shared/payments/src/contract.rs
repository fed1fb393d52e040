//! The behaviour every adapter of the ledger must have; run against the in-memory ledger in
//! unit tests and against DynamoDB on the emulator in the system tests.

use pizza_events::catalogue::DeclineReason;
use uuid::Uuid;

use crate::{Payment, PaymentLedger, PaymentStatus, Recorded, Refund};

fn payment(status: PaymentStatus) -> Payment {
    Payment {
        order_id: Uuid::new_v4(),
        customer_id: "c-contract".into(),
        amount_cents: 2500,
        status,
        decline_reason: (status == PaymentStatus::Declined).then_some(DeclineReason::OverLimit),
    }
}

/// One payment per order, the first one standing; one refund of a charge; limits by customer.
pub async fn payment_ledger(ledger: &impl PaymentLedger) {
    let charged = payment(PaymentStatus::Charged);
    assert_eq!(ledger.record(&charged).await.expect("records"), Recorded::New(charged.clone()));
    let mut later = charged.clone();
    later.status = PaymentStatus::Voided;
    assert_eq!(ledger.record(&later).await.expect("answers"), Recorded::Existing(charged.clone()), "the first stands");

    let refunded = Payment { status: PaymentStatus::Refunded, ..charged.clone() };
    assert_eq!(ledger.refund(charged.order_id).await.expect("refunds"), Refund::Refunded(refunded.clone()));
    assert_eq!(ledger.refund(charged.order_id).await.expect("answers"), Refund::AlreadyRefunded(refunded.clone()));
    assert_eq!(ledger.find(charged.order_id).await.expect("reads"), Some(refunded));

    let declined = payment(PaymentStatus::Declined);
    ledger.record(&declined).await.expect("records");
    assert_eq!(
        ledger.refund(declined.order_id).await.expect("answers"),
        Refund::NothingCharged(Some(declined.clone()))
    );
    assert_eq!(
        ledger.find(declined.order_id).await.expect("reads").and_then(|p| p.decline_reason),
        Some(DeclineReason::OverLimit)
    );
    let nobody = Uuid::new_v4();
    assert_eq!(ledger.refund(nobody).await.expect("answers"), Refund::NothingCharged(None));
    assert_eq!(ledger.find(nobody).await.expect("reads"), None);

    let customer = format!("c-{}", Uuid::new_v4().simple());
    let stranger = format!("c-{}", Uuid::new_v4().simple());
    ledger.set_credit_limit(&customer, 100).await.expect("sets");
    ledger.set_credit_limit(&customer, 5000).await.expect("sets again");
    let limits = ledger.credit_limits(&[&customer, &stranger, &customer]).await.expect("reads");
    assert_eq!(limits.len(), 1, "{limits:?}");
    assert_eq!(limits.get(&customer), Some(&5000));
}
