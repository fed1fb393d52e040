//! The published language of the pizza shop: what travels on the bus and what every
//! service agrees on.
//!
//! - [`envelope`]: the one immutable, versioned, self-describing envelope, with ids
//!   derived from their cause so that a repeated fact is the same event;
//! - [`catalogue`]: every event type and its current version, with the upcasters of
//!   older versions (the only place old versions are understood);
//! - [`registry`]: the catalogue as JSON Schemas, and a decoder for any published version;
//! - [`menu`]: what each kitchen stage can put on a pizza, and what a pizza costs.
//!
//! Nothing here talks to AWS.

#![warn(missing_docs)]

pub mod bus;
pub mod catalogue;
pub mod envelope;
pub mod menu;
pub mod names;
pub mod registry;

pub use bus::Outgoing;
pub use envelope::{DecodeError, Envelope, Event, WireEvent, derived_id};
pub use messaging::{RecordError, TopicArn};
