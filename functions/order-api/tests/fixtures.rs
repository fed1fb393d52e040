//! The sample API Gateway events in `events/apigw` (with the claims API Gateway's JWT
//! authorizer adds), through lambda_http's own conversion.

use http::StatusCode;
use lambda_kit::http::HttpHandler;
use order_api::OrderApi;
use orders::InMemoryOrders;

#[tokio::test]
async fn the_sample_requests_get_the_documented_answers() {
    let cards = sealing::Envelope::new(sealing::LocalDataKeys::new());
    let api = OrderApi::new(InMemoryOrders::default(), cards);
    let sample = |json: &str| lambda_http::request::from_str(json).expect("a valid API Gateway event");
    let placed = api.call(sample(include_str!("../../../events/apigw/post-order.json"))).await;
    assert_eq!(placed.status(), StatusCode::ACCEPTED);
    let too_many = api.call(sample(include_str!("../../../events/apigw/post-order-out-of-range.json"))).await;
    assert_eq!(too_many.status(), StatusCode::BAD_REQUEST);
    let unknown = api.call(sample(include_str!("../../../events/apigw/get-order.json"))).await;
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    assert_eq!(api.desk().placed().len(), 1);
}
