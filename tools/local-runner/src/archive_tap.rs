//! The archive's SNS subscriptions, played where the emulator does not deliver SNS to
//! Firehose itself (fakecloud accepts a `firehose` subscription and delivers nothing). The
//! deploy step subscribes a queue to every archived topic; this forwards each message, the
//! SNS envelope Firehose would have received, into the delivery stream, a newline after
//! it as SNS writes them, and deletes it once Firehose took it.

use std::time::Duration;

use aws_sdk_firehose::primitives::Blob;
use aws_sdk_firehose::types::Record;
use aws_sdk_sqs::types::DeleteMessageBatchRequestEntry;
use tokio::sync::watch;
use tracing::warn;

use crate::manifest::ArchiveTap;

/// The name the forwarder's requests give in their user agent (`app/archive-tap`): they
/// stand in for SNS's own deliveries, which AWS makes without a request of the account's,
/// and `make bench` leaves them out of the bill by it.
pub const CALLER: &str = "archive-tap";

/// Forwards the tap queue's messages into the delivery stream.
pub struct Forwarder {
    pub tap: ArchiveTap,
    pub sqs: aws_sdk_sqs::Client,
    pub firehose: aws_sdk_firehose::Client,
}

impl Forwarder {
    /// Runs until `shutdown` says so.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        loop {
            tokio::select! {
                _ = shutdown.changed() => return,
                forwarded = self.forward_once() => if let Err(reason) = forwarded {
                    warn!(%reason, queue = %self.tap.queue_url, "archive tap: retrying in a second");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                },
            }
        }
    }

    /// Receives up to ten messages and forwards them; a failure leaves them in the queue.
    async fn forward_once(&self) -> Result<(), String> {
        let received = self
            .sqs
            .receive_message()
            .queue_url(&self.tap.queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .map_err(|e| aws_sdk_sqs::error::DisplayErrorContext(e).to_string())?;
        let messages = received.messages();
        if messages.is_empty() {
            return Ok(());
        }
        let records = messages
            .iter()
            .map(|m| Record::builder().data(Blob::new(format!("{}\n", m.body().unwrap_or_default()))).build())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| e.to_string())?;
        let put = self
            .firehose
            .put_record_batch()
            .delivery_stream_name(&self.tap.delivery_stream)
            .set_records(Some(records))
            .send()
            .await
            .map_err(|e| aws_sdk_firehose::error::DisplayErrorContext(e).to_string())?;
        if put.failed_put_count() > 0 {
            return Err(format!("Firehose refused {} record(s)", put.failed_put_count()));
        }
        let entries = messages
            .iter()
            .enumerate()
            .filter_map(|(i, m)| {
                let handle = m.receipt_handle()?;
                DeleteMessageBatchRequestEntry::builder().id(i.to_string()).receipt_handle(handle).build().ok()
            })
            .collect::<Vec<_>>();
        self.sqs
            .delete_message_batch()
            .queue_url(&self.tap.queue_url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| aws_sdk_sqs::error::DisplayErrorContext(e).to_string())?;
        Ok(())
    }
}
