//! The environments of one function, as Lambda keeps them: at most its concurrency limit
//! at once, a warm one reused when idle, a new process (a cold start) when none is.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use std::sync::Mutex;

use tokio::sync::{Semaphore, broadcast};
use tracing::{info, warn};

use crate::chaos::{Chaos, derive_seed};
use crate::manifest::Function;
use crate::runtime_api::Reply;
use crate::sandbox::{InvokeError, LogLine, Sandbox, Spawn};

/// Counters of one function, for the benchmarks and the CLI.
#[derive(Debug, Default)]
pub struct FunctionStats {
    pub invocations: AtomicU64,
    pub cold_starts: AtomicU64,
    pub crashes: AtomicU64,
    pub timeouts: AtomicU64,
    /// Summed time from a process's start to its first request for an event.
    pub init_micros: AtomicU64,
    /// The largest peak resident memory of any of its processes, in KiB.
    pub peak_memory_kib: AtomicU64,
    /// Summed wall time of its invocations, each rounded up to a millisecond as Lambda
    /// bills it (a cold start's init not included).
    pub billed_ms: AtomicU64,
}

/// A snapshot of [`FunctionStats`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StatsSnapshot {
    pub function: String,
    pub invocations: u64,
    pub cold_starts: u64,
    pub crashes: u64,
    pub timeouts: u64,
    pub mean_init: Duration,
    pub peak_memory_kib: u64,
    pub billed_ms: u64,
}

pub struct Pool {
    pub function: Function,
    binary: PathBuf,
    region: String,
    extra_environment: Vec<(String, String)>,
    chaos: Chaos,
    processes_started: AtomicU64,
    permits: Semaphore,
    idle: Mutex<Vec<Sandbox>>,
    logs: broadcast::Sender<LogLine>,
    echo_logs: bool,
    pub stats: FunctionStats,
}

pub struct PoolSettings {
    pub bin_dir: PathBuf,
    pub region: String,
    pub extra_environment: Vec<(String, String)>,
    pub chaos: Chaos,
    pub logs: broadcast::Sender<LogLine>,
    pub echo_logs: bool,
}

/// An environment lent to one invocation; it goes back to the pool when dropped, unless
/// it was killed.
pub struct Lease<'a> {
    pool: &'a Pool,
    environment: Option<Sandbox>,
    _permit: tokio::sync::SemaphorePermit<'a>,
}

impl Lease<'_> {
    /// Kills the process, as a crashing host would: what it did not finish stays undone.
    pub async fn kill(mut self) {
        if let Some(environment) = self.environment.take() {
            environment.kill().await;
            self.pool.stats.crashes.fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        if let Some(environment) = self.environment.take() {
            self.pool.idle.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).push(environment);
        }
    }
}

impl Pool {
    pub fn new(function: Function, settings: &PoolSettings) -> Arc<Self> {
        let binary = settings.bin_dir.join(&function.binary);
        Arc::new(Self {
            permits: Semaphore::new(function.concurrency_limit()),
            binary,
            region: settings.region.clone(),
            extra_environment: settings.extra_environment.clone(),
            chaos: settings.chaos.clone(),
            processes_started: AtomicU64::new(0),
            idle: Mutex::new(Vec::new()),
            logs: settings.logs.clone(),
            echo_logs: settings.echo_logs,
            stats: FunctionStats::default(),
            function,
        })
    }

    /// Runs one invocation; the lease keeps its environment until the caller is done with
    /// the reply (so a chaos run can kill it before the messages are deleted).
    pub async fn invoke(
        &self,
        payload: Bytes,
        trace_header: Option<String>,
    ) -> (Result<Reply, InvokeError>, Option<Lease<'_>>) {
        let permit = match self.permits.acquire().await {
            Ok(permit) => permit,
            Err(_) => return (Err(InvokeError::Crashed("the runner is stopping".into())), None),
        };
        let warm = self.idle.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).pop();
        let mut environment = match warm {
            Some(environment) => environment,
            None => match self.cold_start().await {
                Ok(environment) => environment,
                Err(err) => return (Err(err), None),
            },
        };
        self.stats.invocations.fetch_add(1, Ordering::Relaxed);
        let timeout = Duration::from_secs(self.function.timeout_seconds.max(1));
        let first = environment.init_duration.is_none();
        let started = std::time::Instant::now();
        let result = environment.invoke(payload, trace_header, &self.function.arn, timeout).await;
        let wall = started.elapsed().saturating_sub(environment.init_duration.filter(|_| first).unwrap_or_default());
        self.stats.billed_ms.fetch_add(wall.as_micros().div_ceil(1000) as u64, Ordering::Relaxed);
        if first && let Some(init) = environment.init_duration {
            self.stats.init_micros.fetch_add(init.as_micros() as u64, Ordering::Relaxed);
        }
        if let Some(peak) = environment.peak_memory_kib() {
            self.stats.peak_memory_kib.fetch_max(peak, Ordering::Relaxed);
        }
        match result {
            Ok(reply) => (Ok(reply), Some(Lease { pool: self, environment: Some(environment), _permit: permit })),
            Err(err) => {
                // A crashed or overrunning environment is never reused.
                let counter =
                    if matches!(err, InvokeError::TimedOut(_)) { &self.stats.timeouts } else { &self.stats.crashes };
                counter.fetch_add(1, Ordering::Relaxed);
                warn!(function = %self.function.logical_id, reason = %err, "environment discarded");
                environment.kill().await;
                (Err(err), None)
            }
        }
    }

    async fn cold_start(&self) -> Result<Sandbox, InvokeError> {
        let n = self.processes_started.fetch_add(1, Ordering::Relaxed);
        self.stats.cold_starts.fetch_add(1, Ordering::Relaxed);
        let seed = derive_seed(n, &self.function.logical_id);
        let environment = Sandbox::spawn(Spawn {
            function: &self.function,
            binary: self.binary.clone(),
            region: &self.region,
            extra_environment: &self.extra_environment,
            faults: self.chaos.faults_of(&self.function.logical_id, n, seed),
            logs: self.logs.clone(),
            echo_logs: self.echo_logs,
        })
        .await?;
        info!(function = %self.function.logical_id, pid = environment.pid, "cold start");
        Ok(environment)
    }

    pub fn snapshot(&self) -> StatsSnapshot {
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        let cold_starts = load(&self.stats.cold_starts);
        StatsSnapshot {
            function: self.function.logical_id.clone(),
            invocations: load(&self.stats.invocations),
            cold_starts,
            crashes: load(&self.stats.crashes),
            timeouts: load(&self.stats.timeouts),
            mean_init: Duration::from_micros(load(&self.stats.init_micros) / cold_starts.max(1)),
            peak_memory_kib: load(&self.stats.peak_memory_kib),
            billed_ms: load(&self.stats.billed_ms),
        }
    }

    /// Ends every idle process.
    pub async fn shut_down(&self) {
        self.permits.close();
        let idle: Vec<Sandbox> = self.idle.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).drain(..).collect();
        for environment in idle {
            environment.kill().await;
        }
    }
}
