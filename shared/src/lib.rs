//! What every pizza-shop function shares: the event envelope and the event catalogue,
//! the ports the domain code talks through (event bus, order store) with their AWS and
//! in-memory adapters, SQS batch handling, configuration and telemetry.
//!
//! Domain logic lives in the function crates; this crate knows nothing of sauce or cheese
//! beyond the menu.

pub mod aws;
pub mod batch;
pub mod bus;
pub mod config;
pub mod dynamo;
pub mod envelope;
pub mod events;
pub mod http;
pub mod idempotency;
pub mod inventory;
pub mod menu;
pub mod orders;
pub mod payments;
pub mod telemetry;

pub use envelope::{Envelope, Event, IncomingEvent};
