//! The shape of an HTTP function behind API Gateway: the same handler serves Lambda (through
//! `lambda_http`) and unit tests, and every answer is JSON, errors included.

use std::convert::Infallible;
use std::sync::Arc;

use async_trait::async_trait;
pub use aws_lambda_events::encodings::Body;

pub type Request = http::Request<Body>;
pub type Response = http::Response<Body>;

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
