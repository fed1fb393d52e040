//! What the plumbing needs to know of a message: how to read and write it, its id, and
//! what to say about it in logs and message attributes.

use uuid::Uuid;

/// A message a queue delivers and a topic publishes: an event in some envelope.
pub trait Message: Clone + std::fmt::Debug + Send + Sync + 'static {
    /// Why a record's body is not such a message: it never will be (a poison message).
    type Invalid: std::error::Error + Send + Sync + 'static;

    /// Reads a message from a record's body.
    fn from_json(body: &str) -> Result<Self, Self::Invalid>;

    /// Writes the message as a record's body.
    fn to_json(&self) -> Result<String, serde_json::Error>;

    /// Its unique id: the same id twice in a batch is handled once, and published once.
    fn id(&self) -> Uuid;

    /// Its type, which subscriptions filter on and log lines name.
    fn kind(&self) -> &str;

    /// The version of its type.
    fn version(&self) -> u32;

    /// What ties it to the work it is part of (an order, a request): every log line about
    /// it carries this id.
    fn correlation_id(&self) -> &str;
}
