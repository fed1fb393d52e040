//! What every DynamoDB adapter shares: the error type of a store, and reading and writing
//! attribute values.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use uuid::Uuid;

use crate::aws::describe;

pub type Item = HashMap<String, AttributeValue>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store unavailable: {0}")]
    Unavailable(String),
    #[error("store holds an unreadable item: {0}")]
    Corrupt(String),
}

/// The key of an item in a table keyed by `pk` and `sk`.
pub fn key(pk: impl Into<String>, sk: impl Into<String>) -> Item {
    HashMap::from([("pk".into(), s(pk)), ("sk".into(), s(sk))])
}

pub fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

pub fn n(value: impl Into<u64>) -> AttributeValue {
    AttributeValue::N(value.into().to_string())
}

pub fn unavailable(err: &(dyn std::error::Error + 'static)) -> StoreError {
    StoreError::Unavailable(describe(err))
}

pub fn get_s<'a>(item: &'a Item, name: &str) -> Result<&'a str, StoreError> {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
        .ok_or_else(|| StoreError::Corrupt(format!("missing string attribute {name}")))
}

pub fn get_n<T: std::str::FromStr>(item: &Item, name: &str) -> Result<T, StoreError> {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| StoreError::Corrupt(format!("missing number attribute {name}")))
}

/// A number added after the first orders were written: absent means zero.
pub fn get_n_or_zero(item: &Item, name: &str) -> Result<u64, StoreError> {
    if item.contains_key(name) { get_n(item, name) } else { Ok(0) }
}

pub fn get_uuid(item: &Item, name: &str) -> Result<Uuid, StoreError> {
    get_s(item, name)?.parse().map_err(|e| StoreError::Corrupt(format!("{name}: {e}")))
}

/// Why a transaction was cancelled, item by item: `Some(old item)` for each item whose
/// condition failed (empty if the item did not exist), `None` for the others. Any other
/// cause (a conflict with a concurrent transaction, throttling) is an error the caller
/// retries.
pub fn failed_conditions(
    err: aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError,
) -> Result<Vec<Option<Item>>, StoreError> {
    use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
    let TransactWriteItemsError::TransactionCanceledException(cancelled) = &err else {
        return Err(unavailable(&err));
    };
    let mut failed = Vec::new();
    for reason in cancelled.cancellation_reasons() {
        match reason.code() {
            Some("ConditionalCheckFailed") => failed.push(Some(reason.item().cloned().unwrap_or_default())),
            None | Some("None") => failed.push(None),
            Some(_) => return Err(unavailable(&err)),
        }
    }
    Ok(failed)
}

/// `Ok(false)` when a conditional write's condition failed, the error otherwise.
pub fn condition_failed<E>(
    err: aws_sdk_dynamodb::error::SdkError<E, aws_sdk_dynamodb::config::http::HttpResponse>,
) -> Result<bool, StoreError>
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata
        + aws_smithy_runtime_api::client::result::CreateUnhandledError
        + std::error::Error
        + Send
        + Sync
        + 'static,
{
    let err = err.into_service_error();
    if err.code() == Some("ConditionalCheckFailedException") { Ok(false) } else { Err(unavailable(&err)) }
}

/// Runs a transaction: `None` if it committed, else why it was cancelled (see
/// [`failed_conditions`]).
pub async fn transact(
    client: &aws_sdk_dynamodb::Client,
    items: Vec<aws_sdk_dynamodb::types::TransactWriteItem>,
) -> Result<Option<Vec<Option<Item>>>, StoreError> {
    match client.transact_write_items().set_transact_items(Some(items)).send().await {
        Ok(_) => Ok(None),
        Err(err) => failed_conditions(err.into_service_error()).map(Some),
    }
}

/// Runs a conditional update: `Ok(new item)` if it applied, `Err(old item)` if its
/// condition failed (`None`: there was no item).
pub async fn update_or_old(
    update: aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder,
) -> Result<Result<Item, Option<Item>>, StoreError> {
    use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
    use aws_sdk_dynamodb::types::{ReturnValue, ReturnValuesOnConditionCheckFailure};
    let result = update
        .return_values(ReturnValue::AllNew)
        .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
        .send()
        .await;
    match result {
        Ok(output) => {
            output.attributes.map(Ok).ok_or_else(|| StoreError::Corrupt("the update returned nothing".into()))
        }
        Err(err) => match err.into_service_error() {
            UpdateItemError::ConditionalCheckFailedException(failed) => Ok(Err(failed.item)),
            other => Err(unavailable(&other)),
        },
    }
}

/// Runs a conditional put: `Ok(())` if it wrote, `Err(old item)` if its condition failed
/// (empty if there was no item).
pub async fn put_or_old(
    put: aws_sdk_dynamodb::operation::put_item::builders::PutItemFluentBuilder,
) -> Result<Result<(), Item>, StoreError> {
    use aws_sdk_dynamodb::operation::put_item::PutItemError;
    use aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure;
    let result = put.return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld).send().await;
    match result {
        Ok(_) => Ok(Ok(())),
        Err(err) => match err.into_service_error() {
            PutItemError::ConditionalCheckFailedException(failed) => Ok(Err(failed.item.unwrap_or_default())),
            other => Err(unavailable(&other)),
        },
    }
}

/// Writes an item unconditionally.
pub async fn put(client: &aws_sdk_dynamodb::Client, table: &str, item: Item) -> Result<(), StoreError> {
    client.put_item().table_name(table).set_item(Some(item)).send().await.map_err(|e| unavailable(&e))?;
    Ok(())
}
