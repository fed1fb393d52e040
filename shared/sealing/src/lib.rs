//! Envelope encryption of one field, as Powertools' data masking does it: the field is
//! encrypted with AES-256-GCM under a data key, and the data key travels beside it,
//! encrypted by a KMS key. Whoever may call `kms:Decrypt` on that key can open the field;
//! everyone else who stores, relays or logs the message sees ciphertext.
//!
//! - [`Envelope`] seals and opens, keeping data keys for a while so that a busy function
//!   asks KMS once every few minutes, not once per message;
//! - [`DataKeys`] is the port to the key service: [`KmsDataKeys`] on AWS and the emulator,
//!   [`LocalDataKeys`] for unit tests.
//!
//! The context a field is sealed with (for a card token: its order and customer) is
//! authenticated, so a sealed field copied into another order does not open.

#![warn(missing_docs)]

mod envelope;
mod kms;
mod local;

pub use envelope::{Envelope, KEY_REUSE};
pub use kms::KmsDataKeys;
pub use local::LocalDataKeys;
pub use pizza_events::catalogue::Sealed;

use async_trait::async_trait;

/// A data key: its plaintext, for this process only, and what KMS returned to keep.
#[derive(Clone)]
pub struct DataKey {
    /// The 32 bytes of the AES-256 key. Never logged, never stored.
    pub plaintext: Vec<u8>,
    /// The data key encrypted by `key_id`: what travels with the sealed field.
    pub encrypted: Vec<u8>,
    /// The KMS key that encrypted it.
    pub key_id: String,
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataKey").field("key_id", &self.key_id).finish_non_exhaustive()
    }
}

/// The key service.
#[async_trait]
pub trait DataKeys: Send + Sync {
    /// A fresh AES-256 data key, with its copy encrypted under the service's key.
    async fn generate(&self) -> Result<DataKey, SealError>;
    /// The plaintext of a data key that this service's key encrypted. The key is the
    /// service's own, never one a message names: a forged message cannot choose it.
    async fn decrypt(&self, encrypted: &[u8]) -> Result<Vec<u8>, SealError>;
}

/// Why a secret could not be sealed or opened.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// The key service throttled or could not be reached: worth a retry.
    #[error("the key service is unavailable: {0}")]
    Unavailable(String),
    /// The key service refused: no permission, a disabled key, a data key it did not make.
    #[error("the key service refused: {0}")]
    Refused(String),
    /// The sealed field is damaged, or was sealed with another context: it never opens.
    #[error("the sealed field does not open: {0}")]
    Invalid(&'static str),
}

impl SealError {
    /// Whether trying again later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, SealError::Unavailable(_))
    }
}
