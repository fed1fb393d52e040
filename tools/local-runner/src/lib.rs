//! The local twin of Lambda and API Gateway for a stack deployed to an emulator.
//!
//! It reads the stack's manifest (functions, environments, event source mappings and
//! routes, as deployed) and runs each function as Lambda does: its own binary in its own
//! processes, each behind a Lambda Runtime API, started cold on demand and reused warm, up
//! to the function's concurrency. It polls every queue and stream mapping like Lambda's
//! pollers and serves the HTTP API on localhost. Nothing about the topology is known here
//! that the template did not say, and nothing of the functions' code is linked in.

mod archive_tap;
pub mod aws_faults;
pub mod aws_proxy;
pub mod chaos;
mod gateway;
pub mod issuer;
pub mod manifest;
mod pool;
mod runtime_api;
mod sandbox;
mod schedule;
mod sqs;
mod stream;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;
use tracing::{info, warn};

pub use archive_tap::CALLER as ARCHIVE_TAP_CALLER;
pub use aws_faults::{FaultLayer, FaultPlan};
pub use chaos::Chaos;
pub use manifest::{ArchiveLocation, EventSource, Manifest};
pub use pool::StatsSnapshot;
pub use sandbox::LogLine;
pub use sqs::Delivery;

use crate::chaos::{Dice, derive_seed};
use crate::pool::{Pool, PoolSettings};

#[derive(Debug, Clone)]
pub struct Options {
    /// Where the HTTP API listens; port 0 picks a free one.
    pub http_addr: SocketAddr,
    /// Where the functions' binaries are (`target/debug`, say).
    pub bin_dir: PathBuf,
    /// Concurrent pollers per queue, at most: Lambda starts five, and a mapping's
    /// `MaximumConcurrency` caps them (a poller that could not invoke would only hold
    /// messages back).
    pub pollers_per_queue: usize,
    /// Retry failed messages after this delay rather than the queue's visibility timeout.
    pub retry_delay: Option<Duration>,
    pub chaos: Chaos,
    /// Set in every function's environment, over what the stack says (as
    /// `sam local --env-vars` does): `LOG_LEVEL=debug`, say.
    pub extra_environment: Vec<(String, String)>,
    /// Copy every function's log lines to this process's stderr.
    pub echo_logs: bool,
    /// Where stream checkpoints are kept across restarts; `None` keeps them in memory.
    pub state_dir: Option<PathBuf>,
    /// The AWS endpoint for the runner and every function process, over
    /// `AWS_ENDPOINT_URL` (the benchmarks put a meter in front of the emulator this way).
    pub endpoint_url: Option<String>,
    /// Fire every schedule this often instead of its own rate (EventBridge fires at most
    /// once a minute; the tests want a reconciler round every few seconds).
    pub schedule_every: Option<Duration>,
    /// Queues (logical ids) not polled until [`Running::release`]: what disabling an event
    /// source mapping does on AWS. Tests hold a queue to lose a message from it by hand.
    pub held_queues: HashSet<String>,
    /// Where the local issuer keeps its signing key (made on first use), for routes behind
    /// the JWT authorizer.
    pub issuer_dir: PathBuf,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            http_addr: SocketAddr::from(([127, 0, 0, 1], 3000)),
            bin_dir: default_bin_dir(),
            pollers_per_queue: 5,
            retry_delay: None,
            chaos: Chaos::default(),
            extra_environment: Vec::new(),
            echo_logs: false,
            state_dir: None,
            endpoint_url: None,
            schedule_every: None,
            held_queues: HashSet::new(),
            issuer_dir: PathBuf::from(DEFAULT_ISSUER_DIR),
        }
    }
}

/// The directory of the running executable: `cargo build --bins` puts the functions
/// beside the runner, and a test binary's parent (`deps/`) sits just below them.
pub fn default_bin_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    let dir = exe.parent().map(PathBuf::from).unwrap_or_default();
    if dir.ends_with("deps") { dir.parent().map(PathBuf::from).unwrap_or(dir) } else { dir }
}

#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    #[error("cannot listen on {addr}: {source}")]
    Listen { addr: SocketAddr, source: std::io::Error },
    #[error("function {function} needs the binary {path}, which is not built (run `cargo build --bins`)")]
    MissingBinary { function: String, path: String },
    #[error(transparent)]
    Issuer(#[from] issuer::IssuerError),
}

/// Where the local issuer keeps its key, relative to the checkout (`make token` reads it).
pub const DEFAULT_ISSUER_DIR: &str = ".local/issuer";

/// A running system; `stop` ends it and every function process.
pub struct Running {
    pub api_addr: Option<SocketAddr>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    pools: Vec<Arc<Pool>>,
    deliveries: broadcast::Sender<Delivery>,
    logs: broadcast::Sender<LogLine>,
    held: watch::Sender<HashSet<String>>,
}

impl Running {
    /// Starts polling a held queue (logical id), as enabling its mapping would.
    pub fn release(&self, queue: &str) {
        self.held.send_modify(|held| {
            held.remove(queue);
        });
    }

    /// Every message handled from now on, with its outcome.
    pub fn deliveries(&self) -> broadcast::Receiver<Delivery> {
        self.deliveries.subscribe()
    }

    /// Every line the function processes write from now on.
    pub fn logs(&self) -> broadcast::Receiver<LogLine> {
        self.logs.subscribe()
    }

    /// Invocations, cold starts, crashes, init time and peak memory per function.
    pub fn stats(&self) -> Vec<StatsSnapshot> {
        self.pools.iter().map(|pool| pool.snapshot()).collect()
    }

    /// Ends everything at once, batches in flight and their processes included, as a crash
    /// of every host would: no delete, no checkpoint, no answer is completed.
    pub async fn abort(self) {
        let _ = self.shutdown.send(true);
        for task in &self.tasks {
            task.abort();
        }
        for task in self.tasks {
            let _ = task.await;
        }
        for pool in &self.pools {
            pool.shut_down().await;
        }
    }

    /// Stops polling and serving; batches in flight finish first.
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
        for pool in &self.pools {
            pool.shut_down().await;
        }
    }
}

/// The SDK configuration for the manifest's emulator: `AWS_ENDPOINT_URL` wins, else the
/// endpoint the stack was deployed to.
pub async fn sdk_config(manifest: &Manifest) -> aws_config::SdkConfig {
    sdk_config_at(manifest, None).await
}

/// As [`sdk_config`], at `endpoint` if given.
pub async fn sdk_config_at(manifest: &Manifest, endpoint: Option<&str>) -> aws_config::SdkConfig {
    let loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(manifest.region.clone()));
    if let Some(endpoint) = endpoint {
        return loader.endpoint_url(endpoint).load().await;
    }
    match std::env::var("AWS_ENDPOINT_URL") {
        Ok(url) if !url.is_empty() => loader.load().await,
        _ if !manifest.endpoint_url.is_empty() => loader.endpoint_url(&manifest.endpoint_url).load().await,
        _ => loader.load().await,
    }
}

pub async fn start(manifest: &Manifest, options: &Options) -> Result<Running, RunnerError> {
    let aws = sdk_config_at(manifest, options.endpoint_url.as_deref()).await;
    let sqs = aws_sdk_sqs::Client::new(&aws);
    let streams = aws_sdk_dynamodbstreams::Client::new(&aws);
    let (shutdown, shutdown_signal) = watch::channel(false);
    let (held, held_signal) = watch::channel(options.held_queues.clone());
    let (deliveries, _) = broadcast::channel(65_536);
    let (logs, _) = broadcast::channel(65_536);
    let settings = PoolSettings {
        bin_dir: options.bin_dir.clone(),
        region: manifest.region.clone(),
        extra_environment: options
            .endpoint_url
            .iter()
            .map(|url| ("AWS_ENDPOINT_URL".to_owned(), url.clone()))
            .chain(options.extra_environment.iter().cloned())
            .collect(),
        chaos: options.chaos.clone(),
        logs: logs.clone(),
        echo_logs: options.echo_logs,
    };
    let mut tasks = Vec::new();
    let mut routes = Vec::new();
    let mut pools = Vec::new();
    let authorizer = match &manifest.jwt_authorizer {
        Some(configuration) => {
            let issuer = issuer::LocalIssuer::open(&options.issuer_dir)?;
            Some(Arc::new(issuer::JwtAuthorizer::new(configuration.clone(), &issuer)))
        }
        None => None,
    };

    for function in &manifest.functions {
        let binary = options.bin_dir.join(&function.binary);
        if !binary.is_file() {
            return Err(RunnerError::MissingBinary {
                function: function.logical_id.clone(),
                path: binary.display().to_string(),
            });
        }
        let pool = Pool::new(function.clone(), &settings);
        pools.push(pool.clone());
        for route in manifest.routes.iter().filter(|r| r.function == function.logical_id) {
            routes.push(gateway::Route {
                method: route.method.clone(),
                path: route.path.clone(),
                pool: pool.clone(),
                bucket: manifest.api_throttle.map(gateway::TokenBucket::new),
                authorizer: authorizer.clone().filter(|_| route.authorized),
            });
        }
        let sources = Sources {
            manifest,
            options,
            sqs: &sqs,
            streams: &streams,
            shutdown: &shutdown_signal,
            held: &held_signal,
            deliveries: &deliveries,
        };
        for source in &function.event_sources {
            tasks.extend(sources.start(function, &pool, source));
        }
    }

    tasks.extend(play_the_archive_tap(manifest, &aws, &shutdown_signal));

    let mut api_addr = None;
    if !routes.is_empty() {
        let listener = TcpListener::bind(options.http_addr)
            .await
            .map_err(|source| RunnerError::Listen { addr: options.http_addr, source })?;
        let addr = listener.local_addr().map_err(|source| RunnerError::Listen { addr: options.http_addr, source })?;
        tasks.push(tokio::spawn(gateway::serve(listener, routes, shutdown_signal.clone())));
        api_addr = Some(addr);
    }
    Ok(Running { api_addr, shutdown, tasks, pools, deliveries, logs, held })
}

/// Forwards the archive tap's messages into the delivery stream, where the deploy step
/// made a tap (the emulator does not deliver SNS to Firehose itself).
fn play_the_archive_tap(
    manifest: &Manifest,
    aws: &aws_config::SdkConfig,
    shutdown: &watch::Receiver<bool>,
) -> Option<tokio::task::JoinHandle<()>> {
    let tap = manifest.archive_tap.clone().filter(|_| manifest.event_archive.is_some())?;
    info!(queue = %tap.queue_url, stream = %tap.delivery_stream, "playing the archive's subscriptions");
    let aws = aws
        .to_builder()
        .app_name(aws_config::AppName::new(archive_tap::CALLER).expect("a static, valid app name"))
        .build();
    let forwarder = archive_tap::Forwarder {
        tap,
        sqs: aws_sdk_sqs::Client::new(&aws),
        firehose: aws_sdk_firehose::Client::new(&aws),
    };
    Some(tokio::spawn(forwarder.run(shutdown.clone())))
}

/// What starting a function's event sources needs: the clients, and the signals every
/// poller listens to.
struct Sources<'a> {
    manifest: &'a Manifest,
    options: &'a Options,
    sqs: &'a aws_sdk_sqs::Client,
    streams: &'a aws_sdk_dynamodbstreams::Client,
    shutdown: &'a watch::Receiver<bool>,
    held: &'a watch::Receiver<std::collections::HashSet<String>>,
    deliveries: &'a broadcast::Sender<Delivery>,
}

impl Sources<'_> {
    /// Starts what plays one event source of `function` as Lambda would: the queue's
    /// pollers, the stream's reader, or the schedule's timer.
    fn start(
        &self,
        function: &manifest::Function,
        pool: &Arc<Pool>,
        source: &EventSource,
    ) -> Vec<tokio::task::JoinHandle<()>> {
        let (manifest, options) = (self.manifest, self.options);
        match source {
            EventSource::Sqs(queue) if queue.mapping.enabled => {
                let dice = Arc::new(Dice::new(derive_seed(options.chaos.seed, queue.queue.name())));
                let cap = queue.maximum_concurrency.map_or(usize::MAX, |n| n as usize);
                info!(function = %function.logical_id, queue = %queue.queue.name(), "polling");
                (0..options.pollers_per_queue.min(cap).max(1))
                    .map(|_| {
                        let poller = sqs::SqsPoller {
                            pool: pool.clone(),
                            source: queue.clone(),
                            region: manifest.region.clone(),
                            sqs: self.sqs.clone(),
                            retry_delay: options.retry_delay,
                            chaos: options.chaos.clone(),
                            dice: dice.clone(),
                            deliveries: self.deliveries.clone(),
                            held: self.held.clone(),
                        };
                        tokio::spawn(poller.run(self.shutdown.clone()))
                    })
                    .collect()
            }
            EventSource::DynamodbStream(stream) if stream.mapping.enabled => {
                let poller = stream::StreamPoller {
                    pool: pool.clone(),
                    source: stream.clone(),
                    region: manifest.region.clone(),
                    streams: self.streams.clone(),
                    sqs: self.sqs.clone(),
                    checkpoint_file: options.state_dir.as_ref().map(|dir| {
                        dir.join(format!("{}.{}.checkpoint.json", manifest.stack_name, function.logical_id))
                    }),
                };
                info!(function = %function.logical_id, stream = %stream.stream_arn, "reading the stream");
                vec![tokio::spawn(poller.run(self.shutdown.clone()))]
            }
            EventSource::Schedule(schedule) if schedule.enabled => {
                let Some(period) = options.schedule_every.or_else(|| schedule.period()) else {
                    let (function, expression) = (&function.logical_id, &schedule.expression);
                    warn!(%function, %expression, "only rate(…) schedules fire locally");
                    return Vec::new();
                };
                let scheduler = schedule::Scheduler {
                    pool: pool.clone(),
                    period,
                    region: manifest.region.clone(),
                    account: manifest.account.clone(),
                };
                info!(function = %function.logical_id, seconds = period.as_secs(), "firing on a schedule");
                vec![tokio::spawn(scheduler.run(self.shutdown.clone()))]
            }
            _ => Vec::new(),
        }
    }
}
