//! The tests of the DynamoDB inventory's pure parts.

use super::reserve::split_to_fit;
use super::*;

fn request(order_id: Uuid) -> ReservationRequest {
    ReservationRequest { order_id, pizza_id: Uuid::new_v4(), candidates: vec!["ham".into()] }
}

#[test]
fn a_batch_of_many_orders_is_split_so_each_transaction_fits() {
    let requests: Vec<_> = (0..250).map(|_| request(Uuid::new_v4())).collect();
    let pending: Vec<usize> = (0..250).collect();
    let parts = split_to_fit(&pending, &requests);
    assert_eq!(parts.iter().map(Vec::len).collect::<Vec<_>>(), vec![99, 99, 52]);
    assert_eq!(parts.concat(), pending);

    let order = Uuid::new_v4();
    let one_order: Vec<_> = (0..300).map(|_| request(order)).collect();
    assert_eq!(split_to_fit(&(0..300).collect::<Vec<_>>(), &one_order).len(), 1, "one order is one action");
}

#[test]
fn a_reservation_item_lists_its_pizzas() {
    let pizza = Uuid::new_v4();
    let mut item = DynamoInventory::reservations_key(Uuid::new_v4(), "sauce");
    item.insert(pizza_attribute(pizza), s("pesto"));
    item.insert(shortage_attribute(Uuid::new_v4()), s("out of stock"));
    item.insert("stage".into(), s("sauce"));
    item.insert("order_id".into(), s(Uuid::new_v4().to_string()));
    assert_eq!(pizzas_in(&item).collect::<Vec<_>>(), vec![(pizza, "pesto")]);
}

#[test]
fn a_stock_item_is_read_as_a_level_per_ingredient() {
    let mut item = DynamoInventory::stock_key("meat");
    let levels = HashMap::from([("ham".to_owned(), n(3u64)), ("bacon".to_owned(), n(0u64))]);
    item.insert(AVAILABLE.into(), AttributeValue::M(levels));
    let read = available_in(&item).expect("reads");
    assert_eq!(read, BTreeMap::from([("bacon".to_owned(), 0), ("ham".to_owned(), 3)]));
    assert!(available_in(&Item::new()).expect("no item, no stock").is_empty());
}
