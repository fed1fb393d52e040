//! The local twin of Lambda and API Gateway for a stack deployed to an emulator.
//!
//! It reads the stack's manifest (functions, environments, event source mappings and
//! routes, as deployed), builds each function's handler in-process with that function's
//! own environment, polls every mapped queue like Lambda's SQS poller and serves the HTTP
//! API on localhost. Nothing about the topology is known here that the template did not say.

pub mod manifest;
pub mod ops;
mod poller;
mod registry;
mod server;

use std::net::SocketAddr;
use std::time::Duration;

use shared::config::Env;
use shared::telemetry::Metrics;
use tokio::net::TcpListener;
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;
use tracing::info;

pub use manifest::Manifest;
pub use poller::Delivery;
use registry::Handler;

#[derive(Debug, Clone)]
pub struct Options {
    /// Where the HTTP API listens; port 0 picks a free one.
    pub http_addr: SocketAddr,
    /// Concurrent pollers per event source mapping (Lambda starts with five).
    pub pollers_per_source: usize,
    /// Retry failed messages after this delay rather than the queue's visibility timeout.
    pub retry_delay: Option<Duration>,
    /// Chaos: hand every message to its function twice, shuffled within its batch, as an
    /// at-least-once queue may.
    pub duplicate_deliveries: bool,
    /// Set in every function's environment, over what the stack says (as
    /// `sam local --env-vars` does): `LOG_LEVEL=debug`, say.
    pub extra_environment: Vec<(String, String)>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            http_addr: SocketAddr::from(([127, 0, 0, 1], 3000)),
            pollers_per_source: 2,
            retry_delay: None,
            duplicate_deliveries: false,
            extra_environment: Vec::new(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    #[error(transparent)]
    Registry(#[from] registry::RegistryError),
    #[error("cannot listen on {addr}: {source}")]
    Listen { addr: SocketAddr, source: std::io::Error },
}

/// A running system; dropping it leaves the tasks running, `stop` ends them.
pub struct Running {
    pub api_addr: Option<SocketAddr>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    deliveries: broadcast::Sender<Delivery>,
}

impl Running {
    /// Every message handled from now on, with its outcome.
    pub fn deliveries(&self) -> broadcast::Receiver<Delivery> {
        self.deliveries.subscribe()
    }

    /// Stops polling and serving; batches in flight finish first.
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

/// The SDK configuration for the manifest's emulator: `AWS_ENDPOINT_URL` wins, else the
/// endpoint the stack was deployed to.
pub async fn sdk_config(manifest: &Manifest) -> aws_config::SdkConfig {
    let loader = aws_config::from_env().region(aws_config::Region::new(manifest.region.clone()));
    match std::env::var("AWS_ENDPOINT_URL") {
        Ok(url) if !url.is_empty() => loader.load().await,
        _ if !manifest.endpoint_url.is_empty() => loader.endpoint_url(&manifest.endpoint_url).load().await,
        _ => loader.load().await,
    }
}

pub async fn start(manifest: &Manifest, options: &Options) -> Result<Running, RunnerError> {
    let aws = sdk_config(manifest).await;
    let sqs = aws_sdk_sqs::Client::new(&aws);
    let (shutdown, shutdown_signal) = watch::channel(false);
    let (deliveries, _) = broadcast::channel(4096);
    let mut tasks = Vec::new();
    let mut routes = Vec::new();

    for function in &manifest.functions {
        let env: Env = function
            .environment
            .iter()
            .chain(options.extra_environment.iter().map(|(k, v)| (k, v)))
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        match registry::build(&function.logical_id, &function.binary, &env, &aws)? {
            Handler::Http(handler) => {
                for route in manifest.routes.iter().filter(|r| r.function == function.logical_id) {
                    routes.push(server::Route {
                        method: route.method.clone(),
                        path: route.path.clone(),
                        handler: handler.clone(),
                    });
                }
            }
            Handler::Queue(handler) => {
                for source in function.event_sources.iter().filter(|s| s.enabled) {
                    for _ in 0..options.pollers_per_source.max(1) {
                        let poller = poller::Poller {
                            function: function.logical_id.clone(),
                            source: source.clone(),
                            handler: handler.clone(),
                            metrics: Metrics::from_env(&env),
                            timeout: Duration::from_secs(function.timeout_seconds.max(1)),
                            region: manifest.region.clone(),
                            sqs: sqs.clone(),
                            retry_delay: options.retry_delay,
                            duplicate_deliveries: options.duplicate_deliveries,
                            deliveries: deliveries.clone(),
                        };
                        tasks.push(tokio::spawn(poller.run(shutdown_signal.clone())));
                    }
                    info!(function = %function.logical_id, queue = %source.queue.name(), "polling");
                }
            }
        }
    }

    let mut api_addr = None;
    if !routes.is_empty() {
        let listener = TcpListener::bind(options.http_addr)
            .await
            .map_err(|source| RunnerError::Listen { addr: options.http_addr, source })?;
        let addr = listener.local_addr().map_err(|source| RunnerError::Listen { addr: options.http_addr, source })?;
        tasks.push(tokio::spawn(server::serve(listener, routes, shutdown_signal.clone())));
        api_addr = Some(addr);
    }
    Ok(Running { api_addr, shutdown, tasks, deliveries })
}
