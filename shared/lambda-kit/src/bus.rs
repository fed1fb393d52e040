//! The event bus port and its adapters: SNS for real, memory for tests.
//!
//! Handlers never publish: they return what they produce as [`Outgoing`] events, and the
//! batch layer publishes a whole batch's events together (see [`crate::batch`]).

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use async_trait::async_trait;
use aws_sdk_sns::types::{MessageAttributeValue, PublishBatchRequestEntry};
use messaging::{Message, Outgoing, TopicArn};
use uuid::Uuid;

/// What a publish call could not publish: event id → why.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct PublishReport {
    /// Each event id that did not go out, with why.
    pub failed: HashMap<Uuid, String>,
}

impl PublishReport {
    /// Whether every event went out.
    pub fn is_complete(&self) -> bool {
        self.failed.is_empty()
    }
}

/// Where handlers' events are published.
#[async_trait]
pub trait EventBus<M: Message>: Send + Sync {
    /// Publishes every event (an event id twice is published once) and reports those that
    /// were not accepted. Whatever failed may still have been delivered, which is safe:
    /// consumers are idempotent and the caller publishes the same events again.
    async fn publish(&self, events: &[Outgoing<M>]) -> PublishReport;
}

/// A shared bus is a bus: lets a test keep a handle on an in-memory one.
#[async_trait]
impl<M: Message, T: EventBus<M> + ?Sized> EventBus<M> for std::sync::Arc<T> {
    async fn publish(&self, events: &[Outgoing<M>]) -> PublishReport {
        self.as_ref().publish(events).await
    }
}

/// SNS takes at most ten messages per PublishBatch.
pub const SNS_BATCH_LIMIT: usize = 10;

/// The events of one call, one of each id, grouped by topic in the order first seen.
pub fn by_topic<M: Message>(events: &[Outgoing<M>]) -> Vec<(&TopicArn, Vec<&Outgoing<M>>)> {
    let mut seen = HashSet::new();
    let mut groups: Vec<(&TopicArn, Vec<&Outgoing<M>>)> = Vec::new();
    for event in events.iter().filter(|e| seen.insert(e.event.id())) {
        match groups.iter_mut().find(|(topic, _)| *topic == &event.topic) {
            Some((_, group)) => group.push(event),
            None => groups.push((&event.topic, vec![event])),
        }
    }
    groups
}

/// The bus on SNS: `PublishBatch`, ten events a call, every topic's calls at once.
pub struct SnsBus {
    client: aws_sdk_sns::Client,
}

impl SnsBus {
    /// A bus on the SNS of `config` (its region, credentials and endpoint).
    pub fn new(config: &aws_config::SdkConfig) -> Self {
        Self { client: aws_sdk_sns::Client::new(config) }
    }

    fn entry<M: Message>(event: &Outgoing<M>) -> Result<PublishBatchRequestEntry, String> {
        let body = event.event.to_json().map_err(|e| e.to_string())?;
        let mut entry = PublishBatchRequestEntry::builder().id(event.event.id().simple().to_string()).message(body);
        for (name, data_type, value) in event.attributes() {
            let value = MessageAttributeValue::builder().data_type(data_type).string_value(value).build();
            entry = entry.message_attributes(name, value.map_err(|e| e.to_string())?);
        }
        entry.build().map_err(|e| e.to_string())
    }

    /// Publishes one PublishBatch; returns the events that failed, with why.
    async fn publish_chunk<M: Message>(&self, topic: &TopicArn, chunk: &[&Outgoing<M>]) -> Vec<(Uuid, String)> {
        let mut failed = Vec::new();
        let fail_all = |reason: String| chunk.iter().map(|e| (e.event.id(), reason.clone())).collect::<Vec<_>>();
        let entries = match chunk.iter().map(|e| Self::entry(e)).collect::<Result<Vec<_>, _>>() {
            Ok(entries) => entries,
            Err(reason) => return fail_all(reason),
        };
        let sent =
            self.client.publish_batch().topic_arn(&topic.0).set_publish_batch_request_entries(Some(entries)).send();
        match sent.await {
            Ok(output) => {
                for failure in output.failed() {
                    let reason = format!("{}: {}", failure.code(), failure.message().unwrap_or_default());
                    if let Some(event) = chunk.iter().find(|e| e.event.id().simple().to_string() == failure.id()) {
                        failed.push((event.event.id(), reason));
                    }
                }
                failed
            }
            Err(err) => fail_all(format!("could not publish to {topic}: {}", messaging::describe(&err))),
        }
    }
}

#[async_trait]
impl<M: Message> EventBus<M> for SnsBus {
    async fn publish(&self, events: &[Outgoing<M>]) -> PublishReport {
        // The calls are independent: made together, a batch waits one round trip, not
        // one per ten events.
        let groups = by_topic(events);
        let calls = groups.iter().flat_map(|(topic, group)| {
            group.chunks(SNS_BATCH_LIMIT).map(move |chunk| self.publish_chunk(topic, chunk))
        });
        let mut report = PublishReport::default();
        report.failed.extend(futures::future::join_all(calls).await.into_iter().flatten());
        report
    }
}

/// Keeps what was published, for tests; can be told to refuse a topic.
pub struct InMemoryBus<M> {
    published: Mutex<Vec<Outgoing<M>>>,
    refused: Mutex<HashSet<TopicArn>>,
}

impl<M> Default for InMemoryBus<M> {
    fn default() -> Self {
        Self { published: Mutex::new(Vec::new()), refused: Mutex::new(HashSet::new()) }
    }
}

impl<M: Message> InMemoryBus<M> {
    /// Everything published so far, in order.
    pub fn published(&self) -> Vec<Outgoing<M>> {
        self.published.lock().map(|p| p.clone()).unwrap_or_default()
    }

    /// The events published to `topic`, in order.
    pub fn events_on(&self, topic: &str) -> Vec<M> {
        self.published().into_iter().filter(|o| o.topic.0 == topic).map(|o| o.event).collect()
    }

    /// From now on, publishing to `topic` fails.
    pub fn refuse(&self, topic: &str) {
        if let Ok(mut refused) = self.refused.lock() {
            refused.insert(TopicArn(topic.to_owned()));
        }
    }
}

#[async_trait]
impl<M: Message> EventBus<M> for InMemoryBus<M> {
    async fn publish(&self, events: &[Outgoing<M>]) -> PublishReport {
        let refused = self.refused.lock().map(|r| r.clone()).unwrap_or_default();
        let mut report = PublishReport::default();
        let Ok(mut published) = self.published.lock() else {
            report.failed.extend(events.iter().map(|e| (e.event.id(), "poisoned lock".to_owned())));
            return report;
        };
        for (topic, group) in by_topic(events) {
            for event in group {
                if refused.contains(topic) {
                    report.failed.insert(event.event.id(), format!("{topic} refuses events"));
                } else {
                    published.push(event.clone());
                }
            }
        }
        report
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_message::Note;
    use messaging::TOPIC;
    use messaging::trace::{TRACEPARENT, TraceContext};

    fn outgoing(topic: &str) -> Outgoing<Note> {
        Outgoing::new(&TopicArn(topic.into()), Note::new("hello"))
    }

    #[test]
    fn events_are_grouped_by_topic_and_an_id_is_published_once() {
        let (a, b, c) = (outgoing("t1"), outgoing("t2"), outgoing("t1"));
        let events = [a.clone(), b, c.clone(), a.clone()];
        let groups = by_topic(&events);
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[0].1.iter().map(|e| e.event.id).collect::<Vec<_>>(), vec![a.event.id, c.event.id]);
    }

    #[tokio::test]
    async fn a_refused_topic_reports_its_events_as_failed() {
        let bus = InMemoryBus::default();
        bus.refuse("down");
        let (up, down) = (outgoing("up"), outgoing("down"));
        let report = bus.publish(&[up.clone(), down.clone()]).await;
        assert_eq!(report.failed.keys().collect::<Vec<_>>(), vec![&down.event.id]);
        assert_eq!(bus.events_on("up"), vec![up.event]);
    }

    #[test]
    fn the_trace_rides_in_the_attributes() {
        let mut event = outgoing("t");
        assert!(event.attributes().iter().all(|(name, _, _)| *name != TRACEPARENT));
        event.trace = Some(TraceContext::start(Uuid::new_v4()));
        let traceparent = event.attributes().into_iter().find(|(name, _, _)| *name == TRACEPARENT);
        assert_eq!(traceparent.map(|(_, _, v)| v), event.trace.map(|t| t.traceparent()));
    }

    #[test]
    fn the_topic_rides_in_the_attributes_for_the_archive() {
        let event = outgoing("arn:aws:sns:us-east-1:1:pizza");
        let topic = event.attributes().into_iter().find(|(name, _, _)| *name == TOPIC);
        assert_eq!(topic.map(|(_, _, v)| v).as_deref(), Some("arn:aws:sns:us-east-1:1:pizza"));
    }
}
