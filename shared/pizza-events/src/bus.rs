//! The shop's events on the bus: what the plumbing that runs the services (`lambda-kit`)
//! needs to know of an event, and the shop's outgoing event.

use messaging::{Message, RecordError};
use uuid::Uuid;

use crate::envelope::{DecodeError, WireEvent};

/// An event on its way out of a service, and its topic.
pub type Outgoing = messaging::Outgoing<WireEvent>;

impl Message for WireEvent {
    type Invalid = DecodeError;

    fn from_json(body: &str) -> Result<Self, DecodeError> {
        WireEvent::from_json(body)
    }

    fn to_json(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string(self)
    }

    fn id(&self) -> Uuid {
        self.id
    }

    fn kind(&self) -> &str {
        &self.event_type
    }

    fn version(&self) -> u32 {
        self.version
    }

    fn correlation_id(&self) -> &str {
        &self.correlation_id
    }
}

/// A message that is not an event we understand never will be.
impl From<DecodeError> for RecordError {
    fn from(err: DecodeError) -> Self {
        RecordError::Permanent(Box::new(err))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_not_an_event_is_poison() {
        let Err(invalid) = <WireEvent as Message>::from_json("{") else { panic!("not an event") };
        let err = RecordError::from(invalid);
        assert!(!err.is_transient());
        assert!(err.to_string().starts_with("not an event envelope"));
    }
}
