//! `pizza-bench`: the figures of docs/benchmarks.md, printed as `name: value` lines.
//!
//! 1. The whole bill, for two scenarios: one order of 20 pizzas, and a realistic mix (200
//!    orders of 1 to 4 pizzas placed at once). Every AWS request counted by the meter
//!    (the empty receives that end a batching window included), DynamoDB capacity by
//!    DynamoDB's rules, Lambda duration as each invocation's wall time, the log bytes every
//!    function writes, the client's `GET`s, X-Ray traces, and a fixed monthly block spread
//!    over a stated volume; dollars at list prices.
//! 2. The Powertools baseline: the same topping stage the usual Python way, on the same
//!    emulator and the same messages, side by side with the Rust stage.
//! 3. Local speed: a 50-pizza order (median of five), and 100 concurrent orders of 10,
//!    under the local runner. These figures are bound by the emulator and labelled `local`.

mod baseline;
mod bill;
mod capacity;
mod logs;
mod meter;
mod pricing;
mod reconciler;
mod speed;
mod xray;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use futures::StreamExt;
use inventory::StockRoom;
use local_runner::{Manifest, Options, StatsSnapshot};
use meter::Meter;
use orders::{OrderDesk, OrderStatus};
use pizza_cli::http::Client;
use pizza_cli::settle::poll_until;
use uuid::Uuid;

use bill::{Measured, Volume};

#[derive(Debug, Parser)]
#[command(name = "pizza-bench")]
struct Cli {
    #[arg(long, default_value = ".local/bench.json")]
    manifest: PathBuf,
    /// The stack's template as SAM expands it (`deploy.py --expand-only`): its alarms are
    /// counted in the fixed block.
    #[arg(long, default_value = ".local/bench-expanded.json")]
    expanded: PathBuf,
    /// Pollers per queue (Lambda starts five per SQS mapping).
    #[arg(long, default_value_t = 5)]
    pollers: usize,
    /// Skip the Python baseline (it needs its own virtualenv; `make bench` makes it).
    #[arg(long)]
    no_baseline: bool,
    /// Skip the local speed runs.
    #[arg(long)]
    no_speed: bool,
}

const COST_ORDER_PIZZAS: u32 = 20;
/// The mix: 200 orders of 1, 2, 3 and 4 pizzas, 50 of each, placed at once.
const MIX_ORDERS: u32 = 200;
/// How many orders the bench places at once (the API's burst limit is far above).
const PLACING_AT_ONCE: usize = 25;
/// The pause between two sweeps over the burst's unfinished orders.
const BURST_POLL: Duration = Duration::from_millis(200);
/// How often the watcher of a single order looks at it: the time it reports is at most
/// this late. (Each look is a read the emulator serialises with the functions' requests,
/// so looking every few milliseconds would slow the order it times.)
const READY_POLL: Duration = Duration::from_millis(100);
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
    for (stage, ingredient) in pizza_events::menu::all_ingredients() {
        stock.set_stock(stage, ingredient, 10_000_000).await?;
    }
    // Start from empty queues: what an earlier, interrupted run left is not this run's cost.
    let sqs = aws_sdk_sqs::Client::new(&direct);
    for queue in manifest.queues.values() {
        let _ = sqs.purge_queue().queue_url(&queue.url).send().await;
    }
    let options = Options {
        http_addr: ([127, 0, 0, 1], 0).into(),
        pollers_per_queue: cli.pollers,
        // The relay resumes where it stopped instead of replaying the orders stream's history.
        state_dir: Some(PathBuf::from(".local/state")),
        ..Options::default()
    };
    let running = local_runner::start(&manifest, &options).await?;
    let token = local_runner::issuer::token_for(&manifest, &options.issuer_dir, "c-bench", Duration::from_secs(3600))?;
    let api =
        Client::new(format!("http://{}", running.api_addr.context("the stack has no HTTP API")?)).signed_in(token);
    let s3 = aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(&direct).force_path_style(true).build());
    let bench = Bench { manifest: &manifest, orders: &orders, api: &api, sqs: &sqs, s3: &s3 };

    // Warm up: every function started once, so cold starts do not count as cost.
    bench.order_until_ready(2).await?;
    bench.wait_until_quiet().await?;
    let mut logs = running.logs();
    let tap = if cli.no_baseline { None } else { Some(baseline::tap(&manifest, &direct).await?) };
    let volume = Volume::of_shop(bill::ApiTracing::deployed(&manifest, &direct).await?);
    let mut fixed = bill::fixed_block(&manifest, &cli.expanded)?;

    println!(
        "# the whole bill: batches of up to {} on the kitchen's queues, at most {} pollers per queue (fewer where \
         the template's MaximumConcurrency says so); the fixed block spread over {} million pizzas a month; X-Ray \
         at the API: {:?}",
        bill::batch_size(&manifest, "SauceFunction").unwrap_or(10),
        cli.pollers,
        volume.pizzas_per_month / 1e6,
        volume.api_tracing,
    );
    let single = bench.measure("order20", &[COST_ORDER_PIZZAS], &meter, &running, &mut logs).await?;
    let order_id = single.order_ids.first().copied().context("the order's id")?;
    let get = bench.measure_get(order_id, &meter, &running, &mut logs).await?;
    let sauce = single.reading.clone();
    let sauce_cpu = single.logs.cpu_ms.get("SauceFunction").copied().unwrap_or(0.0);
    bill::report(&manifest, &single, &get, &mut fixed, &volume);
    let mix: Vec<u32> = (0..MIX_ORDERS).map(|i| 1 + i % 4).collect();
    let mixed = bench.measure("mix", &mix, &meter, &running, &mut logs).await?;
    bill::report(&manifest, &mixed, &get, &mut fixed, &volume);
    bill::report_fixed(&fixed, &volume);

    if let Some(tap) = tap {
        baseline::compare(&manifest, &direct, tap, &sauce, sauce_cpu, COST_ORDER_PIZZAS, &meter).await?;
    }

    // The reconciler with nothing stuck: its rounds, fired every second, metered.
    running.stop().await;
    reconciler::measure(&manifest, &options, &meter).await?;

    // Speed is measured without the meter in the way: a runner of its own, straight to
    // the emulator.
    let options = Options { endpoint_url: Some(upstream.clone()), ..options };
    let running = local_runner::start(&manifest, &options).await?;
    let token = local_runner::issuer::token_for(&manifest, &options.issuer_dir, "c-bench", Duration::from_secs(3600))?;
    let api =
        Client::new(format!("http://{}", running.api_addr.context("the stack has no HTTP API")?)).signed_in(token);
    let bench = Bench { api: &api, ..bench };
    if cli.no_speed {
        running.stop().await;
        return Ok(());
    }
    speed::measure(&bench, &running).await?;
    running.stop().await;
    Ok(())
}

struct Bench<'a> {
    manifest: &'a Manifest,
    orders: &'a orders::DynamoOrders,
    api: &'a Client,
    sqs: &'a aws_sdk_sqs::Client,
    s3: &'a aws_sdk_s3::Client,
}

impl Bench<'_> {
    /// Places an order and waits, reading the table directly, until it is READY; returns
    /// the time from the POST until the watcher saw it READY (at most `READY_POLL` late).
    async fn order_until_ready(&self, pizzas: u32) -> anyhow::Result<Duration> {
        let started = Instant::now();
        let order_id: Uuid = self.api.place(pizzas).await?.parse()?;
        let settled = poll_until(Duration::from_secs(300), READY_POLL, async || {
            match self.orders.find(order_id).await.map(|found| found.map(|d| d.order.status)) {
                Ok(Some(OrderStatus::Ready)) => Some(Ok(started.elapsed())),
                Ok(Some(OrderStatus::Cancelled)) => Some(Err(anyhow::anyhow!("order {order_id} was cancelled"))),
                Ok(_) => None,
                Err(err) => Some(Err(err.into())),
            }
        })
        .await;
        settled.unwrap_or_else(|| Err(anyhow::anyhow!("order {order_id} is not ready after 5 minutes")))
    }

    /// Places orders of the given sizes, `PLACING_AT_ONCE` at a time, and returns when each
    /// was READY (from the start), the ids of those that were not within ten minutes, and
    /// every id. One watcher sweeps them in turn, as `pizza order` does: a watcher per order,
    /// polling, would swamp the emulator, which serialises DynamoDB, and time the functions
    /// out.
    async fn burst(&self, sizes: &[u32]) -> anyhow::Result<(Vec<Duration>, Vec<String>, Vec<Uuid>)> {
        let started = Instant::now();
        let placed: Vec<String> = futures::stream::iter(sizes.iter().map(|pizzas| self.api.place(*pizzas)))
            .buffer_unordered(PLACING_AT_ONCE)
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .collect::<Result<_, _>>()?;
        let ids: Vec<Uuid> = placed.iter().map(|id| id.parse()).collect::<Result<_, _>>()?;
        let mut pending = ids.clone();
        let mut times = Vec::new();
        let failed = poll_until(BURST_PATIENCE.saturating_sub(started.elapsed()), BURST_POLL, async || {
            let mut still = Vec::new();
            for order_id in std::mem::take(&mut pending) {
                match self.orders.find(order_id).await.map(|found| found.map(|d| d.order.status)) {
                    Ok(Some(OrderStatus::Ready)) => times.push(started.elapsed()),
                    Ok(Some(OrderStatus::Cancelled)) => {
                        return Some(Err(anyhow::anyhow!("order {order_id} was cancelled")));
                    }
                    Ok(_) => still.push(order_id),
                    Err(err) => return Some(Err(err.into())),
                }
            }
            pending = still;
            pending.is_empty().then_some(Ok(()))
        })
        .await;
        if let Some(Err(err)) = failed {
            return Err(err);
        }
        Ok((times, pending.iter().map(Uuid::to_string).collect(), ids))
    }

    /// Places the orders, waits until all are READY and every queue is empty, and returns
    /// what that cost, metered.
    async fn measure(
        &self,
        name: &'static str,
        sizes: &[u32],
        meter: &Meter,
        running: &local_runner::Running,
        logs: &mut tokio::sync::broadcast::Receiver<local_runner::LogLine>,
    ) -> anyhow::Result<Measured> {
        let _ = meter.take();
        let _ = bill::tally_logs(logs);
        let before = running.stats();
        let started = Instant::now();
        let since = chrono::Utc::now();
        let (_, unfinished, order_ids) = self.burst(sizes).await?;
        if !unfinished.is_empty() {
            bail!("{name}: orders not ready in time: {}", unfinished.join(" "));
        }
        let ready_after = started.elapsed();
        self.wait_until_quiet().await?;
        let reading = meter.take();
        // What the delivery stream still buffers (a second here) reaches the bucket first.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let archive = match &self.manifest.event_archive {
            Some(at) => Some(bill::archive_volume(self.s3, at, since).await?),
            None => None,
        };
        Ok(Measured {
            name,
            orders: sizes.len(),
            pizzas: sizes.iter().sum(),
            reading,
            stats: difference(&running.stats(), &before),
            logs: bill::tally_logs(logs),
            order_ids,
            ready_after,
            archive,
        })
    }

    /// What one client `GET /orders/{id}` of a READY order costs: ten of them, metered.
    async fn measure_get(
        &self,
        order_id: Uuid,
        meter: &Meter,
        running: &local_runner::Running,
        logs: &mut tokio::sync::broadcast::Receiver<local_runner::LogLine>,
    ) -> anyhow::Result<Measured> {
        const GETS: usize = 10;
        let _ = meter.take();
        let _ = bill::tally_logs(logs);
        let before = running.stats();
        let started = Instant::now();
        for _ in 0..GETS {
            self.api.status(&order_id.to_string()).await?;
        }
        Ok(Measured {
            name: "get",
            orders: GETS,
            pizzas: 0,
            reading: meter.take(),
            stats: difference(&running.stats(), &before),
            logs: bill::tally_logs(logs),
            order_ids: Vec::new(),
            ready_after: started.elapsed(),
            archive: None,
        })
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
            StatsSnapshot {
                invocations: a.invocations - b.invocations,
                billed_ms: a.billed_ms - b.billed_ms,
                ..a.clone()
            }
        })
        .collect()
}
