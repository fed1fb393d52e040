//! Releasing a cancelled order: closing its reservations at every stage, then giving
//! back what they hold, once.

use super::*;

impl DynamoInventory {
    /// Closes the order's reservations at `stage` and returns them as they are now: no
    /// reservation can be added after this.
    async fn close(&self, order_id: Uuid, stage: &str) -> Result<Item, StoreError> {
        let output = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::reservations_key(order_id, stage)))
            .update_expression("SET closed = :closed, order_id = :order, #stage = :stage")
            .expression_attribute_names("#stage", "stage")
            .expression_attribute_values(":closed", AttributeValue::Bool(true))
            .expression_attribute_values(":order", s(order_id.to_string()))
            .expression_attribute_values(":stage", s(stage))
            .return_values(ReturnValue::AllNew)
            .send()
            .await
            .map_err(classify)?;
        output.attributes.ok_or_else(|| StoreError::Corrupt("closing reservations returned no item".into()))
    }

    /// Gives back a closed reservation item's units, once: `0` if it held none or another
    /// release got there first.
    async fn give_back(&self, reservations: &Item) -> Result<u32, StoreError> {
        // A released item holds no pizza attribute any more: the release removed them.
        let held: Vec<(Uuid, &str)> = pizzas_in(reservations).collect();
        if held.is_empty() {
            return Ok(0);
        }
        let stage = get_s(reservations, "stage")?;
        let mut units: BTreeMap<&str, u64> = BTreeMap::new();
        for (_, ingredient) in &held {
            *units.entry(ingredient).or_default() += 1;
        }
        let mut release = Expression::default();
        let removed: Vec<String> = held
            .iter()
            .enumerate()
            .map(|(i, (pizza_id, _))| release.name(format!("#p{i}"), pizza_attribute(*pizza_id)))
            .collect();
        let count = release.value(":units".into(), n(held.len() as u64));
        let Expression { names, values } = release;
        let released = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(get_s(reservations, "pk")?, get_s(reservations, "sk")?)))
            .update_expression(format!("SET released = {count} REMOVE {}", removed.join(", ")))
            .condition_expression("attribute_not_exists(released)")
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values));
        let mut restock = Expression::default();
        let available = restock.name("#available".into(), AVAILABLE);
        let zero = restock.value(":zero".into(), n(0u64));
        let mut sets = Vec::new();
        for (i, (ingredient, count)) in units.iter().enumerate() {
            let path = format!("{available}.{}", restock.name(format!("#i{i}"), *ingredient));
            let back = restock.value(format!(":b{i}"), n(*count));
            sets.push(format!("{path} = if_not_exists({path}, {zero}) + {back}"));
        }
        let Expression { names, values } = restock;
        let restocked = Update::builder()
            .table_name(&self.table)
            .set_key(Some(Self::stock_key(stage)))
            .update_expression(format!("SET {}", sets.join(", ")))
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values));
        let actions = vec![
            TransactWriteItem::builder().update(built(released.build())?).build(),
            TransactWriteItem::builder().update(built(restocked.build())?).build(),
        ];
        match transact(&self.client, actions).await? {
            Ok(()) => Ok(held.len() as u32),
            Err(reasons) if matches!(reasons.first(), Some(Cancelled::ConditionFailed(_))) => Ok(0),
            Err(_) => Err(StoreError::unavailable("a release was cancelled for no stated reason")),
        }
    }
}

#[async_trait]
impl Restock for DynamoInventory {
    async fn release_order(&self, order_id: Uuid) -> Result<u32, StoreError> {
        let mut closed = Self::closed_key(order_id);
        closed.insert("order_id".into(), s(order_id.to_string()));
        put(&self.client, &self.table, closed).await?;
        // Close the order's reservations at every stage there is (and any it holds at a
        // stage whose stock is gone): once closed, what an item holds is all it will
        // ever hold, so giving it back leaves nothing behind.
        let mut stages: BTreeSet<String> = self.stages().await?.into_iter().collect();
        for item in self.order_reservations(order_id).await? {
            stages.insert(get_s(&item, "stage")?.to_owned());
        }
        let mut released = 0;
        for stage in stages {
            let reservations = self.close(order_id, &stage).await?;
            released += self.give_back(&reservations).await?;
        }
        Ok(released)
    }

    async fn is_closed(&self, order_id: Uuid) -> Result<bool, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(Self::closed_key(order_id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(classify)?;
        Ok(output.item.is_some())
    }

    async fn units_held_by(&self, order_id: Uuid) -> Result<u32, StoreError> {
        let items = self.order_reservations(order_id).await?;
        Ok(items.iter().map(|item| pizzas_in(item).count() as u32).sum())
    }
}
