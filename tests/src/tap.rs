//! A tap on a topic: a queue of the test's own, subscribed with raw delivery, to see
//! exactly what a stage published.

use std::time::{Duration, Instant};

use aws_sdk_sqs::types::QueueAttributeName;
use pizza_events::WireEvent;

use crate::PATIENCE;

pub struct Tap {
    sqs: aws_sdk_sqs::Client,
    pub url: String,
    seen: Vec<(WireEvent, aws_sdk_sqs::types::Message)>,
}

impl Tap {
    pub async fn on(system: &crate::System, topic_logical_id: &str) -> Tap {
        let name = format!("tap-{}", uuid::Uuid::new_v4().simple());
        let url =
            system.sqs.create_queue().queue_name(&name).send().await.expect("tap queue").queue_url.unwrap_or_default();
        let arn = system
            .sqs
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .expect("tap queue ARN")
            .attributes
            .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
            .unwrap_or_default();
        system
            .sns
            .subscribe()
            .topic_arn(system.topic(topic_logical_id))
            .protocol("sqs")
            .endpoint(arn)
            .attributes("RawMessageDelivery", "true")
            .send()
            .await
            .expect("tap subscription");
        Tap { sqs: system.sqs.clone(), url, seen: Vec::new() }
    }

    /// How many events satisfying `wanted` the tap has seen, after reading what is there now.
    pub async fn count(&mut self, wanted: impl Fn(&WireEvent) -> bool) -> usize {
        self.read(1).await;
        self.seen.iter().filter(|(event, _)| wanted(event)).count()
    }

    /// Every event satisfying `wanted` the tap has seen, after reading what is there now.
    pub async fn all(&mut self, wanted: impl Fn(&WireEvent) -> bool) -> Vec<WireEvent> {
        self.read(1).await;
        self.seen.iter().filter(|(event, _)| wanted(event)).map(|(event, _)| event.clone()).collect()
    }

    async fn read(&mut self, wait_seconds: i32) {
        loop {
            let received = self
                .sqs
                .receive_message()
                .queue_url(&self.url)
                .max_number_of_messages(10)
                .wait_time_seconds(wait_seconds)
                .message_attribute_names("All")
                .send()
                .await
                .expect("receive from the tap");
            let messages = received.messages.unwrap_or_default();
            if messages.is_empty() {
                return;
            }
            for message in messages {
                // Read messages stay in the tap and come back after its visibility timeout.
                let known = self.seen.iter().any(|(_, seen)| seen.message_id == message.message_id);
                if let (false, Ok(event)) = (known, WireEvent::from_json(message.body().unwrap_or_default())) {
                    self.seen.push((event, message));
                }
            }
        }
    }

    /// Waits until the tap has seen an event that satisfies `wanted`; returns it with the
    /// SQS message it came in (body and attributes as the subscribers got them).
    pub async fn wait_for(&mut self, wanted: impl Fn(&WireEvent) -> bool) -> (WireEvent, aws_sdk_sqs::types::Message) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(found) = self.seen.iter().find(|(event, _)| wanted(event)) {
                return found.clone();
            }
            assert!(Instant::now() < deadline, "the tap saw no such event within {PATIENCE:?}");
            self.read(1).await;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
