//! The order book: an order's moves, each a conditional write on the status it expects,
//! and its pizzas stored on its own item.

use super::*;

#[async_trait]
impl OrderBook for DynamoOrders {
    async fn start_cooking(&self, order_id: Uuid, charged_cents: u64) -> Result<Transition, StoreError> {
        let update = self
            .guarded_update(order_id)
            .update_expression(format!(
                "SET #status = :cooking, charged_cents = :charged, updated_at = :now, status_since = :now \
                 REMOVE {REMOVE_ANNOUNCEMENT}"
            ))
            .condition_expression("#status = :placed")
            .expression_attribute_values(":placed", s(OrderStatus::Placed.as_str()))
            .expression_attribute_values(":cooking", s(OrderStatus::Cooking.as_str()))
            .expression_attribute_values(":charged", n(charged_cents));
        self.run_transition(order_id, update).await
    }

    async fn cancel(&self, order_id: Uuid, reason: CancelReason) -> Result<Transition, StoreError> {
        let [placed, cooking] = CANCELLABLE.map(|status| s(status.as_str()));
        let update = self
            .guarded_update(order_id)
            .update_expression(format!(
                "SET #status = :cancelled, cancel_reason = :reason, updated_at = :now, status_since = :now \
                 REMOVE {REMOVE_ANNOUNCEMENT}"
            ))
            .condition_expression("#status IN (:placed, :cooking)")
            .expression_attribute_values(":placed", placed)
            .expression_attribute_values(":cooking", cooking)
            .expression_attribute_values(":cancelled", s(OrderStatus::Cancelled.as_str()))
            .expression_attribute_values(":reason", s(reason.as_str()));
        self.run_transition(order_id, update).await
    }

    async fn record_refund(&self, order_id: Uuid, refunded_cents: u64) -> Result<(), StoreError> {
        let update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::order_key(order_id)))
            .update_expression("SET refunded_cents = :refunded, updated_at = :now")
            .expression_attribute_values(":now", s(stored_time(Utc::now())))
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":refunded", n(refunded_cents));
        // A refund for no known order has nothing to be recorded on.
        update_or_old(update).await.map(|_| ())
    }

    async fn store_pizzas(&self, pizzas: &[FinishedPizza]) -> Result<StoredPizzas, StoreError> {
        let mut outcomes: Vec<Option<PizzaStored>> = vec![None; pizzas.len()];
        // The same pizza twice in one call: the second is a duplicate of the first (and one
        // transaction may not name an item twice).
        let mut seen = std::collections::HashSet::new();
        let mut pending = Vec::new();
        for (index, finished) in pizzas.iter().enumerate() {
            if seen.insert(finished.pizza.pizza_id) {
                pending.push((index, finished));
            } else {
                outcomes[index] = Some(PizzaStored::Duplicate);
            }
        }
        // Whether each order's count was full when this call last saw it.
        let mut full: std::collections::HashMap<Uuid, bool> = std::collections::HashMap::new();
        let mut completed = std::collections::BTreeMap::new();
        // Only the first round may complete an order: a retry follows a write that found
        // the order other than expected, and stores what is left the plain way.
        let mut first_round = true;
        while !pending.is_empty() {
            let mut next = Vec::new();
            // One update per order, all at once: orders do not share items.
            let updates = group_by_order(&pending).into_iter().flat_map(|(order_id, pizzas)| {
                let parts: Vec<Pending<'_>> = pizzas.chunks(MAX_PIZZAS_PER_UPDATE).map(<[_]>::to_vec).collect();
                let whole_order = first_round && parts.len() == 1 && brings_whole_order(&parts[0]);
                parts
                    .into_iter()
                    .map(move |part| async move { self.store_on_order(order_id, &part, whole_order).await })
            });
            for stored in futures::future::join_all(updates).await {
                let Stored { order_id, settled, retry, all_stored, completed: ready } = stored?;
                for (index, outcome) in settled {
                    outcomes[index] = Some(outcome);
                }
                if let Some(all_stored) = all_stored {
                    full.insert(order_id, all_stored);
                }
                if let Some(order) = ready {
                    completed.insert(order_id, order);
                }
                next.extend(retry);
            }
            // A first round that tried to complete whole orders may settle nothing: its
            // pizzas are stored the plain way in the next.
            if next.len() == pending.len() && !first_round {
                return Err(StoreError::unavailable("storing the pizzas made no progress"));
            }
            first_round = false;
            pending = next;
        }
        Ok(StoredPizzas {
            outcomes: outcomes.into_iter().map(|o| o.unwrap_or(PizzaStored::Duplicate)).collect(),
            all_stored: full.into_iter().filter(|(_, full)| *full).map(|(order_id, _)| order_id).collect(),
            completed,
        })
    }

    async fn complete_if_all_stored(&self, order_id: Uuid) -> Result<Completion, StoreError> {
        let update = self
            .guarded_update(order_id)
            .update_expression("SET #status = :ready, updated_at = :now REMOVE watch, status_since")
            .condition_expression("#status = :cooking AND pizzas_ready = pizzas")
            .expression_attribute_values(":cooking", s(OrderStatus::Cooking.as_str()))
            .expression_attribute_values(":ready", s(OrderStatus::Ready.as_str()));
        match update_or_old(update).await? {
            Ok(order) => Ok(Completion::Completed(order_from_item(&order)?)),
            Err(current) => match current.as_ref().map(order_from_item).transpose()? {
                Some(order) if order.status == OrderStatus::Ready => Ok(Completion::AlreadyReady(order)),
                current => Ok(Completion::NotComplete(current)),
            },
        }
    }
}

impl DynamoOrders {
    /// Stores some of one order's pizzas on the order's own item and counts them, in one
    /// conditional update (no transaction): the order must be cooking and none of them
    /// stored. With `whole_order`, the same write completes the order, on condition that
    /// these are all its pizzas and none was stored before. Says what it settled and which
    /// pizzas to try again.
    async fn store_on_order<'p>(
        &self,
        order_id: Uuid,
        pizzas: &[(usize, &'p FinishedPizza)],
        whole_order: bool,
    ) -> Result<Stored<'p>, StoreError> {
        let mut update = self
            .guarded_update(order_id)
            .expression_attribute_values(":cooking", s(OrderStatus::Cooking.as_str()))
            .expression_attribute_values(":stored", n(pizzas.len() as u64));
        let (mut sets, mut conditions) = (vec!["updated_at = :now".to_owned()], vec!["#status = :cooking".to_owned()]);
        let mut removes = "";
        if whole_order {
            update = update
                .expression_attribute_values(":ready", s(OrderStatus::Ready.as_str()))
                .expression_attribute_values(":none", n(0u64));
            sets.push("#status = :ready".to_owned());
            conditions.push("pizzas = :stored AND (attribute_not_exists(pizzas_ready) OR pizzas_ready = :none)".into());
            removes = " REMOVE watch, status_since";
        }
        for (i, (_, finished)) in pizzas.iter().enumerate() {
            // Stored under its name now, on condition that it is under none of its names.
            for (j, name) in pizza_attributes(order_id, finished.pizza.pizza_id).into_iter().enumerate() {
                update = update.expression_attribute_names(format!("#p{i}_{j}"), name);
                conditions.push(format!("attribute_not_exists(#p{i}_{j})"));
            }
            update =
                update.expression_attribute_values(format!(":p{i}"), ingredients_to_value(&finished.pizza.ingredients));
            sets.push(format!("#p{i}_0 = :p{i}"));
        }
        let update = update
            .update_expression(format!("SET {} ADD pizzas_ready :stored{removes}", sets.join(", ")))
            .condition_expression(conditions.join(" AND "));
        let old = match update_or_old(update).await? {
            Ok(new) => {
                let settled = pizzas.iter().map(|(index, _)| (*index, PizzaStored::Stored)).collect();
                // An order this code cannot read is an error, not a silent "not complete": a
                // completed one would otherwise go unconfirmed.
                let order = order_from_item(&new)?;
                let all_stored = Some(order.pizzas_ready >= order.pizzas);
                let completed = whole_order.then_some(order);
                return Ok(Stored { order_id, settled, retry: Vec::new(), all_stored, completed });
            }
            Err(old) => old,
        };
        let current = old.as_ref().map(order_from_item).transpose()?;
        let cooking = current.as_ref().is_some_and(|order| order.status == OrderStatus::Cooking);
        let all_stored = current.as_ref().map(|o| o.pizzas_ready >= o.pizzas);
        let mut stored = Stored { order_id, settled: Vec::new(), retry: Vec::new(), all_stored, completed: None };
        for (index, finished) in pizzas {
            let stored_before = old.as_ref().is_some_and(|item| {
                pizza_attributes(order_id, finished.pizza.pizza_id).iter().any(|name| item.contains_key(name))
            });
            if stored_before {
                stored.settled.push((*index, PizzaStored::Duplicate));
            } else if cooking {
                stored.retry.push((*index, *finished));
            } else {
                stored.settled.push((*index, PizzaStored::OrderNotCooking { current: current.clone() }));
            }
        }
        Ok(stored)
    }
}

/// Pizzas waiting to be stored, with their place in the caller's list.
type Pending<'p> = Vec<(usize, &'p FinishedPizza)>;

/// What one update of an order's pizzas settled (by place in the caller's list), the
/// pizzas to try again, whether the order had all its pizzas stored as the update saw
/// it (`None`: no such order), and the order if the update completed it.
struct Stored<'p> {
    order_id: Uuid,
    settled: Vec<(usize, PizzaStored)>,
    retry: Pending<'p>,
    all_stored: Option<bool>,
    completed: Option<Order>,
}

/// Whether these pizzas are all of their order's, as the kitchen's events say.
fn brings_whole_order(pizzas: &[(usize, &FinishedPizza)]) -> bool {
    let count = pizzas.len() as u32;
    pizzas.iter().all(|(_, finished)| finished.pizzas_in_order == Some(count))
}

/// Groups pizzas by order, in order of first appearance.
fn group_by_order<'p>(pending: &[(usize, &'p FinishedPizza)]) -> Vec<(Uuid, Pending<'p>)> {
    let mut orders: Vec<(Uuid, Pending<'p>)> = Vec::new();
    for (index, finished) in pending {
        match orders.iter_mut().find(|(id, _)| *id == finished.order_id) {
            Some((_, pizzas)) => pizzas.push((*index, *finished)),
            None => orders.push((finished.order_id, vec![(*index, *finished)])),
        }
    }
    orders
}
