//! The key service on AWS (and the emulator): data keys from KMS, under one key, with an
//! encryption context that the key policy can require.

use async_trait::async_trait;
use aws_sdk_kms::Client;
use aws_sdk_kms::error::ProvideErrorMetadata;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::DataKeySpec;

use crate::{DataKey, DataKeys, SealError};

/// The encryption context of every data key: the key policy grants `kms:Decrypt` only
/// with it, so a data key made for another purpose cannot be opened through this role.
const CONTEXT: (&str, &str) = ("purpose", "card-token");

/// Data keys from AWS KMS, made and opened under one key with a fixed encryption context.
pub struct KmsDataKeys {
    client: Client,
    key_id: String,
}

impl KmsDataKeys {
    /// Data keys under `key_id` (an id, ARN or alias), and opened only with it.
    pub fn new(config: &aws_config::SdkConfig, key_id: impl Into<String>) -> Self {
        Self { client: Client::new(config), key_id: key_id.into() }
    }
}

/// Throttling and the service's own failures are worth a retry; a refusal is not.
fn classify<E: ProvideErrorMetadata + std::fmt::Debug>(err: aws_sdk_kms::error::SdkError<E>) -> SealError {
    use aws_sdk_kms::error::SdkError;
    let reason = match &err {
        SdkError::ServiceError(service) => {
            let code = service.err().code().unwrap_or("unknown");
            let message = service.err().message().unwrap_or_default();
            let retry = matches!(
                code,
                "ThrottlingException"
                    | "KMSInternalException"
                    | "DependencyTimeoutException"
                    | "KeyUnavailableException"
            ) || service.raw().status().is_server_error();
            let text = format!("{code}: {message}");
            return if retry { SealError::Unavailable(text) } else { SealError::Refused(text) };
        }
        other => format!("{other:?}"),
    };
    SealError::Unavailable(reason)
}

#[async_trait]
impl DataKeys for KmsDataKeys {
    async fn generate(&self) -> Result<DataKey, SealError> {
        let output = self
            .client
            .generate_data_key()
            .key_id(&self.key_id)
            .key_spec(DataKeySpec::Aes256)
            .encryption_context(CONTEXT.0, CONTEXT.1)
            .send()
            .await
            .map_err(classify)?;
        let missing = || SealError::Refused("KMS returned no data key".into());
        Ok(DataKey {
            plaintext: output.plaintext.ok_or_else(missing)?.into_inner(),
            encrypted: output.ciphertext_blob.ok_or_else(missing)?.into_inner(),
            key_id: output.key_id.unwrap_or_else(|| self.key_id.clone()),
        })
    }

    async fn decrypt(&self, encrypted: &[u8]) -> Result<Vec<u8>, SealError> {
        let output = self
            .client
            .decrypt()
            .key_id(&self.key_id)
            .ciphertext_blob(Blob::new(encrypted))
            .encryption_context(CONTEXT.0, CONTEXT.1)
            .send()
            .await
            .map_err(classify)?;
        Ok(output.plaintext.ok_or_else(|| SealError::Refused("KMS returned no plaintext".into()))?.into_inner())
    }
}
