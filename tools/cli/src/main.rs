//! `pizza`: operate a deployed stack.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use event_archive::Timeline;
use inventory::StockRoom;
use local_runner::Manifest;
use orders::OrderDesk;
use payments::PaymentLedger;
use pizza_cli::{Stack, audit, console, discover, outbox, push, queues, replay};
use serde_json::json;

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
    /// consumers ignore what they handled and redo what was lost.
    Replay {
        order: String,
        /// Replay from the first event of this type on (e.g. PizzaRequested).
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
    /// The outbox ranges the relay gave up on (its dead-letter queue): publish their
    /// events again.
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
    /// Read each range the relay gave up on back from the outbox stream and publish its
    /// events again; the range leaves the dead-letter queue once they are out.
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
    match cli.command {
        Command::Describe if json => println!("{}", serde_json::to_string_pretty(&stack.manifest)?),
        Command::Describe => print!("{}", discover::summary(&stack.manifest)),
        Command::Console { port } => {
            let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
                .await
                .with_context(|| format!("listening on 127.0.0.1:{port}"))?;
            eprintln!("pizza console: http://127.0.0.1:{port}/ (stack {}; Ctrl-C stops it)", stack.manifest.stack_name);
            console::serve(std::sync::Arc::new(stack), listener).await.context("serving the console")?;
        }
        Command::Queues => {
            let depths = queues::all_depths(&stack.sqs, &stack.manifest).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&depths)?);
            } else {
                println!("{:<28} {:>8} {:>9} {:>5}", "queue", "visible", "in flight", "DLQ");
                for q in depths {
                    let dlq = q.dead_letters.map(|d| d.visible + d.in_flight).unwrap_or(0);
                    println!("{:<28} {:>8} {:>9} {:>5}", q.queue, q.depth.visible, q.depth.in_flight, dlq);
                }
            }
        }
        Command::Dlq { action: DlqAction::Show { queue, limit } } => {
            let queue = queues::find(&stack.manifest, &queue)?;
            let letters = queues::peek_dead_letters(&stack.sqs, queue, limit).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&letters)?);
            } else if letters.is_empty() {
                println!("no dead letters for {}", queue.name());
            } else {
                for letter in letters {
                    println!("{} (received {} times)", letter.message_id, letter.receive_count);
                    if let Some(reason) = &letter.reason {
                        println!("  why: {reason}");
                    }
                    println!("  {}", letter.body);
                }
            }
        }
        Command::Dlq { action: DlqAction::Redrive { queue } } => {
            let queue = queues::find(&stack.manifest, &queue)?;
            let waiting = match &queue.dead_letter_queue_url {
                Some(dlq) => queues::depth(&stack.sqs, dlq).await?.visible,
                None => 0,
            };
            let bar = indicatif::ProgressBar::new(waiting);
            if json {
                bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
            }
            bar.set_style(
                indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} dead letters moved back {elapsed}")
                    .context("progress style")?,
            );
            let moved = queues::redrive_reporting(&stack.sqs, queue, |n| bar.set_position(n as u64)).await?;
            bar.finish_and_clear();
            print(
                json,
                json!({ "queue": queue.name(), "moved": moved }),
                format!("moved {moved} message(s) back to {}", queue.name()),
            );
        }
        Command::Stock { action: None } => {
            let levels = stack.stock.levels().await?;
            if json {
                let rows: Vec<_> = levels
                    .iter()
                    .map(|l| {
                        json!({
                            "stage": l.stage,
                            "ingredient": l.ingredient,
                            "available": l.available,
                            "reserved": l.reserved,
                        })
                    })
                    .collect();
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else {
                println!("{:<10} {:<16} {:>10} {:>9}", "stage", "ingredient", "available", "reserved");
                for level in levels {
                    let (stage, ingredient) = (&level.stage, &level.ingredient);
                    println!("{stage:<10} {ingredient:<16} {:>10} {:>9}", level.available, level.reserved);
                }
            }
        }
        Command::Stock { action: Some(StockAction::Seed { units }) } => {
            let stocked: std::collections::HashSet<(String, String)> =
                stack.stock.levels().await?.into_iter().map(|l| (l.stage, l.ingredient)).collect();
            let mut seeded = 0;
            for (stage, ingredient) in pizza_events::menu::all_ingredients()
                .filter(|(stage, i)| !stocked.contains(&((*stage).to_owned(), (*i).to_owned())))
            {
                stack.stock.set_stock(stage, ingredient, units).await?;
                seeded += 1;
            }
            print(
                json,
                json!({ "seeded": seeded, "units": units }),
                format!("stocked {seeded} ingredient(s) with {units} units"),
            );
        }
        Command::Stock { action: Some(StockAction::Set { ingredient, units }) } => {
            let Some(stage) = pizza_events::menu::stage_of(&ingredient) else {
                bail!("{ingredient} is not on the menu");
            };
            stack.stock.set_stock(stage, &ingredient, units).await?;
            print(json, json!({ "ingredient": ingredient, "units": units }), format!("{ingredient}: {units} units"));
        }
        Command::Limit { customer, cents } => {
            stack.ledger.set_credit_limit(&customer, cents).await?;
            print(
                json,
                json!({ "customer": customer, "limit_cents": cents }),
                format!("{customer} may spend {cents} cents"),
            );
        }
        Command::Order { pizzas, max_pizzas, count, api, customer } => {
            let sizes = (0..count).map(|_| random_between(pizzas, max_pizzas.unwrap_or(pizzas))).collect();
            let lifetime = Duration::from_secs(3600);
            let token = local_runner::issuer::token_for(&stack.manifest, local_issuer_dir(), &customer, lifetime)?;
            let client = pizza_cli::http::Client::new(api).signed_in(token);
            return place_orders(&client, sizes, json).await;
        }
        Command::Trace { order, expand, svg } => {
            let history = stack.order_history(&order).await?;
            if history.is_empty() {
                bail!("the archive holds no event of {order}");
            }
            let timeline = Timeline::of(&order, &history);
            if json {
                println!("{}", serde_json::to_string_pretty(&timeline)?);
            } else {
                print!("{}", timeline.render_text(expand));
            }
            if let Some(path) = svg {
                std::fs::write(&path, timeline.render_svg()).with_context(|| format!("writing {}", path.display()))?;
                eprintln!("waterfall written to {}", path.display());
            }
        }
        Command::Replay { order, from, wait } => {
            return replay_order(&stack, &order, from.as_deref(), Duration::from_secs(wait), json).await;
        }
        Command::Push { function, binary_path, overrides } => {
            let overrides = push::parse_overrides(&overrides)?;
            let function = push::find(&stack.manifest, &function)?;
            let code = binary_path.as_deref().map_or(push::Code::LambdaBuild, push::Code::Binary);
            let workspace = std::env::current_dir().context("the current directory")?;
            let pushed = push::cargo_lambda_deploy(&stack.manifest, function, code, &overrides, &workspace)?;
            print(
                json,
                serde_json::to_value(&pushed)?,
                format!("{} deployed as {}", function.logical_id, pushed.function_arn),
            );
        }
        Command::Outbox { action: OutboxAction::Republish } => {
            let republished = outbox::republish(&stack).await?;
            print(json, serde_json::to_value(&republished)?, republished.to_string());
        }
        Command::Audit { initial_stock, healed_within } => {
            let healed_within =
                healed_within.map(std::time::Duration::from_secs).or_else(|| audit::promised_healing(&stack.manifest));
            let promises = audit::Promises { initial_stock, healed_within };
            let report = audit::audit(&audit::snapshot(&stack).await?, promises);
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                println!("{report}");
                for violation in &report.violations {
                    println!("VIOLATION: {violation}");
                }
            }
            if !report.is_clean() {
                return Ok(ExitCode::from(1));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print(json: bool, value: serde_json::Value, text: String) {
    if json { println!("{value}") } else { println!("{text}") }
}

fn random_between(low: u32, high: u32) -> u32 {
    if high <= low { low } else { low + (uuid::Uuid::new_v4().as_u128() % u128::from(high - low + 1)) as u32 }
}

/// What an operator compares before and after a replay.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
struct OrderState {
    status: String,
    pizzas_stored: u32,
    charged_cents: u64,
    refunded_cents: u64,
}

async fn order_state(stack: &Stack, order_id: uuid::Uuid) -> anyhow::Result<Option<OrderState>> {
    Ok(stack.orders.find(order_id).await?.map(|details| OrderState {
        status: details.order.status.as_str().to_owned(),
        pizzas_stored: details.pizzas.len() as u32,
        charged_cents: details.order.charged_cents,
        refunded_cents: details.order.refunded_cents,
    }))
}

/// Replays an order's events, waits until its state has not moved for a few seconds (or
/// `patience` ran out), and says what was sent and what changed.
async fn replay_order(
    stack: &Stack,
    order: &str,
    from: Option<&str>,
    patience: Duration,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let order_id: uuid::Uuid = order.parse().with_context(|| format!("{order} is not an order id"))?;
    let history = stack.order_history(order).await?;
    let events = replay::select(&history, from)?;
    let before = order_state(stack, order_id).await?;
    let sent = replay::replay(&stack.bus, &events).await?;
    let bar = indicatif::ProgressBar::new_spinner();
    if json {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    bar.set_message(format!("sent {} event(s); waiting for {order} to settle", sent.len()));
    let deadline = Instant::now() + patience;
    let mut after = order_state(stack, order_id).await?;
    let mut still_since = Instant::now();
    while Instant::now() < deadline && still_since.elapsed() < Duration::from_secs(3) {
        tokio::time::sleep(Duration::from_millis(250)).await;
        bar.tick();
        let now = order_state(stack, order_id).await?;
        if now != after {
            after = now;
            still_since = Instant::now();
        }
    }
    bar.finish_and_clear();
    if json {
        println!("{}", serde_json::to_string_pretty(&json!({ "sent": sent, "before": before, "after": after }))?);
        return Ok(ExitCode::SUCCESS);
    }
    let mut by_type: Vec<(String, usize)> = Vec::new();
    for event in &sent {
        match by_type.iter_mut().find(|(t, _)| *t == event.event_type) {
            Some((_, n)) => *n += 1,
            None => by_type.push((event.event_type.clone(), 1)),
        }
    }
    let summary: Vec<String> = by_type.iter().map(|(t, n)| format!("{n} {t}")).collect();
    println!("sent {} event(s) of {order}: {}", sent.len(), summary.join(", "));
    match (&before, &after) {
        (Some(b), Some(a)) if b == a => {
            println!("nothing changed: {} with {} pizza(s) stored", a.status, a.pizzas_stored)
        }
        (b, a) => {
            let show = |s: &Option<OrderState>| {
                s.as_ref().map_or("no order".to_owned(), |s| {
                    format!(
                        "{}, {} pizza(s) stored, {} cents charged, {} refunded",
                        s.status, s.pizzas_stored, s.charged_cents, s.refunded_cents
                    )
                })
            };
            println!("before: {}\nafter:  {}", show(b), show(a));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Where `make run`'s local issuer keeps its key: the same directory `pizza-local` uses.
fn local_issuer_dir() -> &'static std::path::Path {
    std::path::Path::new(local_runner::DEFAULT_ISSUER_DIR)
}

/// Places one order of each size at once and follows them to READY or CANCELLED.
async fn place_orders(client: &pizza_cli::http::Client, sizes: Vec<u32>, json: bool) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let count = sizes.len();
    let pizzas: u32 = sizes.iter().sum();
    let placed = futures::future::try_join_all(sizes.iter().map(|n| client.place(*n))).await?;
    let bar = indicatif::ProgressBar::new(count as u64);
    if json {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} orders settled {elapsed}")
            .context("progress style")?,
    );
    let mut settled = Vec::new();
    let mut pending = placed;
    let deadline = Instant::now() + Duration::from_secs(300);
    while !pending.is_empty() && Instant::now() < deadline {
        let mut still = Vec::new();
        for order_id in pending {
            match client.status(&order_id).await?.as_deref() {
                Some(status @ ("READY" | "CANCELLED")) => {
                    settled.push((order_id, status.to_owned(), started.elapsed()));
                    bar.inc(1);
                }
                _ => still.push(order_id),
            }
        }
        pending = still;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    bar.finish_and_clear();
    let ready = settled.iter().filter(|(_, s, _)| s == "READY").count();
    let elapsed = started.elapsed();
    let value = json!({
        "orders": count, "pizzas": pizzas, "ready": ready, "cancelled": settled.len() - ready,
        "unsettled": pending.len(), "seconds": elapsed.as_secs_f64(),
    });
    print(
        json,
        value,
        format!(
            "{count} order(s), {pizzas} pizzas: {ready} ready, {} cancelled, {} unsettled, in {:.1}s (local)",
            settled.len() - ready,
            pending.len(),
            elapsed.as_secs_f64()
        ),
    );
    Ok(if pending.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}
