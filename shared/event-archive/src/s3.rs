//! The archive in S3, as the delivery stream writes it: objects under
//! `<prefix><yyyy>/<MM>/<dd>/<HH>/` (UTC, the hour Firehose wrote them), each a run of SNS
//! envelopes. An order's history reads the objects of the hours it lived, never the
//! whole archive.

use async_trait::async_trait;
use aws_sdk_s3::Client;
use chrono::{DateTime, Duration, DurationRound, Utc};
use futures::{StreamExt, TryStreamExt};

use crate::{ArchiveError, Archived, EventArchive, Window, records};

/// Objects read at once.
const READING_AT_ONCE: usize = 8;

/// The archive as the delivery stream writes it: gzipped objects of JSON records, one folder an hour.
pub struct S3Archive {
    client: Client,
    bucket: String,
    prefix: String,
}

impl S3Archive {
    /// Reads the objects under `prefix` in `bucket`.
    pub fn new(config: &aws_config::SdkConfig, bucket: impl Into<String>, prefix: impl Into<String>) -> Self {
        // Path-style addressing: what an emulator at a plain address understands, and
        // what every S3 endpoint still answers.
        let s3 = aws_sdk_s3::config::Builder::from(config).force_path_style(true).build();
        Self { client: Client::from_conf(s3), bucket: bucket.into(), prefix: prefix.into() }
    }

    /// The bucket the archive is in.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    async fn keys_under(&self, prefix: &str) -> Result<Vec<String>, ArchiveError> {
        let mut keys = Vec::new();
        let mut pages = self.client.list_objects_v2().bucket(&self.bucket).prefix(prefix).into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| unavailable("listing", e))?;
            keys.extend(page.contents().iter().filter_map(|object| object.key().map(str::to_owned)));
        }
        Ok(keys)
    }

    async fn read(&self, key: String) -> Result<Vec<Archived>, ArchiveError> {
        let object = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(&key)
            .send()
            .await
            .map_err(|e| unavailable("reading", e))?;
        let bytes = object.body.collect().await.map_err(|e| unavailable("reading", e))?.into_bytes();
        let decoded = records::decode(&bytes)
            .map_err(|e| ArchiveError::Unreadable { key: key.clone(), reason: e.to_string() })?;
        if decoded.unreadable > 0 {
            // Not fatal: the rest of the order is still worth seeing.
            tracing::warn!(
                key,
                unreadable = decoded.unreadable,
                "archive records that are no event of ours were skipped"
            );
        }
        Ok(decoded.events)
    }

    /// Writes events as one object of the hour they occurred, the way the delivery stream
    /// does: for tests of the reading side.
    #[cfg(any(test, feature = "contract"))]
    pub async fn write_as_firehose(&self, events: &[Archived]) -> Result<(), ArchiveError> {
        let Some(first) = events.first() else { return Ok(()) };
        let key = format!(
            "{}archive-test-{}",
            hour_prefixes(&self.prefix, first.event.occurred_at, first.event.occurred_at)[0],
            uuid::Uuid::new_v4()
        );
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .body(records::encode(events).into())
            .send()
            .await
            .map_err(|e| unavailable("writing", e))?;
        Ok(())
    }
}

fn unavailable(doing: &str, err: impl std::error::Error) -> ArchiveError {
    ArchiveError::Unavailable(format!("{doing} the archive: {}", aws_sdk_s3::error::DisplayErrorContext(err)))
}

/// The key prefix of every hour from `from` to `to`, both included: where the delivery
/// stream writes what it gathered in those hours.
pub fn hour_prefixes(prefix: &str, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<String> {
    let Ok(mut hour) = from.duration_trunc(Duration::hours(1)) else { return Vec::new() };
    let mut prefixes = Vec::new();
    while hour <= to {
        prefixes.push(format!("{prefix}{}/", hour.format("%Y/%m/%d/%H")));
        hour += Duration::hours(1);
    }
    prefixes
}

#[async_trait]
impl EventArchive for S3Archive {
    async fn history(&self, correlation_id: &str, window: Window) -> Result<Vec<Archived>, ArchiveError> {
        let mut keys = Vec::new();
        for prefix in hour_prefixes(&self.prefix, window.from, window.to) {
            keys.extend(self.keys_under(&prefix).await?);
        }
        let objects: Vec<Vec<Archived>> = futures::stream::iter(keys.into_iter().map(|key| self.read(key)))
            .buffered(READING_AT_ONCE)
            .try_collect()
            .await?;
        let mut history: Vec<Archived> =
            objects.into_iter().flatten().filter(|a| a.event.correlation_id == correlation_id).collect();
        history.sort_by_key(Archived::position);
        Ok(history)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_reads_the_hours_it_spans_and_no_other() {
        let at = |text: &str| text.parse::<DateTime<Utc>>().expect("a time");
        assert_eq!(
            hour_prefixes("events/", at("2026-12-01T22:55:00Z"), at("2026-12-02T00:10:00Z")),
            ["events/2026/12/01/22/", "events/2026/12/01/23/", "events/2026/12/02/00/"]
        );
        assert_eq!(hour_prefixes("", at("2026-12-01T10:00:00Z"), at("2026-12-01T10:59:59Z")), ["2026/12/01/10/"]);
        assert!(hour_prefixes("events/", at("2026-12-01T11:00:00Z"), at("2026-12-01T10:00:00Z")).is_empty());
    }
}
