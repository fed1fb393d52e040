//! The shape of an HTTP function behind API Gateway: the same handler serves Lambda (through
//! `lambda_http`) and unit tests, and every answer is JSON, errors included.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;

use async_trait::async_trait;
use aws_lambda_events::apigw::{
    ApiGatewayRequestAuthorizer, ApiGatewayRequestAuthorizerJwtDescription, ApiGatewayV2httpRequestContext,
};
pub use aws_lambda_events::encodings::Body;
use lambda_http::RequestExt;
use lambda_http::request::RequestContext;

/// A request as API Gateway's payload 2.0 brings it.
pub type Request = http::Request<Body>;
/// A response for API Gateway.
pub type Response = http::Response<Body>;

/// What an HTTP function does with a request: its domain code.
#[async_trait]
pub trait HttpHandler: Send + Sync {
    /// Answers every request; failures are responses (4xx/5xx with a JSON body), never errors.
    async fn call(&self, request: Request) -> Response;
}

/// A JSON response with the given status.
pub fn json_response(status: http::StatusCode, body: &serde_json::Value) -> Response {
    let mut response = http::Response::new(Body::Text(body.to_string()));
    *response.status_mut() = status;
    response.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
    response
}

/// A JSON error body: `{"error": code, "message": text}`.
pub fn error_response(status: http::StatusCode, code: &str, message: impl std::fmt::Display) -> Response {
    json_response(status, &serde_json::json!({"error": code, "message": message.to_string()}))
}

/// The bytes of a request body, whatever form API Gateway gave it in.
pub fn body_bytes(body: &Body) -> &[u8] {
    match body {
        Body::Empty => b"",
        Body::Text(text) => text.as_bytes(),
        Body::Binary(bytes) => bytes,
        // `Body` is non-exhaustive upstream; a new kind of body carries nothing we read.
        #[allow(unreachable_patterns)]
        _ => b"",
    }
}

/// The claims of the token that API Gateway's JWT authorizer verified for this request;
/// `None` when no authorizer stood in front of it. API Gateway passes every claim as text.
pub fn jwt_claims(request: &Request) -> Option<&HashMap<String, String>> {
    match request.request_context_ref()? {
        RequestContext::ApiGatewayV2(context) => context.authorizer.as_ref()?.jwt.as_ref().map(|jwt| &jwt.claims),
        _ => None,
    }
}

/// The request as API Gateway passes it after its JWT authorizer accepted a token with
/// `claims`: for unit tests of handlers that read [`jwt_claims`].
pub fn with_jwt_claims<'a>(request: Request, claims: impl IntoIterator<Item = (&'a str, &'a str)>) -> Request {
    // The upstream types are non-exhaustive: built from their defaults, field by field.
    let mut jwt = ApiGatewayRequestAuthorizerJwtDescription::default();
    jwt.claims = claims.into_iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect();
    let mut authorizer = ApiGatewayRequestAuthorizer::default();
    authorizer.jwt = Some(jwt);
    let mut context = ApiGatewayV2httpRequestContext::default();
    context.authorizer = Some(authorizer);
    request.with_request_context(RequestContext::ApiGatewayV2(context))
}

/// Runs an HTTP handler behind API Gateway until the process ends. The handler opens its
/// own span per request (request and trace ids), so the runtime adds none.
pub async fn run<H: HttpHandler + 'static>(handler: H) -> Result<(), lambda_runtime::Error> {
    let handler = Arc::new(handler);
    let service = lambda_http::service_fn(move |request: Request| {
        let handler = handler.clone();
        async move { Ok::<_, Infallible>(handler.call(request).await) }
    });
    lambda_runtime::Runtime::new(lambda_http::Adapter::from(service)).run().await
}
