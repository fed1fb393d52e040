//! The event catalogue: every payload that travels on the bus, with its type and current
//! version. `events/schemas/` holds the JSON Schema of each published version, generated
//! from these types (see [`crate::registry`]).

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::envelope::{DecodeError, Event, WireEvent};
use crate::menu;
use crate::names::variant_name;

/// Who orders when the client does not say.
pub const GUEST_CUSTOMER: &str = "guest";
/// The card used when the client gives none: one the simulated provider always accepts.
pub const DEFAULT_CARD_TOKEN: &str = "tok_visa";

/// A client placed an order for `pizzas` random pizzas, to be paid with `card_token`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct OrderPlaced {
    /// The order's id, also the correlation id of its whole life.
    pub order_id: Uuid,
    /// How many pizzas were ordered.
    pub pizzas: u32,
    /// Who placed the order.
    pub customer_id: String,
    /// The card to charge, sealed for the payment service.
    pub card_token: CardToken,
    /// The price of the order, from the menu.
    pub amount_cents: u64,
}

impl OrderPlaced {
    /// What the card token of order `order_id` of `customer_id` is sealed with: a sealed
    /// token copied into another order, or another customer's, does not open.
    pub fn card_context(order_id: Uuid, customer_id: &str) -> String {
        format!("card of order {order_id} of customer {customer_id}")
    }
}

/// The card an order is paid with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CardToken {
    /// Sealed by the API; only the payment service may open it.
    Sealed(Sealed),
    /// In clear, as v1 and v2 carried it. Only the upcasting of an older message makes
    /// one, so that a message still in flight during an upgrade is paid; nothing
    /// publishes it.
    Legacy(String),
}

/// A secret sealed by envelope encryption: AES-256-GCM under a fresh data key, which KMS
/// encrypted under `key_id`. Opening it takes `kms:Decrypt` on that key and the context
/// it was sealed with (for a card token: its order and customer).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Sealed {
    /// The KMS key that encrypted the data key.
    pub key_id: String,
    /// The data key, encrypted by KMS (base64).
    pub data_key: String,
    /// The AES-GCM nonce (base64, 12 bytes).
    pub nonce: String,
    /// The secret, encrypted and authenticated under the data key (base64).
    pub ciphertext: String,
}

impl Event for OrderPlaced {
    const TYPE: &'static str = "OrderPlaced";
    /// v1 had neither customer nor payment: orders were free and anonymous. v2 carried
    /// the card token in clear; v3 carries it sealed.
    const VERSION: u32 = 3;

    fn upcast(from_version: u32, data: Value) -> Result<Value, DecodeError> {
        if !(1..Self::VERSION).contains(&from_version) {
            return Err(DecodeError::unsupported::<Self>(from_version));
        }
        // Anything but an object is refused here, not indexed into (which would panic).
        let mut data: serde_json::Map<String, Value> = serde_json::from_value(data).map_err(|source| {
            DecodeError::InvalidData { event_type: Self::TYPE.into(), version: from_version, source }
        })?;
        if from_version == 1 {
            let pizzas = data.get("pizzas").and_then(Value::as_u64).unwrap_or_default();
            data.insert("customer_id".into(), GUEST_CUSTOMER.into());
            data.insert("card_token".into(), DEFAULT_CARD_TOKEN.into());
            // Saturating: an absurd count is refused when the payload is decoded, not here.
            data.insert("amount_cents".into(), pizzas.saturating_mul(menu::PIZZA_PRICE_CENTS).into());
        }
        // v2 → v3: the token in clear becomes a legacy card (anything else is refused when
        // the payload is decoded).
        if let Some(token) = data.remove("card_token") {
            data.insert("card_token".into(), serde_json::json!({ "legacy": token }));
        }
        Ok(Value::Object(data))
    }
}

/// The customer was charged for the order, once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PaymentProcessed {
    /// The order paid for.
    pub order_id: Uuid,
    /// Who was charged.
    pub customer_id: String,
    /// What was charged.
    pub amount_cents: u64,
}

impl Event for PaymentProcessed {
    const TYPE: &'static str = "PaymentProcessed";
    const VERSION: u32 = 1;
}

/// Why a charge was declined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeclineReason {
    /// The provider refused the card.
    CardDeclined,
    /// The amount is over the customer's credit limit.
    OverLimit,
}

impl DeclineReason {
    /// The reason as it appears in events and logs: `card_declined` or `over_limit`.
    pub fn as_str(self) -> &'static str {
        variant_name(&self)
    }
}

/// The charge was declined; nothing was charged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PaymentFailed {
    /// The order that was not paid for.
    pub order_id: Uuid,
    /// Who was to be charged.
    pub customer_id: String,
    /// What the charge would have been.
    pub amount_cents: u64,
    /// Why it was declined.
    pub reason: DeclineReason,
}

impl Event for PaymentFailed {
    const TYPE: &'static str = "PaymentFailed";
    const VERSION: u32 = 1;
}

/// The charge of a cancelled order was refunded, once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PaymentRefunded {
    /// The cancelled order.
    pub order_id: Uuid,
    /// What was given back: all that was charged.
    pub amount_cents: u64,
}

impl Event for PaymentRefunded {
    const TYPE: &'static str = "PaymentRefunded";
    const VERSION: u32 = 1;
}

/// A kitchen stage found no ingredient of its menu in stock for a pizza.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct InventoryFailed {
    /// The order the pizza belongs to.
    pub order_id: Uuid,
    /// The pizza that cannot be made.
    pub pizza_id: Uuid,
    /// The stage whose ingredients ran out.
    pub stage: String,
    /// The pizza's events before this one, first first (see [`Hop`]). Empty in v1.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub journey: Vec<Hop>,
}

impl Event for InventoryFailed {
    const TYPE: &'static str = "InventoryFailed";
    /// v2 adds `journey`, which v1 did not carry.
    const VERSION: u32 = 2;

    fn upcast(from_version: u32, data: Value) -> Result<Value, DecodeError> {
        only_adds_optional_fields::<Self>(from_version, data)
    }
}

/// Why an order was cancelled: its payment was declined, or a stage had no ingredient left
/// for one of its pizzas.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
// Documented variants would turn the published schema's `enum` into a `oneOf`: a new shape
// for OrderCancelled v1, which must never change.
#[allow(missing_docs)]
pub enum CancelReason {
    PaymentDeclined,
    OutOfStock,
}

impl CancelReason {
    /// The reason as it appears in events, logs and the API: `payment_declined` or `out_of_stock`.
    pub fn as_str(self) -> &'static str {
        variant_name(&self)
    }
}

/// The order is cancelled: every service undoes its part (refund, release of stock).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct OrderCancelled {
    /// The cancelled order.
    pub order_id: Uuid,
    /// Why it was cancelled.
    pub reason: CancelReason,
}

impl Event for OrderCancelled {
    const TYPE: &'static str = "OrderCancelled";
    const VERSION: u32 = 1;
}

/// The kitchen started one pizza of an order; the first topping stage picks it up.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PizzaRequested {
    /// The order the pizza belongs to.
    pub order_id: Uuid,
    /// The pizza's id, which every stage's event about it carries.
    pub pizza_id: Uuid,
    /// How many pizzas the order has: with it, the batch that brings all of an order's
    /// pizzas at once stores and completes the order in one write. `None` in v1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pizzas_in_order: Option<u32>,
}

impl Event for PizzaRequested {
    const TYPE: &'static str = "PizzaRequested";
    /// v2 adds `pizzas_in_order`, which v1 did not carry.
    const VERSION: u32 = 2;

    fn upcast(from_version: u32, data: Value) -> Result<Value, DecodeError> {
        only_adds_optional_fields::<Self>(from_version, data)
    }
}

/// One ingredient on a pizza, and the stage that put it there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Ingredient {
    /// The stage that added it.
    pub stage: String,
    /// The ingredient, as on the stage's menu.
    pub name: String,
}

/// One event of a pizza's way through the kitchen (its request, a stage's ingredient), as a
/// later event of the same pizza carries it on. The archive keeps only the kitchen's last
/// event of each pizza; the events before it are read from its journey, so an order's trace
/// still shows every stage without the archive paying for every hop.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Hop {
    /// The event's id.
    pub id: Uuid,
    /// The event's type.
    #[serde(rename = "type")]
    pub event_type: String,
    /// The version of its type it was published in.
    pub version: u32,
    /// The service that published it (a stage's name for a stage's event).
    pub source: String,
    /// When it was published.
    pub occurred_at: DateTime<Utc>,
    /// The event that caused it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub causation_id: Option<Uuid>,
}

impl Hop {
    /// The hop an event makes on a pizza's journey.
    pub fn of(event: &WireEvent) -> Self {
        Self {
            id: event.id,
            event_type: event.event_type.clone(),
            version: event.version,
            source: event.source.clone(),
            occurred_at: event.occurred_at,
            causation_id: event.causation_id,
        }
    }
}

/// A topping stage added its ingredient to some pizzas of one order: those of its batch
/// (at most [`IngredientAdded::MOST_PIZZAS`]). Every stage publishes this same event, so a
/// new stage can be inserted anywhere without another stage knowing.
///
/// Until v4 it was one event per pizza, and SNS's deliveries of those were half of what a
/// pizza cost; now a stage announces each order's pizzas of its batch together, and its
/// next stage's queue delivers them as one message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct IngredientAdded {
    /// The order the pizzas belong to.
    pub order_id: Uuid,
    /// The stage that published this event.
    pub stage: String,
    /// How many pizzas the order has, as its pizzas' requests said. `None` in v1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pizzas_in_order: Option<u32>,
    /// The pizzas topped, each with every ingredient so far and its journey: at least
    /// one. One in v1–v3.
    pub pizzas: Vec<ToppedPizza>,
}

/// One pizza of an [`IngredientAdded`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ToppedPizza {
    /// The pizza.
    pub pizza_id: Uuid,
    /// Every ingredient on the pizza so far, in the order they were added.
    pub ingredients: Vec<Ingredient>,
    /// The pizza's events before this one, first first: its request and every earlier
    /// stage's (see [`Hop`]). Empty before v3.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub journey: Vec<Hop>,
}

impl IngredientAdded {
    /// The most pizzas one event carries: with every pizza's journey through four stages
    /// it stays around 10 KB, far below SQS's 64 KB billing chunk and 256 KB limit.
    pub const MOST_PIZZAS: usize = 10;
}

impl Event for IngredientAdded {
    const TYPE: &'static str = "IngredientAdded";
    /// v2 added `pizzas_in_order`, v3 `journey`; v4 carries several pizzas of one order in
    /// `pizzas` where v1–v3 carried one (`pizza_id`, `ingredients`, `journey`).
    const VERSION: u32 = 4;

    fn upcast(from_version: u32, data: Value) -> Result<Value, DecodeError> {
        if !(1..Self::VERSION).contains(&from_version) {
            return Err(DecodeError::unsupported::<Self>(from_version));
        }
        let invalid =
            |source| DecodeError::InvalidData { event_type: Self::TYPE.into(), version: from_version, source };
        let mut data: serde_json::Map<String, Value> = serde_json::from_value(data).map_err(invalid)?;
        let mut pizza = serde_json::Map::new();
        for field in ["pizza_id", "ingredients", "journey"] {
            if let Some(value) = data.remove(field) {
                pizza.insert(field.into(), value);
            }
        }
        data.insert("pizzas".into(), Value::Array(vec![Value::Object(pizza)]));
        Ok(Value::Object(data))
    }

    /// An event that tops no pizza is no stage's output: a consumer would have nothing
    /// to do and nothing to count, and retrying it would never help.
    fn check(&self) -> Result<(), String> {
        if self.pizzas.is_empty() { Err("it tops no pizza (`pizzas` is empty)".into()) } else { Ok(()) }
    }
}

/// The upcaster of an event whose every newer version only added optional fields: older
/// data reads as it is, with those fields absent.
fn only_adds_optional_fields<E: Event>(from_version: u32, data: Value) -> Result<Value, DecodeError> {
    if (1..E::VERSION).contains(&from_version) { Ok(data) } else { Err(DecodeError::unsupported::<E>(from_version)) }
}

/// Every pizza of the order is stored; the order is ready.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct OrderConfirmed {
    /// The order that is ready.
    pub order_id: Uuid,
    /// How many pizzas are stored for it: all it ordered.
    pub pizzas: u32,
}

impl Event for OrderConfirmed {
    const TYPE: &'static str = "OrderConfirmed";
    const VERSION: u32 = 1;
}

#[cfg(test)]
mod tests;
