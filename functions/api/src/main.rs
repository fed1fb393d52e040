use std::convert::Infallible;
use std::sync::Arc;

use lambda_http::{Request, service_fn};
use shared::config::Env;
use shared::http::HttpHandler;
use shared::telemetry::init_logging;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    init_logging();
    let api = Arc::new(api::OrderApi::from_env(&Env::from_process(), &shared::aws::sdk_config().await)?);
    lambda_http::run(service_fn(move |request: Request| {
        let api = api.clone();
        async move { Ok::<_, Infallible>(api.call(request).await) }
    }))
    .await
}
