use anyhow::Context;
use lambda_kit::{Env, telemetry};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let env = Env::from_process();
    telemetry::init_logging(&env);
    let api = order_api::OrderApi::from_env(&env, &lambda_kit::sdk_config().await).context("configuring the API")?;
    lambda_kit::http::run(api).await
}
