//! Operating a running stack as a person does. The console, in a real headless Chromium,
//! shows an order placed through the API cooking, then READY, and its waterfall through
//! every kitchen stage; then, with the deploy step's manifest deleted, every read-only
//! `pizza` command finds the stack by its name through CloudFormation alone.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use pizza_cli::{Stack, console, discover};
use serde_json::Value;
use system_tests::browser::{rendered_dom, screenshot};
use system_tests::{PATIENCE, System, workspace_root};

const STACK: &str = "test-operate";
/// The kitchen's last queue, held at first so the console can see the order cooking.
const HELD: &str = "StoreQueue";
const PIZZAS: u32 = 3;

static SYSTEM: OnceLock<System> = OnceLock::new();

fn system() -> &'static System {
    SYSTEM.get_or_init(|| System::start_holding(STACK, &[("Namespace", "test-operate-")], &[HELD]))
}

#[test]
fn an_operator_watches_an_order_in_the_console_and_reads_the_stack_by_name() {
    let system = system();
    let console = start_console(system);
    let order_id = system.run(system.place_order(PIZZAS));

    let board = wait_for_page(&console, |page| page.contains(&card(&order_id, "COOKING")));
    assert!(board.contains(r#"data-stage="sauce""#), "the kitchen panel lists the stages:\n{board}");
    let held = system.queue(HELD).name();
    assert!(board.contains(&format!(r#"data-queue="{held}""#)), "the queues panel lists the queues:\n{board}");

    system.release(HELD);
    let selected = format!("{console}?order={order_id}");
    let page = wait_for_page(&selected, |page| {
        page.contains(&card(&order_id, "READY")) && page.contains(&format!("{order_id} · READY"))
    });
    let waterfall = page.split(r#"id="waterfall""#).nth(1).unwrap_or_default();
    for stage in ["sauce", "cheese", "meat", "veggies"] {
        assert!(waterfall.contains(stage), "the waterfall shows the {stage} stage:\n{waterfall}");
    }
    let picture = workspace_root().join(".local/test-output/console.png");
    screenshot(&selected, &picture, (1400, 1100));
    eprintln!("the console with order {order_id} READY: {}", picture.display());

    every_read_only_command_by_stack_name(system, &order_id);
}

/// Deletes the manifest and runs each read-only command with `--stack` alone.
fn every_read_only_command_by_stack_name(system: &System, order_id: &str) {
    let manifest = workspace_root().join(format!(".local/{STACK}.json"));
    std::fs::remove_file(&manifest).unwrap_or_else(|e| panic!("deleting {}: {e}", manifest.display()));

    let described = pizza(&["describe"]);
    let functions: BTreeSet<&str> =
        described["functions"].as_array().into_iter().flatten().filter_map(|f| f["logical_id"].as_str()).collect();
    let deployed: BTreeSet<&str> = system.manifest.functions.iter().map(|f| f.logical_id.as_str()).collect();
    assert_eq!(functions, deployed, "describe finds every function");
    for (id, queue) in &system.manifest.queues {
        assert_eq!(described["queues"][id]["arn"], queue.arn.as_str(), "describe finds {id}");
    }
    assert_eq!(described["event_archive"]["prefix"], "events/");

    let depths = pizza(&["queues"]);
    let named: Vec<&str> = depths.as_array().into_iter().flatten().filter_map(|q| q["queue"].as_str()).collect();
    let with_dlq = system.manifest.dead_letter_queues().count();
    assert_eq!(named.len(), with_dlq, "queues lists every queue that has a DLQ: {named:?}");

    assert_eq!(pizza(&["dlq", "show", "SauceQueue"]), Value::Array(Vec::new()), "no dead letters");

    let stock = pizza(&["stock"]);
    let ingredients = pizza_events::menu::all_ingredients().count();
    assert!(stock.as_array().is_some_and(|rows| rows.len() >= ingredients), "stock lists the menu:\n{stock}");

    let trace = pizza(&["trace", order_id]);
    assert_eq!(trace["outcome"], "READY", "trace tells the order's outcome:\n{trace}");

    let audit = pizza(&["audit"]);
    assert_eq!(audit["violations"], Value::Array(Vec::new()), "the audit is clean:\n{audit}");
}

/// Serves the console for the stack found by name, on a free local port; its URL.
fn start_console(system: &System) -> String {
    system.run(async {
        let aws = aws_config::defaults(aws_config::BehaviorVersion::latest()).load().await;
        let described = discover::describe(&aws, STACK).await.unwrap_or_else(|e| panic!("describing {STACK}: {e}"));
        let stack = Arc::new(Stack::connect(described).await.unwrap_or_else(|e| panic!("{e}")));
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await.expect("a local port");
        let url = format!("http://{}/", listener.local_addr().expect("an address"));
        tokio::spawn(console::serve(stack, listener));
        url
    })
}

/// The console's order card, as the page renders it.
fn card(order_id: &str, status: &str) -> String {
    format!(r#"data-order-id="{order_id}" data-status="{status}""#)
}

/// The page at `url` once it shows what `seen` looks for.
fn wait_for_page(url: &str, seen: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let page = rendered_dom(url);
        if seen(&page) {
            return page;
        }
        assert!(Instant::now() < deadline, "{url} did not show what was expected in {PATIENCE:?}:\n{page}");
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Runs `pizza --stack STACK --json ARGS` with no manifest and returns its JSON.
fn pizza(args: &[&str]) -> Value {
    let output = Command::new(binary("pizza"))
        .current_dir(workspace_root())
        .env_remove("PIZZA_MANIFEST")
        .args(["--stack", STACK, "--json"])
        .args(args)
        .output()
        .expect("the pizza binary runs (`cargo build --bins` first, as `make test` does)");
    assert!(output.status.success(), "pizza {args:?} failed: {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("pizza {args:?} printed no JSON ({e}): {}", String::from_utf8_lossy(&output.stdout)))
}

/// A binary of this build: beside the test's own directory (`target/debug/deps/..`).
fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test's own path");
    let debug = exe.parent().and_then(|deps| deps.parent()).expect("a target directory");
    debug.join(name)
}
