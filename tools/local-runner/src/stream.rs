//! A DynamoDB stream event source mapping, as Lambda runs it: read each shard in order,
//! hand the function the records its filters let through, and move on only when it
//! succeeded. A failing batch is retried from the record the function reports, split in
//! half when `BisectBatchOnFunctionError` is on, and after `MaximumRetryAttempts` its
//! description goes to the on-failure queue and the shard moves on.
//!
//! The checkpoint (the last sequence number done, per shard) is kept in a file, so a
//! restarted runner resumes where it stopped, as the mapping would.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_dynamodbstreams::types::{AttributeValue, Record, ShardIteratorType};
use base64::Engine;
use bytes::Bytes;
use serde_json::{Map, Value, json};
use tokio::sync::watch;
use tracing::{Instrument, error, info_span, warn};

use crate::manifest::StreamSource;
use crate::pool::Pool;
use crate::runtime_api::Reply;

/// Lambda polls a stream's shards four times a second, and at once again only when it is
/// behind (a page came back full). Polling again after every page that had records would
/// read a busy table's stream (the orders table's shows every change of every order)
/// back to back, taking turns with the functions at an emulator that serialises DynamoDB.
const POLL_INTERVAL: Duration = Duration::from_millis(250);
/// The shards are listed again this often, and whenever one ends or a read fails: a
/// table's stream changes its shards every few hours, not between two polls.
const SHARDS_REFRESH: Duration = Duration::from_secs(10);

pub struct StreamPoller {
    pub pool: Arc<Pool>,
    pub source: StreamSource,
    pub region: String,
    pub streams: aws_sdk_dynamodbstreams::Client,
    pub sqs: aws_sdk_sqs::Client,
    /// Where the checkpoint lives; `None` keeps it in memory only.
    pub checkpoint_file: Option<PathBuf>,
}

impl StreamPoller {
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let span = info_span!("stream", function = %self.pool.function.logical_id);
        async move {
            let mut checkpoints = self.load_checkpoints();
            let mut iterators: HashMap<String, String> = HashMap::new();
            let mut shards = Shards::default();
            while !*shutdown.borrow() {
                let behind = match self.poll_shards(&mut shards, &mut checkpoints, &mut iterators).await {
                    Ok(behind) => behind,
                    Err(err) => {
                        warn!(reason = %err, "reading the stream failed; retrying in a second");
                        iterators.clear();
                        shards = Shards::default();
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        false
                    }
                };
                if !behind {
                    tokio::select! {
                        _ = shutdown.changed() => break,
                        _ = tokio::time::sleep(POLL_INTERVAL) => {}
                    }
                }
            }
        }
        .instrument(span)
        .await
    }

    /// The stream's shards, as last listed.
    async fn list_shards(&self) -> Result<Vec<String>, String> {
        let description = self
            .streams
            .describe_stream()
            .stream_arn(&self.source.stream_arn)
            .send()
            .await
            .map_err(|e| aws_sdk_dynamodbstreams::error::DisplayErrorContext(e).to_string())?;
        let shards = description.stream_description.and_then(|d| d.shards).unwrap_or_default();
        Ok(shards.into_iter().filter_map(|shard| shard.shard_id).collect())
    }

    /// One read of every shard; true if any is behind (its page came back full).
    async fn poll_shards(
        &self,
        shards: &mut Shards,
        checkpoints: &mut HashMap<String, String>,
        iterators: &mut HashMap<String, String>,
    ) -> Result<bool, String> {
        if shards.stale() {
            *shards = Shards { ids: self.list_shards().await?, listed: Some(Instant::now()) };
        }
        let limit = self.source.mapping.batch_size.clamp(1, 1000) as i32;
        let mut behind = false;
        for shard_id in shards.ids.clone() {
            let iterator = match iterators.remove(&shard_id) {
                Some(iterator) => iterator,
                None => self.iterator(&shard_id, checkpoints.get(&shard_id)).await?,
            };
            let output = self
                .streams
                .get_records()
                .shard_iterator(iterator)
                .limit(limit)
                .send()
                .await
                .map_err(|e| aws_sdk_dynamodbstreams::error::DisplayErrorContext(e).to_string())?;
            let records = output.records.unwrap_or_default();
            behind |= records.len() >= limit as usize;
            if let Some(last) = records.last().and_then(|r| r.dynamodb.as_ref()).and_then(|d| d.sequence_number.clone())
            {
                self.deliver(&shard_id, &records).await;
                checkpoints.insert(shard_id.clone(), last);
                self.save_checkpoints(checkpoints);
            }
            match output.next_shard_iterator {
                Some(next) => _ = iterators.insert(shard_id, next),
                // The shard ended: its children are found by listing again.
                None => shards.listed = None,
            }
        }
        Ok(behind)
    }

    async fn iterator(&self, shard_id: &str, after: Option<&String>) -> Result<String, String> {
        let request = self.streams.get_shard_iterator().stream_arn(&self.source.stream_arn).shard_id(shard_id);
        let request = match after {
            Some(sequence) => {
                request.shard_iterator_type(ShardIteratorType::AfterSequenceNumber).sequence_number(sequence)
            }
            None => request.shard_iterator_type(ShardIteratorType::from(self.source.starting_position.as_str())),
        };
        let output =
            request.send().await.map_err(|e| aws_sdk_dynamodbstreams::error::DisplayErrorContext(e).to_string())?;
        output.shard_iterator.ok_or_else(|| "no shard iterator".to_owned())
    }

    /// Hands the filtered records to the function until they are all done or given up.
    async fn deliver(&self, shard_id: &str, records: &[Record]) {
        let events: Vec<Value> = records
            .iter()
            .map(|r| self.lambda_record(r))
            .filter(|r| matches_filters(&self.source.mapping.filters, r))
            .collect();
        let mut pending: Vec<Vec<Value>> = vec![events];
        let mut attempts = 0i64;
        while let Some(batch) = pending.pop() {
            if batch.is_empty() {
                continue;
            }
            match self.invoke(&batch).await {
                None => attempts = 0,
                Some(retry_from) => {
                    let rest = batch[retry_from..].to_vec();
                    attempts += 1;
                    let limit = self.source.maximum_retry_attempts;
                    if limit >= 0 && attempts > limit {
                        self.give_up(shard_id, &rest).await;
                        attempts = 0;
                    } else if self.source.bisect_on_error && rest.len() > 1 {
                        let (first, second) = rest.split_at(rest.len() / 2);
                        pending.push(second.to_vec());
                        pending.push(first.to_vec());
                    } else {
                        tokio::time::sleep(Duration::from_millis(200 * attempts.min(10) as u64)).await;
                        pending.push(rest);
                    }
                }
            }
        }
    }

    /// `None` when the whole batch succeeded, else the position to retry from.
    async fn invoke(&self, batch: &[Value]) -> Option<usize> {
        let payload = Bytes::from(json!({ "Records": batch }).to_string());
        let (reply, _lease) = self.pool.invoke(payload, None).await;
        let failed_sequence = match reply {
            Ok(Reply::Response(body)) => {
                let response: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                match response["batchItemFailures"].as_array().and_then(|f| f.first()) {
                    None => return None,
                    Some(first) => first["itemIdentifier"].as_str().map(str::to_owned),
                }
            }
            Ok(Reply::Error { error_type, message }) => {
                error!(error_type, message, "the stream batch failed");
                None
            }
            Err(err) => {
                error!(reason = %err, "the stream batch failed");
                None
            }
        };
        let position = failed_sequence.and_then(|sequence| {
            batch.iter().position(|r| r["dynamodb"]["SequenceNumber"].as_str() == Some(&sequence))
        });
        Some(position.unwrap_or(0))
    }

    async fn give_up(&self, shard_id: &str, records: &[Value]) {
        let first = records.first().map(|r| r["dynamodb"]["SequenceNumber"].clone()).unwrap_or(Value::Null);
        let last = records.last().map(|r| r["dynamodb"]["SequenceNumber"].clone()).unwrap_or(Value::Null);
        error!(records = records.len(), %first, %last, "stream records given up after their retries");
        let Some(queue) = &self.source.on_failure_queue_url else { return };
        // What Lambda sends to an on-failure destination: where the records are, not them.
        let body = json!({
            "requestContext": { "condition": "RetryAttemptsExhausted", "functionArn": self.pool.function.arn },
            "DDBStreamBatchInfo": {
                "streamArn": self.source.stream_arn,
                "shardId": shard_id,
                "startSequenceNumber": first,
                "endSequenceNumber": last,
                "batchSize": records.len(),
            },
        });
        if let Err(err) = self.sqs.send_message().queue_url(queue).message_body(body.to_string()).send().await {
            error!(reason = %aws_sdk_sqs::error::DisplayErrorContext(err), "could not reach the on-failure queue");
        }
    }

    fn lambda_record(&self, record: &Record) -> Value {
        let change = record.dynamodb.as_ref();
        let image = |map: Option<&HashMap<String, AttributeValue>>| {
            Value::Object(
                map.map(|m| m.iter().map(|(k, v)| (k.clone(), attribute_json(v))).collect()).unwrap_or_default(),
            )
        };
        json!({
            "eventID": record.event_id(),
            "eventName": record.event_name().map(|n| n.as_str()),
            "eventVersion": record.event_version(),
            "eventSource": "aws:dynamodb",
            "awsRegion": self.region,
            "dynamodb": {
                "ApproximateCreationDateTime":
                    change.and_then(|c| c.approximate_creation_date_time()).map(|t| t.secs()),
                "Keys": image(change.and_then(|c| c.keys.as_ref())),
                "NewImage": image(change.and_then(|c| c.new_image.as_ref())),
                "OldImage": image(change.and_then(|c| c.old_image.as_ref())),
                "SequenceNumber": change.and_then(|c| c.sequence_number()),
                "SizeBytes": change.and_then(|c| c.size_bytes()),
                "StreamViewType": change.and_then(|c| c.stream_view_type()).map(|t| t.as_str()),
            },
            "eventSourceARN": self.source.stream_arn,
        })
    }

    /// The checkpoint of this stream: one saved for another stream (the table was made
    /// anew, or the emulator restarted) says nothing about this one.
    fn load_checkpoints(&self) -> HashMap<String, String> {
        let saved: Option<Checkpoint> = self
            .checkpoint_file
            .as_ref()
            .and_then(|path| std::fs::read_to_string(path).ok())
            .and_then(|text| serde_json::from_str(&text).ok());
        saved.filter(|c| c.stream_arn == self.source.stream_arn).map(|c| c.shards).unwrap_or_default()
    }

    fn save_checkpoints(&self, checkpoints: &HashMap<String, String>) {
        let Some(path) = &self.checkpoint_file else { return };
        let write = || -> std::io::Result<()> {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let temporary = path.with_extension("tmp");
            let checkpoint = Checkpoint { stream_arn: self.source.stream_arn.clone(), shards: checkpoints.clone() };
            std::fs::write(&temporary, serde_json::to_vec(&checkpoint)?)?;
            std::fs::rename(temporary, path)
        };
        if let Err(err) = write() {
            warn!(reason = %err, path = %path.display(), "could not save the stream checkpoint");
        }
    }
}

/// Where a stream mapping stands: the last sequence number done, per shard.
#[derive(serde::Serialize, serde::Deserialize)]
struct Checkpoint {
    stream_arn: String,
    shards: HashMap<String, String>,
}

/// An attribute value in the JSON of the DynamoDB API (`{"S": "…"}`).
fn attribute_json(value: &AttributeValue) -> Value {
    let b64 = |blob: &aws_sdk_dynamodbstreams::primitives::Blob| {
        Value::String(base64::engine::general_purpose::STANDARD.encode(blob.as_ref()))
    };
    match value {
        AttributeValue::S(s) => json!({ "S": s }),
        AttributeValue::N(n) => json!({ "N": n }),
        AttributeValue::Bool(b) => json!({ "BOOL": b }),
        AttributeValue::Null(n) => json!({ "NULL": n }),
        AttributeValue::B(blob) => json!({ "B": b64(blob) }),
        AttributeValue::Ss(list) => json!({ "SS": list }),
        AttributeValue::Ns(list) => json!({ "NS": list }),
        AttributeValue::Bs(list) => json!({ "BS": list.iter().map(b64).collect::<Vec<_>>() }),
        AttributeValue::L(list) => json!({ "L": list.iter().map(attribute_json).collect::<Vec<_>>() }),
        AttributeValue::M(map) => {
            json!({ "M": map.iter().map(|(k, v)| (k.clone(), attribute_json(v))).collect::<Map<_, _>>() })
        }
        _ => Value::Null,
    }
}

/// Lambda's event filtering, as much as the templates use: a pattern's every key must
/// match, an array lists the accepted values, an object matches a nested object.
pub fn matches_filters(filters: &[Value], record: &Value) -> bool {
    filters.is_empty() || filters.iter().any(|pattern| matches_pattern(pattern, record))
}

fn matches_pattern(pattern: &Value, value: &Value) -> bool {
    match pattern {
        Value::Object(fields) => fields.iter().all(|(key, expected)| matches_pattern(expected, &value[key])),
        Value::Array(accepted) => accepted.contains(value),
        other => other == value,
    }
}

/// The shards a poller reads, and when they were listed (`None`: list them again).
#[derive(Default)]
struct Shards {
    ids: Vec<String>,
    listed: Option<Instant>,
}

impl Shards {
    fn stale(&self) -> bool {
        self.listed.is_none_or(|listed| listed.elapsed() >= SHARDS_REFRESH)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_let_through_only_matching_records() {
        let inserts = vec![json!({ "eventName": ["INSERT"] })];
        assert!(matches_filters(&inserts, &json!({ "eventName": "INSERT", "dynamodb": {} })));
        assert!(!matches_filters(&inserts, &json!({ "eventName": "REMOVE" })));
        assert!(matches_filters(&[], &json!({ "eventName": "REMOVE" })));
        let nested = vec![json!({ "dynamodb": { "NewImage": { "topic_arn": { "S": ["a", "b"] } } } })];
        assert!(matches_filters(&nested, &json!({ "dynamodb": { "NewImage": { "topic_arn": { "S": "b" } } } })));
        assert!(!matches_filters(&nested, &json!({ "dynamodb": { "NewImage": {} } })));
    }

    #[test]
    fn attributes_keep_their_dynamodb_json_shape() {
        let map = HashMap::from([("n".to_owned(), AttributeValue::N("3".into()))]);
        assert_eq!(attribute_json(&AttributeValue::M(map)), json!({ "M": { "n": { "N": "3" } } }));
        assert_eq!(attribute_json(&AttributeValue::S("x".into())), json!({ "S": "x" }));
    }
}
