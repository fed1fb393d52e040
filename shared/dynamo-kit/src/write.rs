//! Conditional writes and transactions that say why they did not apply.

use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::put_item::builders::PutItemFluentBuilder;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::types::{ReturnValue, ReturnValuesOnConditionCheckFailure, TransactWriteItem};

use crate::item::Item;
use crate::{StoreError, classify};

/// Runs a conditional put: `Ok(())` if it wrote, `Err(old item)` if its condition failed
/// (empty if there was no item).
pub async fn put_or_old(put: PutItemFluentBuilder) -> Result<Result<(), Item>, StoreError> {
    let result = put.return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld).send().await;
    match result {
        Ok(_) => Ok(Ok(())),
        Err(err) => match err {
            aws_sdk_dynamodb::error::SdkError::ServiceError(service)
                if matches!(service.err(), PutItemError::ConditionalCheckFailedException(_)) =>
            {
                match service.into_err() {
                    PutItemError::ConditionalCheckFailedException(failed) => Ok(Err(failed.item.unwrap_or_default())),
                    _ => unreachable_condition(),
                }
            }
            other => Err(classify(other)),
        },
    }
}

/// Runs a conditional update: `Ok(new item)` if it applied, `Err(old item)` if its
/// condition failed (`None`: there was no item).
pub async fn update_or_old(update: UpdateItemFluentBuilder) -> Result<Result<Item, Option<Item>>, StoreError> {
    let result = update
        .return_values(ReturnValue::AllNew)
        .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
        .send()
        .await;
    match result {
        Ok(output) => {
            output.attributes.map(Ok).ok_or_else(|| StoreError::Corrupt("the update returned no item".into()))
        }
        Err(aws_sdk_dynamodb::error::SdkError::ServiceError(service))
            if matches!(service.err(), UpdateItemError::ConditionalCheckFailedException(_)) =>
        {
            match service.into_err() {
                UpdateItemError::ConditionalCheckFailedException(failed) => Ok(Err(failed.item)),
                _ => unreachable_condition(),
            }
        }
        Err(other) => Err(classify(other)),
    }
}

fn unreachable_condition<T>() -> Result<T, StoreError> {
    Err(StoreError::Corrupt("a condition failure changed kind while being read".into()))
}

/// Writes an item unconditionally.
pub async fn put(client: &Client, table: &str, item: Item) -> Result<(), StoreError> {
    client.put_item().table_name(table).set_item(Some(item)).send().await.map_err(classify)?;
    Ok(())
}

/// Why one action of a cancelled transaction did not apply.
#[derive(Debug, Clone, PartialEq)]
pub enum Cancelled {
    /// The action was fine; another one cancelled the transaction.
    NotTheCause,
    /// Its condition failed; the item as it was (empty if there was none), when the action
    /// asked for it with `ReturnValuesOnConditionCheckFailure::AllOld`.
    ConditionFailed(Item),
}

/// Cancellation reasons that say an item was throttled.
const THROTTLED_REASONS: &[&str] = &["ThrottlingError", "ProvisionedThroughputExceeded", "RequestLimitExceeded"];

/// How many times a transaction is retried when it conflicts with another one on the same
/// items, before giving up as unavailable (the record is then retried by its queue).
const CONFLICT_RETRIES: u32 = 4;

/// Runs a transaction: `Ok(())` if it committed, `Err(reasons)` (one per action, in order)
/// if conditions cancelled it. A conflict with a concurrent transaction is retried here
/// after a short jittered pause; throttling and other failures are errors.
pub async fn transact(
    client: &Client,
    items: Vec<TransactWriteItem>,
) -> Result<Result<(), Vec<Cancelled>>, StoreError> {
    let mut attempt = 0;
    loop {
        let sent = client.transact_write_items().set_transact_items(Some(items.clone())).send().await;
        let err = match sent {
            Ok(_) => return Ok(Ok(())),
            Err(err) => err,
        };
        let service = match err {
            aws_sdk_dynamodb::error::SdkError::ServiceError(service)
                if matches!(service.err(), TransactWriteItemsError::TransactionCanceledException(_)) =>
            {
                service.into_err()
            }
            other => return Err(classify(other)),
        };
        let TransactWriteItemsError::TransactionCanceledException(cancelled) = &service else {
            return unreachable_condition();
        };
        let mut reasons = Vec::new();
        let mut conflict = false;
        for reason in cancelled.cancellation_reasons() {
            match reason.code() {
                Some("ConditionalCheckFailed") => {
                    reasons.push(Cancelled::ConditionFailed(reason.item().cloned().unwrap_or_default()))
                }
                None | Some("None") => reasons.push(Cancelled::NotTheCause),
                Some("TransactionConflict") => {
                    conflict = true;
                    reasons.push(Cancelled::NotTheCause);
                }
                // DynamoDB throttled one of the items: not now, rather than never.
                Some(code) if THROTTLED_REASONS.contains(&code) => return Err(StoreError::unavailable(service)),
                Some(_) => return Err(StoreError::Refused(Box::new(service))),
            }
        }
        let condition_failed = reasons.iter().any(|r| matches!(r, Cancelled::ConditionFailed(_)));
        if condition_failed || !conflict {
            return Ok(Err(reasons));
        }
        attempt += 1;
        if attempt > CONFLICT_RETRIES {
            return Err(StoreError::unavailable("the transaction kept conflicting with concurrent ones"));
        }
        tokio::time::sleep(backoff(attempt)).await;
    }
}

/// The pause before the `attempt`-th retry (from 1): 20 ms, 40 ms, 80 ms… up to 640 ms,
/// with up to half again of jitter, so that two conflicting writers do not meet again.
pub fn backoff(attempt: u32) -> Duration {
    let base = 10u64 << attempt.min(6);
    let jitter = u64::from(uuid::Uuid::new_v4().as_u128() as u16) % (base / 2 + 1);
    Duration::from_millis(base + jitter)
}
