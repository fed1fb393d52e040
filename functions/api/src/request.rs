//! Reading and checking a `POST /orders` request: pure, so every rule has a fast test.

use http::header::CONTENT_TYPE;
use serde_json::Value;
use shared::http::{Body, Request};

pub const MAX_PIZZAS: u64 = 50;

#[derive(Debug, Clone, PartialEq)]
pub struct PlaceOrder {
    pub pizzas: u32,
    pub idempotency_key: Option<String>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum RequestError {
    #[error("content type {0:?} is not supported; send application/json")]
    UnsupportedContentType(String),
    #[error("the body is not valid JSON: {0}")]
    InvalidJson(String),
    #[error("the body must be a JSON object like {{\"pizzas\": 3}}")]
    NotAnObject,
    #[error("\"pizzas\" is required")]
    MissingPizzas,
    #[error("\"pizzas\" must be a whole number from 1 to {MAX_PIZZAS}, got {0}")]
    PizzasOutOfRange(String),
    #[error("the Idempotency-Key header must be 1 to 128 visible ASCII characters")]
    InvalidIdempotencyKey,
}

impl RequestError {
    /// The machine-readable code in the JSON error body.
    pub fn code(&self) -> &'static str {
        match self {
            RequestError::UnsupportedContentType(_) => "unsupported_content_type",
            RequestError::InvalidJson(_) | RequestError::NotAnObject => "invalid_body",
            RequestError::MissingPizzas | RequestError::PizzasOutOfRange(_) => "invalid_pizzas",
            RequestError::InvalidIdempotencyKey => "invalid_idempotency_key",
        }
    }
}

impl PlaceOrder {
    pub fn from_request(request: &Request) -> Result<Self, RequestError> {
        check_content_type(request)?;
        let body: &[u8] = match request.body() {
            Body::Empty => b"",
            Body::Text(text) => text.as_bytes(),
            Body::Binary(bytes) => bytes,
            // `Body` is non-exhaustive upstream; a new kind of body is not one we understand.
            #[allow(unreachable_patterns)]
            _ => return Err(RequestError::NotAnObject),
        };
        let json: Value = serde_json::from_slice(body).map_err(|e| RequestError::InvalidJson(e.to_string()))?;
        let object = json.as_object().ok_or(RequestError::NotAnObject)?;
        let pizzas = object.get("pizzas").ok_or(RequestError::MissingPizzas)?;
        let pizzas = pizzas
            .as_u64()
            .filter(|n| (1..=MAX_PIZZAS).contains(n))
            .ok_or_else(|| RequestError::PizzasOutOfRange(pizzas.to_string()))?;
        Ok(Self { pizzas: pizzas as u32, idempotency_key: idempotency_key(request)? })
    }
}

/// JSON is expected. A request without a content type, and curl's default for `-d`
/// (`application/x-www-form-urlencoded`), are read as JSON too, so that
/// `curl -d '{"pizzas":2}'` works; any other type is refused.
fn check_content_type(request: &Request) -> Result<(), RequestError> {
    let Some(value) = request.headers().get(CONTENT_TYPE) else {
        return Ok(());
    };
    let text = value.to_str().unwrap_or_default();
    let media_type = text.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    let accepted = media_type == "application/json"
        || (media_type.starts_with("application/") && media_type.ends_with("+json"))
        || media_type == "application/x-www-form-urlencoded";
    if accepted { Ok(()) } else { Err(RequestError::UnsupportedContentType(text.to_owned())) }
}

fn idempotency_key(request: &Request) -> Result<Option<String>, RequestError> {
    let Some(value) = request.headers().get("idempotency-key") else {
        return Ok(None);
    };
    let key = value.to_str().map_err(|_| RequestError::InvalidIdempotencyKey)?;
    if key.is_empty() || key.len() > 128 || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(RequestError::InvalidIdempotencyKey);
    }
    Ok(Some(key.to_owned()))
}
