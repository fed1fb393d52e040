//! Which handler implements which binary: the in-process twin of each function's `main.rs`.

use std::sync::Arc;

use shared::batch::EventHandler;
use shared::config::{ConfigError, Env};
use shared::http::HttpHandler;

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

pub fn build(function: &str, binary: &str, env: &Env, aws: &aws_config::SdkConfig) -> Result<Handler, RegistryError> {
    let config = |source| RegistryError::Config { function: function.to_owned(), source };
    Ok(match binary {
        "api" => Handler::Http(Arc::new(api::OrderApi::from_env(env, aws).map_err(config)?)),
        "pizza" => Handler::Queue(Arc::new(pizza::Kitchen::from_env(env, aws).map_err(config)?)),
        "topping" => Handler::Queue(Arc::new(topping::ToppingStage::from_env(env, aws).map_err(config)?)),
        other => return Err(RegistryError::UnknownBinary { function: function.to_owned(), binary: other.to_owned() }),
    })
}
