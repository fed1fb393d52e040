//! `pizza-local`: run a stack deployed to the emulator as Lambda and API Gateway would.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use local_runner::{Chaos, Manifest, Options};

/// Runs every function of a deployed stack in its own processes behind a Lambda Runtime
/// API, polls its queues and streams, and serves its HTTP API.
#[derive(Debug, Parser)]
#[command(name = "pizza-local", version)]
struct Cli {
    /// The stack manifest `make deploy` wrote.
    #[arg(long, default_value = ".local/pizza-shop.json", env = "PIZZA_MANIFEST")]
    manifest: PathBuf,
    /// Where the HTTP API listens.
    #[arg(long, default_value = "127.0.0.1:3000")]
    http: SocketAddr,
    /// Where the functions' binaries are (default: beside this one).
    #[arg(long)]
    bin_dir: Option<PathBuf>,
    /// Pollers per queue, at most (Lambda starts five; a mapping's maximum concurrency
    /// caps them).
    #[arg(long, default_value_t = 5)]
    pollers: usize,
    /// Retry failed messages after this many seconds instead of the queue's visibility timeout.
    #[arg(long)]
    retry_delay: Option<u64>,
    /// Fire every schedule this many seconds apart instead of at its own rate.
    #[arg(long)]
    schedule_every: Option<u64>,
    /// Set KEY in every function's environment (repeatable).
    #[arg(long = "env", value_name = "KEY=VALUE", value_parser = key_value)]
    environment: Vec<(String, String)>,
    /// Keep stream checkpoints in this directory across restarts.
    #[arg(long, default_value = ".local/state")]
    state_dir: PathBuf,
    /// Do not copy the functions' log lines to stderr.
    #[arg(long)]
    quiet: bool,
    /// Put a fault layer between the functions and the emulator, armed with this plan
    /// (JSON; see docs/local-stack.md). `POST /__faults` to it arms another plan.
    #[arg(long, value_name = "PLAN.json")]
    aws_faults: Option<PathBuf>,
    /// Where the local issuer keeps its signing key (made on first use).
    #[arg(long, default_value = local_runner::DEFAULT_ISSUER_DIR)]
    issuer_dir: PathBuf,
    #[command(flatten)]
    chaos: ChaosArgs,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Print a sign-in token of CUSTOMER from the local issuer, for the stack's HTTP API
    /// (`curl -H "Authorization: Bearer $(make -s token CUSTOMER=c-42)" …`).
    Token {
        customer: String,
        /// How long the token is valid.
        #[arg(long, default_value_t = 60)]
        minutes: u64,
    },
}

/// Chaos: what an at-least-once, crash-prone world does to the system, from one seed.
#[derive(Debug, clap::Args)]
struct ChaosArgs {
    /// The seed every chaos decision is drawn from; the same seed replays a run.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Deliver every message twice, shuffled within its batch.
    #[arg(long)]
    duplicate: bool,
    /// The share of handled messages delivered once more.
    #[arg(long, default_value_t = 0.0)]
    redeliver: f64,
    /// Hold each batch back up to this many milliseconds, so deliveries overtake each other.
    #[arg(long, default_value_t = 0)]
    max_delay_ms: u64,
    /// The probability a function process kills itself before its batch's writes.
    #[arg(long, default_value_t = 0.0)]
    kill_before_write: f64,
    /// The probability a function process kills itself between its writes and its publish.
    #[arg(long, default_value_t = 0.0)]
    kill_after_write: f64,
    /// The probability the runner kills a process after it answered, before the delete.
    #[arg(long, default_value_t = 0.0)]
    kill_before_delete: f64,
}

/// Prints a token the stack's JWT authorizer accepts for `customer`.
fn print_token(manifest: &Manifest, issuer_dir: &std::path::Path, customer: &str, minutes: u64) -> Result<(), String> {
    let lifetime = Duration::from_secs(minutes.saturating_mul(60));
    match local_runner::issuer::token_for(manifest, issuer_dir, customer, lifetime).map_err(|e| e.to_string())? {
        Some(token) => {
            println!("{token}");
            Ok(())
        }
        None => Err(format!("stack {} has no JWT authorizer: its API takes no token", manifest.stack_name)),
    }
}

/// Starts the fault layer in front of the emulator, armed with the plan at `path`; returns
/// the endpoint the functions are to use.
async fn start_fault_layer(path: &std::path::Path, manifest: &Manifest) -> Result<String, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let plan: local_runner::FaultPlan =
        serde_json::from_str(&text).map_err(|e| format!("{} is not a fault plan: {e}", path.display()))?;
    let upstream = std::env::var("AWS_ENDPOINT_URL").unwrap_or_else(|_| manifest.endpoint_url.clone());
    let layer = local_runner::FaultLayer::start(&upstream).await.map_err(|e| format!("fault layer: {e}"))?;
    layer.arm(plan)?;
    eprintln!("pizza-local: AWS faults armed; the fault layer is at {} (POST /__faults re-arms it)", layer.endpoint());
    Ok(layer.endpoint())
}

fn key_value(pair: &str) -> Result<(String, String), String> {
    pair.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())).ok_or_else(|| format!("{pair}: expected KEY=VALUE"))
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("RUNNER_LOG").unwrap_or_else(|_| "local_runner=info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("pizza-local: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<(), String> {
    let manifest = Manifest::load(&cli.manifest).map_err(|e| format!("{e}"))?;
    if let Some(Command::Token { customer, minutes }) = &cli.command {
        return print_token(&manifest, &cli.issuer_dir, customer, *minutes);
    }
    let chaos = Chaos {
        seed: cli.chaos.seed,
        duplicate: cli.chaos.duplicate,
        redeliver: cli.chaos.redeliver,
        max_delay: Duration::from_millis(cli.chaos.max_delay_ms),
        kill_before_write: cli.chaos.kill_before_write,
        kill_after_write: cli.chaos.kill_after_write,
        kill_before_delete: cli.chaos.kill_before_delete,
        first_process_faults: Default::default(),
    };
    if !chaos.is_calm() {
        eprintln!("pizza-local: chaos on, seed {}", chaos.seed);
    }
    let endpoint_url = match &cli.aws_faults {
        Some(path) => Some(start_fault_layer(path, &manifest).await?),
        None => None,
    };
    let options = Options {
        http_addr: cli.http,
        bin_dir: cli.bin_dir.unwrap_or_else(local_runner::default_bin_dir),
        pollers_per_queue: cli.pollers,
        retry_delay: cli.retry_delay.map(Duration::from_secs),
        chaos,
        extra_environment: cli.environment,
        echo_logs: !cli.quiet,
        state_dir: Some(cli.state_dir),
        endpoint_url,
        schedule_every: cli.schedule_every.map(Duration::from_secs),
        held_queues: Default::default(),
        issuer_dir: cli.issuer_dir,
    };
    let running = local_runner::start(&manifest, &options).await.map_err(|e| e.to_string())?;
    if let Some(addr) = running.api_addr {
        eprintln!("pizza-local: {} is up; the HTTP API is at http://{addr}", manifest.stack_name);
    }
    tokio::signal::ctrl_c().await.map_err(|e| e.to_string())?;
    eprintln!("pizza-local: stopping");
    running.stop().await;
    Ok(())
}
