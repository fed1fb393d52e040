//! Inserting a stage by configuration alone: the same template and the same stage code,
//! deployed with `CrustStage=enabled`, puts a crust on every pizza (on a stack that opted
//! out of the event archive, which changes nothing else).

use std::sync::OnceLock;

use pizza_events::menu;
use system_tests::{System, shared_system};

static SYSTEM: OnceLock<System> = OnceLock::new();

#[test]
fn a_crust_stage_between_sauce_and_cheese_puts_a_crust_on_every_pizza() {
    // Without the event archive too: a stack may opt out of it.
    let parameters = [("Namespace", "test-crust-"), ("CrustStage", "enabled"), ("EventArchive", "disabled")];
    let system = shared_system(&SYSTEM, "test-crust", &parameters);
    assert!(system.manifest.function("CrustFunction").is_some(), "the crust function is deployed");
    assert!(system.manifest.event_archive.is_none(), "no archive when opted out");
    assert!(system.archive().is_err(), "so trace and replay say there is none");
    system.run(async {
        let order_id = system.place_order(3).await;
        let order = system.wait_until_ready(&order_id).await;
        let pizzas = order["pizzas"].as_array().expect("pizzas");
        assert_eq!(pizzas.len(), 3);
        for pizza in pizzas {
            for stage in ["crust", "sauce", "cheese", "meat", "veggies"] {
                let ingredient = pizza[stage].as_str().unwrap_or_else(|| panic!("no {stage} on {pizza}"));
                assert!(menu::ingredients_for(stage).is_some_and(|m| m.contains(&ingredient)));
            }
        }
    });
}
