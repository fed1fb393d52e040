//! The Powertools baseline: the sauce stage written the usual Python way
//! (`bench/baseline/topping.py`), fed the very messages the Rust sauce stage handled in the
//! cost run, on the same emulator through the same meter.

use std::path::Path;
use std::process::Stdio;

use anyhow::{Context, bail};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
};
use aws_sdk_sqs::types::QueueAttributeName;
use local_runner::Manifest;
use serde_json::Value;

use crate::line;
use crate::meter::{Reading, Spend};

const PYTHON: &str = ".venv-baseline/bin/python";

/// A queue of the bench's own, subscribed to the pizza topic before the cost run: it
/// collects the same PizzaRequested messages the Rust sauce stage gets.
pub struct Tap {
    pub url: String,
    subscription: String,
}

pub async fn tap(manifest: &Manifest, aws: &aws_config::SdkConfig) -> anyhow::Result<Tap> {
    let (sqs, sns) = (aws_sdk_sqs::Client::new(aws), aws_sdk_sns::Client::new(aws));
    let name = format!("{}-baseline-tap", manifest.stack_name);
    let url = sqs.create_queue().queue_name(&name).send().await?.queue_url.context("a queue URL")?;
    let _ = sqs.purge_queue().queue_url(&url).send().await;
    let arn = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await?
        .attributes
        .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
        .context("a queue ARN")?;
    let topic = manifest.topics.get("PizzaTopic").context("no PizzaTopic")?;
    let subscription = sns
        .subscribe()
        .topic_arn(topic)
        .protocol("sqs")
        .endpoint(arn)
        .attributes("RawMessageDelivery", "true")
        .send()
        .await?
        .subscription_arn
        .unwrap_or_default();
    Ok(Tap { url, subscription })
}

/// Runs the baseline on the tapped messages and prints both stages' figures per record.
pub async fn compare(
    manifest: &Manifest,
    aws: &aws_config::SdkConfig,
    tap: Tap,
    rust: &Reading,
    rust_cpu_ms: f64,
    records: u32,
    meter: &crate::meter::Meter,
) -> anyhow::Result<()> {
    if !Path::new(PYTHON).exists() {
        bail!("{PYTHON} is missing: `make bench` creates it from bench/baseline/requirements.txt");
    }
    let sns = aws_sdk_sns::Client::new(aws);
    let (output_topic, idempotency) = prepare(manifest, aws).await?;
    let sauce = manifest.function("SauceFunction").context("no SauceFunction")?;
    let sauce_queue = sauce
        .event_sources
        .iter()
        .find_map(|s| match s {
            local_runner::EventSource::Sqs(q) => Some(q.queue.name().to_owned()),
            _ => None,
        })
        .context("the sauce stage has no queue")?;
    let _ = meter.take();
    let run = tokio::process::Command::new(PYTHON)
        .arg("bench/baseline/run.py")
        .arg(&tap.url)
        .arg(records.to_string())
        .env("PYTHONPATH", "bench/baseline")
        .env("AWS_SDK_UA_APP_ID", "PythonBaseline")
        .env("INVENTORY_TABLE", manifest.table("InventoryTable").context("no InventoryTable")?)
        .env("IDEMPOTENCY_TABLE", &idempotency)
        .env("OUTPUT_TOPIC_ARN", output_topic)
        .env("SAUCES", pizza_events::menu::ingredients_for("sauce").unwrap_or_default().join(","))
        .env("POWERTOOLS_SERVICE_NAME", "baseline-sauce")
        .stderr(Stdio::inherit())
        .output()
        .await?;
    let python = meter.take();
    let _ = sns.unsubscribe().subscription_arn(&tap.subscription).send().await;
    let _ = aws_sdk_sqs::Client::new(aws).delete_queue().queue_url(&tap.url).send().await;
    if !run.status.success() {
        bail!("the baseline failed: {}", String::from_utf8_lossy(&run.stdout));
    }
    let measured: Value = serde_json::from_slice(&run.stdout).context("the baseline's figures")?;
    let handled = measured["records"].as_f64().unwrap_or(0.0);
    if handled < f64::from(records) {
        bail!("the baseline handled {handled} of {records} records: {measured}");
    }

    let rust_spend = merged(rust, &["SauceFunction", &format!("pollers:{sauce_queue}")]);
    let python_spend = merged(&python, &["PythonBaseline"]);
    let python_cpu_ms = measured["cpu_seconds"].as_f64().unwrap_or(0.0) * 1000.0;
    let per = |n: f64| n / f64::from(records);
    let rows = [
        ("requests_per_record", per(rust_spend.total_requests() as f64), per(python_spend.total_requests() as f64)),
        ("write_units_per_record", per(rust_spend.write_units), per(python_spend.write_units)),
        ("read_units_per_record", per(rust_spend.read_units), per(python_spend.read_units)),
        ("cpu_ms_per_record", per(rust_cpu_ms), per(python_cpu_ms)),
    ];
    println!("# the sauce stage, Rust against the Powertools baseline, the same {records} messages");
    for (name, rust, python) in rows {
        line(&format!("baseline.rust.{name}"), format!("{rust:.3}"));
        line(&format!("baseline.python.{name}"), format!("{python:.3}"));
        let ratio = if rust > 0.0 { format!("{:.1}", python / rust) } else { "n/a".into() };
        line(&format!("baseline.python_to_rust.{name}"), ratio);
    }
    for (op, n) in &python_spend.requests {
        line(&format!("baseline.python.requests_per_record.{op}"), format!("{:.2}", per(*n as f64)));
    }
    for (op, n) in &rust_spend.requests {
        line(&format!("baseline.rust.requests_per_record.{op}"), format!("{:.2}", per(*n as f64)));
    }
    Ok(())
}

fn merged(reading: &Reading, callers: &[&str]) -> Spend {
    let mut spend = Spend::default();
    for caller in callers {
        if let Some(s) = reading.by_caller.get(*caller) {
            for (op, n) in &s.requests {
                *spend.requests.entry(op.clone()).or_default() += n;
            }
            spend.write_units += s.write_units;
            spend.read_units += s.read_units;
        }
    }
    spend
}

/// What the baseline writes to: its output topic, its idempotency table, and the usual
/// stock layout (an item per ingredient, each with its `available` units, where the Rust
/// stage keeps one item per stage) in the stack's inventory table. Returns the topic's ARN
/// and the table's name.
async fn prepare(manifest: &Manifest, aws: &aws_config::SdkConfig) -> anyhow::Result<(String, String)> {
    let (sns, dynamodb) = (aws_sdk_sns::Client::new(aws), aws_sdk_dynamodb::Client::new(aws));
    let output = sns.create_topic().name(format!("{}-baseline-out", manifest.stack_name)).send().await?;
    let idempotency = format!("{}-baseline-idempotency", manifest.stack_name);
    let exists = dynamodb.describe_table().table_name(&idempotency).send().await.is_ok();
    if !exists {
        dynamodb
            .create_table()
            .table_name(&idempotency)
            .attribute_definitions(
                AttributeDefinition::builder().attribute_name("id").attribute_type(ScalarAttributeType::S).build()?,
            )
            .key_schema(KeySchemaElement::builder().attribute_name("id").key_type(KeyType::Hash).build()?)
            .billing_mode(BillingMode::PayPerRequest)
            .send()
            .await?;
    }
    let inventory = manifest.table("InventoryTable").context("no InventoryTable")?;
    for ingredient in pizza_events::menu::ingredients_for("sauce").unwrap_or_default() {
        dynamodb
            .put_item()
            .table_name(inventory)
            .item("pk", AttributeValue::S(format!("STOCK#{ingredient}")))
            .item("sk", AttributeValue::S("STOCK".into()))
            .item("available", AttributeValue::N("10000000".into()))
            .send()
            .await?;
    }
    Ok((output.topic_arn.unwrap_or_default(), idempotency))
}
