//! A batch's reservations at a stage: rounds of one transaction each, until every pizza
//! has its ingredient or is out of stock.

use super::*;

/// What one round of a batch needs, per order.
struct OrderRound<'r> {
    order_id: Uuid,
    /// (request index, request, ingredient it gets this round or None: none left)
    pizzas: Vec<(usize, &'r ReservationRequest, Option<String>)>,
}

impl DynamoInventory {
    /// Tries one round; settles what it learns in `outcomes` and `known`.
    async fn round(
        &self,
        stage: &str,
        orders: &[OrderRound<'_>],
        outcomes: &mut [Option<Reservation>],
        known: &mut HashMap<String, u64>,
    ) -> Result<(), StoreError> {
        let mut takes: BTreeMap<&str, u64> = BTreeMap::new();
        let mut candidates: BTreeSet<&str> = BTreeSet::new();
        // Every ingredient a pizza of the round goes without must really be short.
        let mut short: BTreeSet<&str> = BTreeSet::new();
        for (_, request, pick) in orders.iter().flat_map(|order| &order.pizzas) {
            let wanted = request.candidates.iter().map(String::as_str);
            match pick {
                Some(ingredient) => *takes.entry(ingredient.as_str()).or_default() += 1,
                None => short.extend(wanted.clone()),
            }
            candidates.extend(wanted);
        }
        let mut actions = vec![self.stock_action(stage, &takes, &short)?];
        for order in orders {
            actions.push(self.reservation_action(stage, order)?);
        }

        let reasons = match transact(&self.client, actions).await? {
            Ok(()) => {
                for order in orders {
                    for (index, _, pick) in &order.pizzas {
                        outcomes[*index] = Some(match pick {
                            Some(ingredient) => Reservation::Reserved(ingredient.clone()),
                            None => Reservation::OutOfStock,
                        });
                    }
                }
                return Ok(());
            }
            Err(reasons) => reasons,
        };
        let mut reasons = reasons.into_iter();
        if let Some(Cancelled::ConditionFailed(old)) = reasons.next() {
            let levels = available_in(&old)?;
            for ingredient in candidates {
                known.insert(ingredient.to_owned(), levels.get(ingredient).copied().unwrap_or(0).max(0) as u64);
            }
        }
        for (order, reason) in orders.iter().zip(reasons) {
            let Cancelled::ConditionFailed(old) = reason else { continue };
            let closed = old.contains_key("closed");
            for (index, request, _) in &order.pizzas {
                if let Some(ingredient) = opt_s(&old, &pizza_attribute(request.pizza_id)) {
                    outcomes[*index].get_or_insert(Reservation::AlreadyReserved(ingredient.to_owned()));
                } else if old.contains_key(&shortage_attribute(request.pizza_id)) {
                    outcomes[*index].get_or_insert(Reservation::AlreadyOutOfStock);
                } else if closed {
                    outcomes[*index].get_or_insert(Reservation::OrderClosed);
                }
            }
        }
        Ok(())
    }

    /// The stage's stock: `takes` units taken of each ingredient, which must be there, and
    /// of every `short` ingredient no more than is taken (a pizza of the round goes
    /// without it). A round that takes nothing only checks.
    fn stock_action(
        &self,
        stage: &str,
        takes: &BTreeMap<&str, u64>,
        short: &BTreeSet<&str>,
    ) -> Result<TransactWriteItem, StoreError> {
        let mut expression = Expression::default();
        let available = expression.name("#available".into(), AVAILABLE);
        let (mut sets, mut conditions) = (Vec::new(), Vec::new());
        let ingredients: BTreeSet<&str> = takes.keys().copied().chain(short.iter().copied()).collect();
        for (i, ingredient) in ingredients.iter().enumerate() {
            let path = format!("{available}.{}", expression.name(format!("#i{i}"), *ingredient));
            let units = takes.get(ingredient).copied().unwrap_or(0);
            if units > 0 {
                let take = expression.value(format!(":t{i}"), n(units));
                sets.push(format!("{path} = {path} - {take}"));
                conditions.push(format!("{path} >= {take}"));
            }
            if short.contains(ingredient) {
                let more = expression.value(format!(":m{i}"), n(units + 1));
                conditions.push(format!("(attribute_not_exists({path}) OR {path} < {more})"));
            }
        }
        let condition =
            if conditions.is_empty() { "attribute_exists(pk)".to_owned() } else { conditions.join(" AND ") };
        let Expression { names, values } = expression;
        let values = (!values.is_empty()).then_some(values);
        let action = if sets.is_empty() {
            let check = ConditionCheck::builder()
                .table_name(&self.table)
                .set_key(Some(Self::stock_key(stage)))
                .condition_expression(condition)
                .set_expression_attribute_names(Some(names))
                .set_expression_attribute_values(values)
                .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
            TransactWriteItem::builder().condition_check(built(check.build())?).build()
        } else {
            let take = Update::builder()
                .table_name(&self.table)
                .set_key(Some(Self::stock_key(stage)))
                .update_expression(format!("SET {}", sets.join(", ")))
                .condition_expression(condition)
                .set_expression_attribute_names(Some(names))
                .set_expression_attribute_values(values)
                .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
            TransactWriteItem::builder().update(built(take.build())?).build()
        };
        Ok(action)
    }

    /// The order's reservation item: not closed, and each pizza of the round gets its
    /// ingredient's attribute, or its shortage's, and must have had neither.
    fn reservation_action(&self, stage: &str, order: &OrderRound<'_>) -> Result<TransactWriteItem, StoreError> {
        let mut expression = Expression::default();
        let mut sets = vec![
            format!("order_id = {}", expression.value(":order".into(), s(order.order_id.to_string()))),
            format!("{} = {}", expression.name("#stage".into(), "stage"), expression.value(":stage".into(), s(stage))),
        ];
        let mut conditions = vec!["attribute_not_exists(closed)".to_owned()];
        for (i, (_, request, pick)) in order.pizzas.iter().enumerate() {
            let held = expression.name(format!("#p{i}"), pizza_attribute(request.pizza_id));
            let lacking = expression.name(format!("#x{i}"), shortage_attribute(request.pizza_id));
            conditions.push(format!("attribute_not_exists({held}) AND attribute_not_exists({lacking})"));
            match pick {
                Some(ingredient) => {
                    let value = expression.value(format!(":p{i}"), s(ingredient.clone()));
                    sets.push(format!("{held} = {value}"));
                }
                None => {
                    let value = expression.value(format!(":x{i}"), s("out of stock"));
                    sets.push(format!("{lacking} = {value}"));
                }
            }
        }
        let Expression { names, values } = expression;
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(Self::reservations_key(order.order_id, stage)))
            .update_expression(format!("SET {}", sets.join(", ")))
            .condition_expression(conditions.join(" AND "))
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        Ok(TransactWriteItem::builder().update(built(update.build())?).build())
    }
}

#[async_trait]
impl Pantry for DynamoInventory {
    async fn reserve(&self, stage: &str, requests: &[ReservationRequest]) -> Result<Vec<Reservation>, StoreError> {
        self.reserve_believing(stage, requests, HashMap::new()).await
    }
}

impl DynamoInventory {
    /// As [`Pantry::reserve`], starting from what the caller believes is left of some
    /// ingredients. A belief can be stale: the writes check it, so it only costs a round
    /// when it is wrong. (The system tests use it to prove that a stale level never makes
    /// a pizza go without.)
    pub async fn reserve_believing(
        &self,
        stage: &str,
        requests: &[ReservationRequest],
        believed: HashMap<String, u64>,
    ) -> Result<Vec<Reservation>, StoreError> {
        let mut outcomes: Vec<Option<Reservation>> = vec![None; requests.len()];
        let mut first_of: HashMap<Uuid, usize> = HashMap::new();
        let mut pending: Vec<usize> = Vec::new();
        for (index, request) in requests.iter().enumerate() {
            if let std::collections::hash_map::Entry::Vacant(first) = first_of.entry(request.pizza_id) {
                first.insert(index);
                pending.push(index);
            }
        }
        let mut known = believed;
        for _ in 0..MAX_ROUNDS {
            if pending.is_empty() {
                break;
            }
            let before = (pending.len(), known.clone());
            for part in split_to_fit(&pending, requests) {
                let batch: Vec<&ReservationRequest> = part.iter().map(|i| &requests[*i]).collect();
                let picks = allocate(&batch, &known);
                let mut orders: Vec<OrderRound<'_>> = Vec::new();
                for (index, pick) in part.iter().zip(picks) {
                    let request = &requests[*index];
                    match orders.iter_mut().find(|o| o.order_id == request.order_id) {
                        Some(order) => order.pizzas.push((*index, request, pick)),
                        None => orders
                            .push(OrderRound { order_id: request.order_id, pizzas: vec![(*index, request, pick)] }),
                    }
                }
                self.round(stage, &orders, &mut outcomes, &mut known).await?;
            }
            pending.retain(|index| outcomes[*index].is_none());
            if (pending.len(), &known) == (before.0, &before.1) {
                return Err(StoreError::unavailable(
                    "reserving made no progress: the stock is changing under the batch",
                ));
            }
        }
        if !pending.is_empty() {
            return Err(StoreError::unavailable("the batch's reservations did not settle; it will be retried"));
        }
        // A pizza named twice in one call holds what its first mention got.
        Ok(requests
            .iter()
            .enumerate()
            .map(|(index, request)| {
                let first = first_of[&request.pizza_id];
                match (&outcomes[first], first == index) {
                    (Some(Reservation::Reserved(ingredient)), false) => {
                        Reservation::AlreadyReserved(ingredient.clone())
                    }
                    (Some(Reservation::OutOfStock), false) => Reservation::AlreadyOutOfStock,
                    (Some(outcome), _) => outcome.clone(),
                    (None, _) => Reservation::OutOfStock,
                }
            })
            .collect())
    }
}

/// Splits pending requests so that each part's transaction stays within 100 actions: the
/// stock item and one reservation item per order.
pub(super) fn split_to_fit(pending: &[usize], requests: &[ReservationRequest]) -> Vec<Vec<usize>> {
    let mut parts: Vec<Vec<usize>> = vec![Vec::new()];
    let mut orders: Vec<Uuid> = Vec::new();
    for index in pending {
        let order_id = requests[*index].order_id;
        if !orders.contains(&order_id) {
            if orders.len() == MAX_ORDERS_PER_TRANSACTION {
                parts.push(Vec::new());
                orders.clear();
            }
            orders.push(order_id);
        }
        if let Some(part) = parts.last_mut() {
            part.push(*index);
        }
    }
    parts.retain(|part| !part.is_empty());
    parts
}
