//! `pizza trace`: an order's whole life from the event archive, as text or as an SVG
//! waterfall.

pub mod svg;
pub mod text;

use event_archive::Timeline;
use serde::Serialize;

use super::Report;
use crate::{Stack, StackError};

#[derive(Debug, Serialize)]
#[serde(transparent)]
pub struct Traced {
    pub timeline: Timeline,
    /// Every event on its own line instead of one line per stage.
    #[serde(skip)]
    pub expand: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    #[error("the archive holds no event of {0}")]
    NothingArchived(String),
    #[error(transparent)]
    Stack(#[from] StackError),
}

pub async fn run(stack: &Stack, order: &str, expand: bool) -> Result<Traced, TraceError> {
    let history = stack.order_history(order).await?;
    if history.is_empty() {
        return Err(TraceError::NothingArchived(order.to_owned()));
    }
    Ok(Traced { timeline: Timeline::of(order, &history), expand })
}

impl std::fmt::Display for Traced {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(text::text(&self.timeline, self.expand).trim_end())
    }
}

impl Report for Traced {}
