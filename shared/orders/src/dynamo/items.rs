//! An order and its pizzas as DynamoDB attributes, and back.

use super::*;

/// The attribute a pizza is stored under on its order's item: short (`p<n>`) for the
/// order's n-th pizza, which is every pizza the kitchen makes; `pizza_<id>` otherwise. Ten
/// pizzas then fit beside the order in one kilobyte, so storing them is one write unit.
pub(super) fn pizza_attribute(order_id: Uuid, pizza_id: Uuid) -> String {
    match crate::pizza_index(order_id, pizza_id) {
        Some(index) => format!("{PIZZA_NUMBER_PREFIX}{index}"),
        None => long_pizza_attribute(pizza_id),
    }
}

/// Every attribute a pizza may be stored under: its name now and, for a pizza with a short
/// name, the long one it had before, so a pizza stored by an earlier version and delivered
/// again is seen as stored.
pub(super) fn pizza_attributes(order_id: Uuid, pizza_id: Uuid) -> Vec<String> {
    let mut names = vec![pizza_attribute(order_id, pizza_id)];
    let long = long_pizza_attribute(pizza_id);
    if names[0] != long {
        names.push(long);
    }
    names
}

fn long_pizza_attribute(pizza_id: Uuid) -> String {
    format!("{PIZZA_ATTRIBUTE_PREFIX}{}", pizza_id.simple())
}

/// The pizza an attribute of an order's item stores, if it stores one.
fn pizza_named(order_id: Uuid, name: &str) -> Option<Uuid> {
    if let Some(id) = name.strip_prefix(PIZZA_ATTRIBUTE_PREFIX) {
        return id.parse().ok();
    }
    let index = name.strip_prefix(PIZZA_NUMBER_PREFIX)?;
    if index.is_empty() || !index.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    index.parse().ok().filter(|&index| index < crate::MAX_PIZZAS).map(|index| crate::pizza_id(order_id, index))
}

/// The pizzas stored on an order's item.
pub(super) fn pizzas_on(item: &Item) -> Result<Vec<StoredPizza>, StoreError> {
    let order_id = order_id_of(item)?;
    let mut pizzas = Vec::new();
    for (name, value) in item {
        if let Some(pizza_id) = pizza_named(order_id, name) {
            pizzas.push(StoredPizza { pizza_id, ingredients: ingredients_from_value(value)? });
        }
    }
    pizzas.sort_by_key(|pizza| pizza.pizza_id);
    Ok(pizzas)
}

/// An order's attributes. What is zero (nothing charged or refunded yet) or the creation
/// time again (`updated_at` of a new order) is left out, and reading fills it in: an order
/// is put with its sealed card, and the whole must stay within one write unit (1 KB); so
/// must a cooking order with ten pizzas, and most with twenty. Its id is its key's. The
/// card's fingerprint is kept with the idempotency key that alone can find the order again
/// (orders placed before kept it here, and it is still read).
pub(super) fn order_to_attributes(order: &Order) -> Item {
    let mut item = Item::new();
    item.insert("status".into(), s(order.status.as_str()));
    item.insert("customer_id".into(), s(order.customer_id.clone()));
    item.insert("pizzas".into(), n(order.pizzas));
    item.insert("pizzas_ready".into(), n(order.pizzas_ready));
    item.insert("amount_cents".into(), n(order.amount_cents));
    for (name, cents) in [("charged_cents", order.charged_cents), ("refunded_cents", order.refunded_cents)] {
        if cents > 0 {
            item.insert(name.into(), n(cents));
        }
    }
    item.insert("created_at".into(), s(stored_time(order.created_at)));
    if order.updated_at != order.created_at {
        item.insert("updated_at".into(), s(stored_time(order.updated_at)));
    }
    if !order.status.is_final() {
        item.insert(WATCH.into(), s(WATCHED));
        item.insert(STATUS_SINCE.into(), s(stored_time(order.updated_at)));
    }
    if let Some(reason) = order.cancel_reason {
        item.insert("cancel_reason".into(), s(reason.as_str()));
    }
    item
}

/// The id of the order an item holds: its key says it (orders placed before also kept it as
/// `order_id`, 44 bytes more of every write).
fn order_id_of(item: &Item) -> Result<Uuid, StoreError> {
    if item.contains_key("order_id") {
        return get_uuid(item, "order_id");
    }
    let (pk, sk) = (get_s(item, "pk")?, get_s(item, "sk")?);
    DynamoOrders::order_of_key(pk, sk)
        .ok_or_else(|| StoreError::Corrupt(format!("{pk:?}, {sk:?} is not an order's key")))
}

pub(super) fn order_from_item(item: &Item) -> Result<Order, StoreError> {
    let status = get_s(item, "status")?;
    let cancel_reason = match opt_s(item, "cancel_reason") {
        Some(reason) => {
            Some(parse_variant(reason).ok_or_else(|| StoreError::Corrupt(format!("unknown cancel reason {reason}")))?)
        }
        None => None,
    };
    Ok(Order {
        order_id: order_id_of(item)?,
        status: OrderStatus::parse(status).ok_or_else(|| StoreError::Corrupt(format!("unknown status {status}")))?,
        cancel_reason,
        customer_id: get_s(item, "customer_id")?.to_owned(),
        pizzas: get_n(item, "pizzas")?,
        pizzas_ready: get_n(item, "pizzas_ready")?,
        amount_cents: get_n_or_zero(item, "amount_cents")?,
        charged_cents: get_n_or_zero(item, "charged_cents")?,
        refunded_cents: get_n_or_zero(item, "refunded_cents")?,
        payment_fingerprint: opt_s(item, FINGERPRINT).unwrap_or_default().to_owned(),
        created_at: time(item, "created_at")?,
        updated_at: match opt_s(item, "updated_at") {
            Some(_) => time(item, "updated_at")?,
            None => time(item, "created_at")?,
        },
    })
}

/// A time as an order's item keeps it: RFC 3339 in UTC to the millisecond (24 bytes, not
/// the 35 of nanoseconds and an offset). Times in either form sort together.
pub(super) fn stored_time(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

pub(super) fn time(item: &Item, name: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(get_s(item, name)?)
        .map(|time| time.with_timezone(&Utc))
        .map_err(|e| StoreError::Corrupt(format!("{name}: {e}")))
}

/// A pizza stored as an item of its own (how pizzas were stored before they moved onto
/// their order's item): still read, so orders stored then still show their pizzas.
pub(super) fn pizza_from_item(item: &Item) -> Result<StoredPizza, StoreError> {
    let ingredients = ingredients_from_value(
        item.get("ingredients").ok_or_else(|| StoreError::Corrupt("missing ingredients".into()))?,
    )?;
    Ok(StoredPizza { pizza_id: get_uuid(item, "pizza_id")?, ingredients })
}

/// A pizza's ingredients, compactly: their names, comma-separated in the order they were
/// added, for the menu says each one's stage; one the menu does not place at its stage is
/// written `stage:name`. A name that holds a separator, or no ingredient at all, is kept
/// as a list of `stage:name`, as earlier versions stored every pizza.
pub(super) fn ingredients_to_value(ingredients: &[Ingredient]) -> AttributeValue {
    let plain = |text: &str| !text.is_empty() && !text.contains([',', ':']);
    if ingredients.is_empty() || !ingredients.iter().all(|i| plain(&i.stage) && plain(&i.name)) {
        return AttributeValue::L(ingredients.iter().map(|i| s(format!("{}:{}", i.stage, i.name))).collect());
    }
    let names: Vec<String> = ingredients
        .iter()
        .map(|i| match stage_of(&i.name) {
            Some(stage) if stage == i.stage => i.name.clone(),
            _ => format!("{}:{}", i.stage, i.name),
        })
        .collect();
    s(names.join(","))
}

pub(super) fn ingredients_from_value(value: &AttributeValue) -> Result<Vec<Ingredient>, StoreError> {
    if let Ok(text) = value.as_s() {
        return text.split(',').map(ingredient_from_text).collect();
    }
    let list = value.as_l().map_err(|_| StoreError::Corrupt("ingredients are neither text nor a list".into()))?;
    list.iter().map(ingredient_from_value).collect()
}

/// `stage:name`, or a name the menu places at its stage.
fn ingredient_from_text(text: &str) -> Result<Ingredient, StoreError> {
    if let Some((stage, name)) = text.split_once(':') {
        return Ok(Ingredient { stage: stage.to_owned(), name: name.to_owned() });
    }
    let stage = stage_of(text).ok_or_else(|| StoreError::Corrupt(format!("ingredient {text:?} is on no menu")))?;
    Ok(Ingredient { stage: stage.to_owned(), name: text.to_owned() })
}

/// An element of a list: `stage:name`, or (pizzas stored before) a map of `stage` and `name`.
pub(super) fn ingredient_from_value(value: &AttributeValue) -> Result<Ingredient, StoreError> {
    if let Ok(text) = value.as_s() {
        return ingredient_from_text(text);
    }
    let map = value.as_m().map_err(|_| StoreError::Corrupt("ingredient is neither text nor a map".into()))?;
    Ok(Ingredient { stage: get_s(map, "stage")?.to_owned(), name: get_s(map, "name")?.to_owned() })
}

/// An order's item as placed: the order, and what its announcement needs.
pub(super) fn placed_to_item(placed: &PlacedOrder) -> Result<Item, StoreError> {
    let mut item = DynamoOrders::order_key(placed.order.order_id);
    item.extend(order_to_attributes(&placed.order));
    item.insert(ANNOUNCE_CARD.into(), s(card_to_text(&placed.card_token)?));
    if let Some(trace) = placed.trace {
        item.insert(ANNOUNCE_TRACE.into(), s(trace.traceparent()));
    }
    Ok(item)
}

/// The placed order an item holds while it is `PLACED` and carries its announcement;
/// `None` once paying or cancelling removed it, or for an order placed before orders kept
/// their card.
pub(super) fn placed_from_item(item: &Item) -> Result<Option<PlacedOrder>, StoreError> {
    let Some(card) = opt_s(item, ANNOUNCE_CARD) else { return Ok(None) };
    let order = order_from_item(item)?;
    if order.status != OrderStatus::Placed {
        return Ok(None);
    }
    let card_token =
        card_from_text(card).map_err(|e| StoreError::Corrupt(format!("the card of order {}: {e}", order.order_id)))?;
    let trace = opt_s(item, ANNOUNCE_TRACE).and_then(TraceContext::from_traceparent);
    Ok(Some(PlacedOrder { order, card_token, trace }))
}

/// Marks the compact form of a sealed card.
const SEALED: &str = "sealed";

/// A card as the order's item keeps it: a sealed one as `sealed <key> <data key> <nonce>
/// <ciphertext>` (an ARN and base64, none with a space), 60 bytes shorter than its JSON,
/// which an order's one write unit needs; anything else as JSON.
pub(super) fn card_to_text(card: &CardToken) -> Result<String, StoreError> {
    match card {
        CardToken::Sealed(sealed) => {
            let parts = [&sealed.key_id, &sealed.data_key, &sealed.nonce, &sealed.ciphertext];
            if parts.iter().any(|part| part.is_empty() || part.contains(' ')) {
                return Err(StoreError::Refused("a sealed card's parts must be non-empty and without spaces".into()));
            }
            Ok(format!("{SEALED} {}", parts.map(String::as_str).join(" ")))
        }
        other => serde_json::to_string(other).map_err(|e| StoreError::Refused(Box::new(e))),
    }
}

/// The card [`card_to_text`] wrote.
pub(super) fn card_from_text(text: &str) -> Result<CardToken, String> {
    let Some(compact) = text.strip_prefix(SEALED).and_then(|rest| rest.strip_prefix(' ')) else {
        return serde_json::from_str(text).map_err(|e| e.to_string());
    };
    match compact.split(' ').collect::<Vec<_>>()[..] {
        [key_id, data_key, nonce, ciphertext] => Ok(CardToken::Sealed(Sealed {
            key_id: key_id.to_owned(),
            data_key: data_key.to_owned(),
            nonce: nonce.to_owned(),
            ciphertext: ciphertext.to_owned(),
        })),
        _ => Err("a sealed card has four parts".into()),
    }
}
