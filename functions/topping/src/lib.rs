//! A topping stage: takes a pizza in progress, adds one ingredient from its menu and
//! publishes the pizza to its output topic. Sauce, cheese, meat, veggies (and crust) are
//! this same code with another `STAGE` and `OUTPUT_TOPIC_ARN`.

use async_trait::async_trait;
use shared::batch::{EventHandler, HandlerError};
use shared::bus::{EventPublisher, SnsPublisher, TopicArn};
use shared::config::{ConfigError, Env};
use shared::envelope::{Envelope, IncomingEvent, derived_id};
use shared::events::{Ingredient, IngredientAdded, InventoryFailed, PizzaInProgress};
use shared::inventory::{DynamoInventory, Inventory, Reservation};
use shared::menu;
use shared::telemetry::{Metrics, Unit};

/// What a stage is: its name, what it can add, and where the pizza goes next.
#[derive(Debug, Clone)]
pub struct Stage {
    pub name: String,
    pub ingredients: Vec<String>,
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
        Ok(Self { name, ingredients })
    }

    /// The ingredients to try for a pizza, in order: its own pick, random across pizzas but
    /// fixed for one pizza (so a redelivery tries the same), then the rest of the menu.
    pub fn candidates(&self, pizza: &PizzaInProgress) -> Result<Vec<&str>, HandlerError> {
        if pizza.ingredients.iter().any(|i| i.stage == self.name) {
            return Err(HandlerError::Rejected(format!(
                "pizza {} already went through stage {}: the topology loops",
                pizza.pizza_id, self.name
            )));
        }
        let choice = derived_id(&[&pizza.pizza_id.to_string(), &self.name]).as_u128();
        let first = (choice % self.ingredients.len() as u128) as usize;
        let rotated = self.ingredients[first..].iter().chain(&self.ingredients[..first]);
        Ok(rotated.map(String::as_str).collect())
    }

    /// The pizza with `ingredient` added by this stage.
    pub fn add(&self, pizza: &PizzaInProgress, ingredient: &str) -> IngredientAdded {
        let mut ingredients = pizza.ingredients.clone();
        ingredients.push(Ingredient { stage: self.name.clone(), name: ingredient.to_owned() });
        IngredientAdded { order_id: pizza.order_id, pizza_id: pizza.pizza_id, stage: self.name.clone(), ingredients }
    }
}

pub struct Topics {
    /// Where the pizza goes next.
    pub output: TopicArn,
    /// Where a stage says it has run out (`inventory`).
    pub inventory: TopicArn,
}

pub struct ToppingStage<P, I> {
    stage: Stage,
    topics: Topics,
    publisher: P,
    inventory: I,
    metrics: Metrics,
}

impl ToppingStage<SnsPublisher, DynamoInventory> {
    pub fn from_env(env: &Env, aws: &aws_config::SdkConfig) -> Result<Self, ConfigError> {
        let topics = Topics {
            output: TopicArn(env.require("OUTPUT_TOPIC_ARN")?.to_owned()),
            inventory: TopicArn(env.require("INVENTORY_TOPIC_ARN")?.to_owned()),
        };
        let inventory = DynamoInventory::new(aws, env.require("INVENTORY_TABLE")?);
        Ok(Self::new(Stage::from_env(env)?, topics, SnsPublisher::new(aws), inventory, Metrics::from_env(env)))
    }
}

impl<P: EventPublisher, I: Inventory> ToppingStage<P, I> {
    pub fn new(stage: Stage, topics: Topics, publisher: P, inventory: I, metrics: Metrics) -> Self {
        Self { stage, topics, publisher, inventory, metrics }
    }

    async fn pass_on(
        &self,
        event: &IncomingEvent,
        pizza: &PizzaInProgress,
        ingredient: &str,
    ) -> Result<(), HandlerError> {
        let added = Envelope::caused_by(event, &self.stage.name, &self.stage.name, self.stage.add(pizza, ingredient));
        self.publisher.publish(&self.topics.output, &[added.to_incoming()]).await?;
        tracing::info!(pizza_id = %pizza.pizza_id, ingredient, "ingredient added");
        self.metrics.emit(&[("IngredientsAdded", 1.0, Unit::Count)]);
        Ok(())
    }

    async fn run_out(&self, event: &IncomingEvent, pizza: &PizzaInProgress) -> Result<(), HandlerError> {
        let data =
            InventoryFailed { order_id: pizza.order_id, pizza_id: pizza.pizza_id, stage: self.stage.name.clone() };
        let failed_event = Envelope::caused_by(event, &self.stage.name, "out-of-stock", data);
        self.publisher.publish(&self.topics.inventory, &[failed_event.to_incoming()]).await?;
        tracing::warn!(pizza_id = %pizza.pizza_id, stage = %self.stage.name, "out of every ingredient of the stage");
        self.metrics.emit(&[("OutOfStock", 1.0, Unit::Count)]);
        Ok(())
    }
}

#[async_trait]
impl<P: EventPublisher, I: Inventory> EventHandler for ToppingStage<P, I> {
    async fn handle(&self, event: &IncomingEvent) -> Result<(), HandlerError> {
        let pizza = PizzaInProgress::from_event(event)?;
        for candidate in self.stage.candidates(&pizza)? {
            let reservation =
                self.inventory.reserve(pizza.order_id, pizza.pizza_id, &self.stage.name, candidate).await?;
            match reservation {
                Reservation::Reserved => return self.pass_on(event, &pizza, candidate).await,
                // A redelivery: pass on what was reserved the first time.
                Reservation::AlreadyReserved { ingredient } => return self.pass_on(event, &pizza, &ingredient).await,
                Reservation::OutOfStock => continue,
                Reservation::OrderCancelled => {
                    tracing::info!(pizza_id = %pizza.pizza_id, "order cancelled; pizza dropped");
                    return Ok(());
                }
            }
        }
        self.run_out(event, &pizza).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::bus::InMemoryPublisher;
    use shared::events::PizzaRequested;
    use shared::inventory::{InMemoryInventory, StockRoom};
    use uuid::Uuid;

    type TestStage = ToppingStage<InMemoryPublisher, InMemoryInventory>;

    /// A stage whose every ingredient has `units` in stock.
    async fn stage_with_stock(name: &str, units: u64) -> TestStage {
        let env: Env = [("STAGE", name)].into_iter().collect();
        let stage = Stage::from_env(&env).expect("menu stage");
        let inventory = InMemoryInventory::default();
        for ingredient in &stage.ingredients {
            inventory.set_stock(ingredient, units).await.expect("stocked");
        }
        let topics = Topics { output: TopicArn("next".into()), inventory: TopicArn("inventory".into()) };
        ToppingStage::new(stage, topics, InMemoryPublisher::default(), inventory, Metrics::from_env(&env))
    }

    fn requested() -> IncomingEvent {
        let order_id = Uuid::new_v4();
        Envelope::new("kitchen", order_id.to_string(), PizzaRequested { order_id, pizza_id: Uuid::new_v4() })
            .to_incoming()
    }

    fn published_to(stage: &TestStage, topic: &str) -> Vec<IncomingEvent> {
        stage.publisher.published().into_iter().filter(|(t, _)| t.0 == topic).map(|(_, e)| e).collect()
    }

    async fn reserved(stage: &TestStage) -> u64 {
        stage.inventory.levels().await.expect("levels").iter().map(|l| l.reserved).sum()
    }

    #[tokio::test]
    async fn reserves_an_ingredient_from_the_menu_and_publishes_to_the_next_topic() {
        let sauce = stage_with_stock("sauce", 5).await;
        sauce.handle(&requested()).await.expect("handled");
        let [event] = published_to(&sauce, "next").try_into().expect("one event to the next stage");
        let added = event.decode::<IngredientAdded>().expect("IngredientAdded").data;
        assert_eq!(added.stage, "sauce");
        let [ingredient] = added.ingredients.as_slice() else { panic!("one ingredient: {added:?}") };
        assert!(menu::ingredients_for("sauce").is_some_and(|m| m.contains(&ingredient.name.as_str())));
        let levels = sauce.inventory.levels().await.expect("levels");
        let held = levels.iter().find(|l| l.ingredient == ingredient.name).expect("stocked");
        assert_eq!((held.available, held.reserved), (4, 1));
    }

    #[tokio::test]
    async fn a_redelivered_message_yields_the_same_event_and_reserves_once() {
        let cheese = stage_with_stock("cheese", 5).await;
        let event = requested();
        cheese.handle(&event).await.expect("first");
        cheese.handle(&event).await.expect("again");
        let published = published_to(&cheese, "next");
        assert_eq!(published[0].id, published[1].id);
        assert_eq!(published[0].data, published[1].data);
        assert_eq!(reserved(&cheese).await, 1);
    }

    #[tokio::test]
    async fn falls_back_to_another_ingredient_then_reports_out_of_stock() {
        let meat = stage_with_stock("meat", 0).await;
        meat.inventory.set_stock("salami", 1).await.expect("one salami");
        meat.handle(&requested()).await.expect("the salami pizza");
        let added = published_to(&meat, "next")[0].decode::<IngredientAdded>().expect("added").data;
        assert_eq!(added.ingredients[0].name, "salami");

        let hungry = requested();
        meat.handle(&hungry).await.expect("reported, not failed");
        let [failed] = published_to(&meat, "inventory").try_into().expect("one InventoryFailed");
        let failed = failed.decode::<InventoryFailed>().expect("InventoryFailed");
        assert_eq!(failed.data.stage, "meat");
        assert_eq!(failed.causation_id, Some(hungry.id));
        assert_eq!(published_to(&meat, "next").len(), 1, "the hungry pizza goes no further");
    }

    #[tokio::test]
    async fn a_pizza_of_a_cancelled_order_is_dropped() {
        let veggies = stage_with_stock("veggies", 5).await;
        let event = requested();
        let order_id = event.decode::<PizzaRequested>().expect("request").data.order_id;
        veggies.inventory.release_order(order_id).await.expect("cancelled");
        veggies.handle(&event).await.expect("dropped, not failed");
        assert!(veggies.publisher.published().is_empty());
        assert_eq!(reserved(&veggies).await, 0);
    }

    #[tokio::test]
    async fn stages_chain_and_a_pizza_cannot_pass_one_stage_twice() {
        let (sauce, cheese) = (stage_with_stock("sauce", 5).await, stage_with_stock("cheese", 5).await);
        sauce.handle(&requested()).await.expect("sauce");
        let sauced = sauce.publisher.published()[0].1.clone();
        cheese.handle(&sauced).await.expect("cheese");
        let cheesed = cheese.publisher.published()[0].1.decode::<IngredientAdded>().expect("decodes").data;
        let stages: Vec<_> = cheesed.ingredients.iter().map(|i| i.stage.as_str()).collect();
        assert_eq!(stages, ["sauce", "cheese"]);
        assert!(matches!(sauce.handle(&sauced).await, Err(HandlerError::Rejected(_))));
    }

    #[test]
    fn first_picks_spread_over_the_whole_menu() {
        let meat = Stage::from_env(&[("STAGE", "meat")].into_iter().collect()).expect("meat");
        let picks: std::collections::BTreeSet<String> = (0..200)
            .map(|_| {
                let pizza = PizzaInProgress { order_id: Uuid::new_v4(), pizza_id: Uuid::new_v4(), ingredients: vec![] };
                let candidates = meat.candidates(&pizza).expect("candidates");
                assert_eq!(candidates.len(), meat.ingredients.len(), "every ingredient is a candidate");
                candidates[0].to_owned()
            })
            .collect();
        assert_eq!(picks.len(), meat.ingredients.len());
    }

    #[test]
    fn a_stage_needs_a_menu_or_an_ingredient_list() {
        assert!(Stage::from_env(&[("STAGE", "dessert")].into_iter().collect()).is_err());
        let custom =
            Stage::from_env(&[("STAGE", "dessert"), ("INGREDIENTS", "tiramisu, gelato")].into_iter().collect());
        assert_eq!(custom.expect("custom").ingredients, ["tiramisu", "gelato"]);
    }
}

#[cfg(test)]
mod fixtures {
    //! The sample events in `events/`, through the same entry point Lambda calls.
    use super::*;
    use aws_lambda_events::event::sqs::SqsEvent;
    use shared::batch::process_batch;
    use shared::bus::InMemoryPublisher;
    use shared::inventory::{InMemoryInventory, StockRoom};

    async fn sauce() -> ToppingStage<InMemoryPublisher, InMemoryInventory> {
        let env: Env = [("STAGE", "sauce")].into_iter().collect();
        let stage = Stage::from_env(&env).expect("sauce");
        let inventory = InMemoryInventory::default();
        for ingredient in &stage.ingredients {
            inventory.set_stock(ingredient, 10).await.expect("stocked");
        }
        let topics = Topics { output: TopicArn("next".into()), inventory: TopicArn("inventory".into()) };
        ToppingStage::new(stage, topics, InMemoryPublisher::default(), inventory, Metrics::from_env(&env))
    }

    fn event(json: &str) -> SqsEvent {
        serde_json::from_str(json).expect("a valid SQS event")
    }

    #[tokio::test]
    async fn the_sample_batch_is_processed() {
        let stage = sauce().await;
        let metrics = Metrics::from_env(&Env::default());
        let response =
            process_batch(&stage, &metrics, event(include_str!("../../../events/sqs/sauce-pizza-requested.json")))
                .await;
        assert!(response.batch_item_failures.is_empty());
        assert_eq!(stage.publisher.published().len(), 1);
    }

    #[tokio::test]
    async fn only_the_poison_of_the_sample_batch_fails() {
        let stage = sauce().await;
        let metrics = Metrics::from_env(&Env::default());
        let batch = event(include_str!("../../../events/sqs/sauce-batch-with-poison.json"));
        let poison = batch.records[1].message_id.clone().expect("an id");
        let response = process_batch(&stage, &metrics, batch).await;
        let failed: Vec<_> = response.batch_item_failures.iter().map(|f| f.item_identifier.clone()).collect();
        assert_eq!(failed, vec![poison]);
        assert_eq!(stage.publisher.published().len(), 1);
    }
}
