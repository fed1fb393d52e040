//! The order desk: placing an order (one put of its item, which announces it; with the
//! client's idempotency key, a transaction of that put and the key's) and finding one with
//! its pizzas.

use super::*;

#[async_trait]
impl OrderDesk for DynamoOrders {
    async fn place(&self, placed: &PlacedOrder, key: Option<&str>) -> Result<Placement, StoreError> {
        let item = placed_to_item(placed)?;
        let Some(key) = key else {
            // No key: the order's put alone, which its stream announces.
            let put = self.client.put_item().table_name(&self.table).set_item(Some(item));
            return match put_or_old(put.condition_expression("attribute_not_exists(pk)")).await? {
                Ok(()) => Ok(Placement::Placed),
                Err(existing) => Ok(Placement::Exists(order_from_item(&existing)?)),
            };
        };
        let order = &placed.order;
        let mut remembered = idempotency_key(&order.customer_id, key);
        remembered.insert("order_id".into(), s(order.order_id.to_string()));
        remembered.insert("created_at".into(), s(stored_time(order.created_at)));
        remembered.insert(FINGERPRINT.into(), s(order.payment_fingerprint.clone()));
        let actions = [remembered, item].map(|item| {
            let put = Put::builder()
                .table_name(&self.table)
                .set_item(Some(item))
                .condition_expression("attribute_not_exists(pk)")
                .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
            built(put.build()).map(|put| TransactWriteItem::builder().put(put).build())
        });
        let reasons = match transact(&self.client, actions.into_iter().collect::<Result<_, _>>()?).await? {
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
                    Some(details) => {
                        let mut order = details.order;
                        if let Some(fingerprint) = opt_s(existing, FINGERPRINT) {
                            order.payment_fingerprint = fingerprint.to_owned();
                        }
                        Ok(Placement::Exists(order))
                    }
                    None => Err(StoreError::Refused(
                        format!("idempotency key names order {order_id}, which is gone").into(),
                    )),
                }
            }
            Some(existing) => Ok(Placement::Exists(order_from_item(existing)?)),
            None => Err(StoreError::Refused("placing the order was cancelled without a failed condition".into())),
        }
    }

    async fn find(&self, order_id: Uuid) -> Result<Option<OrderDetails>, StoreError> {
        let mut order = None;
        let mut pizzas = Vec::new();
        for item in query_partition(&self.client, &self.table, &format!("{ORDER_PK_PREFIX}{order_id}"), "").await? {
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
