//! The event catalogue: every payload that travels on the bus, with its type and version.
//! `events/schemas/` holds the JSON Schema of each, generated from these types.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::envelope::{DecodeError, Envelope, Event, IncomingEvent};

/// A client placed an order for `pizzas` random pizzas.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct OrderPlaced {
    pub order_id: Uuid,
    pub pizzas: u32,
}

impl Event for OrderPlaced {
    const TYPE: &'static str = "OrderPlaced";
    const VERSION: u32 = 1;
}

/// The kitchen started one pizza of an order; the first topping stage picks it up.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PizzaRequested {
    pub order_id: Uuid,
    pub pizza_id: Uuid,
}

impl Event for PizzaRequested {
    const TYPE: &'static str = "PizzaRequested";
    const VERSION: u32 = 1;
}

/// One ingredient on a pizza, and the stage that put it there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Ingredient {
    pub stage: String,
    pub name: String,
}

/// A topping stage added its ingredient. Every stage publishes this same event, so a new
/// stage can be inserted anywhere without another stage knowing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct IngredientAdded {
    pub order_id: Uuid,
    pub pizza_id: Uuid,
    /// The stage that published this event.
    pub stage: String,
    /// Every ingredient on the pizza so far, in the order they were added.
    pub ingredients: Vec<Ingredient>,
}

impl Event for IngredientAdded {
    const TYPE: &'static str = "IngredientAdded";
    const VERSION: u32 = 1;
}

/// Every pizza of the order is stored; the order is ready.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct OrderConfirmed {
    pub order_id: Uuid,
    pub pizzas: u32,
}

impl Event for OrderConfirmed {
    const TYPE: &'static str = "OrderConfirmed";
    const VERSION: u32 = 1;
}

/// A pizza on its way through the kitchen, whatever stage it has reached.
#[derive(Debug, Clone, PartialEq)]
pub struct PizzaInProgress {
    pub order_id: Uuid,
    pub pizza_id: Uuid,
    pub ingredients: Vec<Ingredient>,
}

impl PizzaInProgress {
    /// Reads a pizza from either event a stage may receive: a fresh `PizzaRequested` or
    /// the `IngredientAdded` of the stage before it.
    pub fn from_event(event: &IncomingEvent) -> Result<Self, DecodeError> {
        if event.is::<PizzaRequested>() {
            let Envelope { data, .. } = event.decode::<PizzaRequested>()?;
            return Ok(Self { order_id: data.order_id, pizza_id: data.pizza_id, ingredients: Vec::new() });
        }
        let Envelope { data, .. } = event.decode::<IngredientAdded>()?;
        Ok(Self { order_id: data.order_id, pizza_id: data.pizza_id, ingredients: data.ingredients })
    }
}

/// One entry of the schema registry.
pub struct CatalogueEntry {
    pub event_type: &'static str,
    pub version: u32,
    pub schema: schemars::Schema,
}

impl CatalogueEntry {
    fn of<E: Event>() -> Self {
        let mut schema = schemars::schema_for!(Envelope<E>);
        schema.insert("title".into(), format!("{} v{}", E::TYPE, E::VERSION).into());
        // Pin the envelope's `type` and `version` to this event's, so the schema
        // validates exactly one kind of message.
        if let Some(properties) = schema.get_mut("properties").and_then(|p| p.as_object_mut()) {
            properties.insert("type".into(), serde_json::json!({"const": E::TYPE}));
            properties.insert("version".into(), serde_json::json!({"const": E::VERSION}));
        }
        Self { event_type: E::TYPE, version: E::VERSION, schema }
    }

    /// The file name in `events/schemas/`: one file per type and version, never edited once
    /// published.
    pub fn file_name(&self) -> String {
        format!("{}.v{}.schema.json", self.event_type, self.version)
    }
}

/// Every event the system publishes, current version.
pub fn catalogue() -> Vec<CatalogueEntry> {
    vec![
        CatalogueEntry::of::<OrderPlaced>(),
        CatalogueEntry::of::<PizzaRequested>(),
        CatalogueEntry::of::<IngredientAdded>(),
        CatalogueEntry::of::<OrderConfirmed>(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stage_reads_a_pizza_from_either_event() {
        let order_id = Uuid::new_v4();
        let pizza_id = Uuid::new_v4();
        let requested = Envelope::new("kitchen", order_id.to_string(), PizzaRequested { order_id, pizza_id });
        let pizza = PizzaInProgress::from_event(&requested.to_incoming()).expect("reads");
        assert!(pizza.ingredients.is_empty());

        let sauce = Ingredient { stage: "sauce".into(), name: "pesto".into() };
        let added = Envelope::caused_by(
            &requested,
            "sauce",
            "sauce",
            IngredientAdded { order_id, pizza_id, stage: "sauce".into(), ingredients: vec![sauce.clone()] },
        );
        let pizza = PizzaInProgress::from_event(&added.to_incoming()).expect("reads");
        assert_eq!(pizza.ingredients, vec![sauce]);
    }

    #[test]
    fn any_other_event_is_not_a_pizza() {
        let placed = Envelope::new("api", "o", OrderPlaced { order_id: Uuid::new_v4(), pizzas: 1 });
        assert!(PizzaInProgress::from_event(&placed.to_incoming()).is_err());
    }
}
