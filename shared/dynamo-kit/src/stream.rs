//! Items as a DynamoDB stream record carries them: the `NewImage` of a Lambda stream event
//! is DynamoDB's JSON (`{"name": {"S": "text"}}`), which this reads into the SDK's
//! [`Item`], so that an adapter reads a streamed item with the same code as a stored one.

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use base64::Engine;
use serde_json::{Map, Value};

use crate::StoreError;
use crate::item::Item;

/// The item an image (`NewImage`, `OldImage` or `Keys`) describes.
pub fn item_from_image(image: &Map<String, Value>) -> Result<Item, StoreError> {
    image.iter().map(|(name, value)| Ok((name.clone(), attribute(value).map_err(|e| corrupt(name, e))?))).collect()
}

/// The image a stream record shows of `item`: the inverse of [`item_from_image`], for
/// tests and tools that stand in for a stream.
pub fn image_of(item: &Item) -> Map<String, Value> {
    item.iter().map(|(name, value)| (name.clone(), typed(value))).collect()
}

fn typed(value: &AttributeValue) -> Value {
    let encode = |blob: &Blob| Value::from(base64::engine::general_purpose::STANDARD.encode(blob.as_ref()));
    let (kind, inner) = match value {
        AttributeValue::S(text) => ("S", Value::from(text.as_str())),
        AttributeValue::N(number) => ("N", Value::from(number.as_str())),
        AttributeValue::B(blob) => ("B", encode(blob)),
        AttributeValue::Bool(yes) => ("BOOL", Value::from(*yes)),
        AttributeValue::Ss(texts) => ("SS", Value::from(texts.clone())),
        AttributeValue::Ns(numbers) => ("NS", Value::from(numbers.clone())),
        AttributeValue::Bs(blobs) => ("BS", Value::Array(blobs.iter().map(encode).collect())),
        AttributeValue::L(list) => ("L", Value::Array(list.iter().map(typed).collect())),
        AttributeValue::M(map) => ("M", Value::Object(map.iter().map(|(k, v)| (k.clone(), typed(v))).collect())),
        // `Null`, and any type a newer SDK adds, which no item of ours holds.
        _ => ("NULL", Value::Bool(true)),
    };
    Value::Object([(kind.to_owned(), inner)].into_iter().collect())
}

fn corrupt(name: &str, reason: String) -> StoreError {
    StoreError::Corrupt(format!("streamed attribute {name}: {reason}"))
}

fn attribute(value: &Value) -> Result<AttributeValue, String> {
    let typed = value.as_object().filter(|typed| typed.len() == 1).ok_or("not one typed value")?;
    let (kind, inner) = typed.iter().next().ok_or("not one typed value")?;
    let text = || inner.as_str().map(str::to_owned).ok_or_else(|| format!("{kind} is not a string"));
    let texts = || -> Result<Vec<String>, String> {
        let list = inner.as_array().ok_or_else(|| format!("{kind} is not a list"))?;
        list.iter().map(|v| v.as_str().map(str::to_owned).ok_or_else(|| format!("{kind} holds a non-string"))).collect()
    };
    let blob = |encoded: &str| {
        base64::engine::general_purpose::STANDARD.decode(encoded).map(Blob::new).map_err(|e| format!("{kind}: {e}"))
    };
    Ok(match kind.as_str() {
        "S" => AttributeValue::S(text()?),
        "N" => AttributeValue::N(text()?),
        "B" => AttributeValue::B(blob(&text()?)?),
        "BOOL" => AttributeValue::Bool(inner.as_bool().ok_or("BOOL is not a boolean")?),
        "NULL" => AttributeValue::Null(true),
        "SS" => AttributeValue::Ss(texts()?),
        "NS" => AttributeValue::Ns(texts()?),
        "BS" => AttributeValue::Bs(texts()?.iter().map(|t| blob(t)).collect::<Result<_, _>>()?),
        "L" => AttributeValue::L(
            inner.as_array().ok_or("L is not a list")?.iter().map(attribute).collect::<Result<_, _>>()?,
        ),
        "M" => AttributeValue::M(
            inner
                .as_object()
                .ok_or("M is not a map")?
                .iter()
                .map(|(name, value)| Ok((name.clone(), attribute(value)?)))
                .collect::<Result<_, String>>()?,
        ),
        other => return Err(format!("unknown type {other}")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn image(value: Value) -> Map<String, Value> {
        value.as_object().cloned().expect("an object")
    }

    #[test]
    fn every_attribute_type_reads_as_the_sdk_would_return_it() {
        let item = item_from_image(&image(json!({
            "s": {"S": "text"}, "n": {"N": "42"}, "b": {"B": "AQI="}, "yes": {"BOOL": true}, "none": {"NULL": true},
            "ss": {"SS": ["a", "b"]}, "ns": {"NS": ["1"]}, "bs": {"BS": ["AQ=="]},
            "l": {"L": [{"S": "x"}, {"N": "1"}]}, "m": {"M": {"inner": {"S": "y"}}},
        })))
        .expect("reads");
        assert_eq!(item["s"], AttributeValue::S("text".into()));
        assert_eq!(item["n"], AttributeValue::N("42".into()));
        assert_eq!(item["b"], AttributeValue::B(Blob::new(vec![1, 2])));
        assert_eq!(item["yes"], AttributeValue::Bool(true));
        assert_eq!(item["none"], AttributeValue::Null(true));
        assert_eq!(item["ss"], AttributeValue::Ss(vec!["a".into(), "b".into()]));
        assert_eq!(item["ns"], AttributeValue::Ns(vec!["1".into()]));
        assert_eq!(item["bs"], AttributeValue::Bs(vec![Blob::new(vec![1])]));
        assert_eq!(item["l"], AttributeValue::L(vec![AttributeValue::S("x".into()), AttributeValue::N("1".into())]));
        assert_eq!(item["m"], AttributeValue::M([("inner".to_owned(), AttributeValue::S("y".into()))].into()));
        assert_eq!(item_from_image(&image_of(&item)).expect("reads back"), item, "image_of is the inverse");
    }

    #[test]
    fn a_malformed_attribute_is_named_in_the_error() {
        for bad in [json!({"x": "plain"}), json!({"x": {"S": 1}}), json!({"x": {"Q": "?"}}), json!({"x": {"B": "%"}})] {
            let err = item_from_image(&image(bad.clone())).expect_err("refused");
            assert!(err.to_string().contains("streamed attribute x"), "{bad}: {err}");
        }
    }
}
