//! Local speed: a 50-pizza order (median of five), and 100 concurrent orders of 10,
//! under the local runner. Bound by the emulator, and labelled `local`.

use std::time::Instant;

use crate::{Bench, line};

pub async fn measure(bench: &Bench<'_>, running: &local_runner::Running) -> anyhow::Result<()> {
    bench.order_until_ready(2).await?;
    println!("# local speed (bound by the emulator on this machine, not by the functions)");
    let mut fifty = Vec::new();
    for _ in 0..5 {
        fifty.push(bench.order_until_ready(50).await?);
        bench.wait_until_quiet().await?;
    }
    fifty.sort();
    line("local.order50_ready_ms_median_of_5", fifty[2].as_millis());
    line("local.order50_ready_ms_all", fifty.iter().map(|t| t.as_millis().to_string()).collect::<Vec<_>>().join(" "));
    let started = Instant::now();
    let (mut times, unfinished, _) = bench.burst(&[10; 100]).await?;
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
    Ok(())
}
