//! A counting proxy in front of the emulator: every AWS request the system makes passes
//! through it and is counted by operation, so requests per pizza are measured, not
//! estimated.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;

#[derive(Default)]
pub struct Counts(Mutex<BTreeMap<String, u64>>);

impl Counts {
    pub fn take(&self) -> BTreeMap<String, u64> {
        self.0.lock().map(|mut counts| std::mem::take(&mut *counts)).unwrap_or_default()
    }

    fn add(&self, operation: String) {
        if let Ok(mut counts) = self.0.lock() {
            *counts.entry(operation).or_default() += 1;
        }
    }
}

/// The operation a request asks for: the JSON protocols name it in `X-Amz-Target`
/// (DynamoDB, SQS), the query protocol in the `Action` form field (SNS).
fn operation(headers: &http::HeaderMap, body: &[u8]) -> String {
    if let Some(target) = headers.get("x-amz-target").and_then(|v| v.to_str().ok()) {
        return target.rsplit('.').next().unwrap_or(target).to_owned();
    }
    String::from_utf8_lossy(body)
        .split('&')
        .find_map(|pair| pair.strip_prefix("Action="))
        .map(str::to_owned)
        .unwrap_or_else(|| "other".into())
}

/// Serves the proxy on `listener`, forwarding to `upstream`; returns the live counts.
pub fn start(listener: std::net::TcpListener, upstream: String) -> std::io::Result<Arc<Counts>> {
    let listener = TcpListener::from_std(listener)?;
    let counts = Arc::new(Counts::default());
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let shared = counts.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (client, counts, upstream) = (client.clone(), shared.clone(), upstream.clone());
            tokio::spawn(async move {
                let service = service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                    let (client, counts, upstream) = (client.clone(), counts.clone(), upstream.clone());
                    async move { forward(&client, &counts, &upstream, request).await }
                });
                let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
            });
        }
    });
    Ok(counts)
}

type Upstream = Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>;

async fn forward(
    client: &Upstream,
    counts: &Counts,
    upstream: &str,
    request: hyper::Request<hyper::body::Incoming>,
) -> Result<hyper::Response<Full<Bytes>>, String> {
    let (mut parts, body) = request.into_parts();
    let body = body.collect().await.map_err(|e| e.to_string())?.to_bytes();
    let mut operation = operation(&parts.headers, &body);
    let path = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    parts.uri = format!("{upstream}{path}").parse().map_err(|e: http::uri::InvalidUri| e.to_string())?;
    let response =
        client.request(hyper::Request::from_parts(parts, Full::new(body))).await.map_err(|e| e.to_string())?;
    let (parts, body) = response.into_parts();
    let body = body.collect().await.map_err(|e| e.to_string())?.to_bytes();
    if operation == "ReceiveMessage" && !String::from_utf8_lossy(&body).contains("\"Messages\"") {
        operation = "ReceiveMessage (empty long poll)".into();
    }
    counts.add(operation);
    Ok(hyper::Response::from_parts(parts, Full::new(body)))
}
