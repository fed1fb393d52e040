//! The tests of `batch`.

use super::*;
use crate::bus::InMemoryBus;
use crate::retry::RecordedFailures;
use crate::test_message::Note;
use messaging::TopicArn;
use serde_json::{Value, json};
use std::time::Duration;

/// Answers each note on `next`, except notes about what it refuses.
struct Relay {
    refuse: Option<Uuid>,
}

#[async_trait]
impl BatchHandler for Relay {
    type Message = Note;

    async fn handle_batch(&self, batch: &[Inbound<Note>]) -> Vec<RecordOutcome<Note>> {
        batch
            .iter()
            .map(|inbound| {
                if Some(inbound.event.about.as_str()) == self.refuse.map(|r| r.to_string()).as_deref() {
                    return Err(RecordError::permanent("refused"));
                }
                Ok(vec![Outgoing::new(&TopicArn("next".into()), inbound.event.answer("passed on"))])
            })
            .collect()
    }
}

fn request(about: Uuid) -> Note {
    Note::about(&about.to_string(), "a request")
}

fn batch(bodies: &[String], traceparent: Option<&str>) -> SqsEvent {
    let records: Vec<Value> = bodies
        .iter()
        .enumerate()
        .map(|(i, body)| {
            let mut attributes = json!({});
            if let Some(tp) = traceparent {
                attributes = json!({"traceparent": {"stringValue": tp, "dataType": "String"}});
            }
            json!({
                "messageId": format!("m{i}"),
                "body": body,
                "attributes": {"ApproximateReceiveCount": "3"},
                "messageAttributes": attributes,
            })
        })
        .collect();
    serde_json::from_value(json!({"Records": records})).expect("valid SQS event")
}

fn function(refuse: Option<Uuid>) -> SqsFunction<Relay, Arc<InMemoryBus<Note>>> {
    function_with(refuse, Arc::new(RecordedFailures::default()))
}

fn function_with(refuse: Option<Uuid>, failures: Arc<RecordedFailures>) -> SqsFunction<Relay, Arc<InMemoryBus<Note>>> {
    let env: Env = [("POWERTOOLS_METRICS_DISABLED", "true"), ("RETRY_BACKOFF_BASE_SECONDS", "4")].into_iter().collect();
    SqsFunction::from_env(Relay { refuse }, Arc::new(InMemoryBus::default()), failures, &env).expect("valid")
}

fn failed(response: &SqsBatchResponse) -> Vec<&str> {
    response.batch_item_failures.iter().map(|f| f.item_identifier.as_str()).collect()
}

#[tokio::test]
async fn poison_goes_to_the_dead_letter_queue_at_once_with_its_reason_and_the_rest_goes_on() {
    let refused = Uuid::new_v4();
    let bodies = [
        request(Uuid::new_v4()).to_body(),
        "{not json".to_owned(),
        request(refused).to_body(),
        request(Uuid::new_v4()).to_body(),
    ];
    let failures = Arc::new(RecordedFailures::default());
    let function = function_with(Some(refused), failures.clone());
    let response = function.process(batch(&bodies, None), &Invocation::default()).await;
    assert!(failed(&response).is_empty(), "dead-lettered records are handled: their queue deletes them");
    assert_eq!(function.bus.events_on("next").len(), 2);
    let mut dead = failures.dead_lettered.lock().expect("lock").clone();
    dead.sort();
    assert_eq!(dead.iter().map(|(id, _)| id.as_str()).collect::<Vec<_>>(), ["m1", "m2"]);
    assert!(dead[0].1.starts_with("not a note"), "{dead:?}");
    assert_eq!(dead[1].1, "refused");
    assert!(failures.retried.lock().expect("lock").is_empty());
}

#[tokio::test]
async fn a_transient_failure_comes_back_after_a_backoff_that_grows_with_its_receives() {
    let failures = Arc::new(RecordedFailures::default());
    let function = function_with(None, failures.clone());
    function.bus.refuse("next");
    let response = function.process(batch(&[request(Uuid::new_v4()).to_body()], None), &Invocation::default()).await;
    assert_eq!(failed(&response), vec!["m0"]);
    let retried = failures.retried.lock().expect("lock").clone();
    // The third receive of a 4 s base: between 8 and 16 seconds.
    let [(id, delay)] = retried.as_slice() else { panic!("one retry: {retried:?}") };
    assert_eq!(id, "m0");
    assert!((Duration::from_secs(8)..=Duration::from_secs(16)).contains(delay), "{delay:?}");
    assert!(failures.dead_lettered.lock().expect("lock").is_empty());
}

/// Failed records that cannot be settled: the queue's own redrive policy takes over.
struct Unreachable;

#[async_trait]
impl FailedRecords for Unreachable {
    async fn retry_after(&self, _: &SqsMessage, _: Duration) -> Result<(), String> {
        Err("SQS is out".into())
    }
    async fn dead_letter(&self, _: &SqsMessage, _: &str) -> Result<(), String> {
        Err("SQS is out".into())
    }
}

#[tokio::test]
async fn poison_that_cannot_be_dead_lettered_is_reported_so_it_is_not_lost() {
    let env: Env = [("POWERTOOLS_METRICS_DISABLED", "true")].into_iter().collect();
    let function =
        SqsFunction::from_env(Relay { refuse: None }, Arc::new(InMemoryBus::default()), Arc::new(Unreachable), &env)
            .expect("valid");
    let response = function.process(batch(&["{".to_owned()], None), &Invocation::default()).await;
    assert_eq!(failed(&response), vec!["m0"]);
}

#[tokio::test]
async fn the_same_event_twice_in_a_batch_is_handled_once_and_acknowledged_twice() {
    let event = request(Uuid::new_v4()).to_body();
    let function = function(None);
    let response = function.process(batch(&[event.clone(), event], None), &Invocation::default()).await;
    assert!(failed(&response).is_empty());
    assert_eq!(function.bus.published().len(), 1);
}

#[tokio::test]
async fn published_events_continue_the_trace_of_their_cause() {
    let cause = TraceContext::start(Uuid::new_v4());
    let function = function(None);
    let body = request(Uuid::new_v4()).to_body();
    function.process(batch(&[body], Some(&cause.traceparent())), &Invocation::default()).await;
    let published = function.bus.published();
    let trace = published[0].trace.expect("a trace");
    assert_eq!(trace.trace_id, cause.trace_id);
    assert_eq!(trace, cause.child_for(published[0].event.id), "derived from the event, so a repeat is the same");
}

/// Answers the whole batch with one note on `summary`, which every record lists.
struct Summariser;

#[async_trait]
impl BatchHandler for Summariser {
    type Message = Note;

    async fn handle_batch(&self, batch: &[Inbound<Note>]) -> Vec<RecordOutcome<Note>> {
        let summary = Outgoing::new(&TopicArn("summary".into()), batch[0].event.answer("all of them"));
        batch.iter().map(|_| Ok(vec![summary.clone()])).collect()
    }
}

fn summariser(bus: Arc<InMemoryBus<Note>>) -> SqsFunction<Summariser, Arc<InMemoryBus<Note>>> {
    let env: Env = [("POWERTOOLS_METRICS_DISABLED", "true")].into_iter().collect();
    SqsFunction::from_env(Summariser, bus, Arc::new(RecordedFailures::default()), &env).expect("valid")
}

#[tokio::test]
async fn an_event_several_records_share_is_published_once_and_fails_them_all_if_it_fails() {
    let bodies: Vec<String> = (0..3).map(|_| request(Uuid::new_v4()).to_body()).collect();
    let function = summariser(Arc::new(InMemoryBus::default()));
    let response = function.process(batch(&bodies, None), &Invocation::default()).await;
    assert!(failed(&response).is_empty());
    assert_eq!(function.bus.published().len(), 1, "one event, however many records list it");

    let down = Arc::new(InMemoryBus::default());
    down.refuse("summary");
    let response = summariser(down).process(batch(&bodies, None), &Invocation::default()).await;
    assert_eq!(failed(&response), vec!["m0", "m1", "m2"], "each record whose event did not go out");
}

#[tokio::test]
async fn events_published_counts_an_event_once_however_many_records_list_it() {
    let bodies: Vec<String> = (0..3).map(|_| request(Uuid::new_v4()).to_body()).collect();
    let reported = |bus: Arc<InMemoryBus<Note>>| {
        let mut function = summariser(bus);
        function.metrics = Metrics::in_memory("summariser");
        let bodies = bodies.clone();
        async move {
            function.process(batch(&bodies, None), &Invocation::default()).await;
            let documents = function.metrics.documents();
            assert_eq!(documents.len(), 1, "one document an invocation: {documents:?}");
            documents[0].clone()
        }
    };

    let sent = reported(Arc::new(InMemoryBus::default())).await;
    assert_eq!(sent["EventsPublished"], 1, "three records list the one summary that went out: {sent}");
    assert_eq!(sent["MessagesProcessed"], 3, "{sent}");

    let down = Arc::new(InMemoryBus::default());
    down.refuse("summary");
    let unsent = reported(down).await;
    assert_eq!(unsent.get("EventsPublished"), None, "nothing went out, and zero is left out: {unsent}");
    assert_eq!(unsent["MessagesFailed"], 3.0, "{unsent}");
}
