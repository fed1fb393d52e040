//! The harness of the system tests: deploys a stack of `infra/template.yaml` to the
//! emulator at `AWS_ENDPOINT_URL` with the project's own deploy step, runs it with the
//! local runner (every function its own built binary, in its own processes), and drives it
//! through the HTTP API and the AWS APIs, as a client and an operator would.
//!
//! Each test file deploys its own namespaced stack once, so test files, and a `make run`
//! on the same emulator, never share a queue.

pub mod browser;
pub mod tap;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use inventory::StockRoom;
use local_runner::{Chaos, Delivery, LogLine, Manifest, Options, Running};
use pizza_cli::Stack;
use pizza_cli::http::Client;
use serde_json::Value;
use tokio::runtime::Runtime;
use tokio::sync::broadcast;

pub use pizza_cli::http::Reply;

/// What every ingredient starts with: more than any test uses.
pub const AMPLE_STOCK: u64 = 100_000;

/// Transient failures come back within seconds in a test, not minutes, unless the test
/// deploys with its own retry parameters (the chaos test does, to outlast its outage).
const QUICK_RETRIES: [(&str, &str); 2] = [("RetryBackoffBaseSeconds", "1"), ("RetryBackoffMaxSeconds", "4")];

/// Who the harness signs in as, unless a test says otherwise.
pub const TEST_CUSTOMER: &str = "c-test";

/// How long a test waits for the system to reach a state before it fails.
pub const PATIENCE: Duration = Duration::from_secs(60);

pub fn workspace_root() -> PathBuf {
    // Read at run time: a test binary reused from a shared target directory (another
    // clone's build) must still deploy this checkout's template.
    let crate_dir = std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into());
    Path::new(&crate_dir).parent().map(Path::to_path_buf).unwrap_or_default()
}

/// One deployed, running stack.
pub struct System {
    pub manifest: Manifest,
    pub api: String,
    pub sqs: aws_sdk_sqs::Client,
    pub sns: aws_sdk_sns::Client,
    pub dynamodb: aws_sdk_dynamodb::Client,
    /// The stores' adapters and the queues, as an operator reaches them.
    pub stack: Stack,
    /// The HTTP API's client, signed in as [`TEST_CUSTOMER`].
    pub client: Client,
    /// Who placed each order the harness placed: the one who may read it.
    owners: std::sync::Mutex<std::collections::HashMap<String, String>>,
    /// AWS's own failures between the functions and the emulator, when started with it.
    pub faults: Option<local_runner::FaultLayer>,
    options: Options,
    running: Option<Running>,
    runtime: Runtime,
}

impl std::ops::Deref for System {
    type Target = Stack;
    fn deref(&self) -> &Stack {
        &self.stack
    }
}

impl System {
    /// Deploys `stack_name` with `parameters`, stocks every ingredient amply and starts it.
    /// Panics with the reason if it cannot: a test without its system has nothing to assert.
    pub fn start(stack_name: &str, parameters: &[(&str, &str)]) -> System {
        Self::start_with(stack_name, parameters, Chaos::default())
    }

    /// As [`System::start`], with the runner shaking the system as `chaos` says.
    pub fn start_with(stack_name: &str, parameters: &[(&str, &str)], chaos: Chaos) -> System {
        Self::launch(stack_name, parameters, chaos, &[], false)
    }

    /// As [`System::start_with`], with the functions reaching the emulator through a fault
    /// layer (`system.faults`), unarmed until the test arms it.
    pub fn start_with_faults(stack_name: &str, parameters: &[(&str, &str)], chaos: Chaos) -> System {
        Self::launch(stack_name, parameters, chaos, &[], true)
    }

    /// As [`System::start`], with `held` queues (logical ids) not polled until released.
    pub fn start_holding(stack_name: &str, parameters: &[(&str, &str)], held: &[&str]) -> System {
        Self::launch(stack_name, parameters, Chaos::default(), held, false)
    }

    fn launch(stack_name: &str, parameters: &[(&str, &str)], chaos: Chaos, held: &[&str], faults: bool) -> System {
        let manifest = deploy_stack(stack_name, parameters);

        if std::env::var_os("ECHO_LOGS").is_some() {
            // The runner's own account (cold starts, crashes), beside the functions' logs.
            let _ =
                tracing_subscriber::fmt().with_env_filter("local_runner=info").with_writer(std::io::stderr).try_init();
        }
        let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a tokio runtime");
        let fault_layer = faults.then(|| {
            let upstream = std::env::var("AWS_ENDPOINT_URL").unwrap_or_else(|_| manifest.endpoint_url.clone());
            runtime.block_on(local_runner::FaultLayer::start(&upstream)).expect("a fault layer")
        });
        let options = Options {
            http_addr: ([127, 0, 0, 1], 0).into(),
            endpoint_url: fault_layer.as_ref().map(local_runner::FaultLayer::endpoint),
            pollers_per_queue: 2,
            // Poison messages reach their DLQ in seconds rather than minutes.
            retry_delay: Some(Duration::from_secs(1)),
            chaos,
            echo_logs: std::env::var_os("ECHO_LOGS").is_some(),
            state_dir: Some(workspace_root().join(".local").join("state").join(stack_name)),
            issuer_dir: issuer_dir(),
            held_queues: held.iter().map(|q| (*q).to_owned()).collect(),
            // A reconciler round every few seconds, not every few minutes.
            schedule_every: Some(Duration::from_secs(2)),
            ..Options::default()
        };
        let _ = std::fs::remove_dir_all(options.state_dir.as_ref().expect("a state dir"));
        let (running, aws, stack) = runtime.block_on(async {
            let aws = local_runner::sdk_config(&manifest).await;
            let stack = Stack::connect(manifest.clone()).await.unwrap_or_else(|e| panic!("{e}"));
            for (stage, ingredient) in pizza_events::menu::all_ingredients() {
                stack
                    .stock
                    .set_stock(stage, ingredient, AMPLE_STOCK)
                    .await
                    .unwrap_or_else(|e| panic!("stocking {ingredient}: {e}"));
            }
            let running =
                local_runner::start(&manifest, &options).await.unwrap_or_else(|e| panic!("local runner: {e}"));
            (running, aws, stack)
        });
        let api = format!("http://{}", running.api_addr.expect("the stack has an HTTP API"));
        System {
            sqs: aws_sdk_sqs::Client::new(&aws),
            sns: aws_sdk_sns::Client::new(&aws),
            dynamodb: aws_sdk_dynamodb::Client::new(&aws),
            client: Client::new(&api).signed_in(token_for(&manifest, TEST_CUSTOMER)),
            owners: Default::default(),
            faults: fault_layer,
            stack,
            manifest,
            api,
            options: Options { http_addr: running.api_addr.unwrap_or(options.http_addr), ..options },
            running: Some(running),
            runtime,
        }
    }

    fn running(&self) -> &Running {
        self.running.as_ref().expect("the system is running")
    }

    /// Kills the whole runner at once, every function process with it, mid-flight: what a
    /// crash of every host looks like. Then starts it again on the same address.
    pub fn crash_and_restart(&mut self) {
        let running = self.running.take().expect("the system is running");
        let options = self.options.clone();
        let manifest = self.manifest.clone();
        let restarted = self.runtime.block_on(async move {
            running.abort().await;
            local_runner::start(&manifest, &options).await.unwrap_or_else(|e| panic!("local runner: {e}"))
        });
        self.running = Some(restarted);
    }

    /// Starts polling a queue the system was started holding.
    pub fn release(&self, queue_logical_id: &str) {
        self.running().release(queue_logical_id);
    }

    /// Invocations, cold starts and crashes per function so far.
    pub fn stats(&self) -> Vec<local_runner::StatsSnapshot> {
        self.running().stats()
    }

    /// Every line the function processes write from now on.
    pub fn logs(&self) -> broadcast::Receiver<LogLine> {
        self.running().logs()
    }

    /// Runs a test body on the system's runtime, where its clients live.
    pub fn run<F: std::future::Future>(&self, body: F) -> F::Output {
        self.runtime.block_on(body)
    }

    pub fn deliveries(&self) -> broadcast::Receiver<Delivery> {
        self.running().deliveries()
    }

    pub fn topic(&self, logical_id: &str) -> &str {
        self.manifest.topics.get(logical_id).unwrap_or_else(|| panic!("no topic {logical_id} in the stack"))
    }

    pub fn queue(&self, logical_id: &str) -> &local_runner::manifest::Queue {
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
    pub async fn stock_levels(&self) -> std::collections::BTreeMap<String, inventory::StockLevel> {
        let levels = self.stock.levels().await.unwrap_or_else(|e| panic!("stock levels: {e}"));
        levels.into_iter().map(|level| (level.ingredient.clone(), level)).collect()
    }

    /// An HTTP request to the API, signed in as [`TEST_CUSTOMER`] unless `headers` bring
    /// their own `authorization`; a transport failure fails the test.
    pub async fn send(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Reply {
        self.send_as(TEST_CUSTOMER, method, path, headers, body).await
    }

    /// An HTTP request to the API, signed in as `customer`. The harness remembers who
    /// placed each order, so that [`System::get_order`] asks as its owner.
    pub async fn send_as(
        &self,
        customer: &str,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> Reply {
        let authorization = format!("Bearer {}", self.token(customer));
        let mut signed = headers.to_vec();
        if !headers.iter().any(|(name, _)| name.eq_ignore_ascii_case("authorization")) {
            signed.push(("authorization", &authorization));
        }
        let reply = self.client.send(method, path, &signed, body).await.unwrap_or_else(|e| panic!("{e}"));
        if let (202, Some(order_id)) = (reply.status, reply.json["order_id"].as_str()) {
            self.owners.lock().unwrap_or_else(|p| p.into_inner()).insert(order_id.to_owned(), customer.to_owned());
        }
        reply
    }

    /// A token of `customer` the stack's API accepts (an hour long).
    pub fn token(&self, customer: &str) -> String {
        token_for(&self.manifest, customer)
            .unwrap_or_else(|| panic!("stack {} takes no token", self.manifest.stack_name))
    }

    pub async fn post_order(&self, body: &str) -> Reply {
        self.send("POST", "/orders", &[("content-type", "application/json")], body).await
    }

    /// Places an order and returns its id.
    pub async fn place_order(&self, pizzas: u32) -> String {
        let reply = self.post_order(&format!(r#"{{"pizzas": {pizzas}}}"#)).await;
        assert_eq!(reply.status, 202, "placing an order: {reply:?}");
        reply.json["order_id"].as_str().expect("an order id").to_owned()
    }

    /// The order, asked for by whoever placed it.
    pub async fn get_order(&self, order_id: &str) -> Reply {
        let owner = self.owners.lock().unwrap_or_else(|p| p.into_inner()).get(order_id).cloned();
        self.send_as(owner.as_deref().unwrap_or(TEST_CUSTOMER), "GET", &format!("/orders/{order_id}"), &[], "").await
    }

    /// Polls the order until `done` holds, and returns it.
    pub async fn wait_for_order(&self, order_id: &str, done: impl Fn(&Value) -> bool) -> Value {
        let mut last = None;
        let arrived = pizza_cli::settle::poll_until(PATIENCE, Duration::from_millis(200), async || {
            let reply = self.get_order(order_id).await;
            let arrived = (reply.status == 200 && done(&reply.json)).then(|| reply.json.clone());
            last = Some(reply);
            arrived
        })
        .await;
        arrived.unwrap_or_else(|| panic!("order {order_id} did not get there in {PATIENCE:?}: {last:?}"))
    }

    pub async fn wait_until_ready(&self, order_id: &str) -> Value {
        self.wait_for_order(order_id, |order| order["status"] == "READY").await
    }
}

/// Where the tests' local issuer keeps its key: the checkout's, as `make run` has it.
pub fn issuer_dir() -> PathBuf {
    workspace_root().join(local_runner::DEFAULT_ISSUER_DIR)
}

/// A token of `customer` for `manifest`'s API, signed by the local issuer; `None` if the
/// API takes no token.
pub fn token_for(manifest: &Manifest, customer: &str) -> Option<String> {
    local_runner::issuer::token_for(manifest, &issuer_dir(), customer, Duration::from_secs(3600))
        .unwrap_or_else(|e| panic!("{e}"))
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
            Ok(Err(broadcast::error::RecvError::Closed)) => panic!("the local runner stopped"),
            Err(_) => panic!("no such delivery within {PATIENCE:?}"),
        }
    }
}

/// Waits until each of `message_ids` was delivered (in whatever order the pollers handle
/// them); returns their first deliveries, in the order of `message_ids`.
pub async fn wait_for_deliveries(
    deliveries: &mut broadcast::Receiver<Delivery>,
    message_ids: &[String],
) -> Vec<Delivery> {
    let mut found: std::collections::HashMap<String, Delivery> = std::collections::HashMap::new();
    let deadline = Instant::now() + PATIENCE;
    while found.len() < message_ids.len() {
        let remaining = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(remaining, deliveries.recv()).await {
            Ok(Ok(delivery)) if message_ids.contains(&delivery.message_id) => {
                found.entry(delivery.message_id.clone()).or_insert(delivery);
            }
            Ok(Ok(_)) | Ok(Err(broadcast::error::RecvError::Lagged(_))) => {}
            Ok(Err(broadcast::error::RecvError::Closed)) => panic!("the local runner stopped"),
            Err(_) => {
                panic!("only {} of {} messages were delivered within {PATIENCE:?}", found.len(), message_ids.len())
            }
        }
    }
    message_ids.iter().filter_map(|id| found.remove(id)).collect()
}

/// Deploys `stack_name` with `parameters` to the emulator, without running it.
pub fn deploy_stack(stack_name: &str, parameters: &[(&str, &str)]) -> Manifest {
    let endpoint = std::env::var("AWS_ENDPOINT_URL").unwrap_or_default();
    assert!(!endpoint.is_empty(), "AWS_ENDPOINT_URL is not set: run the system tests with `make test`");
    let manifest_path = workspace_root().join(".local").join(format!("{stack_name}.json"));
    deploy(stack_name, parameters, &manifest_path);
    Manifest::load(&manifest_path).unwrap_or_else(|e| panic!("{e}"))
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
    for (key, value) in QUICK_RETRIES.iter().filter(|(key, _)| !parameters.iter().any(|(k, _)| k == key)) {
        command.arg("--parameter").arg(format!("{key}={value}"));
    }
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

/// Waits until every queue of the stack is empty (nothing visible, nothing in flight)
/// twice in a row, a second apart: the system has nothing left to do.
pub async fn wait_until_quiet(system: &System, patience: Duration) {
    let deadline = Instant::now() + patience;
    let mut quiet_checks = 0;
    loop {
        let depths = pizza_cli::queues::all_depths(&system.sqs, &system.manifest).await.expect("queue depths");
        let busy: Vec<_> = depths.iter().filter(|q| q.depth.visible + q.depth.in_flight > 0).collect();
        quiet_checks = if busy.is_empty() { quiet_checks + 1 } else { 0 };
        if quiet_checks >= 2 {
            return;
        }
        assert!(Instant::now() < deadline, "the system is still busy after {patience:?}: {busy:?}");
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
