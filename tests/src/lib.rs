//! The harness of the system tests: deploys a stack of `infra/template.yaml` to the
//! emulator at `AWS_ENDPOINT_URL` with the project's own deploy step, runs it with the dev
//! runner, and drives it through the HTTP API and the AWS APIs, as a client and an
//! operator would.
//!
//! Each test file deploys its own namespaced stack once, so test files, and a `make run`
//! on the same emulator, never share a queue.

pub mod http_client;
pub mod tap;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use devrunner::{Delivery, Manifest, Options, Running};
use serde_json::Value;
use shared::inventory::{DynamoInventory, StockRoom};
use shared::payments::DynamoLedger;
use tokio::runtime::Runtime;
use tokio::sync::broadcast;

pub use http_client::Reply;

/// What every ingredient starts with: more than any test uses.
pub const AMPLE_STOCK: u64 = 100_000;

/// How long a test waits for the system to reach a state before it fails.
pub const PATIENCE: Duration = Duration::from_secs(60);

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map(Path::to_path_buf).unwrap_or_default()
}

/// One deployed, running stack.
pub struct System {
    pub manifest: Manifest,
    pub api: String,
    pub sqs: aws_sdk_sqs::Client,
    pub sns: aws_sdk_sns::Client,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub stock: DynamoInventory,
    pub ledger: DynamoLedger,
    running: Running,
    runtime: Runtime,
}

impl System {
    /// Deploys `stack_name` with `parameters`, stocks every ingredient amply and starts it.
    /// Panics with the reason if it cannot: a test without its system has nothing to assert.
    pub fn start(stack_name: &str, parameters: &[(&str, &str)]) -> System {
        Self::start_with(stack_name, parameters, false)
    }

    /// As [`System::start`]; with `chaos`, every message is delivered twice, shuffled
    /// within its batch.
    pub fn start_with(stack_name: &str, parameters: &[(&str, &str)], chaos: bool) -> System {
        let endpoint = std::env::var("AWS_ENDPOINT_URL").unwrap_or_default();
        assert!(!endpoint.is_empty(), "AWS_ENDPOINT_URL is not set: run the system tests with `make test`");
        let manifest_path = workspace_root().join(".local").join(format!("{stack_name}.json"));
        deploy(stack_name, parameters, &manifest_path);
        let manifest = Manifest::load(&manifest_path).unwrap_or_else(|e| panic!("{e}"));

        let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a tokio runtime");
        let options = Options {
            http_addr: ([127, 0, 0, 1], 0).into(),
            pollers_per_source: 2,
            // Poison messages reach their DLQ in seconds rather than minutes.
            retry_delay: Some(Duration::from_secs(1)),
            duplicate_deliveries: chaos,
            extra_environment: Vec::new(),
        };
        let (running, aws) = runtime.block_on(async {
            let aws = devrunner::sdk_config(&manifest).await;
            let room = devrunner::ops::stock_room(&manifest, &aws).unwrap_or_else(|e| panic!("{e}"));
            for ingredient in shared::menu::all_ingredients() {
                room.set_stock(ingredient, AMPLE_STOCK).await.unwrap_or_else(|e| panic!("stocking {ingredient}: {e}"));
            }
            let running = devrunner::start(&manifest, &options).await.unwrap_or_else(|e| panic!("dev runner: {e}"));
            (running, aws)
        });
        let api = format!("http://{}", running.api_addr.expect("the stack has an HTTP API"));
        System {
            sqs: aws_sdk_sqs::Client::new(&aws),
            sns: aws_sdk_sns::Client::new(&aws),
            stock: devrunner::ops::stock_room(&manifest, &aws).unwrap_or_else(|e| panic!("{e}")),
            ledger: devrunner::ops::ledger(&manifest, &aws).unwrap_or_else(|e| panic!("{e}")),
            dynamodb: aws_sdk_dynamodb::Client::new(&aws),
            manifest,
            api,
            running,
            runtime,
        }
    }

    /// Runs a test body on the system's runtime, where its clients live.
    pub fn run<F: std::future::Future>(&self, body: F) -> F::Output {
        self.runtime.block_on(body)
    }

    pub fn deliveries(&self) -> broadcast::Receiver<Delivery> {
        self.running.deliveries()
    }

    pub fn topic(&self, logical_id: &str) -> &str {
        self.manifest.topics.get(logical_id).unwrap_or_else(|| panic!("no topic {logical_id} in the stack"))
    }

    pub fn queue(&self, logical_id: &str) -> &devrunner::manifest::Queue {
        self.manifest.queues.get(logical_id).unwrap_or_else(|| panic!("no queue {logical_id} in the stack"))
    }

    /// Sends `message` (as a tap received it) to a queue again: what SQS does when it
    /// delivers a message twice. Returns the new message id.
    pub async fn deliver_again(&self, queue_logical_id: &str, message: &aws_sdk_sqs::types::Message) -> String {
        let sent = self
            .sqs
            .send_message()
            .queue_url(&self.queue(queue_logical_id).url)
            .set_message_body(message.body.clone())
            .set_message_attributes(message.message_attributes.clone())
            .send()
            .await
            .expect("message sent again");
        sent.message_id.unwrap_or_default()
    }

    /// Every ingredient's level, by name.
    pub async fn stock_levels(&self) -> std::collections::BTreeMap<String, shared::inventory::StockLevel> {
        let levels = self.stock.levels().await.unwrap_or_else(|e| panic!("stock levels: {e}"));
        levels.into_iter().map(|level| (level.ingredient.clone(), level)).collect()
    }

    pub async fn post_order(&self, body: &str) -> Reply {
        http_client::send(&self.api, "POST", "/orders", &[("content-type", "application/json")], body).await
    }

    /// Places an order and returns its id.
    pub async fn place_order(&self, pizzas: u32) -> String {
        let reply = self.post_order(&format!(r#"{{"pizzas": {pizzas}}}"#)).await;
        assert_eq!(reply.status, 202, "placing an order: {reply:?}");
        reply.json["order_id"].as_str().expect("an order id").to_owned()
    }

    pub async fn get_order(&self, order_id: &str) -> Reply {
        http_client::send(&self.api, "GET", &format!("/orders/{order_id}"), &[], "").await
    }

    /// Polls the order until `done` holds, and returns it.
    pub async fn wait_for_order(&self, order_id: &str, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let reply = self.get_order(order_id).await;
            if reply.status == 200 && done(&reply.json) {
                return reply.json;
            }
            assert!(Instant::now() < deadline, "order {order_id} did not get there in {PATIENCE:?}: {reply:?}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    pub async fn wait_until_ready(&self, order_id: &str) -> Value {
        self.wait_for_order(order_id, |order| order["status"] == "READY").await
    }
}

/// Waits for the first delivery that satisfies `wanted`.
pub async fn wait_for_delivery(
    deliveries: &mut broadcast::Receiver<Delivery>,
    wanted: impl Fn(&Delivery) -> bool,
) -> Delivery {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(remaining, deliveries.recv()).await {
            Ok(Ok(delivery)) if wanted(&delivery) => return delivery,
            Ok(Ok(_)) | Ok(Err(broadcast::error::RecvError::Lagged(_))) => {}
            Ok(Err(broadcast::error::RecvError::Closed)) => panic!("the dev runner stopped"),
            Err(_) => panic!("no such delivery within {PATIENCE:?}"),
        }
    }
}

fn deploy(stack_name: &str, parameters: &[(&str, &str)], manifest: &Path) {
    let root = workspace_root();
    let python = std::env::var("PIZZA_PYTHON").map(PathBuf::from).unwrap_or_else(|_| root.join(".venv/bin/python"));
    let mut command = Command::new(&python);
    command
        .current_dir(&root)
        .arg("tools/local/deploy.py")
        .args(["--stack-name", stack_name])
        .arg("--manifest")
        .arg(manifest);
    for (key, value) in parameters {
        command.arg("--parameter").arg(format!("{key}={value}"));
    }
    let output = command.output().unwrap_or_else(|e| panic!("cannot run {} (run `make test`): {e}", python.display()));
    assert!(
        output.status.success(),
        "deploying {stack_name} failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A stack shared by the tests of one file, started on first use.
pub fn shared_system(
    cell: &'static OnceLock<System>,
    stack_name: &str,
    parameters: &[(&str, &str)],
) -> &'static System {
    cell.get_or_init(|| System::start(stack_name, parameters))
}
