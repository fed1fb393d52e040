//! Sign-in on the local stack: a stand-in for the identity provider, and API Gateway's JWT
//! authorizer in front of the routes that need it.
//!
//! The issuer keeps one RSA key (RS256, as API Gateway requires) in `.local/issuer/`, made
//! on first use; `pizza-local token` signs a customer's token with it. The authorizer
//! checks what API Gateway checks (signature, issuer, audience or `client_id`, expiry,
//! not-before) and answers 401 with a JSON body and a `www-authenticate` reason.

use std::io::Write;
use std::path::Path;

use aws_lc_rs::digest::{SHA256, digest};
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::{KeyPair as _, RSA_PKCS1_2048_8192_SHA256, RSA_PKCS1_SHA256, UnparsedPublicKey};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

const KEY_FILE: &str = "signing-key.pk8";

#[derive(Debug, thiserror::Error)]
pub enum IssuerError {
    #[error("the local issuer's key {path}: {reason}")]
    Key { path: String, reason: String },
}

/// The local identity provider: one signing key.
pub struct LocalIssuer {
    key: KeyPair,
    kid: String,
}

impl LocalIssuer {
    /// The issuer whose key is in `dir`, made there (readable by its owner only) if absent.
    pub fn open(dir: &Path) -> Result<Self, IssuerError> {
        let path = dir.join(KEY_FILE);
        let failed = |reason: String| IssuerError::Key { path: path.display().to_string(), reason };
        if !path.exists() {
            std::fs::create_dir_all(dir).map_err(|e| failed(e.to_string()))?;
            let fresh = Self::generate()?;
            let der = fresh.key.as_der().map_err(|_| failed("cannot encode the key".into()))?;
            // Written aside, then linked into place: two processes starting at once both
            // end with the one key that won, never with half a file.
            let aside = dir.join(format!("{KEY_FILE}.{}", std::process::id()));
            let mut file = private_file(&aside).map_err(|e| failed(e.to_string()))?;
            file.write_all(der.as_ref()).map_err(|e| failed(e.to_string()))?;
            drop(file);
            let linked = std::fs::hard_link(&aside, &path);
            let _ = std::fs::remove_file(&aside);
            match linked {
                Ok(()) => return Ok(fresh),
                Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(err) => return Err(failed(err.to_string())),
            }
        }
        let der = std::fs::read(&path).map_err(|e| failed(e.to_string()))?;
        let key = KeyPair::from_pkcs8(&der).map_err(|e| failed(e.to_string()))?;
        Ok(Self::with_key(key))
    }

    /// An issuer with a new key, in memory only (a test's impostor, say).
    pub fn generate() -> Result<Self, IssuerError> {
        let key = KeyPair::generate(KeySize::Rsa2048)
            .map_err(|_| IssuerError::Key { path: "(memory)".into(), reason: "RSA key generation failed".into() })?;
        Ok(Self::with_key(key))
    }

    fn with_key(key: KeyPair) -> Self {
        let fingerprint = digest(&SHA256, key.public_key().as_ref());
        let kid = fingerprint.as_ref()[..8].iter().map(|b| format!("{b:02x}")).collect();
        Self { key, kid }
    }

    /// A token of `claims`, signed RS256 with this issuer's key.
    pub fn sign(&self, claims: &Value) -> String {
        let header = json!({"alg": "RS256", "typ": "JWT", "kid": self.kid});
        let signed = format!("{}.{}", B64.encode(header.to_string()), B64.encode(claims.to_string()));
        let mut signature = vec![0u8; self.key.public_modulus_len()];
        // Signing with a valid key into a buffer of its size cannot fail.
        self.key
            .sign(&RSA_PKCS1_SHA256, &SystemRandom::new(), signed.as_bytes(), &mut signature)
            .expect("an RS256 signature");
        format!("{signed}.{}", B64.encode(signature))
    }

    /// A customer's token: `subject` signed in at `issuer`, for `audience`, valid for
    /// `lifetime` from now.
    pub fn token(&self, issuer: &str, audience: &str, subject: &str, lifetime: std::time::Duration) -> String {
        let now = chrono::Utc::now().timestamp();
        let lifetime = i64::try_from(lifetime.as_secs()).unwrap_or(i64::MAX);
        self.sign(&json!({
            "iss": issuer, "aud": audience, "sub": subject,
            "iat": now, "nbf": now, "exp": now.saturating_add(lifetime),
            "token_use": "id",
        }))
    }

    /// The public half, as the authorizer trusts it.
    fn public_key(&self) -> (String, Vec<u8>) {
        (self.kid.clone(), self.key.public_key().as_ref().to_vec())
    }
}

/// A token the HTTP API of `manifest`'s stack accepts for `customer`, signed by the local
/// issuer whose key is in `dir`; `None` when the API takes no token.
pub fn token_for(
    manifest: &crate::Manifest,
    dir: &Path,
    customer: &str,
    lifetime: std::time::Duration,
) -> Result<Option<String>, IssuerError> {
    let Some(configuration) = &manifest.jwt_authorizer else { return Ok(None) };
    let audience = configuration.audience.first().map(String::as_str).unwrap_or_default();
    Ok(Some(LocalIssuer::open(dir)?.token(&configuration.issuer, audience, customer, lifetime)))
}

fn private_file(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

/// The HTTP API's JWT authorizer, as the template configures it.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
pub struct JwtConfiguration {
    pub issuer: String,
    pub audience: Vec<String>,
}

/// Why a request was refused: API Gateway's 401, with its reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Unauthorized(pub &'static str);

/// API Gateway's JWT authorizer, trusting the local issuer's key.
pub struct JwtAuthorizer {
    configuration: JwtConfiguration,
    keys: Vec<(String, Vec<u8>)>,
}

impl JwtAuthorizer {
    pub fn new(configuration: JwtConfiguration, issuer: &LocalIssuer) -> Self {
        Self { configuration, keys: vec![issuer.public_key()] }
    }

    /// The claims of the token in `authorization` (the header, `Bearer ` optional, as API
    /// Gateway takes it), if it is valid at `now` (epoch seconds); every claim as text,
    /// as API Gateway passes them to the function.
    pub fn verify(&self, authorization: Option<&str>, now: i64) -> Result<Map<String, Value>, Unauthorized> {
        let value = authorization.unwrap_or_default().trim_start();
        let token = value.strip_prefix("Bearer").or_else(|| value.strip_prefix("bearer")).unwrap_or(value).trim();
        if token.is_empty() {
            return Err(Unauthorized("no token"));
        }
        let not_jwt = Unauthorized("the token is not a signed JWT");
        let [header, claims, signature] = token.split('.').collect::<Vec<_>>()[..] else { return Err(not_jwt) };
        let decode = |part: &str| B64.decode(part).ok().and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok());
        let (Some(head), Some(Value::Object(claims_map))) = (decode(header), decode(claims)) else {
            return Err(not_jwt);
        };
        if head["alg"] != "RS256" {
            return Err(Unauthorized("the token is not signed with RS256"));
        }
        let kid = head["kid"].as_str().unwrap_or_default();
        let (_, key) =
            self.keys.iter().find(|(id, _)| id == kid).ok_or(Unauthorized("the token is signed by an unknown key"))?;
        let signature = B64.decode(signature).map_err(|_| not_jwt.clone())?;
        UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, key)
            .verify(format!("{header}.{claims}").as_bytes(), &signature)
            .map_err(|_| Unauthorized("the token's signature is not valid"))?;
        self.check_claims(&claims_map, now)?;
        Ok(claims_map.into_iter().map(|(name, value)| (name, Value::String(claim_text(&value)))).collect())
    }

    fn check_claims(&self, claims: &Map<String, Value>, now: i64) -> Result<(), Unauthorized> {
        if claims.get("iss").and_then(Value::as_str) != Some(self.configuration.issuer.as_str()) {
            return Err(Unauthorized("the token is from another issuer"));
        }
        let audiences: Vec<&str> = match claims.get("aud") {
            Some(Value::String(one)) => vec![one.as_str()],
            Some(Value::Array(many)) => many.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        let client_id = claims.get("client_id").and_then(Value::as_str);
        let for_us = |a: &str| self.configuration.audience.iter().any(|ours| ours == a);
        if !(audiences.iter().any(|a| for_us(a)) || client_id.is_some_and(for_us)) {
            return Err(Unauthorized("the token is for another audience"));
        }
        match claims.get("exp").and_then(Value::as_i64) {
            Some(exp) if exp > now => {}
            Some(_) => return Err(Unauthorized("the token has expired")),
            None => return Err(Unauthorized("the token has no expiry")),
        }
        if claims.get("nbf").and_then(Value::as_i64).is_some_and(|nbf| nbf > now) {
            return Err(Unauthorized("the token is not valid yet"));
        }
        Ok(())
    }
}

/// A claim as API Gateway renders it for the function: text as is, anything else as JSON
/// (arrays as `[a b]`).
fn claim_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Array(items) => {
            format!("[{}]", items.iter().map(claim_text).collect::<Vec<_>>().join(" "))
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const ISSUER: &str = "https://issuer.example";

    fn authorizer(issuer: &LocalIssuer) -> JwtAuthorizer {
        JwtAuthorizer::new(JwtConfiguration { issuer: ISSUER.into(), audience: vec!["shop".into()] }, issuer)
    }

    #[test]
    fn a_valid_token_passes_with_its_claims_as_text() {
        let issuer = LocalIssuer::generate().expect("a key");
        let token = issuer.token(ISSUER, "shop", "c-42", Duration::from_secs(60));
        let now = chrono::Utc::now().timestamp();
        let claims = authorizer(&issuer).verify(Some(&format!("Bearer {token}")), now).expect("valid");
        assert_eq!(claims["sub"], "c-42");
        assert_eq!(claims["exp"], Value::String((now + 60).to_string()));
        assert!(authorizer(&issuer).verify(Some(&token), now).is_ok(), "Bearer is optional, as on API Gateway");
    }

    #[test]
    fn every_bad_token_is_refused_with_its_reason() {
        let issuer = LocalIssuer::generate().expect("a key");
        let impostor = LocalIssuer::generate().expect("a key");
        let now = chrono::Utc::now().timestamp();
        let hour = Duration::from_secs(3600);
        let expired = issuer.sign(&json!({"iss": ISSUER, "aud": "shop", "sub": "c", "exp": now - 1}));
        let early = issuer.sign(&json!({"iss": ISSUER, "aud": "shop", "sub": "c", "exp": now + 60, "nbf": now + 30}));
        let mut forged_kid = impostor.token(ISSUER, "shop", "c", hour);
        forged_kid = {
            // The impostor's token under the real key's id: the signature gives it away.
            let parts: Vec<&str> = forged_kid.split('.').collect();
            let header = B64.encode(json!({"alg": "RS256", "typ": "JWT", "kid": issuer.kid}).to_string());
            format!("{header}.{}.{}", parts[1], parts[2])
        };
        let cases = [
            (None, "no token"),
            (Some("Bearer ".to_owned()), "no token"),
            (Some("Bearer not.a.jwt".to_owned()), "the token is not a signed JWT"),
            (Some(expired), "the token has expired"),
            (Some(early), "the token is not valid yet"),
            (Some(impostor.token(ISSUER, "shop", "c", hour)), "the token is signed by an unknown key"),
            (Some(forged_kid), "the token's signature is not valid"),
            (Some(issuer.token("https://elsewhere", "shop", "c", hour)), "the token is from another issuer"),
            (Some(issuer.token(ISSUER, "another-app", "c", hour)), "the token is for another audience"),
        ];
        let authorizer = authorizer(&issuer);
        for (token, reason) in cases {
            assert_eq!(authorizer.verify(token.as_deref(), now), Err(Unauthorized(reason)), "{token:?}");
        }
    }

    #[test]
    fn a_cognito_access_token_is_for_its_client_id() {
        let issuer = LocalIssuer::generate().expect("a key");
        let now = chrono::Utc::now().timestamp();
        let access = issuer.sign(&json!({"iss": ISSUER, "client_id": "shop", "sub": "c", "exp": now + 60}));
        assert!(authorizer(&issuer).verify(Some(&access), now).is_ok());
    }

    #[test]
    fn the_key_is_made_once_and_kept() {
        let dir = std::env::temp_dir().join(format!("pizza-issuer-{}", uuid::Uuid::new_v4()));
        let first = LocalIssuer::open(&dir).expect("made");
        let again = LocalIssuer::open(&dir).expect("read");
        assert_eq!(first.kid, again.kid);
        let token = first.token(ISSUER, "shop", "c-1", Duration::from_secs(60));
        assert!(authorizer(&again).verify(Some(&token), chrono::Utc::now().timestamp()).is_ok());
        let _ = std::fs::remove_dir_all(dir);
    }
}
