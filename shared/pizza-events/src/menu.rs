//! What each kitchen stage can put on a pizza. A new stage is a new entry here and in the
//! template; no stage's code changes.

/// Every pizza costs the same: its toppings are the kitchen's surprise.
pub const PIZZA_PRICE_CENTS: u64 = 1250;

/// What one kitchen stage can put on a pizza.
pub struct StageMenu {
    /// The stage's name, as in the template's `STAGE` and in events.
    pub stage: &'static str,
    /// Its ingredients.
    pub ingredients: &'static [&'static str],
}

/// Every stage's menu, in the order the stages run (crust only on a stack built with it).
pub const MENU: &[StageMenu] = &[
    StageMenu { stage: "sauce", ingredients: &["tomato", "pesto", "bbq", "garlic-cream"] },
    StageMenu { stage: "crust", ingredients: &["thin", "neapolitan", "deep-dish", "stuffed"] },
    StageMenu { stage: "cheese", ingredients: &["mozzarella", "cheddar", "gorgonzola", "parmesan", "vegan"] },
    StageMenu { stage: "meat", ingredients: &["pepperoni", "ham", "chicken", "bacon", "salami"] },
    StageMenu { stage: "veggies", ingredients: &["mushrooms", "peppers", "onions", "olives", "spinach"] },
];

/// Every ingredient of every stage, as (stage, ingredient): what the inventory stocks.
pub fn all_ingredients() -> impl Iterator<Item = (&'static str, &'static str)> {
    MENU.iter().flat_map(|entry| entry.ingredients.iter().map(|ingredient| (entry.stage, *ingredient)))
}

/// The ingredients of `stage`, if the menu has that stage.
pub fn ingredients_for(stage: &str) -> Option<&'static [&'static str]> {
    MENU.iter().find(|entry| entry.stage == stage).map(|entry| entry.ingredients)
}

/// The stage that stocks `ingredient`, if the menu has it.
pub fn stage_of(ingredient: &str) -> Option<&'static str> {
    MENU.iter().find(|entry| entry.ingredients.contains(&ingredient)).map(|entry| entry.stage)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_stage_has_a_choice_and_stages_are_unique() {
        for (i, entry) in MENU.iter().enumerate() {
            assert!(!entry.ingredients.is_empty(), "{} has no ingredient", entry.stage);
            assert!(MENU[i + 1..].iter().all(|other| other.stage != entry.stage), "{} twice", entry.stage);
        }
        assert_eq!(ingredients_for("sauce").map(|i| i.len()), Some(4));
        assert_eq!(stage_of("pesto"), Some("sauce"));
        assert_eq!(stage_of("pineapple"), None);
        assert_eq!(ingredients_for("dessert"), None);
    }
}
