//! `pizza-dev`: run the deployed stack locally, and operate its queues.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use devrunner::{Manifest, Options, ops};
use shared::inventory::StockRoom;

const USAGE: &str = "\
usage: pizza-dev <command> [options]

commands:
  run                   run every function of the stack and serve the HTTP API
      --http ADDR         where the API listens (default 127.0.0.1:3000)
      --pollers N         pollers per queue (default 2)
      --retry-delay SECS  retry failed messages after SECS instead of the queue's visibility timeout
      --chaos             deliver every message twice, shuffled within its batch
      --env KEY=VALUE     set KEY in every function's environment (repeatable)
  queues                show each queue's depth and its dead-letter queue's
  dlq show QUEUE        print the messages in QUEUE's dead-letter queue (QUEUE: logical id or name)
      --limit N           at most N messages (default 10)
  dlq redrive QUEUE     move every message of QUEUE's dead-letter queue back to QUEUE
  stock                 show each ingredient's available and reserved units
  stock seed            stock every ingredient that has no stock yet
      --units N           with N units (default 1000)
  stock set INGREDIENT N
                        set an ingredient's available units
  limit CUSTOMER CENTS  set a customer's credit limit

every command takes --manifest PATH (default .local/pizza-shop.json, written by `make deploy`)";

struct Args {
    words: Vec<String>,
    manifest: PathBuf,
    http: SocketAddr,
    pollers: usize,
    retry_delay: Option<Duration>,
    limit: usize,
    units: u64,
    chaos: bool,
    environment: Vec<(String, String)>,
}

fn parse(mut raw: impl Iterator<Item = String>) -> Result<Args, String> {
    let defaults = Options::default();
    let mut args = Args {
        words: Vec::new(),
        manifest: PathBuf::from(".local/pizza-shop.json"),
        http: defaults.http_addr,
        pollers: defaults.pollers_per_source,
        retry_delay: None,
        limit: 10,
        units: 1000,
        chaos: false,
        environment: Vec::new(),
    };
    while let Some(word) = raw.next() {
        let mut value = |name: &str| raw.next().ok_or_else(|| format!("{name} needs a value"));
        match word.as_str() {
            "--manifest" => args.manifest = PathBuf::from(value("--manifest")?),
            "--http" => args.http = value("--http")?.parse().map_err(|e| format!("--http: {e}"))?,
            "--pollers" => args.pollers = value("--pollers")?.parse().map_err(|e| format!("--pollers: {e}"))?,
            "--retry-delay" => {
                let seconds: u64 = value("--retry-delay")?.parse().map_err(|e| format!("--retry-delay: {e}"))?;
                args.retry_delay = Some(Duration::from_secs(seconds));
            }
            "--limit" => args.limit = value("--limit")?.parse().map_err(|e| format!("--limit: {e}"))?,
            "--units" => args.units = value("--units")?.parse().map_err(|e| format!("--units: {e}"))?,
            "--chaos" => args.chaos = true,
            "--env" => {
                let pair = value("--env")?;
                let (key, value) = pair.split_once('=').ok_or_else(|| format!("--env {pair}: expected KEY=VALUE"))?;
                args.environment.push((key.to_owned(), value.to_owned()));
            }
            "-h" | "--help" => return Err(String::new()),
            flag if flag.starts_with("--") => return Err(format!("unknown option {flag}")),
            _ => args.words.push(word),
        }
    }
    Ok(args)
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(message) => {
            if !message.is_empty() {
                eprintln!("pizza-dev: {message}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("pizza-dev: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), String> {
    let manifest = Manifest::load(&args.manifest).map_err(|e| e.to_string())?;
    let words: Vec<&str> = args.words.iter().map(String::as_str).collect();
    match words.as_slice() {
        ["run"] => serve(&manifest, &args).await,
        ["queues"] => queues(&manifest).await,
        ["dlq", "show", queue] => show_dead_letters(&manifest, queue, args.limit).await,
        ["dlq", "redrive", queue] => {
            let sqs = aws_sdk_sqs::Client::new(&devrunner::sdk_config(&manifest).await);
            let queue = ops::find_queue(&manifest, queue).map_err(|e| e.to_string())?;
            let moved = ops::redrive(&sqs, queue).await.map_err(|e| e.to_string())?;
            println!("moved {moved} message(s) back to {}", queue.name());
            Ok(())
        }
        ["stock"] => show_stock(&manifest).await,
        ["stock", "seed"] => {
            let room =
                ops::stock_room(&manifest, &devrunner::sdk_config(&manifest).await).map_err(|e| e.to_string())?;
            let seeded = ops::seed_stock(&room, args.units).await.map_err(|e| e.to_string())?;
            eprintln!("pizza-dev: stocked {seeded} ingredient(s) with {} units; the others keep theirs", args.units);
            Ok(())
        }
        ["stock", "set", ingredient, units] => {
            let units: u64 = units.parse().map_err(|e| format!("units: {e}"))?;
            let room =
                ops::stock_room(&manifest, &devrunner::sdk_config(&manifest).await).map_err(|e| e.to_string())?;
            room.set_stock(ingredient, units).await.map_err(|e| e.to_string())
        }
        ["limit", customer, cents] => {
            let cents: u64 = cents.parse().map_err(|e| format!("cents: {e}"))?;
            let ledger = ops::ledger(&manifest, &devrunner::sdk_config(&manifest).await).map_err(|e| e.to_string())?;
            ops::set_credit_limit(&ledger, customer, cents).await.map_err(|e| e.to_string())
        }
        _ => Err(format!("unknown command {:?}\n{USAGE}", words.join(" "))),
    }
}

async fn serve(manifest: &Manifest, args: &Args) -> Result<(), String> {
    shared::telemetry::init_logging();
    let options = Options {
        http_addr: args.http,
        pollers_per_source: args.pollers,
        retry_delay: args.retry_delay,
        duplicate_deliveries: args.chaos,
        extra_environment: args.environment.clone(),
    };
    let running = devrunner::start(manifest, &options).await.map_err(|e| e.to_string())?;
    eprintln!("pizza-dev: stack {} on {}", manifest.stack_name, endpoint(manifest));
    if let Some(addr) = running.api_addr {
        eprintln!("  HTTP API     http://{addr}");
        for route in &manifest.routes {
            eprintln!("    {:6} {:16} -> {}", route.method, route.path, route.function);
        }
    }
    for function in &manifest.functions {
        let queues: Vec<&str> = function.event_sources.iter().map(|s| s.queue.name()).collect();
        if !queues.is_empty() {
            eprintln!("  {:16} polls {}", function.logical_id, queues.join(", "));
        }
    }
    eprintln!("  logs are JSON lines on stdout; Ctrl-C stops");
    wait_for_stop_signal().await;
    eprintln!("pizza-dev: stopping (batches in flight finish first)");
    running.stop().await;
    Ok(())
}

async fn wait_for_stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut terminate) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = terminate.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

fn endpoint(manifest: &Manifest) -> String {
    std::env::var("AWS_ENDPOINT_URL").ok().filter(|u| !u.is_empty()).unwrap_or_else(|| manifest.endpoint_url.clone())
}

async fn queues(manifest: &Manifest) -> Result<(), String> {
    let sqs = aws_sdk_sqs::Client::new(&devrunner::sdk_config(manifest).await);
    println!("{:24} {:>8} {:>9} {:>6}", "queue", "visible", "in flight", "DLQ");
    for queue in manifest.queues.values().filter(|q| q.dead_letter_queue_url.is_some()) {
        let depth = ops::depth(&sqs, &queue.url).await.map_err(|e| e.to_string())?;
        let dlq = match &queue.dead_letter_queue_url {
            Some(url) => ops::depth(&sqs, url).await.map_err(|e| e.to_string())?.visible.to_string(),
            None => "-".into(),
        };
        println!("{:24} {:>8} {:>9} {:>6}", queue.name(), depth.visible, depth.in_flight, dlq);
    }
    Ok(())
}

async fn show_stock(manifest: &Manifest) -> Result<(), String> {
    let room = ops::stock_room(manifest, &devrunner::sdk_config(manifest).await).map_err(|e| e.to_string())?;
    println!("{:16} {:>10} {:>9}", "ingredient", "available", "reserved");
    for level in room.levels().await.map_err(|e| e.to_string())? {
        println!("{:16} {:>10} {:>9}", level.ingredient, level.available, level.reserved);
    }
    Ok(())
}

async fn show_dead_letters(manifest: &Manifest, queue: &str, limit: usize) -> Result<(), String> {
    let sqs = aws_sdk_sqs::Client::new(&devrunner::sdk_config(manifest).await);
    let queue = ops::find_queue(manifest, queue).map_err(|e| e.to_string())?;
    let letters = ops::peek_dead_letters(&sqs, queue, limit).await.map_err(|e| e.to_string())?;
    if letters.is_empty() {
        println!("the dead-letter queue of {} is empty", queue.name());
    }
    for letter in letters {
        println!("{} (received {} times)\n  {}", letter.message_id, letter.receive_count, letter.body);
    }
    Ok(())
}
