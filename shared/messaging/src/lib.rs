//! The port between a service's domain code and the plumbing that runs it, with no AWS
//! and no shop in it:
//!
//! - [`Message`]: what a queue's records and a topic's events are, to the plumbing;
//! - [`Outgoing`] and [`TopicArn`]: an event a handler produces, and where it goes;
//! - [`RecordError`]: why a record failed, and whether a retry may help;
//! - [`trace`]: the W3C trace context an event carries hop to hop.
//!
//! The domain crates depend on this alone; `lambda-kit` runs handlers built on it.

#![warn(missing_docs)]

pub mod error;
pub mod message;
pub mod outgoing;
pub mod trace;

pub use error::{BoxError, RecordError, describe};
pub use message::Message;
pub use outgoing::{Outgoing, TOPIC, TopicArn};
pub use trace::TraceContext;
