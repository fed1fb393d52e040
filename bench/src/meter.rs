//! The meter: a proxy in front of the emulator that every AWS request of the system passes
//! through. It counts requests by operation and by caller, and prices DynamoDB requests in
//! capacity units by DynamoDB's rules (see `capacity`), measuring the items involved.
//!
//! Callers are told apart by the SDKs' user agent: the runner starts each function with
//! `AWS_SDK_UA_APP_ID` set to its name, so its requests say `app/<name>`; requests with
//! no app id are the Lambda pollers' (receives and deletes), or the baseline's own driver.
//!
//! Not counted as the system's: idle long polls (an empty receive that waited the full
//! 20 s; the empty receives that end a batching window are counted), and DynamoDB Streams
//! reads, which AWS does not bill when a Lambda trigger makes them.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use local_runner::aws_proxy::{self, Reply, Request, Upstream};
use serde_json::{Map, Value, json};

use crate::capacity::{item_size, read_units, write_units};

/// What one caller spent.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Spend {
    pub requests: BTreeMap<String, u64>,
    /// Messages its receives returned (each was delivered into its queue once or more).
    pub messages_received: u64,
    /// Receives that returned nothing while a batch was being gathered: the ones that end
    /// a batching window (billed, and more of them the busier the queue).
    pub empty_receives: u64,
    pub write_units: f64,
    pub read_units: f64,
}

impl Spend {
    pub fn total_requests(&self) -> u64 {
        self.requests.values().sum()
    }
}

#[derive(Debug, Clone, Default)]
pub struct Reading {
    /// By caller: a function's name, or `pollers`.
    pub by_caller: BTreeMap<String, Spend>,
    /// Requests not billed to the system (empty long polls, stream reads).
    pub excluded: BTreeMap<String, u64>,
}

impl Reading {
    pub fn total(&self) -> Spend {
        let mut total = Spend::default();
        for spend in self.by_caller.values() {
            for (op, n) in &spend.requests {
                *total.requests.entry(op.clone()).or_default() += n;
            }
            total.messages_received += spend.messages_received;
            total.empty_receives += spend.empty_receives;
            total.write_units += spend.write_units;
            total.read_units += spend.read_units;
        }
        total
    }
}

pub struct Meter {
    pub addr: std::net::SocketAddr,
    state: Arc<State>,
}

struct State {
    upstream: Upstream,
    reading: Mutex<Reading>,
    /// The last size seen of each item, by table and key: a write bills the larger of
    /// the item before and after.
    sizes: Mutex<HashMap<String, u64>>,
}

impl Meter {
    pub async fn start(upstream: String) -> std::io::Result<Self> {
        let state = Arc::new(State {
            upstream: Upstream::new(&upstream),
            reading: Mutex::new(Reading::default()),
            sizes: Mutex::new(HashMap::new()),
        });
        let shared = state.clone();
        let addr = aws_proxy::serve(move |request| {
            let state = shared.clone();
            async move { state.forward(request).await }
        })
        .await?;
        Ok(Self { addr, state })
    }

    /// What was counted since the last call, and a fresh start.
    pub fn take(&self) -> Reading {
        std::mem::take(&mut *self.state.reading.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

struct Call {
    caller: String,
    service: &'static str,
    operation: String,
}

fn identify(headers: &http::HeaderMap, body: &[u8]) -> Call {
    // A poller's receives and deletes are told apart by the queue they name.
    let caller = aws_proxy::caller(headers).unwrap_or_else(|| format!("pollers:{}", queue_name(body).unwrap_or("?")));
    let (service, operation) = aws_proxy::operation(headers, body);
    Call { caller, service, operation }
}

impl State {
    async fn forward(&self, Request { parts, body }: Request) -> Reply {
        let call = identify(&parts.headers, &body);
        match self.upstream.forward(parts, body.clone()).await {
            Ok(answer) => {
                self.record(call, &body, answer.status.is_success(), &answer.body).await;
                answer.into_reply()
            }
            Err(err) => aws_proxy::text(http::StatusCode::BAD_GATEWAY, &format!("the emulator did not answer: {err}")),
        }
    }

    async fn record(&self, call: Call, request: &[u8], succeeded: bool, response: &[u8]) {
        // The runner's stand-in for SNS's Firehose deliveries, on an emulator without them:
        // AWS makes no request of the account's for those.
        let stand_in = call.caller == local_runner::ARCHIVE_TAP_CALLER;
        let label = if stand_in {
            format!("{}/{}:{}", call.caller, call.service, call.operation)
        } else {
            format!("{}:{}", call.service, call.operation)
        };
        let empty_receive =
            call.operation == "ReceiveMessage" && !String::from_utf8_lossy(response).contains("\"Messages\"");
        // An idle long poll waits the full 20 s; a receive that waits less is gathering a
        // batch, and its empty answer ends the window: that one is the system's.
        let idle_poll = empty_receive
            && serde_json::from_slice::<Value>(request).ok().and_then(|r| r["WaitTimeSeconds"].as_i64()).unwrap_or(20)
                >= 20;
        let excluded = call.service == "dynamodbstreams" || idle_poll || stand_in;
        if excluded {
            *self.lock_reading().excluded.entry(label).or_default() += 1;
            return;
        }
        let (write, read) = if call.service == "dynamodb" {
            let request: Value = serde_json::from_slice(request).unwrap_or(Value::Null);
            let response: Value = serde_json::from_slice(response).unwrap_or(Value::Null);
            self.capacity(&call.operation, &request, succeeded, &response).await
        } else {
            (0.0, 0.0)
        };
        let received = if call.operation == "ReceiveMessage" {
            serde_json::from_slice::<Value>(response)
                .ok()
                .and_then(|r| r["Messages"].as_array().map(Vec::len))
                .unwrap_or(0)
        } else {
            0
        };
        let mut reading = self.lock_reading();
        let spend = reading.by_caller.entry(call.caller).or_default();
        spend.messages_received += received as u64;
        spend.empty_receives += u64::from(empty_receive);
        *spend.requests.entry(label).or_default() += 1;
        spend.write_units += write;
        spend.read_units += read;
    }

    fn lock_reading(&self) -> std::sync::MutexGuard<'_, Reading> {
        self.reading.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// (write units, read units) of one DynamoDB request.
    async fn capacity(&self, operation: &str, request: &Value, succeeded: bool, response: &Value) -> (f64, f64) {
        let consistent = request["ConsistentRead"].as_bool().unwrap_or(false);
        match operation {
            "PutItem" => (self.put(&request["TableName"], &request["Item"], succeeded, false), 0.0),
            "UpdateItem" => (self.update(&request["TableName"], &request["Key"], false).await, 0.0),
            "DeleteItem" => (self.delete(&request["TableName"], &request["Key"], false), 0.0),
            "GetItem" => (0.0, read_units(object_size(&response["Item"]), consistent, false)),
            "Query" | "Scan" => {
                let bytes = response["Items"].as_array().map_or(0, |items| items.iter().map(object_size).sum());
                (0.0, read_units(bytes, consistent, false))
            }
            "BatchGetItem" => {
                let mut units = 0.0;
                for (table, items) in response["Responses"].as_object().into_iter().flatten() {
                    let consistent = request["RequestItems"][table]["ConsistentRead"].as_bool().unwrap_or(false);
                    for item in items.as_array().into_iter().flatten() {
                        units += read_units(object_size(item), consistent, false);
                    }
                }
                (0.0, units)
            }
            "BatchWriteItem" => {
                // Each put or delete is billed as its own write; unprocessed ones are not.
                let mut units = 0.0;
                for (table, requests) in request["RequestItems"].as_object().into_iter().flatten() {
                    let table = Value::String(table.clone());
                    let unprocessed = response["UnprocessedItems"][table.as_str().unwrap_or_default()]
                        .as_array()
                        .cloned()
                        .unwrap_or_default();
                    for write in requests.as_array().into_iter().flatten().filter(|w| !unprocessed.contains(w)) {
                        if let Some(put) = write.get("PutRequest") {
                            units += self.put(&table, &put["Item"], succeeded, false);
                        } else if let Some(delete) = write.get("DeleteRequest") {
                            units += self.delete(&table, &delete["Key"], false);
                        }
                    }
                }
                (units, 0.0)
            }
            "TransactWriteItems" => {
                // A cancelled transaction is billed as if it ran: what it prepared.
                let mut units = 0.0;
                for action in request["TransactItems"].as_array().into_iter().flatten() {
                    if let Some(put) = action.get("Put") {
                        units += self.put(&put["TableName"], &put["Item"], succeeded, true);
                    } else if let Some(update) = action.get("Update") {
                        units += if succeeded {
                            self.update(&update["TableName"], &update["Key"], true).await
                        } else {
                            write_units(self.known_size(&update["TableName"], &update["Key"]), 0, true)
                        };
                    } else if let Some(delete) = action.get("Delete") {
                        units += self.delete(&delete["TableName"], &delete["Key"], true);
                    } else if let Some(check) = action.get("ConditionCheck") {
                        units += write_units(self.known_size(&check["TableName"], &check["Key"]), 0, true);
                    }
                }
                (units, 0.0)
            }
            "TransactGetItems" => {
                let bytes: u64 =
                    response["Responses"].as_array().map_or(0, |r| r.iter().map(|i| object_size(&i["Item"])).sum());
                (0.0, read_units(bytes, true, true))
            }
            _ => (0.0, 0.0),
        }
    }

    fn put(&self, table: &Value, item: &Value, succeeded: bool, transactional: bool) -> f64 {
        let after = object_size(item);
        let key = item_key(table, item);
        let before = self.sizes().get(&key).copied().unwrap_or(0);
        if succeeded {
            self.sizes().insert(key, after);
        }
        write_units(before, after, transactional)
    }

    /// An update's size after is measured by reading the item back, outside the meter.
    async fn update(&self, table: &Value, key: &Value, transactional: bool) -> f64 {
        let before = self.known_size(table, key);
        let after = self.read_size(table, key).await.unwrap_or(before);
        self.sizes().insert(item_key(table, key), after);
        write_units(before, after, transactional)
    }

    fn delete(&self, table: &Value, key: &Value, transactional: bool) -> f64 {
        let before = self.sizes().remove(&item_key(table, key)).unwrap_or(0);
        write_units(before, 0, transactional)
    }

    fn known_size(&self, table: &Value, key: &Value) -> u64 {
        self.sizes().get(&item_key(table, key)).copied().unwrap_or(0)
    }

    fn sizes(&self) -> std::sync::MutexGuard<'_, HashMap<String, u64>> {
        self.sizes.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn read_size(&self, table: &Value, key: &Value) -> Option<u64> {
        let body = json!({ "TableName": table, "Key": key, "ConsistentRead": true }).to_string();
        let (parts, ()) = http::Request::post("/")
            .header("x-amz-target", "DynamoDB_20120810.GetItem")
            .header("content-type", "application/x-amz-json-1.0")
            .header("authorization", "AWS4-HMAC-SHA256 Credential=meter/20260101/us-east-1/dynamodb/aws4_request")
            .body(())
            .ok()?
            .into_parts();
        let answer = self.upstream.forward(parts, Bytes::from(body)).await.ok()?;
        let value: Value = serde_json::from_slice(&answer.body).ok()?;
        Some(object_size(&value["Item"]))
    }
}

fn queue_name(body: &[u8]) -> Option<&str> {
    let text = std::str::from_utf8(body).ok()?;
    let start = text.find("\"QueueUrl\":\"")? + "\"QueueUrl\":\"".len();
    let url = &text[start..start + text[start..].find('"')?];
    url.rsplit('/').next()
}

fn object_size(value: &Value) -> u64 {
    value.as_object().map_or(0, item_size)
}

/// A table's item by its key attributes: every table here keys on `pk` and, if it has
/// one, `sk` (Powertools' idempotency table, in the baseline, on `id`).
fn item_key(table: &Value, item: &Value) -> String {
    let key: Map<String, Value> =
        ["pk", "sk", "id"].iter().filter_map(|name| item.get(*name).map(|v| ((*name).to_owned(), v.clone()))).collect();
    format!("{}|{}", table.as_str().unwrap_or_default(), Value::Object(key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callers_are_named_by_their_app_id() {
        let mut headers = http::HeaderMap::new();
        headers
            .insert("x-amz-user-agent", http::HeaderValue::from_static("aws-sdk-rust/1.3 app/SauceFunction os/linux"));
        headers.insert("x-amz-target", http::HeaderValue::from_static("DynamoDB_20120810.TransactWriteItems"));
        let call = identify(&headers, b"{}");
        assert_eq!(
            (call.caller.as_str(), call.service, call.operation.as_str()),
            ("SauceFunction", "dynamodb", "TransactWriteItems")
        );
        let sns = identify(&http::HeaderMap::new(), b"Action=PublishBatch&Version=2010-03-31");
        assert_eq!((sns.caller.as_str(), sns.service, sns.operation.as_str()), ("pollers:?", "sns", "PublishBatch"));
        let receive =
            identify(&http::HeaderMap::new(), br#"{"QueueUrl":"http://x/123/bench-sauce-q","MaxNumberOfMessages":10}"#);
        assert_eq!(receive.caller, "pollers:bench-sauce-q");
    }

    #[test]
    fn items_are_keyed_by_table_pk_and_sk() {
        let item = json!({ "pk": { "S": "a" }, "sk": { "S": "b" }, "x": { "N": "1" } });
        assert_eq!(
            item_key(&json!("t"), &item),
            item_key(&json!("t"), &json!({ "sk": { "S": "b" }, "pk": { "S": "a" } }))
        );
    }
}
