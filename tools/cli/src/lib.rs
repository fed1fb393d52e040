//! What an operator does with a deployed stack, as a library the `pizza` command and the
//! system tests share: queue depths, dead letters and their redrive, stock and credit
//! limits, and the audit of what the saga promises (no double charge, no leaked stock).

pub mod audit;
pub mod http;
pub mod queues;
pub mod stack;

pub use stack::Stack;
