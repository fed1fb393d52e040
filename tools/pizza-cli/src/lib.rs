//! What an operator does with a deployed stack, as a library the `pizza` command and the
//! system tests share: queue depths, dead letters and their redrive, stock and credit
//! limits, an order's timeline from the event archive and its replay, pushing one
//! function's new build with `cargo lambda deploy`, the audit of what the saga promises
//! (no double charge, no leaked stock), the description of a stack found by name, and the
//! console that watches it.

pub mod audit;
pub mod commands;
pub mod console;
pub mod discover;
pub mod http;
pub mod outbox;
pub mod push;
pub mod queues;
pub mod replay;
pub mod settle;
pub mod stack;

pub use stack::{Stack, StackError};
