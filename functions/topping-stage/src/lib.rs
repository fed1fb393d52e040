//! A topping stage: takes a batch of pizzas in progress, reserves one ingredient of its
//! menu for each in one pantry call, and passes each order's pizzas on together to its
//! output topic (or reports a pizza's shortage). Sauce, cheese, meat, veggies (and crust) are this same code with
//! another `STAGE` and `OUTPUT_TOPIC_ARN`.

pub mod stage;

use async_trait::async_trait;
use inventory::{DynamoInventory, Pantry, Reservation};
use lambda_kit::telemetry::{Metrics, Unit};
use lambda_kit::{BatchHandler, ConfigError, Env, Inbound, RecordError, RecordOutcome};
use pizza_events::WireEvent;
use uuid::Uuid;

pub use stage::{Announcement, Answered, Pizza, Stage};

pub struct ToppingStage<P> {
    stage: Stage,
    pantry: P,
    metrics: Metrics,
}

impl ToppingStage<DynamoInventory> {
    pub fn from_env(env: &Env, aws: &aws_config::SdkConfig) -> Result<Self, ConfigError> {
        let pantry = DynamoInventory::new(aws, env.require("INVENTORY_TABLE")?);
        Ok(Self::new(Stage::from_env(env)?, pantry, Metrics::from_env(env)))
    }
}

impl<P: Pantry> ToppingStage<P> {
    pub fn new(stage: Stage, pantry: P, metrics: Metrics) -> Self {
        Self { stage, pantry, metrics }
    }

    pub fn pantry(&self) -> &P {
        &self.pantry
    }
}

#[async_trait]
impl<P: Pantry> BatchHandler for ToppingStage<P> {
    type Message = WireEvent;

    async fn handle_batch(&self, batch: &[Inbound<WireEvent>]) -> Vec<RecordOutcome<WireEvent>> {
        let pizzas: Vec<Result<Vec<Pizza>, RecordError>> =
            batch.iter().map(|inbound| self.stage.read(&inbound.event)).collect();
        let requests: Vec<_> = pizzas.iter().flatten().flatten().map(|pizza| self.stage.request(pizza)).collect();
        let reserved = self.pantry.reserve(&self.stage.name, &requests).await.map_err(RecordError::from);
        // One answer per pizza, in order, is the pantry's contract; short of that no answer
        // can be matched to its pizza, so the batch is tried again rather than guessed.
        let reservations = match reserved {
            Ok(reservations) if reservations.len() == requests.len() => reservations,
            Ok(short) => {
                let (answers, asked) = (short.len(), requests.len());
                let err = RecordError::transient(format!("the pantry answered {answers} of {asked} pizzas"));
                return fail_every_record(pizzas, &err);
            }
            Err(err) => return fail_every_record(pizzas, &err),
        };
        let read = batch.iter().zip(&pizzas).enumerate().flat_map(|(record, (inbound, pizzas))| {
            pizzas.iter().flatten().map(move |pizza| (record, &inbound.event, pizza))
        });
        let answered: Vec<Answered<'_>> = read
            .zip(&reservations)
            .map(|((record, cause, pizza), reservation)| Answered { record, cause, pizza, reservation })
            .collect();
        self.log_and_count(batch, &answered);
        let announcements = self.stage.announce(&answered);
        let mut outcomes: Vec<RecordOutcome<WireEvent>> =
            pizzas.iter().map(|pizzas| pizzas.as_ref().map(|_| Vec::new()).map_err(RecordError::shared)).collect();
        for Announcement { records, outgoing } in announcements {
            for record in records {
                if let Ok(events) = &mut outcomes[record] {
                    events.push(outgoing.clone());
                }
            }
        }
        outcomes
    }
}

/// Every record fails with `err`, save those that failed already with their own reason.
fn fail_every_record(read: Vec<Result<Vec<Pizza>, RecordError>>, err: &RecordError) -> Vec<RecordOutcome<WireEvent>> {
    read.into_iter().map(|pizzas| Err(pizzas.err().unwrap_or_else(|| err.shared()))).collect()
}

impl<P: Pantry> ToppingStage<P> {
    /// One INFO line per order in the batch, in the span of its first pizza's record (so it
    /// carries the order's correlation and trace ids); each pizza's own line is at DEBUG.
    fn log_and_count(&self, batch: &[Inbound<WireEvent>], answered: &[Answered<'_>]) {
        let (mut added, mut short, mut dropped) = (0, 0, 0);
        let mut by_order: Vec<(Uuid, usize, OrderTally)> = Vec::new();
        for Answered { record, pizza, reservation, .. } in answered {
            let slot = by_order.iter().position(|(order, _, _)| *order == pizza.order_id).unwrap_or_else(|| {
                by_order.push((pizza.order_id, *record, OrderTally::default()));
                by_order.len() - 1
            });
            let tally = &mut by_order[slot].2;
            tally.pizzas += 1;
            batch[*record].span.in_scope(|| match reservation {
                Reservation::Reserved(ingredient) => {
                    added += 1;
                    tally.added += 1;
                    tracing::debug!(pizza_id = %pizza.pizza_id, ingredient, "ingredient added");
                }
                Reservation::AlreadyReserved(ingredient) => {
                    tracing::debug!(pizza_id = %pizza.pizza_id, ingredient, "reserved before; passed on again")
                }
                Reservation::OutOfStock => {
                    short += 1;
                    tally.short += 1;
                    tracing::warn!(pizza_id = %pizza.pizza_id, "out of every ingredient of the stage");
                }
                Reservation::AlreadyOutOfStock => {
                    tracing::debug!(pizza_id = %pizza.pizza_id, "found out of stock before; reported again")
                }
                Reservation::OrderClosed => {
                    dropped += 1;
                    tally.dropped += 1;
                    tracing::debug!(pizza_id = %pizza.pizza_id, "order cancelled; pizza dropped");
                }
            });
        }
        for (_, first, tally) in &by_order {
            // A line about an order's pizzas, not about one of its events: the order and
            // its trace, without the id of whichever event came first.
            let inbound = &batch[*first];
            let correlation_id = &inbound.event.correlation_id;
            tracing::info_span!("order", %correlation_id, trace_id = %inbound.trace.trace_id()).in_scope(|| {
                let OrderTally { pizzas, added, short, dropped } = tally;
                tracing::info!(pizzas, added, short, dropped, "pizzas topped");
            });
        }
        // A shortage is worth a graph and an alarm; what went on as asked is counted in the
        // line (and by the queues' own metrics).
        self.metrics.add(&[("OutOfStock", f64::from(short), Unit::Count)]);
        self.metrics.tally(&[("IngredientsAdded", f64::from(added)), ("PizzasDropped", f64::from(dropped))]);
    }
}

/// What a batch did to one order's pizzas.
#[derive(Debug, Default)]
struct OrderTally {
    pizzas: u32,
    added: u32,
    short: u32,
    dropped: u32,
}

#[cfg(test)]
mod tests {
    use super::*;
    use inventory::{InMemoryInventory, Restock, StockRoom};
    use pizza_events::catalogue::{IngredientAdded, InventoryFailed, PizzaRequested};
    use pizza_events::{Envelope, WireEvent};
    use uuid::Uuid;

    async fn stage_with_stock(name: &str, units: u64) -> ToppingStage<InMemoryInventory> {
        let env: Env = [
            ("STAGE", name),
            ("OUTPUT_TOPIC_ARN", "next"),
            ("INVENTORY_TOPIC_ARN", "inventory"),
            ("POWERTOOLS_METRICS_DISABLED", "true"),
        ]
        .into_iter()
        .collect();
        let stage = Stage::from_env(&env).expect("menu stage");
        let pantry = InMemoryInventory::default();
        for ingredient in &stage.ingredients {
            pantry.set_stock(&stage.name, ingredient, units).await.expect("stocked");
        }
        ToppingStage::new(stage, pantry, Metrics::from_env(&env))
    }

    fn requested(order_id: Uuid) -> Inbound<WireEvent> {
        let event = Envelope::new(
            "orders",
            order_id.to_string(),
            PizzaRequested { order_id, pizza_id: Uuid::new_v4(), pizzas_in_order: None },
        );
        Inbound::detached(event.to_wire())
    }

    fn events(outcomes: &[RecordOutcome<WireEvent>]) -> Vec<WireEvent> {
        outcomes.iter().flat_map(|o| o.as_ref().expect("handled")).map(|o| o.event.clone()).collect()
    }

    async fn reserved(stage: &ToppingStage<InMemoryInventory>) -> u64 {
        stage.pantry.levels().await.expect("levels").iter().map(|l| l.reserved).sum()
    }

    #[tokio::test]
    async fn a_batch_reserves_one_ingredient_per_pizza_and_passes_each_orders_pizzas_on_together() {
        let sauce = stage_with_stock("sauce", 10).await;
        let (order, other) = (Uuid::new_v4(), Uuid::new_v4());
        let mut batch: Vec<Inbound<WireEvent>> = (0..4).map(|_| requested(order)).collect();
        batch.insert(2, requested(other));
        let outcomes = sauce.handle_batch(&batch).await;
        let listed: Vec<Vec<Uuid>> =
            outcomes.iter().map(|o| o.as_ref().expect("handled").iter().map(|o| o.event.id).collect()).collect();
        assert!(listed.iter().all(|ids| ids.len() == 1), "each record lists the event that carries its pizza");
        assert_eq!(listed.iter().collect::<std::collections::HashSet<_>>().len(), 2, "one event per order");
        let added = events(&outcomes)[0].decode::<IngredientAdded>().expect("IngredientAdded").data;
        assert_eq!((added.order_id, added.pizzas.len()), (order, 4));
        assert!(
            added
                .pizzas
                .iter()
                .all(|p| { p.ingredients.len() == 1 && sauce.stage.ingredients.contains(&p.ingredients[0].name) })
        );
        assert_eq!(reserved(&sauce).await, 5);
    }

    #[tokio::test]
    async fn a_stage_tops_every_pizza_an_earlier_stages_event_carries() {
        let (sauce, cheese) = (stage_with_stock("sauce", 10).await, stage_with_stock("cheese", 10).await);
        let order = Uuid::new_v4();
        let requests: Vec<Inbound<WireEvent>> = (0..3).map(|_| requested(order)).collect();
        let sauced = events(&sauce.handle_batch(&requests).await).remove(0);
        let outcomes = cheese.handle_batch(&[Inbound::detached(sauced)]).await;
        let cheesed = events(&outcomes);
        let [only] = cheesed.as_slice() else { panic!("one event: {cheesed:?}") };
        let added = only.decode::<IngredientAdded>().expect("IngredientAdded").data;
        assert_eq!(added.pizzas.len(), 3);
        assert!(added.pizzas.iter().all(|p| p.ingredients.len() == 2 && p.journey.len() == 2));
        assert_eq!(reserved(&cheese).await, 3);
    }

    #[tokio::test]
    async fn a_redelivered_batch_yields_the_same_events_and_takes_nothing_more() {
        let cheese = stage_with_stock("cheese", 10).await;
        let batch: Vec<Inbound<WireEvent>> = (0..3).map(|_| requested(Uuid::new_v4())).collect();
        let first = events(&cheese.handle_batch(&batch).await);
        let again = events(&cheese.handle_batch(&batch).await);
        assert_eq!(
            first.iter().map(|e| (e.id, &e.data)).collect::<Vec<_>>(),
            again.iter().map(|e| (e.id, &e.data)).collect::<Vec<_>>()
        );
        assert_eq!(reserved(&cheese).await, 3);
    }

    #[tokio::test]
    async fn a_short_stage_falls_back_then_reports_the_pizza_it_cannot_top() {
        let meat = stage_with_stock("meat", 0).await;
        meat.pantry.set_stock("meat", "salami", 1).await.expect("one salami");
        let batch = [requested(Uuid::new_v4()), requested(Uuid::new_v4())];
        let outcomes = meat.handle_batch(&batch).await;
        let out = events(&outcomes);
        assert_eq!(out[0].decode::<IngredientAdded>().expect("topped").data.pizzas[0].ingredients[0].name, "salami");
        let failed = out[1].decode::<InventoryFailed>().expect("reported");
        assert_eq!((failed.data.stage.as_str(), failed.causation_id), ("meat", Some(batch[1].event.id)));
    }

    /// A pantry that answers for every pizza but one: a broken contract.
    struct ShortPantry;

    #[async_trait]
    impl Pantry for ShortPantry {
        async fn reserve(
            &self,
            _stage: &str,
            requests: &[inventory::ReservationRequest],
        ) -> Result<Vec<Reservation>, dynamo_kit::StoreError> {
            Ok(requests.iter().skip(1).map(|_| Reservation::Reserved("salami".into())).collect())
        }
    }

    #[tokio::test]
    async fn a_pantry_answering_short_fails_the_batch_for_a_retry_instead_of_guessing() {
        let env: Env = [
            ("STAGE", "meat"),
            ("OUTPUT_TOPIC_ARN", "next"),
            ("INVENTORY_TOPIC_ARN", "inventory"),
            ("POWERTOOLS_METRICS_DISABLED", "true"),
        ]
        .into_iter()
        .collect();
        let meat = ToppingStage::new(Stage::from_env(&env).expect("menu stage"), ShortPantry, Metrics::from_env(&env));
        let outcomes = meat.handle_batch(&[requested(Uuid::new_v4()), requested(Uuid::new_v4())]).await;
        assert!(outcomes.iter().all(|o| matches!(o, Err(e) if e.is_transient())), "{outcomes:?}");
    }

    #[tokio::test]
    async fn a_cancelled_orders_pizza_is_dropped_and_a_looping_one_rejected_while_the_rest_go_on() {
        let veggies = stage_with_stock("veggies", 5).await;
        let (cancelled, open) = (Uuid::new_v4(), Uuid::new_v4());
        veggies.pantry.release_order(cancelled).await.expect("closed");
        let mut looping = requested(open);
        let sauce = Stage { name: "veggies".into(), ..veggies.stage.clone() };
        let pizzas = sauce.read(&looping.event).expect("pizza");
        let reserved_onions = Reservation::Reserved("onions".into());
        let answered = Answered { record: 0, cause: &looping.event, pizza: &pizzas[0], reservation: &reserved_onions };
        looping.event = sauce.announce(&[answered])[0].outgoing.event.clone();
        let outcomes = veggies.handle_batch(&[requested(cancelled), looping, requested(open)]).await;
        assert!(outcomes[0].as_ref().expect("dropped, not failed").is_empty());
        assert!(matches!(outcomes[1], Err(RecordError::Permanent(_))));
        assert_eq!(outcomes[2].as_ref().expect("topped").len(), 1);
        assert_eq!(reserved(&veggies).await, 1);
    }
}
