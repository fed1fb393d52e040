//! Building and reading items.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use uuid::Uuid;

use crate::StoreError;

/// An item as the SDK reads and writes it: attribute names to values.
pub type Item = HashMap<String, AttributeValue>;

/// The key of an item in a table keyed by `pk` and `sk`.
pub fn key(pk: impl Into<String>, sk: impl Into<String>) -> Item {
    HashMap::from([("pk".into(), s(pk)), ("sk".into(), s(sk))])
}

/// A string attribute.
pub fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

/// A number attribute (DynamoDB carries numbers as text).
pub fn n(value: impl Into<u64>) -> AttributeValue {
    AttributeValue::N(value.into().to_string())
}

/// A string attribute the item must have: `Corrupt` if it is missing.
pub fn get_s<'a>(item: &'a Item, name: &str) -> Result<&'a str, StoreError> {
    opt_s(item, name).ok_or_else(|| StoreError::Corrupt(format!("missing string attribute {name}")))
}

/// A string attribute the item may have.
pub fn opt_s<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.get(name).and_then(|v| v.as_s().ok()).map(String::as_str)
}

/// A number attribute the item must have, parsed as `T`: `Corrupt` if it is missing or out of range.
pub fn get_n<T: std::str::FromStr>(item: &Item, name: &str) -> Result<T, StoreError> {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| StoreError::Corrupt(format!("missing number attribute {name}")))
}

/// A number added after the first items were written: absent means zero.
pub fn get_n_or_zero(item: &Item, name: &str) -> Result<u64, StoreError> {
    if item.contains_key(name) { get_n(item, name) } else { Ok(0) }
}

/// A UUID kept as a string attribute: `Corrupt` if it is missing or not a UUID.
pub fn get_uuid(item: &Item, name: &str) -> Result<Uuid, StoreError> {
    get_s(item, name)?.parse().map_err(|e| StoreError::Corrupt(format!("{name}: {e}")))
}
