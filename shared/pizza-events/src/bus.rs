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

/// A message that is not an event we understand never will be, but for a newer version of
/// a type we know: a deploy updates the functions one by one, so a producer on the new code
/// may publish it before this consumer runs the new code too. That consumer's own update
/// cures it, so it comes back after a backoff instead of going to the dead-letter queue at
/// once (and becomes a dead letter only if no update comes within the retry budget).
impl From<DecodeError> for RecordError {
    fn from(err: DecodeError) -> Self {
        match err {
            DecodeError::UnsupportedVersion { version, supported, .. } if supported > 0 && version > supported => {
                RecordError::Transient(Box::new(err))
            }
            _ => RecordError::Permanent(Box::new(err)),
        }
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

    #[test]
    fn a_newer_version_waits_for_this_consumers_deploy_and_an_older_unknown_one_is_poison() {
        let newer = DecodeError::UnsupportedVersion { event_type: "IngredientAdded".into(), version: 9, supported: 3 };
        assert!(RecordError::from(newer).is_transient());
        let older = DecodeError::UnsupportedVersion { event_type: "IngredientAdded".into(), version: 0, supported: 3 };
        assert!(!RecordError::from(older).is_transient());
        let unknown_type = DecodeError::UnsupportedVersion { event_type: "Dessert".into(), version: 1, supported: 0 };
        assert!(!RecordError::from(unknown_type).is_transient());
    }
}
