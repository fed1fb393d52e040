//! What a stage is and decides, with no I/O: which ingredients a pizza may get here, and
//! what the stage announces once the pantry has answered.

use inventory::{Reservation, ReservationRequest};
use lambda_kit::{ConfigError, Env, RecordError, TopicArn};
use pizza_events::Outgoing;
use pizza_events::catalogue::{Hop, Ingredient, IngredientAdded, InventoryFailed, PizzaRequested, ToppedPizza};
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

    /// Reads the pizzas of either event a stage may receive: a fresh `PizzaRequested` (one
    /// pizza) or the `IngredientAdded` of the stage before (some pizzas of one order). A
    /// pizza that passed this stage already means the topology loops: no retry helps.
    pub fn read(&self, event: &WireEvent) -> Result<Vec<Pizza>, RecordError> {
        let pizzas = match event.event_type.as_str() {
            PizzaRequested::TYPE => {
                let data = event.decode::<PizzaRequested>()?.data;
                vec![Pizza {
                    order_id: data.order_id,
                    pizza_id: data.pizza_id,
                    ingredients: Vec::new(),
                    pizzas_in_order: data.pizzas_in_order,
                    journey: vec![Hop::of(event)],
                }]
            }
            IngredientAdded::TYPE => {
                let data = event.decode::<IngredientAdded>()?.data;
                let hop = Hop::of(event);
                data.pizzas
                    .into_iter()
                    .map(|pizza| {
                        let mut journey = pizza.journey;
                        journey.push(hop.clone());
                        Pizza {
                            order_id: data.order_id,
                            pizza_id: pizza.pizza_id,
                            ingredients: pizza.ingredients,
                            pizzas_in_order: data.pizzas_in_order,
                            journey,
                        }
                    })
                    .collect()
            }
            other => return Err(RecordError::permanent(format!("stage {} does not handle {other}", self.name))),
        };
        if let Some(pizza) = pizzas.iter().find(|pizza| pizza.ingredients.iter().any(|i| i.stage == self.name)) {
            return Err(RecordError::permanent(format!(
                "pizza {} already went through stage {}: the topology loops",
                pizza.pizza_id, self.name
            )));
        }
        Ok(pizzas)
    }

    /// What to ask the pantry for: the pizza's own pick, random across pizzas but fixed for
    /// one pizza (a redelivery asks for the same), then the rest of the menu.
    pub fn request(&self, pizza: &Pizza) -> ReservationRequest {
        let choice = derived_id(&[&pizza.pizza_id.to_string(), &self.name]).as_u128();
        let first = (choice % self.ingredients.len() as u128) as usize;
        let candidates = self.ingredients[first..].iter().chain(&self.ingredients[..first]).cloned().collect();
        ReservationRequest { order_id: pizza.order_id, pizza_id: pizza.pizza_id, candidates }
    }

    /// What the stage announces once the pantry has answered for its batch's pizzas: each
    /// order's topped pizzas together on the next topic (in events of at most
    /// [`IngredientAdded::MOST_PIZZAS`]), each shortage on the inventory topic, nothing for
    /// a cancelled order's pizza. An event names every record whose pizzas it carries: it
    /// is published once, and each of those records is acknowledged only once it is out.
    ///
    /// An event's id is fixed by its stage and its pizzas, so a redelivered batch announces
    /// the very same events; a batch made up otherwise announces a pizza again under another
    /// id, which the next stage and the store take as the repeat it is (both are idempotent
    /// per pizza).
    pub fn announce(&self, answered: &[Answered<'_>]) -> Vec<Announcement> {
        let mut announcements = Vec::new();
        let mut batches: Vec<ToppedBatch<'_>> = Vec::new();
        for answer in answered {
            let Answered { record, cause, pizza, reservation } = answer;
            match reservation.ingredient() {
                Some(ingredient) => {
                    // The event that has this pizza already (another record brought it
                    // too), else the order's latest with room, else a new one.
                    let of_order = |b: &ToppedBatch<'_>| b.order_id == pizza.order_id;
                    let index = batches
                        .iter()
                        .position(|b| of_order(b) && b.has(pizza.pizza_id))
                        .or_else(|| {
                            batches.iter().rposition(|b| of_order(b) && b.pizzas.len() < IngredientAdded::MOST_PIZZAS)
                        })
                        .unwrap_or_else(|| {
                            batches.push(ToppedBatch::new(pizza, cause));
                            batches.len() - 1
                        });
                    let batch = &mut batches[index];
                    batch.add(*record, pizza, self.topped(pizza, ingredient));
                }
                None if reservation.is_out_of_stock() => {
                    let data = InventoryFailed {
                        order_id: pizza.order_id,
                        pizza_id: pizza.pizza_id,
                        stage: self.name.clone(),
                        journey: pizza.journey.clone(),
                    };
                    let discriminator = format!("out-of-stock/{}", pizza.pizza_id);
                    let event = Envelope::caused_by(cause, &self.name, &discriminator, data);
                    announcements.push(Announcement {
                        records: vec![*record],
                        outgoing: Outgoing::new(&self.inventory, event.to_wire()),
                    });
                }
                None => {}
            }
        }
        announcements.extend(batches.into_iter().map(|batch| self.announce_topped(batch)));
        announcements
    }

    fn topped(&self, pizza: &Pizza, ingredient: &str) -> ToppedPizza {
        let mut ingredients = pizza.ingredients.clone();
        ingredients.push(Ingredient { stage: self.name.clone(), name: ingredient.to_owned() });
        ToppedPizza { pizza_id: pizza.pizza_id, ingredients, journey: pizza.journey.clone() }
    }

    fn announce_topped(&self, batch: ToppedBatch<'_>) -> Announcement {
        let mut pizza_ids: Vec<String> = batch.pizzas.iter().map(|p| p.pizza_id.to_string()).collect();
        pizza_ids.sort();
        let mut fact = vec![IngredientAdded::TYPE, self.name.as_str()];
        fact.extend(pizza_ids.iter().map(String::as_str));
        let data = IngredientAdded {
            order_id: batch.order_id,
            stage: self.name.clone(),
            pizzas_in_order: batch.pizzas_in_order,
            pizzas: batch.pizzas,
        };
        let event = Envelope::of_fact(&fact, batch.cause, &self.name, data);
        Announcement { records: batch.records, outgoing: Outgoing::new(&self.output, event.to_wire()) }
    }
}

/// A pizza of the batch with what the pantry answered for it, and the record (its index in
/// the batch) whose event brought it.
#[derive(Debug)]
pub struct Answered<'a> {
    pub record: usize,
    pub cause: &'a WireEvent,
    pub pizza: &'a Pizza,
    pub reservation: &'a Reservation,
}

/// An event to publish, and the records of the batch whose pizzas it carries.
#[derive(Debug, Clone)]
pub struct Announcement {
    pub records: Vec<usize>,
    pub outgoing: Outgoing,
}

/// The topped pizzas of one order that one event will carry, and where they came from.
struct ToppedBatch<'a> {
    order_id: Uuid,
    pizzas_in_order: Option<u32>,
    /// The event of its first pizza: the cause the event names.
    cause: &'a WireEvent,
    pizzas: Vec<ToppedPizza>,
    records: Vec<usize>,
}

impl<'a> ToppedBatch<'a> {
    fn new(first: &Pizza, cause: &'a WireEvent) -> Self {
        let (order_id, pizzas_in_order) = (first.order_id, first.pizzas_in_order);
        Self { order_id, pizzas_in_order, cause, pizzas: Vec::new(), records: Vec::new() }
    }

    fn has(&self, pizza_id: Uuid) -> bool {
        self.pizzas.iter().any(|p| p.pizza_id == pizza_id)
    }

    /// Adds a pizza, once however many of the batch's records bring it.
    fn add(&mut self, record: usize, pizza: &Pizza, topped: ToppedPizza) {
        if !self.has(pizza.pizza_id) {
            self.pizzas.push(topped);
        }
        if !self.records.contains(&record) {
            self.records.push(record);
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
        requested_in(Uuid::new_v4(), 3)
    }

    fn requested_in(order_id: Uuid, pizzas_in_order: u32) -> (WireEvent, Pizza) {
        let data = PizzaRequested { order_id, pizza_id: Uuid::new_v4(), pizzas_in_order: Some(pizzas_in_order) };
        let event = Envelope::new("orders", order_id.to_string(), data.clone()).to_wire();
        let journey = vec![Hop::of(&event)];
        let pizza = Pizza {
            order_id,
            pizza_id: data.pizza_id,
            ingredients: vec![],
            pizzas_in_order: Some(pizzas_in_order),
            journey,
        };
        (event, pizza)
    }

    /// What `stage` announces for `arrivals`, each its own record, each answered `reservation`.
    fn announce(stage: &Stage, arrivals: &[(WireEvent, Pizza)], reservation: &Reservation) -> Vec<Announcement> {
        let answered: Vec<Answered<'_>> = arrivals
            .iter()
            .enumerate()
            .map(|(record, (cause, pizza))| Answered { record, cause, pizza, reservation })
            .collect();
        stage.announce(&answered)
    }

    /// The one pizza an announcement carries, at `stage`'s next stage.
    fn passed_on(next: &Stage, announcement: &Announcement) -> (WireEvent, Pizza) {
        let event = announcement.outgoing.event.clone();
        let mut pizzas = next.read(&event).expect("the next stage takes it");
        assert_eq!(pizzas.len(), 1);
        (event, pizzas.remove(0))
    }

    #[test]
    fn each_orders_pizzas_go_on_together_under_an_id_fixed_by_the_stage_and_its_pizzas() {
        let sauce = stage("sauce");
        let (order, other) = (Uuid::new_v4(), Uuid::new_v4());
        let arrivals = [requested_in(order, 2), requested_in(other, 1), requested_in(order, 2)];
        let once = announce(&sauce, &arrivals, &Reservation::Reserved("pesto".into()));
        let again = announce(&sauce, &arrivals, &Reservation::AlreadyReserved("pesto".into()));
        let [first, second] = once.as_slice() else { panic!("one event per order: {once:?}") };
        assert_eq!((first.records.as_slice(), second.records.as_slice()), (&[0, 2][..], &[1][..]));
        assert_eq!(first.outgoing.topic.0, "next");
        let ids = |a: &[Announcement]| a.iter().map(|a| a.outgoing.event.id).collect::<Vec<_>>();
        assert_eq!(ids(&once), ids(&again), "a redelivered batch announces the same events");
        let added = first.outgoing.event.decode::<IngredientAdded>().expect("IngredientAdded").data;
        assert_eq!((added.order_id, added.pizzas_in_order), (order, Some(2)), "the order's size goes on");
        let pizza_ids: Vec<Uuid> = added.pizzas.iter().map(|p| p.pizza_id).collect();
        assert_eq!(pizza_ids, [arrivals[0].1.pizza_id, arrivals[2].1.pizza_id]);
        let pesto = vec![Ingredient { stage: "sauce".into(), name: "pesto".into() }];
        assert!(added.pizzas.iter().all(|p| p.ingredients == pesto));
        assert_eq!(first.outgoing.event.causation_id, Some(arrivals[0].0.id), "its first pizza's event is its cause");

        let alone = announce(&sauce, &arrivals[..1], &Reservation::AlreadyReserved("pesto".into()));
        assert_ne!(alone[0].outgoing.event.id, first.outgoing.event.id, "other pizzas, another event");
    }

    #[test]
    fn an_orders_pizzas_are_split_into_events_of_at_most_the_most_one_carries() {
        let cheese = stage("cheese");
        let order = Uuid::new_v4();
        let arrivals: Vec<_> = (0..IngredientAdded::MOST_PIZZAS + 3).map(|_| requested_in(order, 13)).collect();
        let out = announce(&cheese, &arrivals, &Reservation::Reserved("feta".into()));
        let sizes: Vec<usize> = out
            .iter()
            .map(|a| a.outgoing.event.decode::<IngredientAdded>().expect("decodes").data.pizzas.len())
            .collect();
        assert_eq!(sizes, [IngredientAdded::MOST_PIZZAS, 3]);
    }

    #[test]
    fn a_pizza_two_records_bring_is_carried_once_for_both() {
        let meat = stage("meat");
        let (cause, pizza) = requested();
        let mut repeat = cause.clone();
        repeat.id = Uuid::new_v4();
        let out = announce(&meat, &[(cause, pizza.clone()), (repeat, pizza)], &Reservation::Reserved("ham".into()));
        let [only] = out.as_slice() else { panic!("one event: {out:?}") };
        assert_eq!(only.records, [0, 1]);
        assert_eq!(only.outgoing.event.decode::<IngredientAdded>().expect("decodes").data.pizzas.len(), 1);
    }

    #[test]
    fn a_pizza_out_of_stock_is_announced_alone_and_a_closed_order_drops_it() {
        let meat = stage("meat");
        let order = Uuid::new_v4();
        let arrivals = [requested_in(order, 2), requested_in(order, 2)];
        let out = announce(&meat, &arrivals, &Reservation::OutOfStock);
        assert_eq!(out.len(), 2, "one shortage per pizza");
        assert_ne!(out[0].outgoing.event.id, out[1].outgoing.event.id);
        assert_eq!(out[0].outgoing.topic.0, "inventory");
        assert_eq!(out[0].outgoing.event.decode::<InventoryFailed>().expect("decodes").data.stage, "meat");
        assert!(announce(&meat, &arrivals, &Reservation::OrderClosed).is_empty());
    }

    #[test]
    fn each_pizza_carries_its_earlier_events_first_first_and_so_does_a_shortage() {
        let (sauce, cheese, meat) = (stage("sauce"), stage("cheese"), stage("meat"));
        let (requested, pizza) = requested();
        let sauced = announce(&sauce, &[(requested.clone(), pizza)], &Reservation::Reserved("bbq".into()));
        let (sauced, at_cheese) = passed_on(&cheese, &sauced[0]);
        let cheesed = announce(&cheese, &[(sauced.clone(), at_cheese)], &Reservation::Reserved("feta".into()));
        let (cheesed, at_meat) = passed_on(&meat, &cheesed[0]);
        let journey = &cheesed.decode::<IngredientAdded>().expect("decodes").data.pizzas[0].journey;
        assert_eq!(journey, &vec![Hop::of(&requested), Hop::of(&sauced)]);
        assert_eq!(journey[1].causation_id, Some(journey[0].id), "each hop names the one before");
        assert_eq!((journey[1].event_type.as_str(), journey[1].source.as_str()), ("IngredientAdded", "sauce"));

        let short = announce(&meat, &[(cheesed.clone(), at_meat)], &Reservation::OutOfStock).remove(0);
        let failed = short.outgoing.event.decode::<InventoryFailed>().expect("decodes").data;
        assert_eq!(failed.journey.iter().map(|h| h.id).collect::<Vec<_>>(), [requested.id, sauced.id, cheesed.id]);
    }

    #[test]
    fn a_pizza_cannot_pass_one_stage_twice() {
        let (sauce, cheese) = (stage("sauce"), stage("cheese"));
        let sauced = announce(&sauce, &[requested()], &Reservation::Reserved("bbq".into()));
        let (sauced, at_cheese) = passed_on(&cheese, &sauced[0]);
        assert_eq!((at_cheese.ingredients.len(), at_cheese.pizzas_in_order), (1, Some(3)));
        assert!(matches!(sauce.read(&sauced), Err(RecordError::Permanent(_))));
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
