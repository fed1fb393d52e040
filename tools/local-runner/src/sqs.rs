//! An SQS event source mapping, as Lambda runs it: long-poll the queue, hand the batch to
//! the function, delete what succeeded and leave the rest to become visible again, so that
//! after `maxReceiveCount` receives the queue itself moves a message to its DLQ.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_lambda_events::event::sqs::SqsBatchResponse;
use aws_sdk_sqs::types::{
    ChangeMessageVisibilityBatchRequestEntry, DeleteMessageBatchRequestEntry, Message, MessageSystemAttributeName,
};
use bytes::Bytes;
use serde_json::{Map, Value, json};
use tokio::sync::{broadcast, watch};
use tracing::{Instrument, debug, error, info_span, warn};

use crate::chaos::{Chaos, Dice};
use crate::manifest::SqsSource;
use crate::pool::Pool;
use crate::runtime_api::Reply;
use crate::sandbox::InvokeError;

/// How long a receive waits for the first messages of a batch: 20 s, as Lambda's pollers
/// long-poll. An empty one is the idle poll AWS bills to a quiet queue, which `make bench`
/// tells from the receives that end a batching window by this wait. (Shutting down does
/// not wait for it: the poll is dropped.)
const LONG_POLL_SECONDS: i32 = 20;

/// One message's fate, for whoever watches the runner (the tests do).
#[derive(Debug, Clone)]
pub struct Delivery {
    pub function: String,
    pub queue: String,
    pub message_id: String,
    pub body: String,
    pub receive_count: u32,
    pub succeeded: bool,
}

/// After a timed-out invocation a poller waits before receiving again, doubling up to
/// this: a function that cannot keep up is not fed faster.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

pub struct SqsPoller {
    pub pool: Arc<Pool>,
    pub source: SqsSource,
    pub region: String,
    pub sqs: aws_sdk_sqs::Client,
    /// Makes the messages of a failed invocation (a crash, a timeout, an error) visible
    /// again after this delay instead of the queue's visibility timeout: a local
    /// convenience, as Lambda waits the full timeout. Records the function itself reported
    /// failed keep the backoff it gave them.
    pub retry_delay: Option<Duration>,
    pub chaos: Chaos,
    pub dice: Arc<Dice>,
    pub deliveries: broadcast::Sender<Delivery>,
    /// The queues (logical ids) not to poll for now, as a disabled event source mapping.
    pub held: watch::Receiver<HashSet<String>>,
}

impl SqsPoller {
    /// Waits while the queue is held; `false` if the runner shut down meanwhile.
    async fn wait_while_held(&mut self, shutdown: &mut watch::Receiver<bool>) -> bool {
        while self.held.borrow().contains(&self.source.queue.logical_id) {
            tokio::select! {
                _ = shutdown.changed() => return false,
                changed = self.held.changed() => if changed.is_err() { return false },
            }
        }
        true
    }

    pub async fn run(mut self, mut shutdown: watch::Receiver<bool>) {
        let span = info_span!("poller", function = %self.pool.function.logical_id, queue = %self.source.queue.name());
        async move {
            let mut backoff = Duration::ZERO;
            while !*shutdown.borrow() {
                if !backoff.is_zero() {
                    warn!(seconds = backoff.as_secs(), "the function timed out; backing off");
                    tokio::select! {
                        _ = shutdown.changed() => break,
                        _ = tokio::time::sleep(backoff) => {}
                    }
                }
                if !self.wait_while_held(&mut shutdown).await {
                    break;
                }
                let received = tokio::select! {
                    _ = shutdown.changed() => break,
                    received = self.receive() => received,
                };
                match received {
                    Ok(messages) if messages.is_empty() => {}
                    Ok(messages) => {
                        backoff = match self.invoke(messages).await {
                            Invoked::TimedOut => (backoff * 2).clamp(Duration::from_secs(1), MAX_BACKOFF),
                            Invoked::Answered => Duration::ZERO,
                        }
                    }
                    Err(err) => {
                        warn!(reason = %err, "receive failed; retrying in a second");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            }
        }
        .instrument(span)
        .await
    }

    /// One batch, as Lambda gathers it: from the first messages on, keep receiving until
    /// the batch is full or the batching window (counted from those first messages) is
    /// over. An idle long poll returns nothing.
    async fn receive(&self) -> Result<Vec<Message>, String> {
        let batch_size = self.source.mapping.batch_size.max(1) as usize;
        let window = Duration::from_secs(self.source.mapping.batching_window_seconds);
        let mut until: Option<Instant> = None;
        let mut messages = Vec::new();
        loop {
            let wanted = (batch_size - messages.len()).min(10) as i32;
            // SQS waits in whole seconds: the last wait may end up to a second late.
            let wait = match until {
                None => LONG_POLL_SECONDS,
                Some(until) => until.saturating_duration_since(Instant::now()).as_secs_f64().ceil().min(20.0) as i32,
            };
            let output = self
                .sqs
                .receive_message()
                .queue_url(&self.source.queue.url)
                .max_number_of_messages(wanted)
                .wait_time_seconds(wait)
                .message_system_attribute_names(MessageSystemAttributeName::All)
                .message_attribute_names("All")
                .send()
                .await
                .map_err(|e| aws_sdk_sqs::error::DisplayErrorContext(e).to_string())?;
            messages.extend(output.messages.unwrap_or_default());
            if messages.is_empty() {
                return Ok(messages);
            }
            let until = *until.get_or_insert_with(|| Instant::now() + window);
            if messages.len() >= batch_size || Instant::now() >= until {
                return Ok(messages);
            }
        }
    }

    async fn invoke(&self, messages: Vec<Message>) -> Invoked {
        debug!(messages = messages.len(), "invoking");
        let all_ids = || messages.iter().filter_map(|m| m.message_id.clone()).collect::<HashSet<_>>();
        let delay = self.dice.up_to(self.chaos.max_delay);
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        let payload = Bytes::from(self.lambda_event(&messages).to_string());
        let trace_header = messages
            .first()
            .and_then(|m| m.attributes().and_then(|a| a.get(&MessageSystemAttributeName::AwsTraceHeader)).cloned());
        let (reply, lease) = self.pool.invoke(payload, trace_header).await;
        let outcome =
            if matches!(reply, Err(InvokeError::TimedOut(_))) { Invoked::TimedOut } else { Invoked::Answered };
        let failed: Failed = match reply {
            Ok(Reply::Response(body)) => match serde_json::from_slice::<SqsBatchResponse>(&body) {
                Ok(response) => Failed::Reported(failed_messages(
                    all_ids(),
                    &response,
                    self.source.mapping.report_batch_item_failures,
                )),
                Err(err) => {
                    error!(reason = %err, "the function's response is no batch response; the whole batch fails");
                    Failed::Invocation(all_ids())
                }
            },
            Ok(Reply::Error { error_type, message }) => {
                error!(error_type, message, "the invocation failed; the whole batch fails");
                Failed::Invocation(all_ids())
            }
            Err(err) => {
                error!(reason = %err, "the invocation failed; the whole batch fails");
                Failed::Invocation(all_ids())
            }
        };
        if let Some(lease) = lease
            && self.dice.chance(self.chaos.kill_before_delete)
        {
            // The host dies after the function answered and before the poller deleted:
            // the whole batch comes back.
            warn!("chaos: killing the environment before the delete");
            lease.kill().await;
            self.settle(&messages, &Failed::Invocation(all_ids()), true).await;
            return outcome;
        }
        self.settle(&messages, &failed, false).await;
        outcome
    }

    /// Deletes what succeeded, schedules the retry of what failed, reports both.
    async fn settle(&self, messages: &[Message], failed: &Failed, crashed: bool) {
        let (Failed::Reported(ids) | Failed::Invocation(ids)) = failed;
        let (failures, successes): (Vec<&Message>, Vec<&Message>) =
            messages.iter().partition(|m| m.message_id.as_ref().is_some_and(|id| ids.contains(id)));
        // Chaos: SQS may deliver a handled message again; this share is not deleted.
        let (again, done): (Vec<&Message>, Vec<&Message>) =
            successes.into_iter().partition(|_| self.dice.chance(self.chaos.redeliver));
        debug!(succeeded = done.len(), failed = failures.len(), "invocation done");
        self.delete(&done).await;
        let invocation_failed = matches!(failed, Failed::Invocation(_));
        let retry = failures.iter().filter(|_| invocation_failed).chain(&again).copied().collect::<Vec<_>>();
        if let Some(delay) = self.retry_delay {
            self.make_visible_after(&retry, delay).await;
        }
        for (message, succeeded) in
            done.iter().chain(&again).map(|m| (m, !crashed)).chain(failures.iter().map(|m| (m, false)))
        {
            // Nobody listening is fine: the runner does not need an audience.
            let _ = self.deliveries.send(Delivery {
                function: self.pool.function.logical_id.clone(),
                queue: self.source.queue.name().to_owned(),
                message_id: message.message_id.clone().unwrap_or_default(),
                body: message.body.clone().unwrap_or_default(),
                receive_count: receive_count(message),
                succeeded,
            });
        }
    }

    async fn delete(&self, messages: &[&Message]) {
        if messages.is_empty() {
            return;
        }
        for chunk in messages.chunks(10) {
            let entries = chunk.iter().enumerate().filter_map(|(i, m)| {
                DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .set_receipt_handle(m.receipt_handle.clone())
                    .build()
                    .ok()
            });
            let result = self
                .sqs
                .delete_message_batch()
                .queue_url(&self.source.queue.url)
                .set_entries(Some(entries.collect()))
                .send()
                .await;
            match result {
                Ok(output) if output.failed.is_empty() => {}
                // Undeleted messages come back once their visibility times out: a
                // redelivery, which the handlers are built to absorb.
                Ok(output) => warn!(failed = output.failed.len(), "some processed messages could not be deleted"),
                Err(err) => {
                    let reason = aws_sdk_sqs::error::DisplayErrorContext(err);
                    warn!(%reason, "processed messages could not be deleted")
                }
            }
        }
    }

    async fn make_visible_after(&self, messages: &[&Message], delay: Duration) {
        for chunk in messages.chunks(10) {
            let entries = chunk.iter().enumerate().filter_map(|(i, m)| {
                ChangeMessageVisibilityBatchRequestEntry::builder()
                    .id(i.to_string())
                    .set_receipt_handle(m.receipt_handle.clone())
                    .visibility_timeout(delay.as_secs() as i32)
                    .build()
                    .ok()
            });
            if let Err(err) = self
                .sqs
                .change_message_visibility_batch()
                .queue_url(&self.source.queue.url)
                .set_entries(Some(entries.collect()))
                .send()
                .await
            {
                warn!(reason = %aws_sdk_sqs::error::DisplayErrorContext(err), "could not shorten the retry delay");
            }
        }
    }

    /// The event Lambda would pass, in its JSON shape: the function cannot tell.
    fn lambda_event(&self, messages: &[Message]) -> Value {
        let mut records: Vec<Value> = messages.iter().map(|m| self.record(m)).collect();
        if self.chaos.duplicate {
            records.extend(records.clone());
            self.dice.shuffle(&mut records);
        }
        json!({ "Records": records })
    }

    fn record(&self, message: &Message) -> Value {
        let attributes: HashMap<&str, &str> =
            message.attributes().map(|a| a.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()).unwrap_or_default();
        let mut message_attributes = Map::new();
        for (name, value) in message.message_attributes().into_iter().flatten() {
            message_attributes.insert(
                name.clone(),
                json!({
                    "stringValue": value.string_value(),
                    "stringListValues": [],
                    "binaryListValues": [],
                    "dataType": value.data_type(),
                }),
            );
        }
        json!({
            "messageId": message.message_id(),
            "receiptHandle": message.receipt_handle(),
            "body": message.body(),
            "attributes": attributes,
            "messageAttributes": message_attributes,
            "md5OfBody": message.md5_of_body(),
            "eventSource": "aws:sqs",
            "eventSourceARN": self.source.queue.arn,
            "awsRegion": self.region,
        })
    }
}

enum Invoked {
    Answered,
    TimedOut,
}

/// The messages of a batch that failed, and how.
enum Failed {
    /// The function answered and named them: it settled their retry itself.
    Reported(HashSet<String>),
    /// The invocation failed (crashed, timed out, errored): all of them, unsettled.
    Invocation(HashSet<String>),
}

/// Which messages of a batch failed, by Lambda's rules for a batch response: without
/// `ReportBatchItemFailures` any failure fails the whole batch, and so does a response that
/// names a message not in the batch (or an empty id).
fn failed_messages(
    batch: HashSet<String>,
    response: &SqsBatchResponse,
    report_batch_item_failures: bool,
) -> HashSet<String> {
    let reported: HashSet<String> = response.batch_item_failures.iter().map(|f| f.item_identifier.clone()).collect();
    if reported.is_empty() {
        return reported;
    }
    if !report_batch_item_failures {
        return batch;
    }
    if reported.iter().any(|id| !batch.contains(id)) {
        error!("the function reported a failure for a message not in its batch; the whole batch fails");
        return batch;
    }
    reported
}

fn receive_count(message: &Message) -> u32 {
    message
        .attributes()
        .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
        .and_then(|count| count.parse().ok())
        .unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(list: &[&str]) -> HashSet<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    fn response(failed: &[&str]) -> SqsBatchResponse {
        let mut response = SqsBatchResponse::default();
        for id in failed {
            response.add_failure(*id);
        }
        response
    }

    #[test]
    fn only_the_reported_messages_fail() {
        assert_eq!(failed_messages(ids(&["a", "b", "c"]), &response(&["b"]), true), ids(&["b"]));
        assert!(failed_messages(ids(&["a", "b"]), &response(&[]), true).is_empty());
    }

    #[test]
    fn any_failure_fails_the_batch_without_report_batch_item_failures() {
        assert_eq!(failed_messages(ids(&["a", "b"]), &response(&["b"]), false), ids(&["a", "b"]));
        assert!(failed_messages(ids(&["a", "b"]), &response(&[]), false).is_empty());
    }

    #[test]
    fn a_failure_outside_the_batch_fails_the_batch() {
        assert_eq!(failed_messages(ids(&["a", "b"]), &response(&["zzz"]), true), ids(&["a", "b"]));
        assert_eq!(failed_messages(ids(&["a", "b"]), &response(&[""]), true), ids(&["a", "b"]));
    }
}
