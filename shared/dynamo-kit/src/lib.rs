//! What every DynamoDB adapter shares:
//! - [`StoreError`]: keeps the SDK error as its source and says whether a retry may help;
//! - [`item`]: building and reading items;
//! - [`write`]: conditional writes that hand back the item that failed the condition, and
//!   transactions that report why each action was cancelled;
//! - [`read`]: whole-table reads for operators;
//! - [`stream`]: items as a table's stream carries them, for a relay to read.

#![warn(missing_docs)]

pub mod item;
pub mod read;
pub mod stream;
pub mod write;

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use messaging::BoxError;
use messaging::RecordError;

pub use item::Item;

/// Why a store could not do what it was asked, classified for the batch layer: retry or not.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Throttled, timed out, unreachable, or contended: a retry may work.
    #[error("DynamoDB is unavailable")]
    Unavailable(#[source] BoxError),
    /// DynamoDB refused the request itself (validation, a missing table): a bug or a
    /// misconfiguration that no retry fixes.
    #[error("DynamoDB refused the request")]
    Refused(#[source] BoxError),
    /// An item this code cannot read.
    #[error("unreadable item: {0}")]
    Corrupt(String),
}

impl StoreError {
    /// Whether a retry may succeed (the record goes back to its queue rather than to the DLQ).
    pub fn is_transient(&self) -> bool {
        matches!(self, StoreError::Unavailable(_))
    }

    /// A transient failure, for adapters that are not DynamoDB's (an in-memory store's fault).
    pub fn unavailable(reason: impl Into<BoxError>) -> Self {
        StoreError::Unavailable(reason.into())
    }
}

/// Error codes that say "not now" rather than "never".
const TRANSIENT_CODES: &[&str] = &[
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
    "TransactionConflictException",
    "TransactionInProgressException",
    "LimitExceededException",
];

/// Classifies an SDK error: a service's throttling, a server error or a network failure
/// may pass; a request DynamoDB refuses (ValidationException and the like) will not.
pub fn classify<E>(err: SdkError<E, HttpResponse>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let transient = match &err {
        // A known "not now", or any server error: a 5xx whose code this list does not know
        // (or that has none, from a proxy on the way) is no reason to give up on a record.
        SdkError::ServiceError(service) => {
            service.err().code().is_some_and(|code| TRANSIENT_CODES.contains(&code))
                || service.raw().status().is_server_error()
        }
        SdkError::ConstructionFailure(_) => false,
        _ => true,
    };
    if transient { StoreError::Unavailable(Box::new(err)) } else { StoreError::Refused(Box::new(err)) }
}

/// An action of a request that could not be built is a bug in this code, not a bad day.
pub fn built<T>(result: Result<T, aws_sdk_dynamodb::error::BuildError>) -> Result<T, StoreError> {
    result.map_err(|e| StoreError::Refused(Box::new(e)))
}

/// A store failure fails the record: transient ones are retried, the rest dead-lettered.
impl From<StoreError> for RecordError {
    fn from(err: StoreError) -> Self {
        if err.is_transient() { RecordError::Transient(Box::new(err)) } else { RecordError::Permanent(Box::new(err)) }
    }
}
