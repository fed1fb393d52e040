//! The schema registry: every event type at its current version as a JSON Schema, and a
//! decoder that reads any version ever published through the current types and their
//! upcasters. `events/schemas/` holds the published schemas; `events/samples/` a message of
//! each published version, which the schema tests decode.

use serde_json::{Value, json};

use crate::catalogue::{
    IngredientAdded, InventoryFailed, OrderCancelled, OrderConfirmed, OrderPlaced, PaymentFailed, PaymentProcessed,
    PaymentRefunded, PizzaRequested,
};
use crate::envelope::{DecodeError, Envelope, Event, WireEvent};

/// One entry of the registry: an event type at its current version.
pub struct CatalogueEntry {
    /// The envelope's `type`.
    pub event_type: &'static str,
    /// Its current version.
    pub version: u32,
    /// The JSON Schema of its envelope, with `type` and `version` pinned.
    pub schema: schemars::Schema,
    decode: fn(&WireEvent) -> Result<Value, DecodeError>,
}

impl CatalogueEntry {
    fn of<E: Event>() -> Self {
        let mut schema = schemars::schema_for!(Envelope<E>);
        schema.insert("title".into(), format!("{} v{}", E::TYPE, E::VERSION).into());
        // Pin the envelope's `type` and `version` to this event's, so the schema validates
        // exactly one kind of message.
        if let Some(properties) = schema.get_mut("properties").and_then(|p| p.as_object_mut()) {
            properties.insert("type".into(), json!({"const": E::TYPE}));
            properties.insert("version".into(), json!({"const": E::VERSION}));
        }
        let decode = |event: &WireEvent| {
            let decoded = event.decode::<E>()?;
            Ok(serde_json::to_value(&decoded.data).unwrap_or(Value::Null))
        };
        Self { event_type: E::TYPE, version: E::VERSION, schema, decode }
    }

    /// The file name in `events/schemas/`: one file per type and version, never edited once
    /// published.
    pub fn file_name(&self) -> String {
        format!("{}.v{}.schema.json", self.event_type, self.version)
    }
}

/// Every event the system publishes, at its current version.
pub fn catalogue() -> Vec<CatalogueEntry> {
    vec![
        CatalogueEntry::of::<OrderPlaced>(),
        CatalogueEntry::of::<PizzaRequested>(),
        CatalogueEntry::of::<IngredientAdded>(),
        CatalogueEntry::of::<OrderConfirmed>(),
        CatalogueEntry::of::<PaymentProcessed>(),
        CatalogueEntry::of::<PaymentFailed>(),
        CatalogueEntry::of::<PaymentRefunded>(),
        CatalogueEntry::of::<InventoryFailed>(),
        CatalogueEntry::of::<OrderCancelled>(),
    ]
}

/// Decodes `event`, of any version ever published, into the current version's payload.
pub fn decode_current(event: &WireEvent) -> Result<Value, DecodeError> {
    let entries = catalogue();
    let entry = entries.iter().find(|entry| entry.event_type == event.event_type).ok_or_else(|| {
        DecodeError::UnsupportedVersion { event_type: event.event_type.clone(), version: event.version, supported: 0 }
    })?;
    (entry.decode)(event)
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    #[test]
    fn any_catalogued_event_decodes_and_an_unknown_type_does_not() {
        let order_id = Uuid::new_v4();
        let confirmed = Envelope::new("test", order_id.to_string(), OrderConfirmed { order_id, pizzas: 2 });
        assert_eq!(decode_current(&confirmed.to_wire()).expect("decodes")["pizzas"], 2);
        let mut stranger = confirmed.to_wire();
        stranger.event_type = "PizzaEaten".into();
        assert!(decode_current(&stranger).is_err());
    }
}
