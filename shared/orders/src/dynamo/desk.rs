//! The order desk: placing an order (with its announcement in the outbox, in one
//! transaction) and finding one with its pizzas.

use super::*;

#[async_trait]
impl OrderDesk for DynamoOrders {
    async fn place(&self, order: &Order, key: Option<&str>, announcement: &Outgoing) -> Result<Placement, StoreError> {
        let outbox_table = self
            .outbox_table
            .as_deref()
            .ok_or_else(|| StoreError::Refused("this order store has no outbox table to announce orders in".into()))?;
        let mut item = Self::order_key(order.order_id);
        item.extend(order_to_attributes(order));
        let mut actions = Vec::with_capacity(3);
        if let Some(key) = key {
            let mut remembered = idempotency_key(&order.customer_id, key);
            remembered.insert("order_id".into(), s(order.order_id.to_string()));
            remembered.insert("created_at".into(), s(order.created_at.to_rfc3339()));
            let put = Put::builder()
                .table_name(&self.table)
                .set_item(Some(remembered))
                .condition_expression("attribute_not_exists(pk)")
                .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
            actions.push(TransactWriteItem::builder().put(built(put.build())?).build());
        }
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        actions.push(TransactWriteItem::builder().put(built(put.build())?).build());
        actions.push(TransactWriteItem::builder().put(outbox::put_entry(outbox_table, announcement)?).build());
        let reasons = match transact(&self.client, actions).await? {
            Ok(()) => return Ok(Placement::Placed),
            Err(reasons) => reasons,
        };
        let existing = reasons.iter().find_map(|reason| match reason {
            Cancelled::ConditionFailed(existing) if !existing.is_empty() => Some(existing),
            _ => None,
        });
        match existing {
            // The customer used this key before: the order it stands for.
            Some(existing) if opt_s(existing, "sk") == Some(KEY_SK) => {
                let order_id = get_uuid(existing, "order_id")?;
                match self.find(order_id).await? {
                    Some(details) => Ok(Placement::Exists(details.order)),
                    None => Err(StoreError::Refused(
                        format!("idempotency key names order {order_id}, which is gone").into(),
                    )),
                }
            }
            Some(existing) => Ok(Placement::Exists(order_from_item(existing)?)),
            // The order is new but its announcement is not: an event id reused for another
            // order, which derived ids make impossible short of a bug.
            None => Err(StoreError::Refused("the order's announcement exists already without the order".into())),
        }
    }

    async fn find(&self, order_id: Uuid) -> Result<Option<OrderDetails>, StoreError> {
        let mut order = None;
        let mut pizzas = Vec::new();
        for item in query_partition(&self.client, &self.table, &format!("ORDER#{order_id}"), "").await? {
            match opt_s(&item, "sk") {
                Some(ORDER_SK) => {
                    order = Some(order_from_item(&item)?);
                    pizzas.extend(pizzas_on(&item)?);
                }
                Some(sk) if sk.starts_with(PIZZA_SK_PREFIX) => pizzas.push(pizza_from_item(&item)?),
                _ => {}
            }
        }
        Ok(order.map(|order| OrderDetails { order, pizzas }))
    }
}
