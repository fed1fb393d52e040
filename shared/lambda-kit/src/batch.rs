//! An SQS-triggered function, as Lambda's event source mapping runs it with
//! `ReportBatchItemFailures`.
//!
//! A handler gets the whole batch at once, so it can do its storage work in a few batched
//! requests, and returns for each event the events it produces instead of publishing them.
//! The kit then publishes the whole batch's events together (PublishBatch, ten per call
//! and topic) and acknowledges a record only once its events are out: a record whose
//! handling or publishing failed goes back in the batch response and is retried (and
//! dead-lettered after the queue's `maxReceiveCount`), while its batch mates are not.
//! Redelivering a record publishes the very same events again: handlers derive event ids
//! from their cause and find their earlier writes by natural key.
//!
//! A failed record is settled by the kind of its failure (see [`crate::retry`]): a
//! transient one comes back after a backoff, a permanent one goes to the dead-letter
//! queue at once, with its reason.

use std::collections::{HashMap, HashSet};
use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use async_trait::async_trait;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use messaging::trace::{AWS_TRACE_HEADER, TRACEPARENT, TraceContext};
use messaging::{Message, Outgoing, RecordError, TOPIC};
use tracing::{Instrument, Span, debug, error, info_span, warn};
use uuid::Uuid;

use crate::bus::EventBus;
use crate::config::{ConfigError, Env};
use crate::faults::{FaultPoint, Faults};
use crate::retry::{FailedRecords, RetryPolicy};
use crate::telemetry::{Metrics, Unit};

/// An event of the batch, decoded, with the trace it continues and the span its log lines
/// belong to (enter it with `inbound.span.in_scope(|| …)` to log about this event).
#[derive(Debug, Clone)]
pub struct Inbound<M> {
    /// The event, as its envelope says.
    pub event: M,
    /// The topic it was published to, as its publisher said (the `topic` attribute).
    pub topic: Option<String>,
    /// The trace it continues: from its `traceparent`, else from X-Ray's header, else new.
    pub trace: TraceContext,
    /// The span of its log lines: its correlation id, trace id, event id and type.
    pub span: Span,
}

impl<M: Message> Inbound<M> {
    /// An inbound event outside any invocation (tests, benchmarks), with a trace of its own.
    pub fn detached(event: M) -> Self {
        let trace = TraceContext::start(event.id());
        Self { span: record_span(&event, &trace), event, topic: None, trace }
    }
}

/// What a handler makes of one event: the events to publish, or why it failed.
pub type RecordOutcome<M> = Result<Vec<Outgoing<M>>, RecordError>;

/// What a queue-triggered function does with a batch: its domain code.
#[async_trait]
pub trait BatchHandler: Send + Sync {
    /// The messages its queue delivers and the events it produces.
    type Message: Message;

    /// Handles every event of a batch (each id once) and returns one outcome per event, in
    /// the same order.
    async fn handle_batch(&self, batch: &[Inbound<Self::Message>]) -> Vec<RecordOutcome<Self::Message>>;
}

/// What Lambda tells an invocation about itself.
#[derive(Debug, Clone, Default)]
pub struct Invocation {
    /// Lambda's id of the invocation, in every log line.
    pub request_id: String,
    /// The X-Ray trace header of the invocation, if tracing is on.
    pub xray_trace_id: Option<String>,
}

impl From<&lambda_runtime::Context> for Invocation {
    fn from(context: &lambda_runtime::Context) -> Self {
        Self { request_id: context.request_id.clone(), xray_trace_id: context.xray_trace_id.clone() }
    }
}

/// A queue consumer: a batch handler with the bus it publishes to, where its failed
/// records go, its metrics and faults.
pub struct SqsFunction<H, B> {
    handler: H,
    bus: B,
    failures: Arc<dyn FailedRecords>,
    retry: RetryPolicy,
    metrics: Metrics,
    faults: Faults,
    warm: AtomicBool,
}

/// What became of a failed record.
enum Settled {
    /// Reported as failed: its queue delivers it again (after a backoff if one was set).
    Reported,
    /// In the dead-letter queue already: reported as handled, so it is deleted.
    DeadLettered,
}

impl<H: BatchHandler, B: EventBus<H::Message>> SqsFunction<H, B> {
    /// A queue consumer of `handler`, publishing to `bus`; `failures` settles failed records.
    pub fn new(
        handler: H,
        bus: B,
        failures: Arc<dyn FailedRecords>,
        retry: RetryPolicy,
        metrics: Metrics,
        faults: Faults,
    ) -> Self {
        Self { handler, bus, failures, retry, metrics, faults, warm: AtomicBool::new(false) }
    }

    /// With the retry policy, metrics and faults the environment configures.
    pub fn from_env(handler: H, bus: B, failures: Arc<dyn FailedRecords>, env: &Env) -> Result<Self, ConfigError> {
        Ok(Self::new(
            handler,
            bus,
            failures,
            RetryPolicy::from_env(env)?,
            Metrics::from_env(env),
            Faults::from_env(env)?,
        ))
    }

    /// The domain handler.
    pub fn handler(&self) -> &H {
        &self.handler
    }

    /// The bus it publishes to.
    pub fn bus(&self) -> &B {
        &self.bus
    }

    /// Handles one invocation's batch and says which records failed.
    pub async fn process(&self, event: SqsEvent, invocation: &Invocation) -> SqsBatchResponse {
        let span = info_span!("invocation", request_id = %invocation.request_id);
        self.process_in_span(event, invocation).instrument(span).await
    }

    async fn process_in_span(&self, event: SqsEvent, invocation: &Invocation) -> SqsBatchResponse {
        let started = Instant::now();
        let cpu_started = crate::telemetry::process_cpu_time();
        let cold_start = !self.warm.swap(true, Ordering::Relaxed);
        let records = event.records;

        // Decode; a record that is not an event fails alone. The same event twice in one
        // batch (an at-least-once queue may do that) is handled once.
        let mut unique: Vec<Inbound<H::Message>> = Vec::new();
        let mut index_of: HashMap<Uuid, usize> = HashMap::new();
        let mut slot: Vec<Result<usize, RecordError>> = Vec::with_capacity(records.len());
        for record in &records {
            slot.push(match read_record::<H::Message>(record) {
                Ok(inbound) => Ok(*index_of.entry(inbound.event.id()).or_insert_with(|| {
                    unique.push(inbound);
                    unique.len() - 1
                })),
                Err(err) => Err(err),
            });
        }

        self.faults.at(FaultPoint::BeforeWrite, &invocation.request_id);
        let outcomes = if unique.is_empty() { Vec::new() } else { self.handler.handle_batch(&unique).await };
        let outcomes = if outcomes.len() == unique.len() {
            outcomes
        } else {
            error!(
                expected = unique.len(),
                got = outcomes.len(),
                "the handler answered for the wrong number of events"
            );
            unique.iter().map(|_| Err(RecordError::transient("the handler lost track of its batch"))).collect()
        };
        self.faults.at(FaultPoint::AfterWrite, &invocation.request_id);

        let (outcomes, published) = self.publish(&unique, outcomes).await;
        let failures = records.iter().zip(&slot).filter_map(|(record, slot)| {
            let err = match slot {
                Ok(index) => outcomes[*index].as_ref().err()?.shared(),
                Err(err) => err.shared(),
            };
            let span = slot.as_ref().map(|i| unique[*i].span.clone()).unwrap_or_else(|_| Span::current());
            Some(async move {
                let settled = self.settle_failure(record, &err).instrument(span).await;
                (record, settled)
            })
        });
        let mut response = SqsBatchResponse::default();
        let (mut failed, mut dead_lettered) = (0, 0);
        for (record, settled) in futures::future::join_all(failures).await {
            match settled {
                Settled::Reported => {
                    response.add_failure(record.message_id.clone().unwrap_or_default());
                    failed += 1;
                }
                Settled::DeadLettered => dead_lettered += 1,
            }
        }
        for (inbound, outcome) in unique.iter().zip(&outcomes) {
            if let Ok(events) = outcome {
                inbound.span.in_scope(|| debug!(events, "event handled"));
            }
        }
        // Each metric costs a month's fee per service: only what a graph or an alarm needs
        // is one. Lambda's own metrics count invocations, their duration and cold starts,
        // SQS's count the messages each queue's consumer deleted (handled), and the
        // dead-letter queues' depths alarm on dead letters; the rest are properties of the
        // line, for Logs Insights.
        let cpu_ms = (crate::telemetry::process_cpu_time() - cpu_started).as_secs_f64() * 1000.0;
        self.metrics.emit_with(
            &[("MessagesFailed", failed as f64, Unit::Count)],
            &[
                ("MessagesProcessed", serde_json::json!(records.len() - failed - dead_lettered)),
                ("MessagesDeadLettered", serde_json::json!(dead_lettered)),
                ("EventsPublished", serde_json::json!(published)),
                ("HandlerCpuTime", serde_json::json!(to_microsecond(cpu_ms))),
                ("HandlerMilliseconds", serde_json::json!(to_microsecond(started.elapsed().as_secs_f64() * 1000.0))),
                ("ColdStart", serde_json::json!(cold_start)),
            ],
        );
        response
    }

    /// A transient failure comes back after a backoff; a permanent one goes to the
    /// dead-letter queue now. Where that cannot be done, the record is reported failed and
    /// its queue's own visibility timeout and redrive policy take over.
    async fn settle_failure(&self, record: &SqsMessage, err: &RecordError) -> Settled {
        let message_id = record.message_id.as_deref().unwrap_or_default();
        let receive_count = receive_count(record);
        if err.is_transient() {
            let delay = self.retry.delay(receive_count, jitter());
            let outcome = self.failures.retry_after(record, delay).await;
            let retry_in = if outcome.is_ok() { delay.as_secs() } else { 0 };
            let (reason, retry_in_seconds) = (err, retry_in);
            warn!(message_id, receive_count, retry_in_seconds, %reason, "message failed; it will be retried");
            if let Err(problem) = outcome {
                warn!(message_id, problem, "could not delay the retry; the queue's visibility timeout applies");
            }
            return Settled::Reported;
        }
        let reason = messaging::describe(err);
        match self.failures.dead_letter(record, &reason).await {
            Ok(()) => {
                error!(message_id, receive_count, reason, "poison message: moved to the dead-letter queue");
                Settled::DeadLettered
            }
            Err(problem) => {
                error!(
                    message_id,
                    receive_count, reason, problem, "poison message: could not dead-letter it; it is retried"
                );
                Settled::Reported
            }
        }
    }

    /// Publishes every successful record's events, each continuing its cause's trace; a
    /// record whose events did not all go out fails. Returns how many events each record
    /// listed, and how many distinct events went out.
    ///
    /// An event several records share (a stage's event carries the pizzas of several) is
    /// handed to the bus once per record, and the bus sends each id once, in the trace of
    /// the first ([`crate::bus::by_topic`]); each of those records fails if it fails.
    async fn publish(
        &self,
        batch: &[Inbound<H::Message>],
        outcomes: Vec<RecordOutcome<H::Message>>,
    ) -> (Vec<Result<usize, RecordError>>, usize) {
        let publications: Vec<Outgoing<H::Message>> = batch
            .iter()
            .zip(&outcomes)
            .flat_map(|(inbound, outcome)| {
                outcome.iter().flatten().map(|event| {
                    let trace = event.trace.unwrap_or_else(|| inbound.trace.child_for(event.event.id()));
                    Outgoing { trace: Some(trace), ..event.clone() }
                })
            })
            .collect();
        let report = if publications.is_empty() { Default::default() } else { self.bus.publish(&publications).await };
        let sent: HashSet<Uuid> =
            publications.iter().map(|e| e.event.id()).filter(|id| !report.failed.contains_key(id)).collect();
        let listed = outcomes
            .into_iter()
            .map(|outcome| {
                let events = outcome?;
                match events.iter().find_map(|e| report.failed.get(&e.event.id())) {
                    Some(reason) => Err(RecordError::transient(format!("its events were not all published: {reason}"))),
                    None => Ok(events.len()),
                }
            })
            .collect();
        (listed, sent.len())
    }
}

fn read_record<M: Message>(record: &SqsMessage) -> Result<Inbound<M>, RecordError> {
    let event = M::from_json(record.body.as_deref().unwrap_or_default()).map_err(RecordError::permanent)?;
    let traceparent = record.message_attributes.get(TRACEPARENT).and_then(|a| a.string_value.as_deref());
    let trace = traceparent
        .and_then(TraceContext::from_traceparent)
        .or_else(|| record.attributes.get(AWS_TRACE_HEADER).and_then(|h| TraceContext::from_xray(h)))
        .unwrap_or_else(|| TraceContext::start(event.id()));
    let topic = record.message_attributes.get(TOPIC).and_then(|a| a.string_value.clone());
    Ok(Inbound { span: record_span(&event, &trace), event, topic, trace })
}

fn record_span<M: Message>(event: &M, trace: &TraceContext) -> Span {
    info_span!(
        "record",
        correlation_id = %event.correlation_id(),
        trace_id = %trace.trace_id(),
        event_id = %event.id(),
        event_type = %event.kind(),
    )
}

/// Milliseconds to the microsecond: the rest is noise, and bytes in every line.
fn to_microsecond(ms: f64) -> f64 {
    (ms * 1000.0).round() / 1000.0
}

fn receive_count(record: &SqsMessage) -> u32 {
    record.attributes.get("ApproximateReceiveCount").and_then(|count| count.parse().ok()).unwrap_or(1)
}

/// A number in `[0, 1)`, different for every call: spreads the retries of one outage.
fn jitter() -> f64 {
    (Uuid::new_v4().as_u128() as u32) as f64 / (u64::from(u32::MAX) + 1) as f64
}

/// Runs a queue consumer on the Lambda Runtime API until the process ends.
pub async fn run<H, B>(function: SqsFunction<H, B>) -> Result<(), lambda_runtime::Error>
where
    H: BatchHandler + 'static,
    B: EventBus<H::Message> + 'static,
{
    let function = Arc::new(function);
    let service = lambda_runtime::service_fn(move |event: lambda_runtime::LambdaEvent<SqsEvent>| {
        let function = function.clone();
        async move { Ok::<_, Infallible>(function.process(event.payload, &Invocation::from(&event.context)).await) }
    });
    lambda_runtime::Runtime::new(service).run().await
}

#[cfg(test)]
mod tests;
