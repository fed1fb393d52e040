use anyhow::Context;
use lambda_kit::Env;
use lambda_kit::bus::SnsBus;
use lambda_kit::faults::Faults;
use lambda_kit::telemetry::{self, Metrics};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let env = Env::from_process();
    telemetry::init_logging(&env);
    let aws = lambda_kit::sdk_config().await;
    let faults = Faults::from_env(&env).context("configuring the relay")?;
    outbox_relay::run(outbox_relay::Relay::new(SnsBus::new(&aws), Metrics::from_env(&env)).with_faults(faults)).await
}
