//! The reconciler's entry point: EventBridge invokes it on a schedule; each run heals the
//! orders that stopped moving and answers with what it did.

use std::convert::Infallible;
use std::sync::Arc;

use anyhow::Context;
use lambda_kit::bus::SnsBus;
use lambda_kit::{Env, telemetry};
use lambda_runtime::{LambdaEvent, service_fn};
use order_service::reconcile::Reconciler;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let env = Env::from_process();
    telemetry::init_logging(&env);
    let aws = lambda_kit::sdk_config().await;
    let reconciler =
        Arc::new(Reconciler::from_env(&env, &aws, SnsBus::new(&aws)).context("configuring the reconciler")?);
    lambda_runtime::run(service_fn(move |_scheduled: LambdaEvent<serde_json::Value>| {
        let reconciler = reconciler.clone();
        async move {
            let report = reconciler.run(chrono::Utc::now()).await;
            Ok::<_, Infallible>(serde_json::to_value(report).unwrap_or_default())
        }
    }))
    .await
}
