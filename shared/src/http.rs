//! The port an HTTP function implements, so the same handler serves Lambda behind
//! API Gateway and the dev runner's local server.

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
