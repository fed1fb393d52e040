//! The stock room: setting an ingredient's units, and reading the levels and the
//! reservations that hold them.

use super::*;

#[async_trait]
impl StockRoom for DynamoInventory {
    async fn set_stock(&self, stage: &str, ingredient: &str, units: u64) -> Result<(), StoreError> {
        // The map must exist before one of its entries can be set: two writes, for an
        // operator's rare call.
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::stock_key(stage)))
            .update_expression("SET #available = if_not_exists(#available, :none), #stage = :stage")
            .expression_attribute_names("#available", AVAILABLE)
            .expression_attribute_names("#stage", "stage")
            .expression_attribute_values(":none", AttributeValue::M(HashMap::new()))
            .expression_attribute_values(":stage", s(stage))
            .send()
            .await
            .map_err(classify)?;
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::stock_key(stage)))
            .update_expression("SET #available.#ingredient = :units")
            .expression_attribute_names("#available", AVAILABLE)
            .expression_attribute_names("#ingredient", ingredient)
            .expression_attribute_values(":units", n(units))
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }

    async fn levels(&self) -> Result<Vec<StockLevel>, StoreError> {
        let mut available: BTreeMap<(String, String), i64> = BTreeMap::new();
        let mut reserved: BTreeMap<(String, String), u64> = BTreeMap::new();
        for item in self.scan().await? {
            if opt_s(&item, "pk") == Some(STOCK_PK) {
                let stage = get_s(&item, "sk")?;
                for (ingredient, units) in available_in(&item)? {
                    available.insert((stage.to_owned(), ingredient), units);
                }
            } else if is_reservation_item(&item) {
                let stage = get_s(&item, "stage")?;
                for (_, ingredient) in pizzas_in(&item) {
                    *reserved.entry((stage.to_owned(), ingredient.to_owned())).or_default() += 1;
                }
            }
        }
        Ok(available
            .into_iter()
            .map(|((stage, ingredient), available)| {
                let reserved = reserved.get(&(stage.clone(), ingredient.clone())).copied().unwrap_or_default();
                StockLevel { stage, ingredient, available, reserved }
            })
            .collect())
    }

    async fn reservations(&self) -> Result<Vec<Held>, StoreError> {
        let mut held = Vec::new();
        for item in self.scan().await?.iter().filter(|item| is_reservation_item(item)) {
            let (order_id, stage) = (get_uuid(item, "order_id")?, get_s(item, "stage")?);
            for (pizza_id, ingredient) in pizzas_in(item) {
                held.push(Held { order_id, pizza_id, stage: stage.to_owned(), ingredient: ingredient.to_owned() });
            }
        }
        held.sort();
        Ok(held)
    }
}
