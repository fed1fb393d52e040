//! A function that has nothing to do with pizzas, built on `lambda-kit` alone: it
//! welcomes new sign-ups.
//!
//! Its queue delivers `SignedUp` messages. For each, it mails a welcome once per address
//! (the address is the natural key: a redelivered or repeated sign-up finds the mail sent
//! and sends nothing again), and returns a `Welcomed` event for the next topic, whose id
//! follows from the sign-up's, so a redelivery publishes the very same event. A malformed
//! address can never succeed: it fails permanently, and the kit moves that record to the
//! dead-letter queue at once with its reason while its batch mates go on. A mail server
//! that is down fails the record transiently: it comes back after a backoff. Every log
//! line carries the sign-up's correlation id, the metrics are one EMF document per
//! invocation, and the published event continues the trace of the message that caused it.
//!
//! Deployed, it is an SQS-triggered Lambda function with `ReportBatchItemFailures`, and
//! `WELCOMED_TOPIC_ARN` in its environment; `cargo test --example welcome` runs its tests.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use lambda_kit::batch::{SqsFunction, run};
use lambda_kit::bus::SnsBus;
use lambda_kit::telemetry::{self, Metrics, Unit};
use lambda_kit::{
    BatchHandler, Env, Inbound, Message, Outgoing, RecordError, RecordOutcome, SqsFailedRecords, TopicArn,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The messages of this little system: a sign-up, and its welcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Signal {
    pub id: Uuid,
    pub kind: String,
    pub email: String,
}

#[derive(Debug, thiserror::Error)]
#[error("not a signal: {0}")]
pub struct NotASignal(#[from] serde_json::Error);

impl Signal {
    pub fn signed_up(email: &str) -> Self {
        Self { id: Uuid::new_v4(), kind: "SignedUp".into(), email: email.into() }
    }

    /// The welcome of a sign-up: its id follows from the sign-up's.
    fn welcomed(&self) -> Self {
        Self { id: Uuid::from_u128(self.id.as_u128() ^ 0x0057_454c_434f_4d45), kind: "Welcomed".into(), ..self.clone() }
    }
}

impl Message for Signal {
    type Invalid = NotASignal;

    fn from_json(body: &str) -> Result<Self, NotASignal> {
        Ok(serde_json::from_str(body)?)
    }

    fn to_json(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string(self)
    }

    fn id(&self) -> Uuid {
        self.id
    }

    fn kind(&self) -> &str {
        &self.kind
    }

    fn version(&self) -> u32 {
        1
    }

    fn correlation_id(&self) -> &str {
        &self.email
    }
}

/// Where welcomes are mailed: at most once per address.
#[async_trait]
pub trait Mailbox: Send + Sync {
    /// Mails `address` unless it was mailed before; whether this call mailed it.
    async fn send_once(&self, address: &str) -> Result<bool, String>;
}

/// A mailbox in memory (a real one would be a conditional write keyed by the address).
#[derive(Default)]
pub struct InMemoryMailbox {
    sent: Mutex<HashSet<String>>,
    down: Mutex<bool>,
}

#[async_trait]
impl Mailbox for InMemoryMailbox {
    async fn send_once(&self, address: &str) -> Result<bool, String> {
        if self.down.lock().map(|d| *d).unwrap_or(true) {
            return Err("the mail server is down".into());
        }
        let mut sent = self.sent.lock().map_err(|_| "poisoned".to_owned())?;
        Ok(sent.insert(address.to_owned()))
    }
}

pub struct Welcomer<M> {
    mailbox: M,
    welcomed: TopicArn,
    metrics: Metrics,
}

impl<M: Mailbox> Welcomer<M> {
    async fn welcome(&self, inbound: &Inbound<Signal>) -> RecordOutcome<Signal> {
        let signed_up = &inbound.event;
        if signed_up.kind != "SignedUp" {
            return Err(RecordError::permanent(format!("the welcomer does not handle {}", signed_up.kind)));
        }
        if !signed_up.email.contains('@') {
            return Err(RecordError::permanent(format!("{:?} is not an e-mail address", signed_up.email)));
        }
        if self.mailbox.send_once(&signed_up.email).await.map_err(RecordError::transient)? {
            inbound.span.in_scope(|| tracing::info!("welcome mailed"));
            self.metrics.add(&[("WelcomesMailed", 1.0, Unit::Count)]);
        }
        Ok(vec![Outgoing::new(&self.welcomed, signed_up.welcomed())])
    }
}

#[async_trait]
impl<M: Mailbox> BatchHandler for Welcomer<M> {
    type Message = Signal;

    async fn handle_batch(&self, batch: &[Inbound<Signal>]) -> Vec<RecordOutcome<Signal>> {
        futures::future::join_all(batch.iter().map(|inbound| self.welcome(inbound))).await
    }
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let env = Env::from_process();
    telemetry::init_logging(&env);
    let aws = lambda_kit::sdk_config().await;
    let welcomer = Welcomer {
        mailbox: InMemoryMailbox::default(),
        welcomed: TopicArn(env.require("WELCOMED_TOPIC_ARN")?.to_owned()),
        metrics: Metrics::from_env(&env),
    };
    run(SqsFunction::from_env(welcomer, SnsBus::new(&aws), Arc::new(SqsFailedRecords::new(&aws)), &env)?).await
}

#[cfg(test)]
mod tests {
    use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
    use lambda_kit::batch::Invocation;
    use lambda_kit::bus::InMemoryBus;
    use lambda_kit::retry::RecordedFailures;
    use lambda_kit::trace::TraceContext;
    use serde_json::json;

    use super::*;

    type Function = SqsFunction<Welcomer<Arc<InMemoryMailbox>>, Arc<InMemoryBus<Signal>>>;

    #[async_trait]
    impl Mailbox for Arc<InMemoryMailbox> {
        async fn send_once(&self, address: &str) -> Result<bool, String> {
            self.as_ref().send_once(address).await
        }
    }

    fn function(mailbox: Arc<InMemoryMailbox>, failures: Arc<RecordedFailures>) -> Function {
        let env: Env = [("POWERTOOLS_METRICS_DISABLED", "true")].into_iter().collect();
        let welcomer = Welcomer { mailbox, welcomed: TopicArn("welcomed".into()), metrics: Metrics::from_env(&env) };
        SqsFunction::from_env(welcomer, Arc::new(InMemoryBus::default()), failures, &env).expect("configured")
    }

    fn batch(bodies: &[String], traceparent: Option<String>) -> SqsEvent {
        let records: Vec<_> = bodies
            .iter()
            .enumerate()
            .map(|(i, body)| {
                let attributes = match &traceparent {
                    Some(tp) => json!({"traceparent": {"stringValue": tp, "dataType": "String"}}),
                    None => json!({}),
                };
                json!({"messageId": format!("m{i}"), "body": body, "attributes": {}, "messageAttributes": attributes})
            })
            .collect();
        serde_json::from_value(json!({ "Records": records })).expect("an SQS event")
    }

    fn body(signal: &Signal) -> String {
        signal.to_json().expect("serialises")
    }

    fn failed(response: &SqsBatchResponse) -> Vec<&str> {
        response.batch_item_failures.iter().map(|f| f.item_identifier.as_str()).collect()
    }

    #[tokio::test]
    async fn each_address_is_welcomed_once_and_poison_is_dead_lettered_while_the_rest_goes_on() {
        let (mailbox, failures) = (Arc::new(InMemoryMailbox::default()), Arc::new(RecordedFailures::default()));
        let function = function(mailbox.clone(), failures.clone());
        let ada = Signal::signed_up("ada@example.com");
        let again = Signal::signed_up("ada@example.com");
        let bodies = [body(&ada), body(&Signal::signed_up("not an address")), body(&ada), body(&again)];

        let response = function.process(batch(&bodies, None), &Invocation::default()).await;

        assert!(failed(&response).is_empty(), "the poison record is dead-lettered, so it is deleted");
        let dead = failures.dead_lettered.lock().expect("lock").clone();
        assert_eq!(dead, [("m1".to_owned(), "\"not an address\" is not an e-mail address".to_owned())]);
        assert_eq!(mailbox.sent.lock().expect("lock").len(), 1, "one mail for one address");
        let welcomed: Vec<Uuid> = function.bus().events_on("welcomed").iter().map(|s| s.id).collect();
        assert_eq!(welcomed, [ada.welcomed().id, again.welcomed().id], "a duplicate in the batch is handled once");
    }

    #[tokio::test]
    async fn a_mail_server_that_is_down_fails_the_record_for_a_retry() {
        let (mailbox, failures) = (Arc::new(InMemoryMailbox::default()), Arc::new(RecordedFailures::default()));
        *mailbox.down.lock().expect("lock") = true;
        let function = function(mailbox, failures.clone());

        let response =
            function.process(batch(&[body(&Signal::signed_up("bo@example.com"))], None), &Invocation::default()).await;

        assert_eq!(failed(&response), ["m0"]);
        assert_eq!(failures.retried.lock().expect("lock").len(), 1);
        assert!(function.bus().published().is_empty());
    }

    #[tokio::test]
    async fn the_welcome_continues_the_trace_of_its_sign_up() {
        let function = function(Arc::new(InMemoryMailbox::default()), Arc::new(RecordedFailures::default()));
        let cause = TraceContext::start(Uuid::new_v4());
        let sign_up = Signal::signed_up("cy@example.com");

        function.process(batch(&[body(&sign_up)], Some(cause.traceparent())), &Invocation::default()).await;

        let published = function.bus().published();
        let trace = published[0].trace.expect("a trace");
        assert_eq!(trace.trace_id, cause.trace_id);
        assert_eq!(trace, cause.child_for(sign_up.welcomed().id));
    }
}
