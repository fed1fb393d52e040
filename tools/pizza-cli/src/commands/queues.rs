//! `pizza queues`: every consumer queue's depth, with its dead-letter queue's.

use serde::Serialize;

use super::Report;
use crate::Stack;
use crate::queues::{QueueDepths, QueueError, all_depths};

#[derive(Debug, Serialize)]
#[serde(transparent)]
pub struct Depths(pub Vec<QueueDepths>);

pub async fn run(stack: &Stack) -> Result<Depths, QueueError> {
    Ok(Depths(all_depths(&stack.sqs, &stack.manifest).await?))
}

impl std::fmt::Display for Depths {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:<28} {:>8} {:>9} {:>5}", "queue", "visible", "in flight", "DLQ")?;
        for q in &self.0 {
            let dlq = q.dead_letters.as_ref().map(|d| d.visible + d.in_flight).unwrap_or(0);
            write!(f, "\n{:<28} {:>8} {:>9} {:>5}", q.queue, q.depth.visible, q.depth.in_flight, dlq)?;
        }
        Ok(())
    }
}

impl Report for Depths {}
