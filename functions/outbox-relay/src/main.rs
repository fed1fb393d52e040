use anyhow::Context;
use lambda_kit::bus::SnsBus;
use lambda_kit::faults::Faults;
use lambda_kit::telemetry::{self, Metrics};
use lambda_kit::{Env, TopicArn};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let env = Env::from_process();
    telemetry::init_logging(&env);
    let aws = lambda_kit::sdk_config().await;
    let faults = Faults::from_env(&env).context("configuring the relay")?;
    let orders_topic = TopicArn(env.require("ORDERS_TOPIC_ARN").context("configuring the relay")?.to_owned());
    let relay = outbox_relay::Relay::new(SnsBus::new(&aws), orders_topic, Metrics::from_env(&env));
    outbox_relay::run(relay.with_faults(faults)).await
}
