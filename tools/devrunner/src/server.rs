//! The HTTP API on localhost, as API Gateway's HTTP API would front it: each request
//! matches a route of the template, becomes a payload-2.0 event and goes to the function
//! through `lambda_http`'s own conversion.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use shared::http::{Body, HttpHandler};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing::{error, warn};
use uuid::Uuid;

/// One route of the HTTP API and the function behind it.
pub struct Route {
    pub method: String,
    pub path: String,
    pub handler: Arc<dyn HttpHandler>,
}

impl Route {
    /// The path parameters if `path` matches this route's template (`/orders/{id}`,
    /// `/{proxy+}`); `ANY` matches every method.
    fn matches(&self, method: &str, path: &str) -> Option<HashMap<String, String>> {
        if self.method != "ANY" && !self.method.eq_ignore_ascii_case(method) {
            return None;
        }
        let template: Vec<&str> = self.path.trim_matches('/').split('/').collect();
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

    fn route_key(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
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
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let routes = routes.clone();
                async move { Ok::<_, Infallible>(respond(&routes, request, peer).await) }
            });
            if let Err(err) = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await {
                warn!(reason = %err, "connection failed");
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
    let body = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(err) => return plain(400, &json!({"message": format!("unreadable body: {err}")})),
    };
    let path = parts.uri.path().to_owned();
    let Some((route, parameters)) = routes.iter().find_map(|r| r.matches(parts.method.as_str(), &path).map(|p| (r, p)))
    else {
        // What API Gateway answers for a route the API does not have.
        return plain(404, &json!({"message": "Not Found"}));
    };
    let event = api_gateway_event(&parts, &body, route, &parameters, peer);
    let request = match lambda_http::request::from_str(&event.to_string()) {
        Ok(request) => request,
        Err(err) => {
            error!(reason = %err, "could not build the API Gateway event");
            return plain(500, &json!({"message": "Internal Server Error"}));
        }
    };
    let response = route.handler.call(request).await;
    let (parts, body) = response.into_parts();
    let bytes = match body {
        Body::Empty => Bytes::new(),
        Body::Text(text) => Bytes::from(text),
        Body::Binary(bytes) => Bytes::from(bytes),
        #[allow(unreachable_patterns)]
        _ => Bytes::new(),
    };
    hyper::Response::from_parts(parts, Full::new(bytes))
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
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        query_parameters.insert(key.to_owned(), json!(value));
    }
    let (body, encoded) = match std::str::from_utf8(body) {
        Ok(text) => (text.to_owned(), false),
        Err(_) => (base64(body), true),
    };
    let now = chrono::Utc::now();
    json!({
        "version": "2.0",
        "routeKey": route.route_key(),
        "rawPath": parts.uri.path(),
        "rawQueryString": query,
        "headers": headers,
        "queryStringParameters": if query_parameters.is_empty() { Value::Null } else { Value::Object(query_parameters) },
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

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = (u32::from(chunk[0]) << 16)
            | (u32::from(*chunk.get(1).unwrap_or(&0)) << 8)
            | u32::from(*chunk.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
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
    use async_trait::async_trait;

    struct Nobody;

    #[async_trait]
    impl HttpHandler for Nobody {
        async fn call(&self, _: shared::http::Request) -> shared::http::Response {
            http::Response::new(Body::Empty)
        }
    }

    fn route(method: &str, path: &str) -> Route {
        Route { method: method.into(), path: path.into(), handler: Arc::new(Nobody) }
    }

    #[test]
    fn routes_match_like_api_gateway() {
        let show = route("GET", "/orders/{id}");
        assert_eq!(show.matches("GET", "/orders/42").and_then(|p| p.get("id").cloned()).as_deref(), Some("42"));
        assert!(show.matches("POST", "/orders/42").is_none());
        assert!(show.matches("GET", "/orders").is_none());
        assert!(show.matches("GET", "/orders/42/pizzas").is_none());
        assert!(route("POST", "/orders").matches("post", "/orders/").is_some());
        let proxy = route("ANY", "/files/{proxy+}");
        assert_eq!(proxy.matches("PUT", "/files/a/b").and_then(|p| p.get("proxy").cloned()).as_deref(), Some("a/b"));
    }

    #[test]
    fn encodes_binary_bodies_as_base64() {
        assert_eq!(base64(b"pizza"), "cGl6emE=");
        assert_eq!(base64(&[0xff, 0xfe]), "//4=");
        assert_eq!(base64(b"abc"), "YWJj");
    }
}
