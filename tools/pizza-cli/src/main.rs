//! `pizza`: operate a deployed stack.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use local_runner::Manifest;
use pizza_cli::commands::{self, Done, audit, describe, dlq, emit, order, replay, stock, trace};
use pizza_cli::{Stack, console, discover, outbox, push};

#[derive(Debug, Parser)]
#[command(
    name = "pizza",
    version,
    about = "Operate a deployed pizza shop: queues, dead letters, stock, orders, trace, replay, push, audit"
)]
struct Cli {
    /// The deployed stack to operate, found by name through CloudFormation (on AWS or the
    /// emulator at AWS_ENDPOINT_URL).
    #[arg(long, global = true, default_value = "pizza-shop", env = "PIZZA_STACK")]
    stack: String,
    /// Read the stack from this manifest (`make deploy` writes one) instead of asking
    /// CloudFormation: a cache for when the stack's control plane is out of reach.
    #[arg(long, global = true, env = "PIZZA_MANIFEST")]
    manifest: Option<PathBuf>,
    /// Print JSON instead of text.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// What the stack is made of, as CloudFormation and the services describe it.
    Describe,
    /// Watch the stack in a browser: orders of the last hour by state, the kitchen's work,
    /// the queues, an order's waterfall. Serves one read-only page on localhost.
    Console {
        #[arg(long, default_value_t = 8765)]
        port: u16,
    },
    /// Each queue's visible and in-flight messages, and its dead-letter queue's.
    Queues,
    /// Dead letters: read them, or send them back to their queue.
    Dlq {
        #[command(subcommand)]
        action: DlqAction,
    },
    /// Ingredients' available and reserved units.
    Stock {
        #[command(subcommand)]
        action: Option<StockAction>,
    },
    /// Set a customer's credit limit.
    Limit { customer: String, cents: u64 },
    /// Place orders through the HTTP API and wait until each is settled.
    Order {
        /// Pizzas per order.
        #[arg(long, default_value_t = 1)]
        pizzas: u32,
        /// With this, each order gets a random number of pizzas from --pizzas to this.
        #[arg(long)]
        max_pizzas: Option<u32>,
        /// How many orders, placed at once.
        #[arg(long, default_value_t = 1)]
        count: u32,
        #[arg(long, default_value = "http://127.0.0.1:3000")]
        api: String,
        /// Order as this customer, signed in at the local issuer.
        #[arg(long, default_value = "c-42")]
        customer: String,
    },
    /// An order's whole life from the event archive: every event as a causal tree, hop
    /// latencies, the critical path; pizzas folded into one line per stage.
    Trace {
        order: String,
        /// Every event on its own line instead of one line per stage.
        #[arg(long)]
        expand: bool,
        /// Also write the timeline as an SVG waterfall to this file (a browser opens it).
        #[arg(long, value_name = "FILE")]
        svg: Option<PathBuf>,
    },
    /// Publish an order's archived events again, each to its original topic: idempotent
    /// consumers ignore what they handled and redo what was lost. The archive holds the
    /// order's events and the kitchen's last: a replayed `PaymentProcessed` of a cooking
    /// order has all its pizzas requested again, and each stage passes on what it added.
    Replay {
        order: String,
        /// Replay from the first archived event of this type on (e.g. PaymentProcessed).
        #[arg(long, value_name = "EVENT_TYPE")]
        from: Option<String>,
        /// Seconds to wait for the order to settle before reporting what changed.
        #[arg(long, default_value_t = 30)]
        wait: u64,
    },
    /// Put a new build of one function on the stack with `cargo lambda deploy`, under the
    /// role and environment the template gave it.
    Push {
        /// The function: logical id (ApiFunction) or binary (api).
        function: String,
        /// Upload this binary instead of what `cargo lambda build` left (`make build`).
        #[arg(long)]
        binary_path: Option<PathBuf>,
        /// Override or add an environment variable (repeatable), e.g. LOG_LEVEL=DEBUG.
        #[arg(long = "env", value_name = "KEY=VALUE")]
        overrides: Vec<String>,
    },
    /// The ranges of new orders the relay gave up on (its dead-letter queue): announce
    /// their orders again.
    Outbox {
        #[command(subcommand)]
        action: OutboxAction,
    },
    /// Check the saga's promises: no double charge, no money kept, no stock leaked.
    Audit {
        /// What every ingredient was stocked with, to check that no unit went missing.
        #[arg(long)]
        initial_stock: Option<u64>,
        /// How long an unfinished order may stand still (default: what the stack's
        /// reconciler promises: its stalled-after time and two of its rounds).
        #[arg(long, value_name = "SECONDS")]
        healed_within: Option<u64>,
    },
}

#[derive(Debug, Subcommand)]
enum OutboxAction {
    /// Read each range the relay gave up on back from the orders table's stream and
    /// announce its unpaid orders again; the range leaves the dead-letter queue once they
    /// are out.
    Republish,
}

#[derive(Debug, Subcommand)]
enum DlqAction {
    /// Print a queue's dead letters without taking them.
    Show {
        /// The queue (logical id or name).
        queue: String,
        #[arg(long, default_value_t = 10)]
        limit: usize,
    },
    /// Move every dead letter back to its queue.
    Redrive { queue: String },
}

#[derive(Debug, Subcommand)]
enum StockAction {
    /// Stock every ingredient that has none yet (safe to repeat).
    Seed {
        #[arg(long, default_value_t = 1000)]
        units: u64,
    },
    /// Set one ingredient's available units.
    Set { ingredient: String, units: u64 },
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(code) => code,
        Err(err) => {
            eprintln!("pizza: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let manifest = match &cli.manifest {
        Some(path) => Manifest::load(path)?,
        None => {
            let aws = aws_config::defaults(aws_config::BehaviorVersion::latest()).load().await;
            discover::describe(&aws, &cli.stack).await.with_context(|| format!("describing stack {}", cli.stack))?
        }
    };
    let stack = Stack::connect(manifest).await?;
    let json = cli.json;
    let code = match cli.command {
        Command::Console { port } => {
            let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
                .await
                .with_context(|| format!("listening on 127.0.0.1:{port}"))?;
            eprintln!("pizza console: http://127.0.0.1:{port}/ (stack {}; Ctrl-C stops it)", stack.manifest.stack_name);
            console::serve(std::sync::Arc::new(stack), listener).await.context("serving the console")?;
            ExitCode::SUCCESS
        }
        Command::Describe => emit(&describe::Description(stack.manifest), json)?,
        Command::Queues => emit(&commands::queues::run(&stack).await?, json)?,
        Command::Dlq { action: DlqAction::Show { queue, limit } } => {
            emit(&dlq::show(&stack, &queue, limit).await?, json)?
        }
        Command::Dlq { action: DlqAction::Redrive { queue } } => {
            emit(&dlq::redrive(&stack, &queue, json).await?, json)?
        }
        Command::Stock { action: None } => emit(&stock::levels(&stack).await?, json)?,
        Command::Stock { action: Some(StockAction::Seed { units }) } => emit(&stock::seed(&stack, units).await?, json)?,
        Command::Stock { action: Some(StockAction::Set { ingredient, units }) } => {
            emit(&stock::set(&stack, &ingredient, units).await?, json)?
        }
        Command::Limit { customer, cents } => emit(&stock::limit(&stack, &customer, cents).await?, json)?,
        Command::Order { pizzas, max_pizzas, count, api, customer } => {
            let sizes: Vec<u32> = (0..count).map(|_| random_between(pizzas, max_pizzas.unwrap_or(pizzas))).collect();
            let lifetime = Duration::from_secs(3600);
            let token = local_runner::issuer::token_for(&stack.manifest, local_issuer_dir(), &customer, lifetime)?;
            let client = pizza_cli::http::Client::new(api).signed_in(token);
            emit(&order::place(&client, &sizes, json).await?, json)?
        }
        Command::Trace { order, expand, svg } => {
            let traced = trace::run(&stack, &order, expand).await?;
            if let Some(path) = svg {
                let picture = trace::svg::waterfall(&traced.timeline);
                std::fs::write(&path, picture).with_context(|| format!("writing {}", path.display()))?;
                eprintln!("waterfall written to {}", path.display());
            }
            emit(&traced, json)?
        }
        Command::Replay { order, from, wait } => {
            let patience = Duration::from_secs(wait);
            emit(&replay::run(&stack, &order, from.as_deref(), patience, json).await?, json)?
        }
        Command::Push { function, binary_path, overrides } => {
            let overrides = push::parse_overrides(&overrides)?;
            let function = push::find(&stack.manifest, &function)?;
            let code = binary_path.as_deref().map_or(push::Code::LambdaBuild, push::Code::Binary);
            let workspace = std::env::current_dir().context("the current directory")?;
            let pushed = push::cargo_lambda_deploy(&stack.manifest, function, code, &overrides, &workspace)?;
            let text = format!("{} deployed as {}", function.logical_id, pushed.function_arn);
            emit(&Done { fields: serde_json::to_value(&pushed)?, text }, json)?
        }
        Command::Outbox { action: OutboxAction::Republish } => emit(&outbox::republish(&stack).await?, json)?,
        Command::Audit { initial_stock, healed_within } => {
            let healed_within = healed_within.map(Duration::from_secs);
            emit(&audit::run(&stack, initial_stock, healed_within).await?, json)?
        }
    };
    Ok(code)
}

fn random_between(low: u32, high: u32) -> u32 {
    if high <= low { low } else { low + (uuid::Uuid::new_v4().as_u128() % u128::from(high - low + 1)) as u32 }
}

/// Where `make run`'s local issuer keeps its key: the same directory `pizza-local` uses.
fn local_issuer_dir() -> &'static std::path::Path {
    std::path::Path::new(local_runner::DEFAULT_ISSUER_DIR)
}
