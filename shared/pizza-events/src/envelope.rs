//! The one envelope every event travels in: immutable, versioned and self-describing.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

/// Namespace for event ids derived from their cause (UUID v5). Changing it would change
/// every derived id, so it is fixed forever.
const DERIVED_ID_NAMESPACE: Uuid = Uuid::from_u128(0x6f0c_2b1e_93a4_4d35_8f0e_5a7b_c1d2_e3f4);

/// A typed event payload: what `data` holds for one `type` at one `version`.
pub trait Event: Serialize + DeserializeOwned + JsonSchema {
    /// The `type` of the envelope that carries this payload.
    const TYPE: &'static str;
    /// The current version of the payload: the one this type reads and producers write.
    const VERSION: u32;

    /// Turns the `data` of an older version into the current one. The only place where
    /// old versions are understood; the default knows no older version.
    fn upcast(from_version: u32, data: Value) -> Result<Value, DecodeError> {
        let _ = data;
        Err(DecodeError::unsupported::<Self>(from_version))
    }

    /// Checks what the payload's types cannot say, such as a list that must not be
    /// empty. A payload that fails it is invalid data: poison, like one that does not
    /// parse. The default accepts every payload that parses.
    fn check(&self) -> Result<(), String> {
        Ok(())
    }
}

/// An event with its metadata. `D` is the payload: a typed [`Event`] once decoded, or
/// raw JSON ([`WireEvent`]) as it travels: read off a queue, published, archived.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Envelope<D = Value> {
    /// The event's own id: the same for every copy of it, so consumers can drop duplicates.
    pub id: Uuid,
    /// What happened, such as `OrderPlaced`: names the payload's type.
    #[serde(rename = "type")]
    pub event_type: String,
    /// The version of the payload's schema.
    pub version: u32,
    /// When it happened, by the publisher's clock.
    pub occurred_at: DateTime<Utc>,
    /// The service that published the event.
    pub source: String,
    /// Ties every event of one business flow together: the order id.
    pub correlation_id: String,
    /// The event that caused this one; `None` for an event caused by a request.
    pub causation_id: Option<Uuid>,
    /// The payload.
    pub data: D,
}

/// An event as it travels on the bus, its payload still JSON: what a consumer reads off a
/// queue before checking it, and what a producer publishes.
pub type WireEvent = Envelope<Value>;

/// Why a message could not be read as an event.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// Not JSON, or not an envelope.
    #[error("not an event envelope: {0}")]
    Malformed(#[source] serde_json::Error),
    /// An envelope of another type than the one asked for.
    #[error("expected a {expected} event, got {actual}")]
    UnexpectedType {
        /// The type asked for.
        expected: &'static str,
        /// The envelope's type.
        actual: String,
    },
    /// A version this code has no upcaster for (a newer producer, or an unknown old one).
    #[error("{event_type} v{version} is not understood here (current: v{supported})")]
    UnsupportedVersion {
        /// The envelope's type.
        event_type: String,
        /// The envelope's version.
        version: u32,
        /// The version this code reads.
        supported: u32,
    },
    /// The payload does not match its version's schema.
    #[error("{event_type} v{version} has invalid data: {source}")]
    InvalidData {
        /// The envelope's type.
        event_type: String,
        /// The envelope's version.
        version: u32,
        /// What did not match.
        #[source]
        source: serde_json::Error,
    },
}

impl DecodeError {
    /// Version `version` of `E`, which this code has no upcaster for.
    pub fn unsupported<E: Event>(version: u32) -> Self {
        DecodeError::UnsupportedVersion { event_type: E::TYPE.to_owned(), version, supported: E::VERSION }
    }
}

impl<E: Event> Envelope<E> {
    /// A new event that no other event caused (a client request).
    pub fn new(source: &str, correlation_id: impl Into<String>, data: E) -> Self {
        Self::with_id(Uuid::new_v4(), source, correlation_id.into(), None, data)
    }

    /// A new event whose id the caller derives (see [`derived_id`]), so that announcing the
    /// same fact twice yields the same event.
    pub fn identified(id: Uuid, source: &str, correlation_id: impl Into<String>, data: E) -> Self {
        Self::with_id(id, source, correlation_id.into(), None, data)
    }

    /// An event caused by `parent`. Its id is derived from the parent's id and
    /// `discriminator`, so a redelivered parent yields the same event and duplicates
    /// collapse downstream instead of multiplying.
    pub fn caused_by<P>(parent: &Envelope<P>, source: &str, discriminator: &str, data: E) -> Self {
        let name = format!("{}/{}/{}", parent.id, E::TYPE, discriminator);
        let id = Uuid::new_v5(&DERIVED_ID_NAMESPACE, name.as_bytes());
        Self::with_id(id, source, parent.correlation_id.clone(), Some(parent.id), data)
    }

    /// An event caused by `parent` whose id is fixed by the fact it announces (`fact`, for
    /// example the order and the event type) rather than by its cause: a fact announced
    /// again from another message (a redelivery, a replay) is the same event.
    ///
    /// Its copies may therefore differ in what they say of their past: a copy announced
    /// from another message names that message as its cause (and a stage's copy carries
    /// the journey that message brought). The fact still counts once: the batch layer
    /// handles one copy of an id a batch, and each consumer's writes by natural key absorb
    /// a copy that comes later; the archive may keep both, and `pizza trace` draws the hop
    /// at its first time, marked as announced again.
    pub fn of_fact<P>(fact: &[&str], parent: &Envelope<P>, source: &str, data: E) -> Self {
        Self::with_id(derived_id(fact), source, parent.correlation_id.clone(), Some(parent.id), data)
    }

    fn with_id(id: Uuid, source: &str, correlation_id: String, causation_id: Option<Uuid>, data: E) -> Self {
        Self {
            id,
            event_type: E::TYPE.to_owned(),
            version: E::VERSION,
            occurred_at: Utc::now(),
            source: source.to_owned(),
            correlation_id,
            causation_id,
            data,
        }
    }

    /// The same envelope with its payload as JSON, ready for the wire.
    pub fn to_wire(&self) -> WireEvent {
        Envelope {
            id: self.id,
            event_type: self.event_type.clone(),
            version: self.version,
            occurred_at: self.occurred_at,
            source: self.source.clone(),
            correlation_id: self.correlation_id.clone(),
            causation_id: self.causation_id,
            // Serialising plain data structs to a JSON value cannot fail.
            data: serde_json::to_value(&self.data).unwrap_or(Value::Null),
        }
    }
}

impl WireEvent {
    /// Reads a message body as an envelope, leaving its payload undecoded.
    pub fn from_json(json: &str) -> Result<Self, DecodeError> {
        serde_json::from_str(json).map_err(DecodeError::Malformed)
    }

    /// The message body, as published.
    pub fn to_json(&self) -> String {
        // A JSON value and plain metadata always serialise.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Whether this is an event of type `E`, at any version.
    pub fn is<E: Event>(&self) -> bool {
        self.event_type == E::TYPE
    }

    /// Checks the type, upcasts an older version and decodes the payload. Unknown fields
    /// are ignored, so producers may add optional fields without breaking consumers.
    pub fn decode<E: Event>(&self) -> Result<Envelope<E>, DecodeError> {
        if !self.is::<E>() {
            return Err(DecodeError::UnexpectedType { expected: E::TYPE, actual: self.event_type.clone() });
        }
        let data = match self.version {
            v if v == E::VERSION => self.data.clone(),
            v if v < E::VERSION => E::upcast(v, self.data.clone())?,
            v => return Err(DecodeError::unsupported::<E>(v)),
        };
        let invalid =
            |source| DecodeError::InvalidData { event_type: self.event_type.clone(), version: self.version, source };
        let data: E = serde_json::from_value(data).map_err(invalid)?;
        data.check().map_err(|reason| invalid(serde::de::Error::custom(reason)))?;
        Ok(Envelope {
            id: self.id,
            event_type: self.event_type.clone(),
            version: E::VERSION,
            occurred_at: self.occurred_at,
            source: self.source.clone(),
            correlation_id: self.correlation_id.clone(),
            causation_id: self.causation_id,
            data,
        })
    }
}

/// A name-based id: the same inputs always give the same id.
pub fn derived_id(parts: &[&str]) -> Uuid {
    Uuid::new_v5(&DERIVED_ID_NAMESPACE, parts.join("/").as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[derive(Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
    struct Baked {
        minutes: u32,
        oven: String,
    }

    impl Event for Baked {
        const TYPE: &'static str = "Baked";
        const VERSION: u32 = 2;

        fn upcast(from_version: u32, mut data: Value) -> Result<Value, DecodeError> {
            match from_version {
                1 => {
                    data["oven"] = json!("wood-fired");
                    Ok(data)
                }
                v => Err(DecodeError::UnsupportedVersion { event_type: Self::TYPE.into(), version: v, supported: 2 }),
            }
        }
    }

    fn incoming(version: u32, data: Value) -> WireEvent {
        WireEvent::from_json(
            &json!({
                "id": "0b9f4b8e-7f5e-4d8e-9d55-3f1f7c0e2a11", "type": "Baked", "version": version,
                "occurred_at": "2026-11-23T10:00:00Z", "source": "oven", "correlation_id": "order-1",
                "causation_id": null, "data": data, "unknown_field": "ignored"
            })
            .to_string(),
        )
        .expect("valid envelope")
    }

    #[test]
    fn decodes_the_current_version_and_ignores_unknown_fields() {
        let event = incoming(2, json!({"minutes": 4, "oven": "electric", "extra": true}));
        let baked = event.decode::<Baked>().expect("decodes");
        assert_eq!(baked.data, Baked { minutes: 4, oven: "electric".into() });
    }

    #[test]
    fn upcasts_an_older_version() {
        let baked = incoming(1, json!({"minutes": 4})).decode::<Baked>().expect("upcasts");
        assert_eq!(baked.version, 2);
        assert_eq!(baked.data.oven, "wood-fired");
    }

    #[test]
    fn refuses_a_newer_version_and_another_type() {
        assert!(matches!(
            incoming(3, json!({"minutes": 4})).decode::<Baked>(),
            Err(DecodeError::UnsupportedVersion { version: 3, .. })
        ));
        let mut other = incoming(2, json!({}));
        other.event_type = "Sliced".into();
        assert!(matches!(other.decode::<Baked>(), Err(DecodeError::UnexpectedType { .. })));
    }

    #[test]
    fn reports_invalid_data() {
        let err = incoming(2, json!({"minutes": "four"})).decode::<Baked>().unwrap_err();
        assert!(matches!(err, DecodeError::InvalidData { .. }), "{err}");
    }

    #[test]
    fn an_event_caused_by_the_same_parent_gets_the_same_id() {
        let parent = Envelope::new("oven", "order-1", Baked { minutes: 1, oven: "a".into() });
        let first = Envelope::caused_by(&parent, "oven", "slice-1", Baked { minutes: 2, oven: "b".into() });
        let again = Envelope::caused_by(&parent, "oven", "slice-1", Baked { minutes: 2, oven: "b".into() });
        let other = Envelope::caused_by(&parent, "oven", "slice-2", Baked { minutes: 2, oven: "b".into() });
        assert_eq!(first.id, again.id);
        assert_ne!(first.id, other.id);
        assert_eq!(first.causation_id, Some(parent.id));
        assert_eq!(first.correlation_id, "order-1");
    }
}
