//! An event on its way out, and the topic it goes to. Handlers never publish: they return
//! what they produce, and the plumbing publishes a whole batch's events together.

use crate::message::Message;
use crate::trace::{TRACEPARENT, TraceContext};

/// The message attribute naming the topic an event was published to: an archive keeps
/// it, so that a replay sends each event where it first went.
pub const TOPIC: &str = "topic";

/// Where events go. Functions get topic ARNs from their environment, never by name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TopicArn(pub String);

impl std::fmt::Display for TopicArn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// An event on its way out, and the topic it goes to.
#[derive(Debug, Clone, PartialEq)]
pub struct Outgoing<M> {
    /// The topic it goes to.
    pub topic: TopicArn,
    /// The event.
    pub event: M,
    /// The trace the event continues; the batch layer fills it in from the event's cause.
    pub trace: Option<TraceContext>,
}

impl<M: Message> Outgoing<M> {
    /// `event`, bound for `topic`.
    pub fn new(topic: &TopicArn, event: M) -> Self {
        Self { topic: topic.clone(), event, trace: None }
    }

    /// The message attributes: subscriptions filter on `type` without reading the body,
    /// `traceparent` carries the trace to the next hop, and `topic` says where it went.
    pub fn attributes(&self) -> Vec<(&'static str, &'static str, String)> {
        let mut attributes = vec![
            ("type", "String", self.event.kind().to_owned()),
            ("version", "Number", self.event.version().to_string()),
            ("correlation_id", "String", self.event.correlation_id().to_owned()),
            (TOPIC, "String", self.topic.0.clone()),
        ];
        if let Some(trace) = &self.trace {
            attributes.push((TRACEPARENT, "String", trace.traceparent()));
        }
        attributes
    }
}
