use shared::config::Env;
use shared::telemetry::{Metrics, init_logging};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    init_logging();
    let env = Env::from_process();
    let aws = shared::aws::sdk_config().await;
    let kitchen = shared::idempotency::wrap_from_env(pizza::Kitchen::from_env(&env, &aws)?, &env, &aws)?;
    shared::batch::run_on_lambda(kitchen, Metrics::from_env(&env)).await
}
