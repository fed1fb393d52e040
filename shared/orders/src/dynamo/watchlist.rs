//! The watchlist the reconciler reads: unfinished orders by the time they last moved.

use super::*;

#[async_trait]
impl Watchlist for DynamoOrders {
    async fn stalled(&self, before: DateTime<Utc>, limit: usize) -> Result<Vec<Uuid>, StoreError> {
        let mut orders = Vec::new();
        let mut start_key = None;
        while orders.len() < limit {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(WATCH_INDEX)
                .key_condition_expression("watch = :watched AND status_since < :before")
                .expression_attribute_values(":watched", s(WATCHED))
                .expression_attribute_values(":before", s(stored_time(before)))
                .limit((limit - orders.len()).min(1000) as i32)
                .set_exclusive_start_key(start_key)
                .send()
                .await
                .map_err(dynamo_kit::classify)?;
            for item in page.items() {
                let (pk, sk) = (get_s(item, "pk")?, get_s(item, "sk")?);
                let id = DynamoOrders::order_of_key(pk, sk);
                orders.push(id.ok_or_else(|| StoreError::Corrupt(format!("{pk}/{sk} is no order key")))?);
            }
            start_key = page.last_evaluated_key().cloned();
            if start_key.is_none() {
                break;
            }
        }
        Ok(orders)
    }

    async fn dismiss(&self, order_id: Uuid) -> Result<bool, StoreError> {
        // Not a move: `updated_at` stays as it was.
        let update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::order_key(order_id)))
            .update_expression("REMOVE watch")
            .condition_expression("#status = :cancelled")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":cancelled", s(OrderStatus::Cancelled.as_str()));
        Ok(update_or_old(update).await?.is_ok())
    }

    async fn postpone(&self, order_id: Uuid, status: OrderStatus) -> Result<(), StoreError> {
        // Not a move either: only the index entry moves back.
        let update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::order_key(order_id)))
            .update_expression("SET status_since = :now")
            .condition_expression("#status = :status AND attribute_exists(watch)")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":status", s(status.as_str()))
            .expression_attribute_values(":now", s(stored_time(Utc::now())));
        update_or_old(update).await.map(|_| ())
    }

    async fn placed_order(&self, order_id: Uuid) -> Result<Option<PlacedOrder>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(Self::order_key(order_id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(dynamo_kit::classify)?;
        output.item.as_ref().map(placed_from_item).transpose().map(Option::flatten)
    }
}
