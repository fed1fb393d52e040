//! One module per `pizza` command. Each returns a report that is both `Serialize` (what
//! `--json` prints) and `Display` (what a person reads), so the binary has one way to
//! print them all and each command can be tested without a terminal.

pub mod audit;
pub mod describe;
pub mod dlq;
pub mod order;
pub mod progress;
pub mod queues;
pub mod replay;
pub mod stock;
pub mod trace;

use std::fmt::Display;
use std::process::ExitCode;

use serde::Serialize;

/// What a command found or did.
pub trait Report: Serialize + Display {
    /// Whether the command succeeded: a report of violations, or of orders that never
    /// settled, makes the process fail.
    fn succeeded(&self) -> bool {
        true
    }
}

/// Prints a report as JSON or as text, and says how the process ends.
pub fn emit<R: Report>(report: &R, json: bool) -> Result<ExitCode, serde_json::Error> {
    if json {
        println!("{}", serde_json::to_string_pretty(report)?);
    } else {
        println!("{report}");
    }
    Ok(if report.succeeded() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// A report of one line of text, with its JSON.
#[derive(Debug, Serialize)]
pub struct Done {
    #[serde(flatten)]
    pub fields: serde_json::Value,
    #[serde(skip)]
    pub text: String,
}

impl Display for Done {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

impl Report for Done {}
