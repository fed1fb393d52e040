//! What a stage is and decides, with no I/O: which ingredients a pizza may get here, and
//! what the stage announces once the pantry has answered.

use inventory::{Reservation, ReservationRequest};
use lambda_kit::{ConfigError, Env, RecordError, TopicArn};
use pizza_events::Outgoing;
use pizza_events::catalogue::{Hop, Ingredient, IngredientAdded, InventoryFailed, PizzaRequested};
use pizza_events::{Envelope, Event, WireEvent, derived_id, menu};
use uuid::Uuid;

/// A stage: its name, what it can add, and where pizzas go next.
#[derive(Debug, Clone)]
pub struct Stage {
    pub name: String,
    pub ingredients: Vec<String>,
    /// Where a pizza goes once topped.
    pub output: TopicArn,
    /// Where the stage says it has run out (`InventoryFailed`).
    pub inventory: TopicArn,
}

/// A pizza on its way through the kitchen, whatever stage it has reached.
#[derive(Debug, Clone, PartialEq)]
pub struct Pizza {
    pub order_id: Uuid,
    pub pizza_id: Uuid,
    pub ingredients: Vec<Ingredient>,
    /// How many pizzas its order has, passed on from stage to stage.
    pub pizzas_in_order: Option<u32>,
    /// Its events so far, the one that brought it here last: what the event this stage
    /// announces carries on.
    pub journey: Vec<Hop>,
}

impl Stage {
    /// `STAGE` names the stage; its ingredients come from the menu unless `INGREDIENTS`
    /// (comma-separated) overrides them.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let name = env.require("STAGE")?.to_owned();
        let ingredients: Vec<String> = match env.get("INGREDIENTS") {
            Some(list) => list.split(',').map(str::trim).filter(|i| !i.is_empty()).map(str::to_owned).collect(),
            None => menu::ingredients_for(&name)
                .ok_or_else(|| ConfigError::Invalid { name: "STAGE", reason: format!("no menu for stage {name:?}") })?
                .iter()
                .map(|i| (*i).to_owned())
                .collect(),
        };
        if ingredients.is_empty() {
            return Err(ConfigError::Invalid { name: "INGREDIENTS", reason: "no ingredient to choose from".into() });
        }
        Ok(Self {
            name,
            ingredients,
            output: TopicArn(env.require("OUTPUT_TOPIC_ARN")?.to_owned()),
            inventory: TopicArn(env.require("INVENTORY_TOPIC_ARN")?.to_owned()),
        })
    }

    /// Reads a pizza from either event a stage may receive: a fresh `PizzaRequested` or the
    /// `IngredientAdded` of the stage before. A pizza that passed this stage already means
    /// the topology loops: no retry helps.
    pub fn read(&self, event: &WireEvent) -> Result<Pizza, RecordError> {
        let pizza = match event.event_type.as_str() {
            PizzaRequested::TYPE => {
                let data = event.decode::<PizzaRequested>()?.data;
                Pizza {
                    order_id: data.order_id,
                    pizza_id: data.pizza_id,
                    ingredients: Vec::new(),
                    pizzas_in_order: data.pizzas_in_order,
                    journey: vec![Hop::of(event)],
                }
            }
            IngredientAdded::TYPE => {
                let data = event.decode::<IngredientAdded>()?.data;
                let mut journey = data.journey;
                journey.push(Hop::of(event));
                Pizza {
                    order_id: data.order_id,
                    pizza_id: data.pizza_id,
                    ingredients: data.ingredients,
                    pizzas_in_order: data.pizzas_in_order,
                    journey,
                }
            }
            other => return Err(RecordError::permanent(format!("stage {} does not handle {other}", self.name))),
        };
        if pizza.ingredients.iter().any(|i| i.stage == self.name) {
            return Err(RecordError::permanent(format!(
                "pizza {} already went through stage {}: the topology loops",
                pizza.pizza_id, self.name
            )));
        }
        Ok(pizza)
    }

    /// What to ask the pantry for: the pizza's own pick, random across pizzas but fixed for
    /// one pizza (a redelivery asks for the same), then the rest of the menu.
    pub fn request(&self, pizza: &Pizza) -> ReservationRequest {
        let choice = derived_id(&[&pizza.pizza_id.to_string(), &self.name]).as_u128();
        let first = (choice % self.ingredients.len() as u128) as usize;
        let candidates = self.ingredients[first..].iter().chain(&self.ingredients[..first]).cloned().collect();
        ReservationRequest { order_id: pizza.order_id, pizza_id: pizza.pizza_id, candidates }
    }

    /// What the stage announces for a pizza once the pantry has answered: the pizza with
    /// its ingredient on the next topic, the shortage on the inventory topic, or nothing
    /// for a cancelled order. Event ids come from the cause, so a redelivery announces the
    /// very same event.
    pub fn announce(&self, cause: &WireEvent, pizza: &Pizza, reservation: &Reservation) -> Vec<Outgoing> {
        match reservation.ingredient() {
            Some(ingredient) => {
                let mut ingredients = pizza.ingredients.clone();
                ingredients.push(Ingredient { stage: self.name.clone(), name: ingredient.to_owned() });
                let data = IngredientAdded {
                    order_id: pizza.order_id,
                    pizza_id: pizza.pizza_id,
                    stage: self.name.clone(),
                    ingredients,
                    pizzas_in_order: pizza.pizzas_in_order,
                    journey: pizza.journey.clone(),
                };
                vec![Outgoing::new(&self.output, Envelope::caused_by(cause, &self.name, &self.name, data).to_wire())]
            }
            None if reservation.is_out_of_stock() => {
                let data = InventoryFailed {
                    order_id: pizza.order_id,
                    pizza_id: pizza.pizza_id,
                    stage: self.name.clone(),
                    journey: pizza.journey.clone(),
                };
                let event = Envelope::caused_by(cause, &self.name, "out-of-stock", data);
                vec![Outgoing::new(&self.inventory, event.to_wire())]
            }
            None => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stage(name: &str) -> Stage {
        let env: Env =
            [("STAGE", name), ("OUTPUT_TOPIC_ARN", "next"), ("INVENTORY_TOPIC_ARN", "inventory")].into_iter().collect();
        Stage::from_env(&env).expect("a menu stage")
    }

    fn requested() -> (WireEvent, Pizza) {
        let order_id = Uuid::new_v4();
        let data = PizzaRequested { order_id, pizza_id: Uuid::new_v4(), pizzas_in_order: Some(3) };
        let event = Envelope::new("orders", order_id.to_string(), data.clone()).to_wire();
        let journey = vec![Hop::of(&event)];
        (event, Pizza { order_id, pizza_id: data.pizza_id, ingredients: vec![], pizzas_in_order: Some(3), journey })
    }

    #[test]
    fn a_reserved_pizza_goes_on_with_its_ingredient_under_an_id_fixed_by_its_cause() {
        let sauce = stage("sauce");
        let (cause, pizza) = requested();
        let once = sauce.announce(&cause, &pizza, &Reservation::Reserved("pesto".into()));
        let again = sauce.announce(&cause, &pizza, &Reservation::AlreadyReserved("pesto".into()));
        let [out] = once.as_slice() else { panic!("one event: {once:?}") };
        assert_eq!(out.topic.0, "next");
        assert_eq!(out.event.id, again[0].event.id, "a redelivery announces the same event");
        let added = out.event.decode::<IngredientAdded>().expect("IngredientAdded").data;
        assert_eq!(added.ingredients, vec![Ingredient { stage: "sauce".into(), name: "pesto".into() }]);
        assert_eq!(added.pizzas_in_order, Some(3), "the order's size goes on with the pizza");
        assert_eq!(out.event.causation_id, Some(cause.id));
    }

    #[test]
    fn a_pizza_out_of_stock_is_announced_as_such_and_a_closed_order_drops_it() {
        let meat = stage("meat");
        let (cause, pizza) = requested();
        let out = meat.announce(&cause, &pizza, &Reservation::OutOfStock);
        assert_eq!(out[0].topic.0, "inventory");
        assert_eq!(out[0].event.decode::<InventoryFailed>().expect("decodes").data.stage, "meat");
        assert!(meat.announce(&cause, &pizza, &Reservation::OrderClosed).is_empty());
    }

    #[test]
    fn each_event_carries_the_pizzas_earlier_events_first_first_and_so_does_a_shortage() {
        let (sauce, cheese, meat) = (stage("sauce"), stage("cheese"), stage("meat"));
        let (requested, pizza) = requested();
        let sauced = sauce.announce(&requested, &pizza, &Reservation::Reserved("bbq".into())).remove(0).event;
        let at_cheese = cheese.read(&sauced).expect("cheese takes it");
        let cheesed = cheese.announce(&sauced, &at_cheese, &Reservation::Reserved("feta".into())).remove(0).event;
        let journey = cheesed.decode::<IngredientAdded>().expect("decodes").data.journey;
        assert_eq!(journey, vec![Hop::of(&requested), Hop::of(&sauced)]);
        assert_eq!(journey[1].causation_id, Some(journey[0].id), "each hop names the one before");
        assert_eq!((journey[1].event_type.as_str(), journey[1].source.as_str()), ("IngredientAdded", "sauce"));

        let at_meat = meat.read(&cheesed).expect("meat takes it");
        let short = meat.announce(&cheesed, &at_meat, &Reservation::OutOfStock).remove(0).event;
        let failed = short.decode::<InventoryFailed>().expect("decodes").data;
        assert_eq!(failed.journey.iter().map(|h| h.id).collect::<Vec<_>>(), [requested.id, sauced.id, cheesed.id]);
    }

    #[test]
    fn a_pizza_cannot_pass_one_stage_twice() {
        let (sauce, cheese) = (stage("sauce"), stage("cheese"));
        let (cause, pizza) = requested();
        let sauced = &sauce.announce(&cause, &pizza, &Reservation::Reserved("bbq".into()))[0].event;
        let at_cheese = cheese.read(sauced).expect("cheese takes it");
        assert_eq!((at_cheese.ingredients.len(), at_cheese.pizzas_in_order), (1, Some(3)));
        assert!(matches!(sauce.read(sauced), Err(RecordError::Permanent(_))));
    }

    #[test]
    fn first_picks_spread_over_the_whole_menu_and_every_ingredient_is_a_fallback() {
        let meat = stage("meat");
        let firsts: std::collections::BTreeSet<String> = (0..200)
            .map(|_| {
                let request = meat.request(&requested().1);
                assert_eq!(request.candidates.len(), meat.ingredients.len());
                request.candidates[0].clone()
            })
            .collect();
        assert_eq!(firsts.len(), meat.ingredients.len());
    }

    #[test]
    fn a_stage_needs_a_menu_or_an_ingredient_list() {
        let env = |pairs: &[(&'static str, &'static str)]| {
            let mut all = vec![("OUTPUT_TOPIC_ARN", "next"), ("INVENTORY_TOPIC_ARN", "inventory")];
            all.extend_from_slice(pairs);
            all.into_iter().collect::<Env>()
        };
        assert!(Stage::from_env(&env(&[("STAGE", "dessert")])).is_err());
        let custom = Stage::from_env(&env(&[("STAGE", "dessert"), ("INGREDIENTS", "tiramisu, gelato")]));
        assert_eq!(custom.expect("custom").ingredients, ["tiramisu", "gelato"]);
    }
}
