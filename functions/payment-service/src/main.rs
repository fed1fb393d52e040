use std::sync::Arc;

use anyhow::Context;
use lambda_kit::batch::{SqsFunction, run};
use lambda_kit::bus::SnsBus;
use lambda_kit::{Env, SqsFailedRecords, telemetry};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let env = Env::from_process();
    telemetry::init_logging(&env);
    let aws = lambda_kit::sdk_config().await;
    let service = payment_service::PaymentService::from_env(&env, &aws).context("configuring the payment service")?;
    run(SqsFunction::from_env(service, SnsBus::new(&aws), Arc::new(SqsFailedRecords::new(&aws)), &env)
        .context("configuring the batch")?)
    .await
}
