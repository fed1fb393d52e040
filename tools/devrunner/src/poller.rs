//! An SQS event source mapping, as Lambda runs it: long-poll the queue, hand the batch to
//! the function, delete what succeeded and leave the rest to become visible again, so that
//! after `maxReceiveCount` receives the queue itself moves a message to its DLQ.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use aws_sdk_sqs::types::{
    ChangeMessageVisibilityBatchRequestEntry, DeleteMessageBatchRequestEntry, Message, MessageSystemAttributeName,
};
use serde_json::{Map, Value, json};
use shared::batch::{EventHandler, process_batch};
use shared::telemetry::Metrics;
use tokio::sync::{broadcast, watch};
use tracing::{Instrument, debug, error, info_span, warn};

use crate::manifest::EventSource;

/// How long one ReceiveMessage waits for messages; short enough to stop promptly.
const LONG_POLL_SECONDS: i32 = 5;

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

pub struct Poller {
    pub function: String,
    pub source: EventSource,
    pub handler: Arc<dyn EventHandler>,
    pub metrics: Metrics,
    pub timeout: Duration,
    pub region: String,
    pub sqs: aws_sdk_sqs::Client,
    /// Makes a failed message visible again after this delay instead of the queue's
    /// visibility timeout (a local convenience; Lambda waits the full timeout).
    pub retry_delay: Option<Duration>,
    /// Chaos: every record twice, in random order (see `Options::duplicate_deliveries`).
    pub duplicate_deliveries: bool,
    pub deliveries: broadcast::Sender<Delivery>,
}

impl Poller {
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let span = info_span!("poller", function = %self.function, queue = %self.source.queue.name());
        async move {
            while !*shutdown.borrow() {
                let received = tokio::select! {
                    _ = shutdown.changed() => break,
                    received = self.receive() => received,
                };
                match received {
                    Ok(messages) if messages.is_empty() => {}
                    Ok(messages) => self.invoke(messages).await,
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

    async fn receive(&self) -> Result<Vec<Message>, String> {
        let output = self
            .sqs
            .receive_message()
            .queue_url(&self.source.queue.url)
            .max_number_of_messages(self.source.batch_size.clamp(1, 10) as i32)
            .wait_time_seconds(LONG_POLL_SECONDS)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .message_attribute_names("All")
            .send()
            .await
            .map_err(|e| shared::aws::describe(&e))?;
        Ok(output.messages.unwrap_or_default())
    }

    async fn invoke(&self, messages: Vec<Message>) {
        debug!(messages = messages.len(), "invoking");
        let all_ids = || messages.iter().filter_map(|m| m.message_id.clone()).collect::<HashSet<_>>();
        let event = match self.lambda_event(&messages) {
            Ok(event) => event,
            Err(err) => {
                // Never hand the function less than was received: the batch fails whole
                // and comes back after its visibility timeout.
                error!(reason = %err, "could not build the Lambda event; the whole batch fails");
                return self.settle(&messages, &all_ids()).await;
            }
        };
        let handler = self.handler.clone();
        let metrics = self.metrics.clone();
        let invocation = tokio::spawn(async move { process_batch(handler.as_ref(), &metrics, event).await });
        let abort = invocation.abort_handle();
        let failed: HashSet<String> = match tokio::time::timeout(self.timeout, invocation).await {
            Ok(Ok(response)) => failed_messages(all_ids(), &response, self.source.report_batch_item_failures),
            Ok(Err(join)) => {
                error!(reason = %join, "the function panicked; the whole batch fails");
                all_ids()
            }
            Err(_) => {
                abort.abort();
                error!(timeout_seconds = self.timeout.as_secs(), "the function timed out; the whole batch fails");
                all_ids()
            }
        };
        self.settle(&messages, &failed).await;
    }

    /// Deletes what succeeded, schedules the retry of what failed, reports both.
    async fn settle(&self, messages: &[Message], failed: &HashSet<String>) {
        let (failures, successes): (Vec<&Message>, Vec<&Message>) =
            messages.iter().partition(|m| m.message_id.as_ref().is_some_and(|id| failed.contains(id)));
        debug!(succeeded = successes.len(), failed = failures.len(), "invocation done");
        self.delete(&successes).await;
        if let Some(delay) = self.retry_delay {
            self.make_visible_after(&failures, delay).await;
        }
        for (message, succeeded) in successes.iter().map(|m| (m, true)).chain(failures.iter().map(|m| (m, false))) {
            // Nobody listening is fine: the runner does not need an audience.
            let _ = self.deliveries.send(Delivery {
                function: self.function.clone(),
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
        let entries = messages.iter().enumerate().filter_map(|(i, m)| {
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
            // Undeleted messages come back once their visibility times out: a redelivery,
            // which the handlers are built to absorb.
            Ok(output) => warn!(failed = output.failed.len(), "some processed messages could not be deleted"),
            Err(err) => warn!(reason = %shared::aws::describe(&err), "processed messages could not be deleted"),
        }
    }

    async fn make_visible_after(&self, messages: &[&Message], delay: Duration) {
        if messages.is_empty() {
            return;
        }
        let entries = messages.iter().enumerate().filter_map(|(i, m)| {
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
            warn!(reason = %shared::aws::describe(&err), "could not shorten the retry delay");
        }
    }

    /// The event Lambda would pass: the same JSON shape, so the handler cannot tell.
    fn lambda_event(&self, messages: &[Message]) -> Result<SqsEvent, serde_json::Error> {
        let mut records: Vec<Value> = messages.iter().map(|m| self.record(m)).collect();
        if self.duplicate_deliveries {
            records.extend(records.clone());
            // A random order: sort by a fresh random key per record.
            let mut keyed: Vec<(u128, Value)> =
                records.into_iter().map(|r| (uuid::Uuid::new_v4().as_u128(), r)).collect();
            keyed.sort_by_key(|(key, _)| *key);
            records = keyed.into_iter().map(|(_, r)| r).collect();
        }
        serde_json::from_value(json!({ "Records": records }))
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
