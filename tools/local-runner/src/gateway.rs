//! The HTTP API on localhost, as API Gateway's HTTP API fronts the functions: each request
//! matches a route of the template, becomes a payload-2.0 event for the function's process,
//! and the function's answer becomes the HTTP response.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing::{error, warn};
use uuid::Uuid;

use crate::issuer::{JwtAuthorizer, Unauthorized};
use crate::manifest::Throttle;
use crate::pool::Pool;
use crate::runtime_api::Reply;

/// API Gateway's own limit on a request's payload.
const MAX_PAYLOAD: usize = 10 * 1024 * 1024;

/// One route of the HTTP API and the function behind it.
pub struct Route {
    pub method: String,
    pub path: String,
    pub pool: Arc<Pool>,
    /// Its throttling, as API Gateway applies a stage's default route settings to each.
    pub bucket: Option<TokenBucket>,
    /// The JWT authorizer every request of the route must pass, if it has one.
    pub authorizer: Option<Arc<JwtAuthorizer>>,
}

/// API Gateway's throttling: `burst` requests at once, refilled at `rate` a second; a
/// request that finds the bucket empty is answered 429.
pub struct TokenBucket {
    throttle: Throttle,
    state: Mutex<(f64, Instant)>,
}

impl TokenBucket {
    pub fn new(throttle: Throttle) -> Self {
        Self { throttle, state: Mutex::new((f64::from(throttle.burst), Instant::now())) }
    }

    /// Takes a token if one is left at `now`.
    fn take(&self, now: Instant) -> bool {
        let mut state = self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let (tokens, since) = *state;
        let refilled = tokens + now.saturating_duration_since(since).as_secs_f64() * self.throttle.rate_per_second;
        let tokens = refilled.min(f64::from(self.throttle.burst));
        let (left, taken) = if tokens >= 1.0 { (tokens - 1.0, true) } else { (tokens, false) };
        *state = (left, now.max(since));
        taken
    }
}

impl Route {
    /// The path parameters if `path` matches this route's template (`/orders/{id}`,
    /// `/{proxy+}`); `ANY` matches every method.
    fn matches(&self, method: &str, path: &str) -> Option<HashMap<String, String>> {
        route_matches(&self.method, &self.path, method, path)
    }

    fn route_key(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

fn route_matches(route_method: &str, route_path: &str, method: &str, path: &str) -> Option<HashMap<String, String>> {
    if route_method != "ANY" && !route_method.eq_ignore_ascii_case(method) {
        return None;
    }
    let template: Vec<&str> = route_path.trim_matches('/').split('/').collect();
    let actual: Vec<&str> = path.trim_matches('/').split('/').collect();
    let mut parameters = HashMap::new();
    for (i, segment) in template.iter().enumerate() {
        if let Some(name) = segment.strip_prefix('{').and_then(|s| s.strip_suffix("+}")) {
            parameters.insert(name.to_owned(), actual.get(i..)?.join("/"));
            return Some(parameters);
        }
        let value = actual.get(i)?;
        match segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            Some(name) if !value.is_empty() => {
                parameters.insert(name.to_owned(), (*value).to_owned());
            }
            Some(_) => return None,
            None if segment == value => {}
            None => return None,
        }
    }
    (template.len() == actual.len()).then_some(parameters)
}

pub async fn serve(listener: TcpListener, routes: Vec<Route>, mut shutdown: watch::Receiver<bool>) {
    let routes = Arc::new(routes);
    loop {
        let (stream, peer) = tokio::select! {
            _ = shutdown.changed() => return,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => { warn!(reason = %err, "accept failed"); continue; }
            },
        };
        let routes = routes.clone();
        let mut closing = shutdown.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let routes = routes.clone();
                async move { Ok::<_, Infallible>(respond(&routes, request, peer).await) }
            });
            let connection = http1::Builder::new().serve_connection(TokioIo::new(stream), service);
            // A kept-alive connection must not outlive the runner that accepted it.
            tokio::select! {
                served = connection => if let Err(err) = served { warn!(reason = %err, "connection failed") },
                _ = closing.changed() => {}
            }
        });
    }
}

async fn respond(
    routes: &[Route],
    request: hyper::Request<Incoming>,
    peer: SocketAddr,
) -> hyper::Response<Full<Bytes>> {
    let (parts, body) = request.into_parts();
    let body = match Limited::new(body, MAX_PAYLOAD).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => return plain(413, &json!({"message": "Request Entity Too Large"})),
    };
    let path = parts.uri.path().to_owned();
    let Some((route, parameters)) = routes.iter().find_map(|r| r.matches(parts.method.as_str(), &path).map(|p| (r, p)))
    else {
        // What API Gateway answers for a route the API does not have.
        return plain(404, &json!({"message": "Not Found"}));
    };
    if route.bucket.as_ref().is_some_and(|bucket| !bucket.take(Instant::now())) {
        // What API Gateway answers above a route's throttling limits.
        return plain(429, &json!({"message": "Too Many Requests"}));
    }
    let claims = match &route.authorizer {
        Some(authorizer) => {
            let header = parts.headers.get(http::header::AUTHORIZATION).and_then(|v| v.to_str().ok());
            match authorizer.verify(header, chrono::Utc::now().timestamp()) {
                Ok(claims) => Some(claims),
                Err(Unauthorized(reason)) => return unauthorized(reason),
            }
        }
        None => None,
    };
    let mut event = api_gateway_event(&parts, &body, route, &parameters, peer);
    if let Some(claims) = claims {
        // What API Gateway's JWT authorizer hands the function.
        event["requestContext"]["authorizer"] = json!({"jwt": {"claims": claims, "scopes": null}});
    }
    let trace_header = format!("Root={};Sampled=1", xray_trace_id());
    let (reply, _lease) = route.pool.invoke(Bytes::from(event.to_string()), Some(trace_header)).await;
    match reply {
        Ok(Reply::Response(body)) => match http_response(&body) {
            Some(response) => response,
            None => {
                error!("the function's answer is no HTTP API response");
                plain(500, &json!({"message": "Internal Server Error"}))
            }
        },
        Ok(Reply::Error { error_type, message }) => {
            error!(error_type, message, "the function failed");
            plain(500, &json!({"message": "Internal Server Error"}))
        }
        Err(err) => {
            error!(reason = %err, "the function failed");
            plain(503, &json!({"message": "Service Unavailable"}))
        }
    }
}

/// The API Gateway HTTP API payload (format 2.0) for a request.
fn api_gateway_event(
    parts: &http::request::Parts,
    body: &Bytes,
    route: &Route,
    parameters: &HashMap<String, String>,
    peer: SocketAddr,
) -> Value {
    let mut headers = serde_json::Map::new();
    for name in parts.headers.keys() {
        let values: Vec<&str> = parts.headers.get_all(name).iter().filter_map(|v| v.to_str().ok()).collect();
        headers.insert(name.as_str().to_owned(), json!(values.join(",")));
    }
    let query = parts.uri.query().unwrap_or_default();
    let mut query_parameters = serde_json::Map::new();
    for (key, value) in form_urlencoded::parse(query.as_bytes()) {
        // API Gateway joins repeated parameters with commas.
        let joined = match query_parameters.get(key.as_ref()).and_then(Value::as_str) {
            Some(earlier) => format!("{earlier},{value}"),
            None => value.into_owned(),
        };
        query_parameters.insert(key.into_owned(), json!(joined));
    }
    let (body, encoded) = match std::str::from_utf8(body) {
        Ok(text) => (text.to_owned(), false),
        Err(_) => (base64::engine::general_purpose::STANDARD.encode(body), true),
    };
    let now = chrono::Utc::now();
    json!({
        "version": "2.0",
        "routeKey": route.route_key(),
        "rawPath": parts.uri.path(),
        "rawQueryString": query,
        "headers": headers,
        "queryStringParameters":
            if query_parameters.is_empty() { Value::Null } else { Value::Object(query_parameters) },
        "pathParameters": if parameters.is_empty() { Value::Null } else { json!(parameters) },
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "domainName": parts.headers.get("host").and_then(|h| h.to_str().ok()).unwrap_or("localhost"),
            "domainPrefix": "local",
            "http": {
                "method": parts.method.as_str(),
                "path": parts.uri.path(),
                "protocol": "HTTP/1.1",
                "sourceIp": peer.ip().to_string(),
                "userAgent": parts.headers.get("user-agent").and_then(|h| h.to_str().ok()).unwrap_or_default(),
            },
            "requestId": Uuid::new_v4().to_string(),
            "routeKey": route.route_key(),
            "stage": "$default",
            "time": now.format("%d/%b/%Y:%H:%M:%S %z").to_string(),
            "timeEpoch": now.timestamp_millis(),
        },
        "body": body,
        "isBase64Encoded": encoded,
    })
}

/// The HTTP response a function's payload-2.0 answer describes.
fn http_response(answer: &[u8]) -> Option<hyper::Response<Full<Bytes>>> {
    let answer: Value = serde_json::from_slice(answer).ok()?;
    let status = answer["statusCode"].as_u64().unwrap_or(200) as u16;
    let text = answer["body"].as_str().unwrap_or_default();
    let body = if answer["isBase64Encoded"].as_bool().unwrap_or(false) {
        Bytes::from(base64::engine::general_purpose::STANDARD.decode(text).ok()?)
    } else {
        Bytes::from(text.to_owned())
    };
    let mut response = hyper::Response::new(Full::new(body));
    *response.status_mut() = http::StatusCode::from_u16(status).ok()?;
    let headers = response.headers_mut();
    for (name, value) in answer["headers"].as_object().into_iter().flatten() {
        if let (Ok(name), Some(Ok(value))) =
            (http::HeaderName::from_bytes(name.as_bytes()), value.as_str().map(http::HeaderValue::from_str))
        {
            headers.insert(name, value);
        }
    }
    for cookie in answer["cookies"].as_array().into_iter().flatten().filter_map(Value::as_str) {
        if let Ok(value) = http::HeaderValue::from_str(cookie) {
            headers.append(http::header::SET_COOKIE, value);
        }
    }
    Some(response)
}

/// An X-Ray trace id: `1-` the epoch seconds in hex `-` 96 random bits.
fn xray_trace_id() -> String {
    let random = Uuid::new_v4().simple().to_string();
    format!("1-{:08x}-{}", chrono::Utc::now().timestamp(), &random[..24])
}

/// API Gateway's answer to a request its JWT authorizer refused.
fn unauthorized(reason: &str) -> hyper::Response<Full<Bytes>> {
    let mut response = plain(401, &json!({"message": "Unauthorized"}));
    let challenge = format!(r#"Bearer scope="" error="invalid_token" error_description="{reason}""#);
    if let Ok(value) = http::HeaderValue::from_str(&challenge) {
        response.headers_mut().insert(http::header::WWW_AUTHENTICATE, value);
    }
    response
}

fn plain(status: u16, body: &Value) -> hyper::Response<Full<Bytes>> {
    let mut response = hyper::Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    response.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bucket_lets_a_burst_through_then_the_rate() {
        let bucket = TokenBucket::new(Throttle { rate_per_second: 2.0, burst: 3 });
        let start = Instant::now();
        let at = |ms: u64| start + std::time::Duration::from_millis(ms);
        assert_eq!((0..5).filter(|_| bucket.take(at(0))).count(), 3, "the burst");
        assert!(!bucket.take(at(100)), "a fifth of a token is no token");
        assert!(bucket.take(at(500)), "one refilled in half a second");
        assert!(!bucket.take(at(500)));
        assert_eq!((0..10).filter(|_| bucket.take(at(60_000))).count(), 3, "never more than the burst");
    }

    fn param(route: (&str, &str), request: (&str, &str), name: &str) -> Option<String> {
        route_matches(route.0, route.1, request.0, request.1).and_then(|p| p.get(name).cloned())
    }

    #[test]
    fn routes_match_like_api_gateway() {
        assert_eq!(param(("GET", "/orders/{id}"), ("GET", "/orders/42"), "id").as_deref(), Some("42"));
        assert!(route_matches("GET", "/orders/{id}", "POST", "/orders/42").is_none());
        assert!(route_matches("GET", "/orders/{id}", "GET", "/orders").is_none());
        assert!(route_matches("GET", "/orders/{id}", "GET", "/orders/42/pizzas").is_none());
        assert!(route_matches("POST", "/orders", "post", "/orders/").is_some());
        assert_eq!(param(("ANY", "/files/{proxy+}"), ("PUT", "/files/a/b"), "proxy").as_deref(), Some("a/b"));
    }

    #[test]
    fn function_answers_become_http_responses() {
        let answer = json!({
            "statusCode": 202,
            "headers": { "location": "/orders/1", "content-type": "application/json" },
            "body": "{}",
            "isBase64Encoded": false,
        });
        let response = http_response(answer.to_string().as_bytes()).expect("a response");
        assert_eq!(response.status(), 202);
        assert_eq!(response.headers()["location"], "/orders/1");
        let binary = json!({ "statusCode": 200, "body": "cGl6emE=", "isBase64Encoded": true });
        assert!(http_response(binary.to_string().as_bytes()).is_some());
        assert!(http_response(b"not json").is_none());
    }

    #[test]
    fn xray_trace_ids_have_their_format() {
        let id = xray_trace_id();
        assert_eq!(id.len(), 35, "{id}");
        assert!(id.starts_with("1-"));
    }
}
