//! The reconciler's idle cost: its rounds with nothing stalled, fired every second and
//! metered, priced per round and per month at the template's schedule.

use std::time::Duration;

use anyhow::bail;
use local_runner::{Manifest, Options, StatsSnapshot};

use crate::meter::{Meter, Reading};
use crate::{line, pricing};

/// Runs the stack with the reconciler firing every second, meters ten seconds of it, and
/// prints what a round costs.
pub async fn measure(manifest: &Manifest, options: &Options, meter: &Meter) -> anyhow::Result<()> {
    let rounds = Options { schedule_every: Some(Duration::from_secs(1)), ..options.clone() };
    let running = local_runner::start(manifest, &rounds).await?;
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
    report_reconciler(manifest, &reading, runs);
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
    let dollars_per_run = pricing::per_million_pizzas(&per_run, pricing::Deliveries::Free).total() / 1e6;
    let rounds_per_month = 30.0 * 24.0 * 12.0;
    line("reconciler.requests_per_round", format!("{requests:.2}"));
    for (operation, n) in &spend.requests {
        line(&format!("reconciler.requests_per_round.{operation}"), format!("{:.2}", *n as f64 / runs_f));
    }
    line("reconciler.read_units_per_round", format!("{read_units:.2}"));
    line("reconciler.dollars_per_round", format!("{dollars_per_run:.9}"));
    line("reconciler.dollars_per_month_every_5_minutes", format!("{:.4}", dollars_per_run * rounds_per_month));
}
