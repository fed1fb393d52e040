//! Why a record failed, and whether that is worth a retry.

/// Any error, as the reason of a record's failure.
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
    /// A failure no retry can cure.
    pub fn permanent(reason: impl Into<BoxError>) -> Self {
        RecordError::Permanent(reason.into())
    }

    /// A failure a later retry may cure.
    pub fn transient(reason: impl Into<BoxError>) -> Self {
        RecordError::Transient(reason.into())
    }

    /// Whether a retry may cure it.
    pub fn is_transient(&self) -> bool {
        matches!(self, RecordError::Transient(_))
    }

    /// The same failure for another record of the batch (a whole-batch call failed).
    pub fn shared(&self) -> Self {
        let reason = describe(self);
        if self.is_transient() { RecordError::transient(reason) } else { RecordError::permanent(reason) }
    }
}

/// An error and every source under it, in the service's own words: what a log line needs.
pub fn describe(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(inner) = source {
        let inner_text = inner.to_string();
        if !text.contains(&inner_text) {
            text = format!("{text}: {inner_text}");
        }
        source = inner.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kind_survives_sharing_and_the_reason_keeps_its_words() {
        let err = RecordError::transient("throttled");
        assert!(err.shared().is_transient());
        assert_eq!(err.shared().to_string(), "throttled");
    }

    #[test]
    fn a_description_names_every_source_once() {
        #[derive(Debug, thiserror::Error)]
        #[error("reading the order")]
        struct Outer(#[source] std::io::Error);
        let err = Outer(std::io::Error::other("connection reset"));
        assert_eq!(describe(&err), "reading the order: connection reset");
    }
}
