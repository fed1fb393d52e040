//! Reading and checking a `POST /orders` request: pure, so every rule has a fast test.

use http::StatusCode;
use http::header::CONTENT_TYPE;
use lambda_kit::http::{Request, body_bytes};
use pizza_events::catalogue::DEFAULT_CARD_TOKEN;
use pizza_events::menu::PIZZA_PRICE_CENTS;
use serde_json::Value;

/// The most pizzas one order may have, as the order knows it.
pub const MAX_PIZZAS: u64 = orders::MAX_PIZZAS as u64;
/// An order is a few dozen bytes; anything much larger is a mistake or an attack.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

#[derive(Debug, Clone, PartialEq)]
pub struct PlaceOrder {
    pub pizzas: u32,
    /// The customer the body names, if it names one: it must be the signed-in customer.
    pub customer_id: Option<String>,
    pub card_token: String,
    pub idempotency_key: Option<String>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum RequestError {
    #[error("the body is {0} bytes; at most {MAX_BODY_BYTES} are accepted")]
    TooLarge(usize),
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
    #[error("\"customer_id\" must be 1 to 64 letters, digits, '-' or '_'")]
    InvalidCustomer,
    #[error(
        "\"payment\" must be an object like {{\"card_token\": \"tok_visa\"}} \
         with a token of 1 to 64 letters, digits or '_'"
    )]
    InvalidPayment,
    #[error("the Idempotency-Key header must be 1 to 128 visible ASCII characters")]
    InvalidIdempotencyKey,
}

impl RequestError {
    /// The machine-readable code in the JSON error body.
    pub fn code(&self) -> &'static str {
        match self {
            RequestError::TooLarge(_) => "body_too_large",
            RequestError::UnsupportedContentType(_) => "unsupported_content_type",
            RequestError::InvalidJson(_) | RequestError::NotAnObject => "invalid_body",
            RequestError::MissingPizzas | RequestError::PizzasOutOfRange(_) => "invalid_pizzas",
            RequestError::InvalidCustomer => "invalid_customer",
            RequestError::InvalidPayment => "invalid_payment",
            RequestError::InvalidIdempotencyKey => "invalid_idempotency_key",
        }
    }

    /// The HTTP status that answers it.
    pub fn status(&self) -> StatusCode {
        match self {
            RequestError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

impl PlaceOrder {
    pub fn from_request(request: &Request) -> Result<Self, RequestError> {
        let body = body_bytes(request.body());
        if body.len() > MAX_BODY_BYTES {
            return Err(RequestError::TooLarge(body.len()));
        }
        check_content_type(request)?;
        let json: Value = serde_json::from_slice(body).map_err(|e| RequestError::InvalidJson(e.to_string()))?;
        let object = json.as_object().ok_or(RequestError::NotAnObject)?;
        let pizzas = object.get("pizzas").ok_or(RequestError::MissingPizzas)?;
        let pizzas = pizzas
            .as_u64()
            .filter(|n| (1..=MAX_PIZZAS).contains(n))
            .ok_or_else(|| RequestError::PizzasOutOfRange(pizzas.to_string()))?;
        let customer_id = match object.get("customer_id") {
            None | Some(Value::Null) => None,
            Some(Value::String(id)) if is_customer_id(id) => Some(id.clone()),
            Some(_) => return Err(RequestError::InvalidCustomer),
        };
        let card_token = match object.get("payment") {
            None | Some(Value::Null) => DEFAULT_CARD_TOKEN.to_owned(),
            Some(payment) => match payment.get("card_token") {
                Some(Value::String(token)) if is_identifier(token, false) => token.clone(),
                _ => return Err(RequestError::InvalidPayment),
            },
        };
        Ok(Self { pizzas: pizzas as u32, customer_id, card_token, idempotency_key: idempotency_key(request)? })
    }

    /// The price of the order, from the menu.
    pub fn amount_cents(&self) -> u64 {
        u64::from(self.pizzas) * PIZZA_PRICE_CENTS
    }
}

/// Whether `text` can be a customer id: 1 to 64 letters, digits, `-` or `_`.
pub(crate) fn is_customer_id(text: &str) -> bool {
    is_identifier(text, true)
}

/// 1 to 64 ASCII letters, digits and `_` (and `-` where `dash` allows it).
fn is_identifier(text: &str, dash: bool) -> bool {
    (1..=64).contains(&text.len())
        && text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || (dash && b == b'-'))
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
