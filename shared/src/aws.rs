//! Building SDK clients. `aws_config` honours `AWS_ENDPOINT_URL` and
//! `AWS_ENDPOINT_URL_<SERVICE>`, so the same code talks to AWS, moto or LocalStack.

pub use aws_config::SdkConfig;

pub async fn sdk_config() -> SdkConfig {
    aws_config::load_from_env().await
}

/// The innermost message of an SDK error chain: the service's own words, not "service error".
pub fn describe(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(inner) = source {
        text = format!("{text}: {inner}");
        source = inner.source();
    }
    text
}
