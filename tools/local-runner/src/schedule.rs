//! An EventBridge schedule, as it invokes a function: a `Scheduled Event` every period.
//! The emulator keeps the rule but fires nothing, so the runner does.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde_json::json;
use tokio::sync::watch;
use tracing::{Instrument, debug, info_span, warn};

use crate::pool::Pool;
use crate::runtime_api::Reply;

pub struct Scheduler {
    pub pool: Arc<Pool>,
    pub period: Duration,
    pub region: String,
    pub account: String,
}

impl Scheduler {
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let span = info_span!("schedule", function = %self.pool.function.logical_id, seconds = self.period.as_secs());
        async move {
            loop {
                tokio::select! {
                    _ = shutdown.changed() => break,
                    _ = tokio::time::sleep(self.period) => {}
                }
                let (reply, _lease) = self.pool.invoke(Bytes::from(self.event().to_string()), None).await;
                match reply {
                    Ok(Reply::Response(body)) => debug!(answer = %String::from_utf8_lossy(&body), "scheduled run done"),
                    Ok(Reply::Error { error_type, message }) => warn!(error_type, message, "scheduled run failed"),
                    Err(err) => warn!(reason = %err, "scheduled run failed"),
                }
            }
        }
        .instrument(span)
        .await
    }

    /// The event EventBridge sends for a scheduled rule.
    fn event(&self) -> serde_json::Value {
        json!({
            "version": "0",
            "id": uuid::Uuid::new_v4(),
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": self.account,
            "time": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "region": self.region,
            "resources": [],
            "detail": {},
        })
    }
}
