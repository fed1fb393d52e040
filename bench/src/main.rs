//! `pizza-bench`: the figures of docs/benchmarks.md, printed as `name: value` lines.
//!
//! 1. Cost: one order of 20 pizzas through the deployed stack (batch size 10), every AWS
//!    request counted by the meter, DynamoDB capacity by DynamoDB's rules, dollars at list
//!    prices.
//! 2. The Powertools baseline: the same topping stage the usual Python way, on the same
//!    emulator and the same messages, side by side with the Rust stage.
//! 3. Local speed: a 50-pizza order, and 100 concurrent orders of 10, under the local
//!    runner. These figures are bound by the emulator and labelled `local`.

mod baseline;
mod capacity;
mod meter;
mod pricing;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use inventory::StockRoom;
use local_runner::{Manifest, Options, StatsSnapshot};
use meter::{Meter, Reading};
use orders::{OrderDesk, OrderStatus};
use pizza_cli::http::Client;
use uuid::Uuid;

#[derive(Debug, Parser)]
#[command(name = "pizza-bench")]
struct Cli {
    #[arg(long, default_value = ".local/bench.json")]
    manifest: PathBuf,
    /// Pollers per queue (Lambda starts five per SQS mapping).
    #[arg(long, default_value_t = 5)]
    pollers: usize,
    /// Skip the Python baseline (it needs its own virtualenv; `make bench` makes it).
    #[arg(long)]
    no_baseline: bool,
}

const COST_ORDER_PIZZAS: u32 = 20;
/// The pause between two sweeps over the burst's unfinished orders.
const BURST_POLL: Duration = Duration::from_millis(200);
/// How long the burst may take before its unfinished orders are reported.
const BURST_PATIENCE: Duration = Duration::from_secs(600);
/// The figure for the design before batching, for the ratio.
const REQUESTS_PER_PIZZA_BEFORE: f64 = 24.0;

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let upstream = std::env::var("AWS_ENDPOINT_URL").context("AWS_ENDPOINT_URL is not set (use `make bench`)")?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let meter = runtime.block_on(Meter::start(upstream.clone()))?;
    // Every client of the system (the runner's pollers, the function processes it starts,
    // the baseline) takes its endpoint from here: through the meter.
    // SAFETY: no other thread reads the environment while this runs: the runtime's
    // workers only serve the meter, which does not.
    unsafe { std::env::set_var("AWS_ENDPOINT_URL", format!("http://{}", meter.addr)) };
    runtime.block_on(run(cli, meter, upstream))
}

fn line(name: &str, value: impl std::fmt::Display) {
    println!("{name}: {value}");
}

async fn run(cli: Cli, meter: Meter, upstream: String) -> anyhow::Result<()> {
    let manifest = Manifest::load(&cli.manifest)?;
    // The bench's own reads go straight to the emulator, uncounted.
    let direct = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(manifest.region.clone()))
        .endpoint_url(&upstream)
        .load()
        .await;
    let table = |id: &str| manifest.table(id).map(str::to_owned).with_context(|| format!("no {id} in the stack"));
    let orders = orders::DynamoOrders::new(&direct, table("OrdersTable")?);
    let stock = inventory::DynamoInventory::new(&direct, table("InventoryTable")?);
    for ingredient in pizza_events::menu::all_ingredients() {
        stock.set_stock(ingredient, 10_000_000).await?;
    }
    // Start from empty queues: what an earlier, interrupted run left is not this run's cost.
    let sqs = aws_sdk_sqs::Client::new(&direct);
    for queue in manifest.queues.values() {
        let _ = sqs.purge_queue().queue_url(&queue.url).send().await;
    }
    let options = Options {
        http_addr: ([127, 0, 0, 1], 0).into(),
        pollers_per_queue: cli.pollers,
        // The relay resumes where it stopped instead of replaying the outbox's history.
        state_dir: Some(PathBuf::from(".local/state")),
        ..Options::default()
    };
    let running = local_runner::start(&manifest, &options).await?;
    let token = local_runner::issuer::token_for(&manifest, &options.issuer_dir, "c-bench", Duration::from_secs(3600))?;
    let api =
        Client::new(format!("http://{}", running.api_addr.context("the stack has no HTTP API")?)).signed_in(token);
    let bench = Bench { manifest: &manifest, orders: &orders, api: &api, sqs: &sqs };

    // Warm up: every function started once, so cold starts do not count as cost.
    bench.order_until_ready(2).await?;
    bench.wait_until_quiet().await?;
    let mut logs = running.logs();
    let tap = if cli.no_baseline { None } else { Some(baseline::tap(&manifest, &direct).await?) };
    let _ = meter.take();
    let stats_before = running.stats();

    println!(
        "# cost: one order of {COST_ORDER_PIZZAS} pizzas, batch size 10, at most {} pollers per queue (fewer where the \
         template's MaximumConcurrency says so)",
        cli.pollers
    );
    bench.order_until_ready(COST_ORDER_PIZZAS).await?;
    bench.wait_until_quiet().await?;
    let reading = meter.take();
    let stats = difference(&running.stats(), &stats_before);
    let cpu = handler_cpu(&mut logs);
    report_cost(&manifest, &reading, &stats, &cpu, f64::from(COST_ORDER_PIZZAS));

    if let Some(tap) = tap {
        let rust_cpu_ms = cpu.get("SauceFunction").copied().unwrap_or(0.0);
        baseline::compare(&manifest, &direct, tap, &reading, rust_cpu_ms, COST_ORDER_PIZZAS, &meter).await?;
    }

    // The reconciler with nothing stuck: its rounds, fired every second, metered.
    running.stop().await;
    let rounds = Options { schedule_every: Some(Duration::from_secs(1)), ..options.clone() };
    let running = local_runner::start(&manifest, &rounds).await?;
    let before = running.stats();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let _ = meter.take();
    let counted_from = running.stats();
    tokio::time::sleep(Duration::from_secs(10)).await;
    let reading = meter.take();
    let invocations = |stats: &[StatsSnapshot]| {
        stats.iter().find(|s| s.function == "ReconcilerFunction").map_or(0, |s| s.invocations)
    };
    let runs = invocations(&running.stats()).saturating_sub(invocations(&counted_from));
    if invocations(&before) == invocations(&running.stats()) {
        bail!("the reconciler never ran");
    }
    report_reconciler(&manifest, &reading, runs);

    // Speed is measured without the meter in the way: a runner of its own, straight to
    // the emulator.
    running.stop().await;
    let options = Options { endpoint_url: Some(upstream.clone()), ..options };
    let running = local_runner::start(&manifest, &options).await?;
    let token = local_runner::issuer::token_for(&manifest, &options.issuer_dir, "c-bench", Duration::from_secs(3600))?;
    let api =
        Client::new(format!("http://{}", running.api_addr.context("the stack has no HTTP API")?)).signed_in(token);
    let bench = Bench { api: &api, ..bench };
    bench.order_until_ready(2).await?;
    println!("# local speed (bound by the emulator on this machine, not by the functions)");
    let started = Instant::now();
    bench.order_until_ready(50).await?;
    line("local.order50_ready_ms", started.elapsed().as_millis());
    bench.wait_until_quiet().await?;
    let started = Instant::now();
    let (mut times, unfinished) = bench.burst(100, 10).await?;
    let elapsed = started.elapsed();
    times.sort();
    // Reported whole even when some order did not make it: how many did is the figure.
    line("local.orders100x10_ready", times.len());
    if !unfinished.is_empty() {
        line("local.orders100x10_unfinished", unfinished.join(" "));
    }
    line("local.orders100x10_seconds", format!("{:.2}", elapsed.as_secs_f64()));
    line("local.orders100x10_pizzas_per_second", format!("{:.1}", 10.0 * times.len() as f64 / elapsed.as_secs_f64()));
    if !times.is_empty() {
        let percentile = |p: f64| times[((times.len() as f64 * p).ceil() as usize).clamp(1, times.len()) - 1];
        line("local.orders100x10_p50_ms", percentile(0.50).as_millis());
        line("local.orders100x10_p99_ms", percentile(0.99).as_millis());
    }
    for s in running.stats() {
        line(&format!("local.init_ms.{}", s.function), s.mean_init.as_millis());
        line(&format!("local.peak_memory_mb.{}", s.function), format!("{:.1}", s.peak_memory_kib as f64 / 1024.0));
        if s.timeouts + s.crashes > 0 {
            line(&format!("local.timeouts.{}", s.function), s.timeouts);
            line(&format!("local.crashes.{}", s.function), s.crashes);
        }
    }
    running.stop().await;
    Ok(())
}

/// What a reconciler round costs with nothing stalled, and a month of them at the
/// template's schedule.
fn report_reconciler(manifest: &Manifest, reading: &Reading, runs: u64) {
    println!("# the reconciler with nothing stalled ({runs} rounds metered)");
    let spend = reading.by_caller.get("ReconcilerFunction").cloned().unwrap_or_default();
    let runs_f = runs.max(1) as f64;
    let requests = spend.total_requests() as f64 / runs_f;
    let read_units = spend.read_units / runs_f;
    let memory_mb = manifest.function("ReconcilerFunction").map_or(128, |f| f.memory_mb) as f64;
    // Billed duration: its AWS calls at their latency on AWS (its CPU time is negligible).
    let per_run = pricing::PerPizza {
        lambda_invocations: 1.0,
        lambda_ms: requests * pricing::LATENCY_PER_AWS_CALL_MS + 1.0,
        memory_mb,
        read_units,
        write_units: spend.write_units / runs_f,
        ..pricing::PerPizza::default()
    };
    let dollars_per_run = pricing::per_million_pizzas(&per_run).total() / 1e6;
    let rounds_per_month = 30.0 * 24.0 * 12.0;
    line("reconciler.requests_per_round", format!("{requests:.2}"));
    for (operation, n) in &spend.requests {
        line(&format!("reconciler.requests_per_round.{operation}"), format!("{:.2}", *n as f64 / runs_f));
    }
    line("reconciler.read_units_per_round", format!("{read_units:.2}"));
    line("reconciler.dollars_per_round", format!("{dollars_per_run:.9}"));
    line("reconciler.dollars_per_month_every_5_minutes", format!("{:.4}", dollars_per_run * rounds_per_month));
}

struct Bench<'a> {
    manifest: &'a Manifest,
    orders: &'a orders::DynamoOrders,
    api: &'a Client,
    sqs: &'a aws_sdk_sqs::Client,
}

impl Bench<'_> {
    /// Places an order and waits, reading the table directly, until it is READY; returns
    /// the time from the POST.
    async fn order_until_ready(&self, pizzas: u32) -> anyhow::Result<Duration> {
        let started = Instant::now();
        let order_id: Uuid = self.api.place(pizzas).await?.parse()?;
        loop {
            if let Some(details) = self.orders.find(order_id).await? {
                match details.order.status {
                    OrderStatus::Ready => return Ok(started.elapsed()),
                    OrderStatus::Cancelled => bail!("order {order_id} was cancelled"),
                    _ => {}
                }
            }
            if started.elapsed() > Duration::from_secs(300) {
                bail!("order {order_id} is not ready after 5 minutes");
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Places `orders` orders of `pizzas` at once and returns when each was READY (from the
    /// start), and the ids of those that were not within ten minutes. One watcher sweeps
    /// them in turn, as `pizza order` does: a watcher per order, polling, would swamp the
    /// emulator, which serialises DynamoDB, and time the functions out.
    async fn burst(&self, orders: usize, pizzas: u32) -> anyhow::Result<(Vec<Duration>, Vec<String>)> {
        let started = Instant::now();
        let placed = futures::future::try_join_all((0..orders).map(|_| self.api.place(pizzas))).await?;
        let mut pending: Vec<Uuid> = placed.iter().map(|id| id.parse()).collect::<Result<_, _>>()?;
        let mut times = Vec::new();
        while !pending.is_empty() && started.elapsed() < BURST_PATIENCE {
            let mut still = Vec::new();
            for order_id in pending {
                match self.orders.find(order_id).await?.map(|d| d.order.status) {
                    Some(OrderStatus::Ready) => times.push(started.elapsed()),
                    Some(OrderStatus::Cancelled) => bail!("order {order_id} was cancelled"),
                    _ => still.push(order_id),
                }
            }
            pending = still;
            tokio::time::sleep(BURST_POLL).await;
        }
        Ok((times, pending.iter().map(Uuid::to_string).collect()))
    }

    /// Until no queue has a message: the last confirmations are delivered and deleted.
    async fn wait_until_quiet(&self) -> anyhow::Result<()> {
        let mut quiet = 0;
        while quiet < 3 {
            let depths = pizza_cli::queues::all_depths(self.sqs, self.manifest).await?;
            let busy = depths.iter().any(|q| q.depth.visible + q.depth.in_flight > 0);
            quiet = if busy { 0 } else { quiet + 1 };
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        Ok(())
    }
}

fn difference(after: &[StatsSnapshot], before: &[StatsSnapshot]) -> Vec<StatsSnapshot> {
    after
        .iter()
        .map(|a| {
            let b = before.iter().find(|b| b.function == a.function).cloned().unwrap_or_default();
            StatsSnapshot { invocations: a.invocations - b.invocations, ..a.clone() }
        })
        .collect()
}

/// The CPU each function's handler reported (its `HandlerCpuTime` metric), in ms, since
/// the last call.
fn handler_cpu(logs: &mut tokio::sync::broadcast::Receiver<local_runner::LogLine>) -> BTreeMap<String, f64> {
    let mut cpu = BTreeMap::new();
    loop {
        match logs.try_recv() {
            Ok(line) => {
                let value: serde_json::Value = serde_json::from_str(&line.line).unwrap_or_default();
                if let Some(ms) = value["HandlerCpuTime"].as_f64() {
                    *cpu.entry(line.function).or_default() += ms;
                }
            }
            Err(tokio::sync::broadcast::error::TryRecvError::Lagged(_)) => {}
            Err(_) => return cpu,
        }
    }
}

fn archive_queue_name(manifest: &Manifest) -> String {
    manifest.queues.get("ArchiveQueue").map_or_else(|| "archive-q".to_owned(), |q| q.name().to_owned())
}

fn report_cost(
    manifest: &Manifest,
    reading: &Reading,
    stats: &[StatsSnapshot],
    cpu: &BTreeMap<String, f64>,
    pizzas: f64,
) {
    let total = reading.total();
    let per = |n: f64| n / pizzas;
    let count =
        |prefix: &str| total.requests.iter().filter(|(op, _)| op.starts_with(prefix)).map(|(_, n)| *n).sum::<u64>();
    line("requests_per_pizza", format!("{:.2}", per(total.total_requests() as f64)));
    for (op, n) in &total.requests {
        line(&format!("requests_per_pizza.{op}"), format!("{:.2}", per(*n as f64)));
    }
    for (op, n) in &reading.excluded {
        line(&format!("excluded_per_pizza.{op}"), format!("{:.2}", per(*n as f64)));
    }
    line(
        "requests_per_pizza_ratio_to_before",
        format!("{:.3}", per(total.total_requests() as f64) / REQUESTS_PER_PIZZA_BEFORE),
    );
    line("write_units_per_pizza", format!("{:.2}", per(total.write_units)));
    line("read_units_per_pizza", format!("{:.2}", per(total.read_units)));

    // The event archive's share: its queue's receives and deletes, and its writes.
    let archive_callers = ["ArchiveFunction".to_owned(), format!("pollers:{}", archive_queue_name(manifest))];
    let archive = archive_callers.iter().filter_map(|c| reading.by_caller.get(c));
    let (archive_requests, archive_units) =
        archive.fold((0, 0.0), |(r, w), spend| (r + spend.total_requests(), w + spend.write_units));
    line("archive_requests_per_pizza", format!("{:.2}", per(archive_requests as f64)));
    line("archive_write_units_per_pizza", format!("{:.2}", per(archive_units)));
    line(
        "requests_per_pizza_without_archive",
        format!("{:.2}", per((total.total_requests() - archive_requests) as f64)),
    );

    // Lambda duration: the CPU the handlers reported, plus a stated latency per call the
    // functions make (pollers' calls are Lambda's, not the function's), plus a millisecond
    // per invocation for the runtime's own round trip. The API and the relay report no
    // CPU; their calls' latency is counted.
    let invocations: u64 = stats.iter().map(|s| s.invocations).sum();
    let function_calls: u64 = reading
        .by_caller
        .iter()
        .filter(|(caller, _)| !caller.starts_with("pollers"))
        .map(|(_, s)| s.total_requests())
        .sum();
    let cpu_ms: f64 = cpu.values().sum();
    let lambda_ms = cpu_ms + function_calls as f64 * pricing::LATENCY_PER_AWS_CALL_MS + invocations as f64;
    let memory_mb = manifest.functions.first().map_or(128, |f| f.memory_mb) as f64;
    let deliveries = reading
        .by_caller
        .iter()
        .filter(|(c, _)| c.starts_with("pollers"))
        .map(|(_, s)| s.messages_received)
        .sum::<u64>();
    let per_pizza = pricing::PerPizza {
        lambda_invocations: per(invocations as f64),
        lambda_ms: per(lambda_ms),
        memory_mb,
        sqs_requests: per(count("sqs:") as f64),
        sqs_deliveries: per(deliveries as f64),
        sns_requests: per(count("sns:") as f64),
        write_units: per(total.write_units),
        read_units: per(total.read_units),
        http_requests: per(1.0),
    };
    line("lambda_invocations_per_pizza", format!("{:.2}", per_pizza.lambda_invocations));
    line("lambda_billed_ms_per_pizza", format!("{:.1}", per_pizza.lambda_ms));
    line("lambda_cpu_ms_per_pizza", format!("{:.2}", per(cpu_ms)));
    let dollars = pricing::per_million_pizzas(&per_pizza);
    line("dollars_per_million_pizzas", format!("{:.2}", dollars.total()));
    line("dollars_per_million_pizzas.lambda", format!("{:.2}", dollars.lambda));
    line("dollars_per_million_pizzas.sqs", format!("{:.2}", dollars.sqs));
    line("dollars_per_million_pizzas.sns", format!("{:.2}", dollars.sns));
    line("dollars_per_million_pizzas.dynamodb", format!("{:.2}", dollars.dynamodb));
    line("dollars_per_million_pizzas.http_api", format!("{:.2}", dollars.http_api));
    let queues = manifest.dead_letter_queues().count();
    line("idle_dollars_per_month", format!("{:.2}", pricing::idle_dollars_per_month(queues, 5)));
}
