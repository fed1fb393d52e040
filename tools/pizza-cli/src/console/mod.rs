//! `pizza console`: one page, served on localhost, that watches a deployed stack: the
//! orders of the last hour by state, each kitchen stage's work, every queue and
//! dead-letter queue, and one order's waterfall from the event archive. It reads through
//! the same adapters as the other commands and answers only `GET`: it changes nothing.

pub mod overview;

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use event_archive::Timeline;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::json;
use tokio::net::TcpListener;

pub use overview::{Overview, Stage, kitchen_stages};

use crate::{Stack, StackError, queues};

/// The page: plain HTML and JavaScript, no build step.
const PAGE: &str = include_str!("page.html");

#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    #[error("reading the orders: {0}")]
    Orders(#[from] dynamo_kit::StoreError),
    #[error(transparent)]
    Queues(#[from] queues::QueueError),
}

/// Serves the console on `listener` until the process ends.
pub async fn serve(stack: Arc<Stack>, listener: TcpListener) -> std::io::Result<()> {
    let stages = Arc::new(kitchen_stages(&stack.manifest));
    loop {
        let (stream, _) = listener.accept().await?;
        let (stack, stages) = (stack.clone(), stages.clone());
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let (stack, stages) = (stack.clone(), stages.clone());
                async move { Ok::<_, Infallible>(respond(&stack, &stages, request).await) }
            });
            if let Err(err) = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await {
                tracing::debug!(reason = %err, "console connection ended");
            }
        });
    }
}

/// The overview as it stands now.
pub async fn overview(stack: &Stack, stages: &[Stage]) -> Result<Overview, ConsoleError> {
    let orders = stack.orders.all_orders().await?;
    let depths = queues::all_depths(&stack.sqs, &stack.manifest).await?;
    // A stage's queue is among those just read (every consumer queue has a dead-letter
    // queue); only one that is not is read again.
    let mut loads = Vec::with_capacity(stages.len());
    for stage in stages {
        let depth = match depths.iter().find(|q| q.queue == stage.queue) {
            Some(read) => read.depth.clone(),
            None => queues::depth(&stack.sqs, &stage.queue_url).await?,
        };
        loads.push((stage.clone(), depth));
    }
    Ok(Overview::of(&stack.manifest.stack_name, chrono::Utc::now(), &orders, &loads, depths))
}

async fn respond(stack: &Stack, stages: &[Stage], request: Request<Incoming>) -> Response<Full<Bytes>> {
    if request.method() != Method::GET {
        return reply(StatusCode::METHOD_NOT_ALLOWED, "application/json", json!({"error": "the console only reads"}));
    }
    let path = request.uri().path();
    match path.strip_prefix("/api/") {
        None if path == "/" => reply(StatusCode::OK, "text/html; charset=utf-8", PAGE),
        Some("overview") => match overview(stack, stages).await {
            Ok(overview) => reply(StatusCode::OK, "application/json", json!(overview)),
            Err(err) => error(StatusCode::BAD_GATEWAY, &err),
        },
        Some(rest) => match rest.strip_prefix("orders/").and_then(|r| r.strip_suffix("/waterfall.svg")) {
            Some(order) => waterfall(stack, order).await,
            None => reply(StatusCode::NOT_FOUND, "application/json", json!({"error": "no such page"})),
        },
        None => reply(StatusCode::NOT_FOUND, "application/json", json!({"error": "no such page"})),
    }
}

async fn waterfall(stack: &Stack, order: &str) -> Response<Full<Bytes>> {
    match stack.order_history(order).await {
        Ok(history) if history.is_empty() => reply(
            StatusCode::NOT_FOUND,
            "application/json",
            json!({"error": format!("the archive holds no event of {order} yet")}),
        ),
        Ok(history) => {
            let waterfall = crate::commands::trace::svg::waterfall(&Timeline::of(order, &history));
            reply(StatusCode::OK, "image/svg+xml", waterfall)
        }
        Err(err @ (StackError::NotAnOrder(_) | StackError::UnknownOrder(_))) => error(StatusCode::NOT_FOUND, &err),
        Err(err @ StackError::NoArchive) => error(StatusCode::NOT_FOUND, &err),
        Err(err) => error(StatusCode::BAD_GATEWAY, &err),
    }
}

fn error(status: StatusCode, err: &dyn std::error::Error) -> Response<Full<Bytes>> {
    reply(status, "application/json", json!({"error": err.to_string()}))
}

fn reply(status: StatusCode, content_type: &str, body: impl Into<Body>) -> Response<Full<Bytes>> {
    let body: Body = body.into();
    let mut response = Response::new(Full::new(body.0));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        hyper::header::CONTENT_TYPE,
        content_type.parse().unwrap_or(hyper::header::HeaderValue::from_static("text/plain")),
    );
    headers.insert(hyper::header::CACHE_CONTROL, hyper::header::HeaderValue::from_static("no-store"));
    response
}

/// A response body from text or JSON.
struct Body(Bytes);

impl From<&'static str> for Body {
    fn from(text: &'static str) -> Self {
        Body(Bytes::from_static(text.as_bytes()))
    }
}

impl From<String> for Body {
    fn from(text: String) -> Self {
        Body(Bytes::from(text))
    }
}

impl From<serde_json::Value> for Body {
    fn from(value: serde_json::Value) -> Self {
        Body(Bytes::from(value.to_string()))
    }
}
