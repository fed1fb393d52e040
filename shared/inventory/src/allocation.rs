//! Which ingredient each pizza of a batch gets: the one decision both adapters share.

use std::collections::HashMap;

use crate::ReservationRequest;

/// Gives each request the first of its candidates with a unit left, in request order,
/// counting against `known`: the units known to be available (an ingredient not in `known`
/// is assumed to have enough). `None`: nothing the request would take is left.
pub fn allocate(requests: &[&ReservationRequest], known: &HashMap<String, u64>) -> Vec<Option<String>> {
    let mut left = known.clone();
    requests
        .iter()
        .map(|request| {
            let pick = request.candidates.iter().find(|c| left.get(*c).is_none_or(|units| *units > 0))?;
            if let Some(units) = left.get_mut(pick) {
                *units -= 1;
            }
            Some(pick.clone())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn request(candidates: &[&str]) -> ReservationRequest {
        ReservationRequest {
            order_id: Uuid::nil(),
            pizza_id: Uuid::new_v4(),
            candidates: candidates.iter().map(|c| (*c).to_owned()).collect(),
        }
    }

    #[test]
    fn first_choices_until_they_run_out_then_the_next_then_nothing() {
        let (a, b, c) = (request(&["ham", "bacon"]), request(&["ham", "bacon"]), request(&["ham", "bacon"]));
        let known = HashMap::from([("ham".to_owned(), 1), ("bacon".to_owned(), 1)]);
        let picks = allocate(&[&a, &b, &c], &known);
        assert_eq!(picks, vec![Some("ham".into()), Some("bacon".into()), None]);
    }

    #[test]
    fn an_unknown_level_is_assumed_to_suffice() {
        let requests = [request(&["ham"]), request(&["ham"])];
        let picks = allocate(&requests.iter().collect::<Vec<_>>(), &HashMap::new());
        assert_eq!(picks, vec![Some("ham".into()), Some("ham".into())]);
    }
}
