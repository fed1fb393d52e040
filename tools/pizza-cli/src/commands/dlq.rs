//! `pizza dlq show` and `pizza dlq redrive`: a queue's dead letters, read or sent back.

use serde::Serialize;

use super::{Report, progress};
use crate::Stack;
use crate::queues::{self, DeadLetter, QueueError};

/// The dead letters of one queue, without taking them.
#[derive(Debug, Serialize)]
#[serde(transparent)]
pub struct DeadLetters {
    #[serde(skip)]
    pub queue: String,
    pub letters: Vec<DeadLetter>,
}

pub async fn show(stack: &Stack, queue: &str, limit: usize) -> Result<DeadLetters, QueueError> {
    let queue = queues::find(&stack.manifest, queue)?;
    let letters = queues::peek_dead_letters(&stack.sqs, queue, limit).await?;
    Ok(DeadLetters { queue: queue.name().to_owned(), letters })
}

impl std::fmt::Display for DeadLetters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.letters.is_empty() {
            return write!(f, "no dead letters for {}", self.queue);
        }
        for (index, letter) in self.letters.iter().enumerate() {
            if index > 0 {
                writeln!(f)?;
            }
            write!(f, "{} (received {} times)", letter.message_id, letter.receive_count)?;
            if let Some(reason) = &letter.reason {
                write!(f, "\n  why: {reason}")?;
            }
            write!(f, "\n  {}", letter.body)?;
        }
        Ok(())
    }
}

impl Report for DeadLetters {}

/// What a redrive moved back.
#[derive(Debug, Serialize)]
pub struct Redriven {
    pub queue: String,
    pub moved: usize,
}

/// Moves every dead letter of `queue` back to it, with a progress bar unless `quiet`.
pub async fn redrive(stack: &Stack, queue: &str, quiet: bool) -> Result<Redriven, QueueError> {
    let queue = queues::find(&stack.manifest, queue)?;
    let waiting = match &queue.dead_letter_queue_url {
        Some(dlq) => queues::depth(&stack.sqs, dlq).await?.visible,
        None => 0,
    };
    let bar = progress::bar(waiting, "dead letters moved back", quiet);
    let moved = queues::redrive_reporting(&stack.sqs, queue, |n| bar.set_position(n as u64)).await?;
    bar.finish_and_clear();
    Ok(Redriven { queue: queue.name().to_owned(), moved })
}

impl std::fmt::Display for Redriven {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "moved {} message(s) back to {}", self.moved, self.queue)
    }
}

impl Report for Redriven {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dead_letters_read_as_text_say_why_and_print_as_the_bare_list() {
        let empty = DeadLetters { queue: "sauce-q".into(), letters: Vec::new() };
        assert_eq!(empty.to_string(), "no dead letters for sauce-q");
        assert_eq!(serde_json::to_value(&empty).expect("json"), serde_json::json!([]));
        let letter =
            DeadLetter { message_id: "m1".into(), body: "{".into(), receive_count: 1, reason: Some("poison".into()) };
        let one = DeadLetters { queue: "sauce-q".into(), letters: vec![letter] };
        assert_eq!(one.to_string(), "m1 (received 1 times)\n  why: poison\n  {");
    }
}
