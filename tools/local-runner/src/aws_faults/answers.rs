//! How AWS says it failed, in each service's own protocol: DynamoDB's JSON errors and
//! cancellation reasons, SNS's XML errors and `Failed` batch entries. Pure: a request in,
//! what to do with it out.

use std::time::Duration;

use bytes::Bytes;
use serde_json::{Map, Value, json};

use super::{Call, FaultKind, Service};

/// An answer the emulator never gave.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Bytes,
}

/// What the layer does with one request.
#[derive(Debug, Clone, PartialEq)]
pub enum Injection {
    /// Answers at once; the request never reaches the emulator.
    Refuse(Answer),
    /// Holds the request back, then forwards it unchanged.
    Delay(Duration),
    /// Forwards `body` (the request, maybe with part of it left out), then `then`.
    Forward { body: Bytes, then: Then },
}

/// What becomes of the emulator's answer to a forwarded request.
#[derive(Debug, Clone, PartialEq)]
pub enum Then {
    /// It is lost: the client gets this instead.
    Replace(Answer),
    /// DynamoDB left these unprocessed: merged into the answer under `field`.
    Unprocessed { field: &'static str, left: Value },
    /// SNS failed these batch entries (their ids): listed under `Failed`.
    FailEntries(Vec<String>),
}

const DYNAMODB_JSON: &str = "application/x-amz-json-1.0";
const XML: &str = "text/xml";

/// What `kind` does to `call`, whose body is `body`; `pick` draws a number (which action
/// conflicts). `None`: the kind cannot be applied to this request as it is.
pub fn inject(kind: FaultKind, call: &Call, body: &Bytes, latency: Duration, pick: u64) -> Option<Injection> {
    match (call.service, kind) {
        (_, FaultKind::Latency) => Some(Injection::Delay(latency)),
        (Service::Dynamodb, kind) => dynamodb(kind, call, body, pick),
        (Service::Sns, kind) => sns(kind, body),
    }
}

fn dynamodb(kind: FaultKind, call: &Call, body: &Bytes, pick: u64) -> Option<Injection> {
    let refuse = |status, error: &str, message: &str| Some(Injection::Refuse(dynamodb_error(status, error, message)));
    match kind {
        FaultKind::Throttling => refuse(400, "ThrottlingException", "Rate of requests exceeds the allowed throughput."),
        FaultKind::ThroughputExceeded => refuse(
            400,
            "ProvisionedThroughputExceededException",
            "The level of configured provisioned throughput for the table was exceeded.",
        ),
        FaultKind::InternalError => refuse(500, "InternalServerError", "Internal server error"),
        FaultKind::Outage => refuse(503, "ServiceUnavailable", "DynamoDB is currently unavailable."),
        FaultKind::TransactionConflict => cancelled_transaction(body, pick, "TransactionConflict"),
        FaultKind::TransactionThrottled => cancelled_transaction(body, pick, "ThrottlingError"),
        FaultKind::Unprocessed => unprocessed(call, body),
        FaultKind::LostAnswer => Some(Injection::Forward {
            body: body.clone(),
            then: Then::Replace(dynamodb_error(500, "InternalServerError", "Internal server error")),
        }),
        FaultKind::PartialBatch | FaultKind::Latency => None,
    }
}

fn dynamodb_error(status: u16, error: &str, message: &str) -> Answer {
    let body = json!({ "__type": format!("com.amazonaws.dynamodb.v20120810#{error}"), "message": message });
    Answer { status, content_type: DYNAMODB_JSON, body: Bytes::from(body.to_string()) }
}

/// A transaction cancelled for one of its actions, the others "None", as DynamoDB says it.
fn cancelled_transaction(body: &Bytes, pick: u64, code: &str) -> Option<Injection> {
    let request: Value = serde_json::from_slice(body).ok()?;
    let actions = request["TransactItems"].as_array()?.len();
    if actions == 0 {
        return None;
    }
    let culprit = (pick % actions as u64) as usize;
    let message = if code == "TransactionConflict" {
        "Transaction is ongoing for the item"
    } else {
        "Throughput exceeds the current capacity of your table or index."
    };
    let reasons: Vec<Value> = (0..actions)
        .map(|i| if i == culprit { json!({"Code": code, "Message": message}) } else { json!({"Code": "None"}) })
        .collect();
    let summary = (0..actions).map(|i| if i == culprit { code } else { "None" }).collect::<Vec<_>>().join(", ");
    let body = json!({
        "__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
        "Message": format!("Transaction cancelled, please refer cancellation reasons for specific reasons [{summary}]"),
        "CancellationReasons": reasons,
    });
    Some(Injection::Refuse(Answer { status: 400, content_type: DYNAMODB_JSON, body: Bytes::from(body.to_string()) }))
}

/// Finds the keys (or write requests) of one table's entry in a batch request.
type ListOf = fn(&mut Value) -> Option<&mut Vec<Value>>;

/// Forwards the first half of a batch (rounded down) and leaves the rest unprocessed.
fn unprocessed(call: &Call, body: &Bytes) -> Option<Injection> {
    let (field, list_of): (&'static str, ListOf) = match call.operation.as_str() {
        "BatchGetItem" => ("UnprocessedKeys", |table| table.get_mut("Keys")?.as_array_mut()),
        "BatchWriteItem" => ("UnprocessedItems", |table| table.as_array_mut()),
        _ => return None,
    };
    let mut request: Value = serde_json::from_slice(body).ok()?;
    let tables = request.get_mut("RequestItems")?.as_object_mut()?;
    let total: usize = tables.values_mut().filter_map(|t| list_of(t).map(|l| l.len())).sum();
    let mut keep = total / 2;
    let mut left = Map::new();
    for (name, table) in tables.iter_mut() {
        let mut leftover = table.clone();
        let (Some(items), Some(leftover_items)) = (list_of(table), list_of(&mut leftover)) else { continue };
        let kept = keep.min(items.len());
        keep -= kept;
        leftover_items.drain(..kept);
        items.truncate(kept);
        if !leftover_items.is_empty() {
            left.insert(name.clone(), leftover);
        }
    }
    tables.retain(|_, table| list_of(table).is_some_and(|items| !items.is_empty()));
    if tables.is_empty() {
        // Nothing is processed: DynamoDB answers with everything left over.
        let responses: Map<String, Value> =
            if field == "UnprocessedKeys" { left.keys().map(|t| (t.clone(), json!([]))).collect() } else { Map::new() };
        let mut answer = json!({ field: left });
        if field == "UnprocessedKeys" {
            answer["Responses"] = Value::Object(responses);
        }
        let body = Bytes::from(answer.to_string());
        return Some(Injection::Refuse(Answer { status: 200, content_type: DYNAMODB_JSON, body }));
    }
    let body = Bytes::from(request.to_string());
    Some(Injection::Forward { body, then: Then::Unprocessed { field, left: Value::Object(left) } })
}

fn sns(kind: FaultKind, body: &Bytes) -> Option<Injection> {
    let refuse = |status, sender: bool, code: &str, message: &str| {
        Some(Injection::Refuse(sns_error(status, sender, code, message)))
    };
    match kind {
        FaultKind::Throttling => refuse(400, true, "Throttling", "Rate exceeded"),
        FaultKind::InternalError => refuse(500, false, "InternalError", "An internal service error occurred."),
        FaultKind::Outage => refuse(503, false, "ServiceUnavailable", "SNS is currently unavailable."),
        FaultKind::PartialBatch => partial_batch(body),
        _ => None,
    }
}

fn sns_error(status: u16, sender: bool, code: &str, message: &str) -> Answer {
    let party = if sender { "Sender" } else { "Receiver" };
    let body = format!(
        concat!(
            r#"<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><Error><Type>{party}</Type>"#,
            r#"<Code>{code}</Code><Message>{message}</Message></Error><RequestId>{}</RequestId></ErrorResponse>"#,
        ),
        uuid::Uuid::new_v4(),
        party = party,
        code = code,
        message = message,
    );
    Answer { status, content_type: XML, body: Bytes::from(body) }
}

const ENTRY: &str = "PublishBatchRequestEntries.member.";

/// Publishes the first half of the entries (rounded down) and fails the rest.
fn partial_batch(body: &Bytes) -> Option<Injection> {
    let pairs: Vec<(String, String)> = form_urlencoded::parse(body).into_owned().collect();
    let member = |name: &str| -> Option<usize> { name.strip_prefix(ENTRY)?.split('.').next()?.parse().ok() };
    let entries = pairs.iter().filter_map(|(name, _)| member(name)).max()?;
    let kept = entries / 2;
    let failed: Vec<String> = pairs
        .iter()
        .filter(|(name, _)| member(name).is_some_and(|m| m > kept) && name.ends_with(".Id"))
        .map(|(_, id)| id.clone())
        .collect();
    if kept == 0 {
        let body = format!(
            concat!(
                r#"<PublishBatchResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><PublishBatchResult>"#,
                r#"<Successful/>{}</PublishBatchResult><ResponseMetadata><RequestId>{}</RequestId></ResponseMetadata>"#,
                r#"</PublishBatchResponse>"#,
            ),
            failed_entries(&failed),
            uuid::Uuid::new_v4()
        );
        return Some(Injection::Refuse(Answer { status: 200, content_type: XML, body: Bytes::from(body) }));
    }
    let mut forwarded = form_urlencoded::Serializer::new(String::new());
    for (name, value) in pairs.iter().filter(|(name, _)| member(name).is_none_or(|m| m <= kept)) {
        forwarded.append_pair(name, value);
    }
    Some(Injection::Forward { body: Bytes::from(forwarded.finish()), then: Then::FailEntries(failed) })
}

fn failed_entries(ids: &[String]) -> String {
    let members: String = ids
        .iter()
        .map(|id| {
            format!(
                "<member><Id>{id}</Id><Code>InternalError</Code>\
                 <Message>An internal service error occurred.</Message><SenderFault>false</SenderFault></member>"
            )
        })
        .collect();
    format!("<Failed>{members}</Failed>")
}

/// The emulator's answer to a forwarded request, as the fault leaves it.
pub fn rewrite(then: &Then, status: u16, body: &Bytes) -> Option<Answer> {
    match then {
        Then::Replace(answer) => Some(answer.clone()),
        Then::Unprocessed { field, left } if status == 200 => {
            let mut answer: Value = serde_json::from_slice(body).ok()?;
            let slot = answer.as_object_mut()?.entry(*field).or_insert_with(|| json!({}));
            let slot = slot.as_object_mut()?;
            for (table, items) in left.as_object()? {
                slot.insert(table.clone(), items.clone());
            }
            Some(Answer { status, content_type: DYNAMODB_JSON, body: Bytes::from(answer.to_string()) })
        }
        Then::FailEntries(ids) if status == 200 => {
            let text = String::from_utf8_lossy(body);
            let failed = failed_entries(ids);
            let members = failed.trim_start_matches("<Failed>").trim_end_matches("</Failed>");
            let rewritten = if text.contains("<Failed/>") {
                text.replacen("<Failed/>", &failed, 1)
            } else if text.contains("</Failed>") {
                text.replacen("</Failed>", &format!("{members}</Failed>"), 1)
            } else if text.contains("</PublishBatchResult>") {
                text.replacen("</PublishBatchResult>", &format!("{failed}</PublishBatchResult>"), 1)
            } else {
                // No place to say which entries failed: failing the call is the honest answer.
                return Some(sns_error(500, false, "InternalError", "An internal service error occurred."));
            };
            Some(Answer { status, content_type: XML, body: Bytes::from(rewritten) })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(service: Service, operation: &str) -> Call {
        Call { service, operation: operation.into(), resources: vec![], caller: Some("f".into()) }
    }

    fn refused(injection: Option<Injection>) -> (u16, Value) {
        match injection {
            Some(Injection::Refuse(answer)) => (
                answer.status,
                serde_json::from_slice(&answer.body)
                    .unwrap_or(Value::String(String::from_utf8_lossy(&answer.body).into_owned())),
            ),
            other => panic!("not refused: {other:?}"),
        }
    }

    #[test]
    fn a_conflict_cancels_one_action_of_the_transaction_and_names_it() {
        let body =
            Bytes::from(json!({"TransactItems": [{"Put": {}}, {"Update": {}}, {"ConditionCheck": {}}]}).to_string());
        let kind = FaultKind::TransactionConflict;
        let (status, answer) =
            refused(inject(kind, &call(Service::Dynamodb, "TransactWriteItems"), &body, Duration::ZERO, 4));
        assert_eq!(status, 400);
        assert!(answer["__type"].as_str().unwrap_or_default().ends_with("#TransactionCanceledException"));
        let codes: Vec<&str> = answer["CancellationReasons"]
            .as_array()
            .expect("reasons")
            .iter()
            .filter_map(|r| r["Code"].as_str())
            .collect();
        assert_eq!(codes, ["None", "TransactionConflict", "None"]);
    }

    #[test]
    fn a_batch_read_leaves_its_second_half_unprocessed_and_a_single_key_entirely() {
        let keys = |n: usize| (0..n).map(|i| json!({"pk": {"S": format!("k{i}")}})).collect::<Vec<_>>();
        let body = Bytes::from(json!({"RequestItems": {"t": {"Keys": keys(5), "ConsistentRead": true}}}).to_string());
        let Some(Injection::Forward { body: forwarded, then }) =
            inject(FaultKind::Unprocessed, &call(Service::Dynamodb, "BatchGetItem"), &body, Duration::ZERO, 0)
        else {
            panic!("forwarded in part")
        };
        let forwarded: Value = serde_json::from_slice(&forwarded).expect("JSON");
        assert_eq!(forwarded["RequestItems"]["t"]["Keys"], json!(keys(5)[..2]));
        let emulator = Bytes::from(json!({"Responses": {"t": []}}).to_string());
        let answer = rewrite(&then, 200, &emulator).expect("rewritten");
        let answer: Value = serde_json::from_slice(&answer.body).expect("JSON");
        assert_eq!(answer["UnprocessedKeys"]["t"]["Keys"], json!(keys(5)[2..]));
        assert_eq!(answer["UnprocessedKeys"]["t"]["ConsistentRead"], true, "asked again as it was asked");

        let one = Bytes::from(json!({"RequestItems": {"t": {"Keys": keys(1)}}}).to_string());
        let (status, answer) =
            refused(inject(FaultKind::Unprocessed, &call(Service::Dynamodb, "BatchGetItem"), &one, Duration::ZERO, 0));
        assert_eq!(status, 200);
        assert_eq!(answer["UnprocessedKeys"]["t"]["Keys"], json!(keys(1)));
        assert_eq!(answer["Responses"]["t"], json!([]));
    }

    #[test]
    fn a_partial_publish_batch_sends_the_first_half_and_fails_the_rest_by_id() {
        let mut form = form_urlencoded::Serializer::new(String::new());
        form.append_pair("Action", "PublishBatch").append_pair("TopicArn", "arn:t");
        for i in 1..=3 {
            form.append_pair(&format!("{ENTRY}{i}.Id"), &format!("e{i}"));
            form.append_pair(&format!("{ENTRY}{i}.Message"), "m");
        }
        let body = Bytes::from(form.finish());
        let Some(Injection::Forward { body: forwarded, then }) =
            inject(FaultKind::PartialBatch, &call(Service::Sns, "PublishBatch"), &body, Duration::ZERO, 0)
        else {
            panic!("forwarded in part")
        };
        let forwarded = String::from_utf8_lossy(&forwarded).into_owned();
        assert!(forwarded.contains("member.1.Id=e1") && !forwarded.contains("member.2."), "{forwarded}");
        assert_eq!(then, Then::FailEntries(vec!["e2".into(), "e3".into()]));
        let emulator = Bytes::from(concat!(
            "<PublishBatchResponse><PublishBatchResult><Successful><member><Id>e1</Id></member></Successful>",
            "<Failed/></PublishBatchResult></PublishBatchResponse>",
        ));
        let answer = rewrite(&then, 200, &emulator).expect("rewritten");
        let text = String::from_utf8_lossy(&answer.body);
        assert!(text.contains("<Failed><member><Id>e2</Id><Code>InternalError</Code>"), "{text}");
        assert!(text.contains("<Id>e3</Id>"));
    }

    #[test]
    fn a_lost_answer_forwards_the_write_and_answers_a_500() {
        let body = Bytes::from("{}");
        let Some(Injection::Forward { then, .. }) =
            inject(FaultKind::LostAnswer, &call(Service::Dynamodb, "PutItem"), &body, Duration::ZERO, 0)
        else {
            panic!("forwarded")
        };
        assert_eq!(rewrite(&then, 200, &Bytes::from("{}")).expect("replaced").status, 500);
    }

    #[test]
    fn throttling_speaks_each_services_protocol() {
        let (status, answer) = refused(inject(
            FaultKind::Throttling,
            &call(Service::Dynamodb, "PutItem"),
            &Bytes::new(),
            Duration::ZERO,
            0,
        ));
        assert_eq!(
            (status, answer["__type"].as_str()),
            (400, Some("com.amazonaws.dynamodb.v20120810#ThrottlingException"))
        );
        let (status, answer) =
            refused(inject(FaultKind::Throttling, &call(Service::Sns, "Publish"), &Bytes::new(), Duration::ZERO, 0));
        assert_eq!(status, 400);
        assert!(answer.as_str().unwrap_or_default().contains("<Code>Throttling</Code>"));
    }
}
