//! A key service in memory, for unit tests: a master key of its own wraps the data keys,
//! so only the same service opens them, as only the same KMS key would.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use aws_lc_rs::aead::{AES_256_GCM, Aad, NONCE_LEN, Nonce, RandomizedNonceKey};

use crate::{DataKey, DataKeys, SealError};

/// Data keys under a master key held in memory, for tests and a stack without KMS; counts its calls.
#[derive(Clone)]
pub struct LocalDataKeys {
    master: Arc<[u8; 32]>,
    generated: Arc<AtomicUsize>,
    decrypted: Arc<AtomicUsize>,
}

impl Default for LocalDataKeys {
    fn default() -> Self {
        Self::new()
    }
}

impl LocalDataKeys {
    /// A fresh random master key.
    pub fn new() -> Self {
        let mut master = [0u8; 32];
        // The system's random source; if it fails, nothing in this process is safe anyway.
        aws_lc_rs::rand::fill(&mut master).expect("random bytes");
        Self { master: Arc::new(master), generated: Arc::default(), decrypted: Arc::default() }
    }

    /// How many data keys were made, and how many opened.
    pub fn calls(&self) -> (usize, usize) {
        (self.generated.load(Ordering::Relaxed), self.decrypted.load(Ordering::Relaxed))
    }

    fn master(&self) -> RandomizedNonceKey {
        RandomizedNonceKey::new(&AES_256_GCM, self.master.as_slice()).expect("a 32-byte key")
    }
}

#[async_trait]
impl DataKeys for LocalDataKeys {
    async fn generate(&self) -> Result<DataKey, SealError> {
        self.generated.fetch_add(1, Ordering::Relaxed);
        let mut plaintext = vec![0u8; 32];
        aws_lc_rs::rand::fill(&mut plaintext).map_err(|_| SealError::Unavailable("no random bytes".into()))?;
        let mut wrapped = plaintext.clone();
        let nonce = self
            .master()
            .seal_in_place_append_tag(Aad::empty(), &mut wrapped)
            .map_err(|_| SealError::Refused("wrapping failed".into()))?;
        let mut encrypted = nonce.as_ref().to_vec();
        encrypted.extend(wrapped);
        Ok(DataKey { plaintext, encrypted, key_id: "local".into() })
    }

    async fn decrypt(&self, encrypted: &[u8]) -> Result<Vec<u8>, SealError> {
        self.decrypted.fetch_add(1, Ordering::Relaxed);
        let refused = || SealError::Refused("not a data key of this key service".into());
        let (nonce, wrapped) = encrypted.split_at_checked(NONCE_LEN).ok_or_else(refused)?;
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| refused())?;
        let mut in_out = wrapped.to_vec();
        let plaintext = self
            .master()
            .open_in_place(Nonce::assume_unique_for_key(nonce), Aad::empty(), &mut in_out)
            .map_err(|_| refused())?;
        Ok(plaintext.to_vec())
    }
}
