//! `pizza stock` and `pizza limit`: the ingredients' units, and customers' credit.

use std::collections::HashSet;

use inventory::StockRoom;
use payments::PaymentLedger;
use serde::Serialize;

use super::{Done, Report};
use crate::Stack;

#[derive(Debug, Serialize)]
pub struct Level {
    pub stage: String,
    pub ingredient: String,
    pub available: i64,
    pub reserved: u64,
}

/// Every ingredient's available and reserved units.
#[derive(Debug, Serialize)]
#[serde(transparent)]
pub struct Levels(pub Vec<Level>);

pub async fn levels(stack: &Stack) -> Result<Levels, dynamo_kit::StoreError> {
    let levels = stack.stock.levels().await?;
    Ok(Levels(
        levels
            .into_iter()
            .map(|l| Level { stage: l.stage, ingredient: l.ingredient, available: l.available, reserved: l.reserved })
            .collect(),
    ))
}

impl std::fmt::Display for Levels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:<10} {:<16} {:>10} {:>9}", "stage", "ingredient", "available", "reserved")?;
        for level in &self.0 {
            let (stage, ingredient) = (&level.stage, &level.ingredient);
            write!(f, "\n{stage:<10} {ingredient:<16} {:>10} {:>9}", level.available, level.reserved)?;
        }
        Ok(())
    }
}

impl Report for Levels {}

/// Stocks every ingredient of the menu that has no stock yet with `units` (safe to repeat).
pub async fn seed(stack: &Stack, units: u64) -> Result<Done, dynamo_kit::StoreError> {
    let stocked: HashSet<(String, String)> =
        stack.stock.levels().await?.into_iter().map(|l| (l.stage, l.ingredient)).collect();
    let mut seeded = 0;
    for (stage, ingredient) in pizza_events::menu::all_ingredients() {
        if !stocked.contains(&(stage.to_owned(), ingredient.to_owned())) {
            stack.stock.set_stock(stage, ingredient, units).await?;
            seeded += 1;
        }
    }
    Ok(Done {
        fields: serde_json::json!({ "seeded": seeded, "units": units }),
        text: format!("stocked {seeded} ingredient(s) with {units} units"),
    })
}

#[derive(Debug, thiserror::Error)]
pub enum StockError {
    #[error("{0} is not on the menu")]
    NotOnTheMenu(String),
    #[error(transparent)]
    Store(#[from] dynamo_kit::StoreError),
}

/// Sets one ingredient's available units.
pub async fn set(stack: &Stack, ingredient: &str, units: u64) -> Result<Done, StockError> {
    let stage =
        pizza_events::menu::stage_of(ingredient).ok_or_else(|| StockError::NotOnTheMenu(ingredient.to_owned()))?;
    stack.stock.set_stock(stage, ingredient, units).await?;
    Ok(Done {
        fields: serde_json::json!({ "ingredient": ingredient, "units": units }),
        text: format!("{ingredient}: {units} units"),
    })
}

/// Sets a customer's credit limit.
pub async fn limit(stack: &Stack, customer: &str, cents: u64) -> Result<Done, dynamo_kit::StoreError> {
    stack.ledger.set_credit_limit(customer, cents).await?;
    Ok(Done {
        fields: serde_json::json!({ "customer": customer, "limit_cents": cents }),
        text: format!("{customer} may spend {cents} cents"),
    })
}
