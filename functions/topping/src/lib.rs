//! A topping stage: takes a pizza in progress, adds one ingredient from its menu and
//! publishes the pizza to its output topic. Sauce, cheese, meat, veggies (and crust) are
//! this same code with another `STAGE` and `OUTPUT_TOPIC_ARN`.

use async_trait::async_trait;
use shared::batch::{EventHandler, HandlerError};
use shared::bus::{EventPublisher, SnsPublisher, TopicArn};
use shared::config::{ConfigError, Env};
use shared::envelope::{Envelope, IncomingEvent, derived_id};
use shared::events::{Ingredient, IngredientAdded, PizzaInProgress};
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

    /// Adds this stage's ingredient. The choice is random across pizzas but fixed for one
    /// pizza, so a redelivered message yields the very same pizza.
    pub fn add_ingredient(&self, pizza: &PizzaInProgress) -> Result<IngredientAdded, HandlerError> {
        if pizza.ingredients.iter().any(|i| i.stage == self.name) {
            return Err(HandlerError::Rejected(format!(
                "pizza {} already went through stage {}: the topology loops",
                pizza.pizza_id, self.name
            )));
        }
        let choice = derived_id(&[&pizza.pizza_id.to_string(), &self.name]).as_u128();
        let pick = &self.ingredients[(choice % self.ingredients.len() as u128) as usize];
        let mut ingredients = pizza.ingredients.clone();
        ingredients.push(Ingredient { stage: self.name.clone(), name: pick.clone() });
        Ok(IngredientAdded {
            order_id: pizza.order_id,
            pizza_id: pizza.pizza_id,
            stage: self.name.clone(),
            ingredients,
        })
    }
}

pub struct ToppingStage<P> {
    stage: Stage,
    output: TopicArn,
    publisher: P,
    metrics: Metrics,
}

impl ToppingStage<SnsPublisher> {
    pub fn from_env(env: &Env, aws: &aws_config::SdkConfig) -> Result<Self, ConfigError> {
        let output = TopicArn(env.require("OUTPUT_TOPIC_ARN")?.to_owned());
        Ok(Self::new(Stage::from_env(env)?, output, SnsPublisher::new(aws), Metrics::from_env(env)))
    }
}

impl<P: EventPublisher> ToppingStage<P> {
    pub fn new(stage: Stage, output: TopicArn, publisher: P, metrics: Metrics) -> Self {
        Self { stage, output, publisher, metrics }
    }
}

#[async_trait]
impl<P: EventPublisher> EventHandler for ToppingStage<P> {
    async fn handle(&self, event: &IncomingEvent) -> Result<(), HandlerError> {
        let pizza = PizzaInProgress::from_event(event)?;
        let added = self.stage.add_ingredient(&pizza)?;
        let outgoing = Envelope::caused_by(event, &self.stage.name, &self.stage.name, added);
        self.publisher
            .publish(&self.output, &[outgoing.to_incoming()])
            .await
            .map_err(|e| HandlerError::Failed(e.to_string()))?;
        tracing::info!(pizza_id = %pizza.pizza_id, ingredient = ?outgoing.data.ingredients.last(), "ingredient added");
        self.metrics.emit(&[("IngredientsAdded", 1.0, Unit::Count)]);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::bus::InMemoryPublisher;
    use shared::events::PizzaRequested;
    use uuid::Uuid;

    fn stage(name: &str) -> ToppingStage<InMemoryPublisher> {
        let env: Env = [("STAGE", name)].into_iter().collect();
        let stage = Stage::from_env(&env).expect("menu stage");
        ToppingStage::new(stage, TopicArn("next".into()), InMemoryPublisher::default(), Metrics::from_env(&env))
    }

    fn requested() -> IncomingEvent {
        let order_id = Uuid::new_v4();
        Envelope::new("kitchen", order_id.to_string(), PizzaRequested { order_id, pizza_id: Uuid::new_v4() })
            .to_incoming()
    }

    #[tokio::test]
    async fn adds_an_ingredient_from_the_menu_and_publishes_to_the_next_topic() {
        let sauce = stage("sauce");
        sauce.handle(&requested()).await.expect("handled");
        let published = sauce.publisher.published();
        assert_eq!(published.len(), 1);
        let (topic, event) = &published[0];
        assert_eq!(topic.0, "next");
        let added = event.decode::<IngredientAdded>().expect("IngredientAdded").data;
        assert_eq!(added.stage, "sauce");
        let [ingredient] = added.ingredients.as_slice() else { panic!("one ingredient: {added:?}") };
        assert!(menu::ingredients_for("sauce").is_some_and(|m| m.contains(&ingredient.name.as_str())));
    }

    #[tokio::test]
    async fn a_redelivered_message_yields_the_same_event() {
        let cheese = stage("cheese");
        let event = requested();
        cheese.handle(&event).await.expect("first");
        cheese.handle(&event).await.expect("again");
        let published = cheese.publisher.published();
        assert_eq!(published[0].1.id, published[1].1.id);
        assert_eq!(published[0].1.data, published[1].1.data);
    }

    #[tokio::test]
    async fn stages_chain_and_a_pizza_cannot_pass_one_stage_twice() {
        let (sauce, cheese) = (stage("sauce"), stage("cheese"));
        sauce.handle(&requested()).await.expect("sauce");
        let sauced = sauce.publisher.published()[0].1.clone();
        cheese.handle(&sauced).await.expect("cheese");
        let cheesed = cheese.publisher.published()[0].1.decode::<IngredientAdded>().expect("decodes").data;
        let stages: Vec<_> = cheesed.ingredients.iter().map(|i| i.stage.as_str()).collect();
        assert_eq!(stages, ["sauce", "cheese"]);
        assert!(matches!(sauce.handle(&sauced).await, Err(HandlerError::Rejected(_))));
    }

    #[test]
    fn picks_spread_over_the_whole_menu() {
        let meat = Stage::from_env(&[("STAGE", "meat")].into_iter().collect()).expect("meat");
        let picks: std::collections::BTreeSet<String> = (0..200)
            .map(|_| {
                let pizza = PizzaInProgress { order_id: Uuid::new_v4(), pizza_id: Uuid::new_v4(), ingredients: vec![] };
                meat.add_ingredient(&pizza).expect("adds").ingredients[0].name.clone()
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

    fn sauce() -> ToppingStage<InMemoryPublisher> {
        let env: Env = [("STAGE", "sauce")].into_iter().collect();
        let stage = Stage::from_env(&env).expect("sauce");
        ToppingStage::new(stage, TopicArn("next".into()), InMemoryPublisher::default(), Metrics::from_env(&env))
    }

    fn event(json: &str) -> SqsEvent {
        serde_json::from_str(json).expect("a valid SQS event")
    }

    #[tokio::test]
    async fn the_sample_batch_is_processed() {
        let stage = sauce();
        let metrics = Metrics::from_env(&Env::default());
        let response =
            process_batch(&stage, &metrics, event(include_str!("../../../events/sqs/sauce-pizza-requested.json")))
                .await;
        assert!(response.batch_item_failures.is_empty());
        assert_eq!(stage.publisher.published().len(), 1);
    }

    #[tokio::test]
    async fn only_the_poison_of_the_sample_batch_fails() {
        let stage = sauce();
        let metrics = Metrics::from_env(&Env::default());
        let batch = event(include_str!("../../../events/sqs/sauce-batch-with-poison.json"));
        let poison = batch.records[1].message_id.clone().expect("an id");
        let response = process_batch(&stage, &metrics, batch).await;
        let failed: Vec<_> = response.batch_item_failures.iter().map(|f| f.item_identifier.clone()).collect();
        assert_eq!(failed, vec![poison]);
        assert_eq!(stage.publisher.published().len(), 1);
    }
}
