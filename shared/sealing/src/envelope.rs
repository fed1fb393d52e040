//! Sealing and opening, with the data keys kept for a while.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_lc_rs::aead::{AES_256_GCM, Aad, NONCE_LEN, Nonce, RandomizedNonceKey};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;

use crate::{DataKey, DataKeys, SealError, Sealed};

/// How long a data key is used to seal, and an opened one kept: KMS is asked once per
/// period per process, not once per message. Random nonces keep a key safe for far more
/// messages than a process seals in this time.
pub const KEY_REUSE: Duration = Duration::from_secs(300);
/// The most opened data keys a process keeps (one per sealing process and period).
const OPENED_KEYS: usize = 256;

/// Opened data keys by their encrypted form, with when each was opened.
type OpenedKeys = HashMap<Vec<u8>, (Vec<u8>, Instant)>;

/// Envelope encryption: seals and opens secrets under data keys, keeping the current data key for a while
/// and the opened ones in a small cache, so KMS is not asked per message.
pub struct Envelope {
    keys: Arc<dyn DataKeys>,
    sealing: Mutex<Option<(DataKey, Instant)>>,
    opened: Mutex<OpenedKeys>,
}

impl Envelope {
    /// Seals and opens with data keys from `keys`.
    pub fn new(keys: impl DataKeys + 'static) -> Self {
        Self { keys: Arc::new(keys), sealing: Mutex::new(None), opened: Mutex::new(HashMap::new()) }
    }

    /// Seals `secret`, authenticated with `context`: [`Envelope::open`] needs the same.
    pub async fn seal(&self, secret: &[u8], context: &str) -> Result<Sealed, SealError> {
        let data_key = self.sealing_key().await?;
        let key = RandomizedNonceKey::new(&AES_256_GCM, &data_key.plaintext)
            .map_err(|_| SealError::Invalid("bad data key"))?;
        let mut in_out = secret.to_vec();
        let nonce = key
            .seal_in_place_append_tag(Aad::from(context.as_bytes()), &mut in_out)
            .map_err(|_| SealError::Invalid("encryption failed"))?;
        Ok(Sealed {
            key_id: data_key.key_id,
            data_key: BASE64.encode(data_key.encrypted),
            nonce: BASE64.encode(nonce.as_ref()),
            ciphertext: BASE64.encode(in_out),
        })
    }

    /// The secret in `sealed`, if it was sealed with `context`.
    pub async fn open(&self, sealed: &Sealed, context: &str) -> Result<Vec<u8>, SealError> {
        let encrypted = BASE64.decode(&sealed.data_key).map_err(|_| SealError::Invalid("data key is not base64"))?;
        let nonce = BASE64.decode(&sealed.nonce).map_err(|_| SealError::Invalid("nonce is not base64"))?;
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| SealError::Invalid("nonce is not 12 bytes"))?;
        let mut in_out =
            BASE64.decode(&sealed.ciphertext).map_err(|_| SealError::Invalid("ciphertext is not base64"))?;
        let plaintext = self.opened_key(&encrypted).await?;
        let key = RandomizedNonceKey::new(&AES_256_GCM, &plaintext).map_err(|_| SealError::Invalid("bad data key"))?;
        let secret = key
            .open_in_place(Nonce::assume_unique_for_key(nonce), Aad::from(context.as_bytes()), &mut in_out)
            .map_err(|_| SealError::Invalid("damaged, or sealed with another context"))?;
        Ok(secret.to_vec())
    }

    /// The data key to seal with: the current one, or a new one once it is too old.
    async fn sealing_key(&self) -> Result<DataKey, SealError> {
        {
            let current = self.sealing.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            if let Some((key, _)) = current.as_ref().filter(|(_, since)| since.elapsed() < KEY_REUSE) {
                return Ok(key.clone());
            }
        }
        let key = self.keys.generate().await?;
        *self.sealing.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = Some((key.clone(), Instant::now()));
        Ok(key)
    }

    /// The plaintext of an encrypted data key: kept from an earlier opening, or from KMS.
    async fn opened_key(&self, encrypted: &[u8]) -> Result<Vec<u8>, SealError> {
        {
            let opened = self.opened.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            if let Some((plaintext, _)) = opened.get(encrypted).filter(|(_, since)| since.elapsed() < KEY_REUSE) {
                return Ok(plaintext.clone());
            }
        }
        let plaintext = self.keys.decrypt(encrypted).await?;
        let mut opened = self.opened.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        opened.retain(|_, (_, since)| since.elapsed() < KEY_REUSE);
        if opened.len() >= OPENED_KEYS {
            opened.clear();
        }
        opened.insert(encrypted.to_vec(), (plaintext.clone(), Instant::now()));
        Ok(plaintext)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::LocalDataKeys;

    #[tokio::test]
    async fn a_sealed_secret_opens_with_its_context_and_shows_nothing_of_itself() {
        let envelope = Envelope::new(LocalDataKeys::new());
        let sealed = envelope.seal(b"tok_secret_4242", "order:1|customer:c-42").await.expect("sealed");
        let text = format!("{sealed:?}");
        assert!(!text.contains("tok_secret_4242"));
        assert_eq!(envelope.open(&sealed, "order:1|customer:c-42").await.expect("opens"), b"tok_secret_4242");
    }

    #[tokio::test]
    async fn another_context_or_a_damaged_field_does_not_open() {
        let envelope = Envelope::new(LocalDataKeys::new());
        let sealed = envelope.seal(b"tok_visa", "order:1|customer:c-42").await.expect("sealed");
        let moved = envelope.open(&sealed, "order:2|customer:c-42").await;
        assert!(matches!(moved, Err(SealError::Invalid(_))), "{moved:?}");
        let mut damaged = sealed.clone();
        damaged.ciphertext = BASE64.encode(b"not the ciphertext at all");
        assert!(matches!(envelope.open(&damaged, "order:1|customer:c-42").await, Err(SealError::Invalid(_))));
        let mut odd = sealed;
        odd.nonce = "AAAA".into();
        assert!(matches!(envelope.open(&odd, "order:1|customer:c-42").await, Err(SealError::Invalid(_))));
    }

    #[tokio::test]
    async fn the_key_service_is_asked_once_per_period_not_per_message() {
        let keys = LocalDataKeys::new();
        let envelope = Envelope::new(keys.clone());
        let mut sealed = Vec::new();
        for i in 0..20 {
            sealed.push(envelope.seal(b"tok_visa", &format!("order:{i}")).await.expect("sealed"));
        }
        let reader = Envelope::new(keys.clone());
        for (i, field) in sealed.iter().enumerate() {
            assert_eq!(reader.open(field, &format!("order:{i}")).await.expect("opens"), b"tok_visa");
        }
        assert_eq!(keys.calls(), (1, 1), "one data key made, and opened once");
        // Two seals of the same secret under the same key still differ: fresh nonces.
        assert_ne!(sealed[0].ciphertext, sealed[1].ciphertext);
    }

    #[tokio::test]
    async fn a_data_key_of_another_key_service_is_refused() {
        let sealed = Envelope::new(LocalDataKeys::new()).seal(b"tok_visa", "order:1").await.expect("sealed");
        let stranger = Envelope::new(LocalDataKeys::new());
        assert!(matches!(stranger.open(&sealed, "order:1").await, Err(SealError::Refused(_))));
    }
}
