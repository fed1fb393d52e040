//! The ledger in DynamoDB: `pk = PAYMENT#<order>, sk = PAYMENT` per payment and
//! `pk = CUSTOMER#<id>, sk = LIMIT` per customer credit limit.

use std::collections::{BTreeSet, HashMap};

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::KeysAndAttributes;
use dynamo_kit::item::{Item, get_n, get_s, get_uuid, key, n, opt_s, s};
use dynamo_kit::write::{put, put_or_old, update_or_old};
use dynamo_kit::{StoreError, built, classify};
use pizza_events::names::parse_variant;
use uuid::Uuid;

use crate::{Payment, PaymentLedger, PaymentStatus, Recorded, Refund};

/// BatchGetItem reads at most 100 keys a call.
const BATCH_GET_LIMIT: usize = 100;
/// How often unprocessed keys are asked for again before the read counts as unavailable.
const UNPROCESSED_RETRIES: u32 = 5;

/// The ledger in one DynamoDB table: an item per order's payment and per customer's credit limit.
pub struct DynamoLedger {
    client: Client,
    table: String,
}

impl DynamoLedger {
    /// The ledger in `table`.
    pub fn new(config: &aws_config::SdkConfig, table: impl Into<String>) -> Self {
        Self { client: Client::new(config), table: table.into() }
    }

    /// Every payment (an operator's audit; it reads the whole table).
    pub async fn all_payments(&self) -> Result<Vec<Payment>, StoreError> {
        let items = dynamo_kit::read::scan_all(&self.client, &self.table).await?;
        items
            .iter()
            .filter(|item| get_s(item, "pk").is_ok_and(|pk| pk.starts_with("PAYMENT#")))
            .map(payment_from_item)
            .collect()
    }

    fn payment_key(order_id: Uuid) -> Item {
        key(format!("PAYMENT#{order_id}"), "PAYMENT")
    }

    fn limit_key(customer_id: &str) -> Item {
        key(format!("CUSTOMER#{customer_id}"), "LIMIT")
    }
}

#[async_trait]
impl PaymentLedger for DynamoLedger {
    async fn credit_limits(&self, customers: &[&str]) -> Result<HashMap<String, u64>, StoreError> {
        let distinct: BTreeSet<&str> = customers.iter().copied().collect();
        let mut limits = HashMap::new();
        for chunk in distinct.into_iter().collect::<Vec<_>>().chunks(BATCH_GET_LIMIT) {
            let mut keys = Some(built(
                KeysAndAttributes::builder()
                    .set_keys(Some(chunk.iter().map(|c| Self::limit_key(c)).collect()))
                    .consistent_read(true)
                    .build(),
            )?);
            // DynamoDB may answer only part of a batch: ask again for the rest, backing off,
            // a bounded number of times (then the batch is retried by its queue).
            let mut attempt = 0;
            while let Some(request) = keys.take() {
                if attempt > 0 {
                    if attempt > UNPROCESSED_RETRIES {
                        return Err(StoreError::unavailable("DynamoDB kept leaving credit limits unread"));
                    }
                    tokio::time::sleep(dynamo_kit::write::backoff(attempt)).await;
                }
                attempt += 1;
                let output =
                    self.client.batch_get_item().request_items(&self.table, request).send().await.map_err(classify)?;
                for item in output.responses().and_then(|r| r.get(&self.table)).into_iter().flatten() {
                    let customer = get_s(item, "pk")?.trim_start_matches("CUSTOMER#").to_owned();
                    limits.insert(customer, get_n(item, "credit_limit_cents")?);
                }
                keys = output
                    .unprocessed_keys()
                    .and_then(|u| u.get(&self.table))
                    .filter(|k| !k.keys().is_empty())
                    .cloned();
            }
        }
        Ok(limits)
    }

    async fn record(&self, payment: &Payment) -> Result<Recorded, StoreError> {
        let mut item = Self::payment_key(payment.order_id);
        item.insert("order_id".into(), s(payment.order_id.to_string()));
        item.insert("customer_id".into(), s(payment.customer_id.clone()));
        item.insert("amount_cents".into(), n(payment.amount_cents));
        item.insert("status".into(), s(payment.status.as_str()));
        if let Some(reason) = payment.decline_reason {
            item.insert("decline_reason".into(), s(reason.as_str()));
        }
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)");
        match put_or_old(put).await? {
            Ok(()) => Ok(Recorded::New(payment.clone())),
            Err(existing) => Ok(Recorded::Existing(payment_from_item(&existing)?)),
        }
    }

    async fn refund(&self, order_id: Uuid) -> Result<Refund, StoreError> {
        let update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::payment_key(order_id)))
            .update_expression("SET #status = :refunded")
            .condition_expression("#status = :charged")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":charged", s(PaymentStatus::Charged.as_str()))
            .expression_attribute_values(":refunded", s(PaymentStatus::Refunded.as_str()));
        match update_or_old(update).await? {
            Ok(refunded) => Ok(Refund::Refunded(payment_from_item(&refunded)?)),
            Err(None) => Ok(Refund::NothingCharged(None)),
            Err(Some(old)) => {
                let payment = payment_from_item(&old)?;
                Ok(if payment.status == PaymentStatus::Refunded {
                    Refund::AlreadyRefunded(payment)
                } else {
                    Refund::NothingCharged(Some(payment))
                })
            }
        }
    }

    async fn find(&self, order_id: Uuid) -> Result<Option<Payment>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(Self::payment_key(order_id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(classify)?;
        output.item().map(payment_from_item).transpose()
    }

    async fn set_credit_limit(&self, customer_id: &str, limit_cents: u64) -> Result<(), StoreError> {
        let mut item = Self::limit_key(customer_id);
        item.insert("credit_limit_cents".into(), n(limit_cents));
        put(&self.client, &self.table, item).await
    }
}

fn payment_from_item(item: &Item) -> Result<Payment, StoreError> {
    let status = get_s(item, "status")?;
    let decline_reason = match opt_s(item, "decline_reason") {
        Some(reason) => {
            Some(parse_variant(reason).ok_or_else(|| StoreError::Corrupt(format!("unknown decline reason {reason}")))?)
        }
        None => None,
    };
    Ok(Payment {
        order_id: get_uuid(item, "order_id")?,
        customer_id: get_s(item, "customer_id")?.to_owned(),
        amount_cents: get_n(item, "amount_cents")?,
        status: PaymentStatus::parse(status).ok_or_else(|| StoreError::Corrupt(format!("unknown status {status}")))?,
        decline_reason,
    })
}
