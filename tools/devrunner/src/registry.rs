//! Which handler implements which binary: the in-process twin of each function's `main.rs`.

use std::sync::Arc;

use shared::batch::EventHandler;
use shared::config::{ConfigError, Env};
use shared::http::HttpHandler;
use shared::idempotency::wrap_from_env;

pub enum Handler {
    Queue(Arc<dyn EventHandler>),
    Http(Arc<dyn HttpHandler>),
}

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("function {function}: no handler is linked for binary {binary:?}")]
    UnknownBinary { function: String, binary: String },
    #[error("function {function}: {source}")]
    Config { function: String, source: ConfigError },
}

/// A queue consumer, wrapped exactly as its `main.rs` wraps it.
fn consumer<H: EventHandler + 'static>(
    handler: H,
    env: &Env,
    aws: &aws_config::SdkConfig,
) -> Result<Handler, ConfigError> {
    Ok(Handler::Queue(Arc::new(wrap_from_env(handler, env, aws)?)))
}

fn handler(binary: &str, env: &Env, aws: &aws_config::SdkConfig) -> Option<Result<Handler, ConfigError>> {
    Some(match binary {
        "api" => api::OrderApi::from_env(env, aws).map(|api| Handler::Http(Arc::new(api))),
        "pizza" => pizza::Kitchen::from_env(env, aws).and_then(|h| consumer(h, env, aws)),
        "topping" => topping::ToppingStage::from_env(env, aws).and_then(|h| consumer(h, env, aws)),
        "payment" => payment::PaymentService::from_env(env, aws).and_then(|h| consumer(h, env, aws)),
        "inventory" => inventory::Restocker::from_env(env, aws).and_then(|h| consumer(h, env, aws)),
        _ => return None,
    })
}

pub fn build(function: &str, binary: &str, env: &Env, aws: &aws_config::SdkConfig) -> Result<Handler, RegistryError> {
    handler(binary, env, aws)
        .ok_or_else(|| RegistryError::UnknownBinary { function: function.to_owned(), binary: binary.to_owned() })?
        .map_err(|source| RegistryError::Config { function: function.to_owned(), source })
}
