//! `pizza-bench`: the figures of docs/benchmarks.md.
//!
//! 1. Handler cost per message, in memory: our code, without the network or the emulator.
//! 2. AWS requests per pizza, counted by a proxy in front of the emulator while a real
//!    order goes through the deployed stack.
//! 3. End-to-end latency of orders on the local stack: bound by the emulator, not by us,
//!    and printed as such.
//!
//! Usage: pizza-bench [--manifest .local/bench.json] [--orders N]   (`make bench` deploys
//! the stack and runs it)

mod handlers;
mod proxy;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use devrunner::{Manifest, Options};
use serde_json::Value;
use shared::inventory::StockRoom;

const ORDER_SIZES: [u32; 3] = [1, 10, 50];

fn main() -> std::process::ExitCode {
    match start() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("pizza-bench: {message}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Puts the counting proxy in front of the emulator before anything else runs: every AWS
/// client here, the dev runner's included, reads its endpoint from `AWS_ENDPOINT_URL`.
fn start() -> Result<(), String> {
    let upstream = std::env::var("AWS_ENDPOINT_URL").map_err(|_| "AWS_ENDPOINT_URL is not set (use `make bench`)")?;
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0)).map_err(|e| e.to_string())?;
    listener.set_nonblocking(true).map_err(|e| e.to_string())?;
    let proxy = listener.local_addr().map_err(|e| e.to_string())?;
    // SAFETY: the process has a single thread here; nothing else reads the environment.
    unsafe { std::env::set_var("AWS_ENDPOINT_URL", format!("http://{proxy}")) };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(|e| e.to_string())?;
    runtime.block_on(run(listener, upstream))
}

async fn run(listener: std::net::TcpListener, upstream: String) -> Result<(), String> {
    let mut manifest_path = PathBuf::from(".local/bench.json");
    let mut orders = 200;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--manifest" => manifest_path = args.next().map(PathBuf::from).ok_or("--manifest needs a path")?,
            "--orders" => orders = args.next().and_then(|n| n.parse().ok()).ok_or("--orders needs a number")?,
            other => return Err(format!("unknown argument {other}")),
        }
    }

    println!("## Handler cost per message (in memory, {orders} orders of 10 pizzas, batches of 10)\n");
    println!("| handler | messages | µs per message |");
    println!("|---|---:|---:|");
    let mut total = Duration::ZERO;
    for cost in handlers::measure(orders).await? {
        total += cost.elapsed;
        let per_message = cost.elapsed.as_secs_f64() * 1e6 / cost.messages as f64;
        println!("| {} | {} | {per_message:.1} |", cost.handler, cost.messages);
    }
    println!("\nAll handlers together: {:.1} µs per pizza.\n", total.as_secs_f64() * 1e6 / (orders * 10) as f64);

    let manifest = Manifest::load(&manifest_path).map_err(|e| e.to_string())?;
    let aws = devrunner::sdk_config(&manifest).await;
    let counts = proxy::start(listener, upstream).map_err(|e| e.to_string())?;
    let room = devrunner::ops::stock_room(&manifest, &aws).map_err(|e| e.to_string())?;
    for ingredient in shared::menu::all_ingredients() {
        room.set_stock(ingredient, 1_000_000).await.map_err(|e| e.to_string())?;
    }
    let options = Options {
        http_addr: ([127, 0, 0, 1], 0).into(),
        extra_environment: vec![("POWERTOOLS_METRICS_DISABLED".into(), "true".into())],
        ..Options::default()
    };
    let running = devrunner::start(&manifest, &options).await.map_err(|e| e.to_string())?;
    let api = format!("http://{}", running.api_addr.ok_or("the stack has no HTTP API")?);

    let pizzas = 20;
    let mut deliveries = running.deliveries();
    counts.take();
    let placed = http(&api, "POST", "/orders", format!(r#"{{"pizzas": {pizzas}}}"#)).await?;
    let order_id = placed["order_id"].as_str().ok_or(format!("no order id in {placed}"))?.to_owned();
    // Wait on the runner, not on GET /orders: a client's reads are not the system's work.
    let mut stored = 0;
    while stored < pizzas {
        let delivery = tokio::time::timeout(Duration::from_secs(120), deliveries.recv())
            .await
            .map_err(|_| "the pizzas were not all stored within 120 s")?
            .map_err(|e| e.to_string())?;
        if delivery.succeeded && delivery.queue.ends_with("store-q") && delivery.body.contains(&order_id) {
            stored += 1;
        }
    }
    // Let the last batches be deleted before counting.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let counted = counts.take();
    println!("## AWS requests per pizza (one order of {pizzas} pizzas through the deployed stack)\n");
    println!("| operation | requests | per pizza |");
    println!("|---|---:|---:|");
    let mut work = 0;
    for (operation, n) in &counted {
        println!("| {operation} | {n} | {:.2} |", *n as f64 / f64::from(pizzas));
        if !operation.contains("empty") {
            work += n;
        }
    }
    println!(
        "\n{:.1} requests per pizza, not counting empty long polls (which depend on how long the pollers wait, not on the work).\n",
        work as f64 / f64::from(pizzas)
    );

    println!("## End-to-end latency on the local stack (emulator-bound: moto, not our code, sets these)\n");
    println!("| pizzas | POST to READY |");
    println!("|---:|---:|");
    for size in ORDER_SIZES {
        let elapsed = cook(&api, size).await?;
        println!("| {size} | {} ms |", elapsed.as_millis());
    }
    running.stop().await;

    let zips: Vec<_> = std::fs::read_dir("target/lambda").into_iter().flatten().flatten().collect();
    if !zips.is_empty() {
        println!("\n## Release packages (`make build`, arm64)\n");
        println!("| function | bootstrap.zip |");
        println!("|---|---:|");
        for dir in zips {
            if let Ok(meta) = std::fs::metadata(dir.path().join("bootstrap.zip")) {
                println!("| {} | {:.1} MB |", dir.file_name().to_string_lossy(), meta.len() as f64 / 1e6);
            }
        }
    }
    Ok(())
}

/// Places an order of `pizzas` and waits until it is READY; returns how long that took.
async fn cook(api: &str, pizzas: u32) -> Result<Duration, String> {
    let start = Instant::now();
    let body = format!(r#"{{"pizzas": {pizzas}}}"#);
    let placed = http(api, "POST", "/orders", body).await?;
    let order_id = placed["order_id"].as_str().ok_or(format!("no order id in {placed}"))?.to_owned();
    let deadline = start + Duration::from_secs(300);
    loop {
        let order = http(api, "GET", &format!("/orders/{order_id}"), String::new()).await?;
        match order["status"].as_str() {
            Some("READY") => return Ok(start.elapsed()),
            Some("CANCELLED") => return Err(format!("order cancelled: {order}")),
            _ if Instant::now() > deadline => return Err(format!("order not ready after 300 s: {order}")),
            _ => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
}

async fn http(api: &str, method: &str, path: &str, body: String) -> Result<Value, String> {
    use http_body_util::{BodyExt, Full};
    let client: hyper_util::client::legacy::Client<_, Full<bytes::Bytes>> =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build_http();
    let request = http::Request::builder()
        .method(method)
        .uri(format!("{api}{path}"))
        .header("content-type", "application/json")
        .body(Full::new(bytes::Bytes::from(body)))
        .map_err(|e| e.to_string())?;
    let response = client.request(request).await.map_err(|e| e.to_string())?;
    let bytes = response.into_body().collect().await.map_err(|e| e.to_string())?.to_bytes();
    serde_json::from_slice(&bytes).map_err(|e| e.to_string())
}
