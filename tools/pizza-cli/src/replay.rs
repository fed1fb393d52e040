//! `pizza replay`: sends an order's archived events again, each to the topic it first went
//! to, with its own id, so that idempotent consumers ignore what they have handled and do
//! what was lost downstream (a message deleted by hand, a dead letter thrown away). The
//! kitchen's earlier events are not archived (the last stage's carry them): a lost pizza is
//! cooked again from its order's `PaymentProcessed`, which has a cooking order's pizzas
//! requested again under their own ids, each stage passing on what it had added.

use event_archive::{Archived, first_copies};
use lambda_kit::bus::EventBus;
use lambda_kit::trace::TraceContext;
use pizza_events::{Outgoing, TopicArn, WireEvent};
use serde::Serialize;
use uuid::Uuid;

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("the archive holds no event of {0} (older than the retention, or a misspelt id?)")]
    NothingArchived(String),
    #[error("no {0} event in the order's history (its types: {1})")]
    NoSuchType(String, String),
    #[error("{} of {} event(s) were not published: {}", .failed.len(), .sent, .failed.join("; "))]
    NotPublished { sent: usize, failed: Vec<String> },
}

/// What one replay sent.
#[derive(Debug, Clone, Serialize)]
pub struct Sent {
    pub id: Uuid,
    pub event_type: String,
    pub topic: String,
}

/// The events to replay, each once (the archive keeps every copy of an event announced
/// again): the whole history, or from the first event of `from` on.
pub fn select(history: &[Archived], from: Option<&str>) -> Result<Vec<Archived>, ReplayError> {
    if history.is_empty() {
        return Err(ReplayError::NothingArchived("this order".to_owned()));
    }
    let history: Vec<Archived> = first_copies(history).into_iter().map(|(archived, _)| archived).collect();
    let Some(from) = from else { return Ok(history) };
    match history.iter().position(|a| a.event.event_type == from) {
        Some(start) => Ok(history[start..].to_vec()),
        None => {
            let mut types: Vec<&str> = history.iter().map(|a| a.event.event_type.as_str()).collect();
            types.dedup();
            Err(ReplayError::NoSuchType(from.to_owned(), types.join(", ")))
        }
    }
}

/// Publishes `events` to their topics, each continuing its original trace.
pub async fn replay(bus: &impl EventBus<WireEvent>, events: &[Archived]) -> Result<Vec<Sent>, ReplayError> {
    let outgoing: Vec<Outgoing> = events
        .iter()
        .map(|a| Outgoing {
            topic: TopicArn(a.topic.clone()),
            event: a.event.clone(),
            trace: a.traceparent.as_deref().and_then(TraceContext::from_traceparent),
        })
        .collect();
    let report = bus.publish(&outgoing).await;
    if !report.is_complete() {
        let failed = report.failed.iter().map(|(id, reason)| format!("{id}: {reason}")).collect();
        return Err(ReplayError::NotPublished { sent: events.len(), failed });
    }
    Ok(events
        .iter()
        .map(|a| Sent { id: a.event.id, event_type: a.event.event_type.clone(), topic: a.topic.clone() })
        .collect())
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use lambda_kit::bus::InMemoryBus;
    use pizza_events::WireEvent;

    use super::*;

    fn archived(event_type: &str, topic: &str) -> Archived {
        Archived {
            topic: topic.into(),
            event: WireEvent {
                id: Uuid::new_v4(),
                event_type: event_type.into(),
                version: 1,
                occurred_at: Utc::now(),
                source: "test".into(),
                correlation_id: "o-1".into(),
                causation_id: None,
                data: serde_json::json!({}),
            },
            traceparent: Some("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".into()),
        }
    }

    fn history() -> Vec<Archived> {
        let history = vec![
            archived("OrderPlaced", "orders"),
            archived("PizzaRequested", "pizza"),
            archived("IngredientAdded", "sauce"),
        ];
        // The request announced again a moment later: the archive holds both copies.
        let mut again = history[1].clone();
        again.event.occurred_at += chrono::Duration::seconds(1);
        let mut all = history;
        all.push(again);
        all
    }

    #[test]
    fn from_a_type_takes_its_first_event_and_everything_after() {
        let history = history();
        assert_eq!(select(&history, None).expect("all").len(), 3, "each event once");
        let from = select(&history, Some("PizzaRequested")).expect("some");
        assert_eq!(
            from.iter().map(|a| a.event.event_type.as_str()).collect::<Vec<_>>(),
            ["PizzaRequested", "IngredientAdded"]
        );
        let err = select(&history, Some("Nope")).expect_err("unknown type");
        assert!(err.to_string().contains("OrderPlaced, PizzaRequested, IngredientAdded"), "{err}");
        assert!(matches!(select(&[], None), Err(ReplayError::NothingArchived(_))));
    }

    #[tokio::test]
    async fn each_event_goes_back_to_its_own_topic_with_its_own_id_and_trace() {
        let history = select(&history(), None).expect("events");
        let bus = InMemoryBus::default();
        let sent = replay(&bus, &history).await.expect("sent");
        assert_eq!(sent.len(), 3);
        for archived in &history {
            let republished = bus.events_on(&archived.topic);
            assert_eq!(republished, vec![archived.event.clone()]);
        }
        let traces: Vec<String> = bus.published().iter().filter_map(|o| o.trace.map(|t| t.traceparent())).collect();
        assert!(traces.iter().all(|t| t.contains("0af7651916cd43dd8448eb211c80319c")), "{traces:?}");
    }
}
