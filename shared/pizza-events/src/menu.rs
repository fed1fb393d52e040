//! What each kitchen stage can put on a pizza. A new stage is a new entry here and in the
//! template; no stage's code changes.

/// Every pizza costs the same: its toppings are the kitchen's surprise.
pub const PIZZA_PRICE_CENTS: u64 = 1250;

pub struct StageMenu {
    pub stage: &'static str,
    pub ingredients: &'static [&'static str],
}

pub const MENU: &[StageMenu] = &[
    StageMenu { stage: "crust", ingredients: &["thin", "neapolitan", "deep-dish", "stuffed"] },
    StageMenu { stage: "sauce", ingredients: &["tomato", "pesto", "bbq", "garlic-cream"] },
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
