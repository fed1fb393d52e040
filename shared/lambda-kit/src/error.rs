//! Why a record failed, and whether that is worth a retry.

use pizza_events::DecodeError;

pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A record's failure, and what becomes of the record (see [`crate::retry`]): a transient
/// one goes back to its queue and is retried after a backoff, until the queue's
/// `maxReceiveCount`; a permanent one is a poison message, moved to the dead-letter queue
/// at once for an operator to look at.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// It can never succeed: malformed, an unknown type or version, invalid data, a fact
    /// about something that does not exist, a bug.
    #[error(transparent)]
    Permanent(BoxError),
    /// It may succeed later: a dependency throttled, timed out or was unavailable.
    #[error(transparent)]
    Transient(BoxError),
}

impl RecordError {
    pub fn permanent(reason: impl Into<BoxError>) -> Self {
        RecordError::Permanent(reason.into())
    }

    pub fn transient(reason: impl Into<BoxError>) -> Self {
        RecordError::Transient(reason.into())
    }

    pub fn is_transient(&self) -> bool {
        matches!(self, RecordError::Transient(_))
    }

    /// The same failure for another record of the batch (a whole-batch call failed).
    pub fn shared(&self) -> Self {
        let reason = crate::describe(self);
        if self.is_transient() { RecordError::transient(reason) } else { RecordError::permanent(reason) }
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
    fn the_kind_survives_sharing_and_the_reason_keeps_its_words() {
        let err = RecordError::transient("throttled");
        assert!(err.shared().is_transient());
        assert_eq!(err.shared().to_string(), "throttled");
        let decode = RecordError::from(pizza_events::WireEvent::from_json("{").unwrap_err());
        assert!(!decode.is_transient());
        assert!(decode.to_string().starts_with("not an event envelope"));
    }
}
