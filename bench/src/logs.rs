//! What the functions log, as CloudWatch Logs would ingest and bill it: bytes and lines,
//! the CPU time each batch reported, and every custom metric the EMF documents declare.

use std::collections::{BTreeMap, BTreeSet};

use local_runner::LogLine;
use serde_json::Value;
use tokio::sync::broadcast::Receiver;
use tokio::sync::broadcast::error::TryRecvError;

/// What the functions wrote on stdout and stderr, as CloudWatch Logs would ingest it.
#[derive(Debug, Default)]
pub struct LogTally {
    pub bytes: u64,
    pub lines: u64,
    /// The `HandlerCpuTime` each function's batches reported, in ms.
    pub cpu_ms: BTreeMap<String, f64>,
    /// Every custom metric seen: (namespace, metric, service).
    pub metrics: BTreeSet<(String, String, String)>,
    /// Lines the bench could not read in time (the tally is low by that many).
    pub lost: u64,
}

/// Reads every line logged since the last call.
pub fn tally_logs(logs: &mut Receiver<LogLine>) -> LogTally {
    let mut tally = LogTally::default();
    loop {
        match logs.try_recv() {
            Ok(line) => {
                tally.bytes += line.line.len() as u64 + 1;
                tally.lines += 1;
                let value: Value = serde_json::from_str(&line.line).unwrap_or_default();
                if let Some(ms) = value["HandlerCpuTime"].as_f64() {
                    *tally.cpu_ms.entry(line.function).or_default() += ms;
                }
                let service = value["service"].as_str().unwrap_or_default();
                for directive in value["_aws"]["CloudWatchMetrics"].as_array().into_iter().flatten() {
                    let namespace = directive["Namespace"].as_str().unwrap_or_default();
                    for metric in directive["Metrics"].as_array().into_iter().flatten() {
                        let name = metric["Name"].as_str().unwrap_or_default();
                        tally.metrics.insert((namespace.to_owned(), name.to_owned(), service.to_owned()));
                    }
                }
            }
            Err(TryRecvError::Lagged(n)) => tally.lost += n,
            Err(_) => return tally,
        }
    }
}
