//! `pizza audit`: the saga's promises checked against every store of the stack.

use std::time::Duration;

use serde::Serialize;

use super::Report;
use crate::Stack;
use crate::audit::{self, Promises};

#[derive(Debug, Serialize)]
#[serde(transparent)]
pub struct Audited(pub audit::Report);

/// Audits the stack; `healed_within` defaults to what its reconciler promises.
pub async fn run(
    stack: &Stack,
    initial_stock: Option<u64>,
    healed_within: Option<Duration>,
) -> Result<Audited, dynamo_kit::StoreError> {
    let healed_within = healed_within.or_else(|| audit::promised_healing(&stack.manifest));
    let promises = Promises { initial_stock, healed_within };
    Ok(Audited(audit::audit(&audit::snapshot(stack).await?, promises)))
}

impl std::fmt::Display for Audited {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        for violation in &self.0.violations {
            write!(f, "\nVIOLATION: {violation}")?;
        }
        Ok(())
    }
}

impl Report for Audited {
    fn succeeded(&self) -> bool {
        self.0.is_clean()
    }
}
