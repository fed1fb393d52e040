//! The Lambda Runtime API of one execution environment, as a function process sees it at
//! `AWS_LAMBDA_RUNTIME_API`: `GET /2018-06-01/runtime/invocation/next` hands it the next
//! event (long-polling until there is one), and it answers with `…/{id}/response` or
//! `…/{id}/error`, or reports `…/init/error` if it cannot start.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::{Mutex, mpsc, oneshot, watch};

const PREFIX: &str = "/2018-06-01/runtime";

/// One event on its way into the function.
pub struct Invocation {
    pub request_id: String,
    pub payload: Bytes,
    pub deadline: SystemTime,
    pub function_arn: String,
    /// `Lambda-Runtime-Trace-Id`: the X-Ray header the invocation runs in.
    pub trace_header: Option<String>,
    /// Told when the function takes the event (its timeout starts then).
    pub taken: oneshot::Sender<()>,
    pub reply: oneshot::Sender<Reply>,
}

/// What the function answered.
#[derive(Debug)]
pub enum Reply {
    Response(Bytes),
    Error { error_type: String, message: String },
}

/// Where an environment's initialisation stands.
#[derive(Debug, Clone, PartialEq)]
pub enum Init {
    Starting,
    /// The process asked for its first event at this instant.
    Ready(Instant),
    Failed(String),
}

struct State {
    next: Mutex<mpsc::Receiver<Invocation>>,
    pending: Mutex<HashMap<String, oneshot::Sender<Reply>>>,
    init: watch::Sender<Init>,
}

/// The runtime API server of one environment.
pub struct RuntimeApi {
    pub addr: SocketAddr,
    pub invocations: mpsc::Sender<Invocation>,
    pub init: watch::Receiver<Init>,
    server: tokio::task::JoinHandle<()>,
}

impl RuntimeApi {
    pub async fn start() -> std::io::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let (invocations, next) = mpsc::channel(1);
        let (init_tx, init) = watch::channel(Init::Starting);
        let state = Arc::new(State { next: Mutex::new(next), pending: Mutex::new(HashMap::new()), init: init_tx });
        let server = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let state = state.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |request| {
                        let state = state.clone();
                        async move { Ok::<_, Infallible>(route(&state, request).await) }
                    });
                    let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
                });
            }
        });
        Ok(Self { addr, invocations, init, server })
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn route(state: &State, request: hyper::Request<Incoming>) -> hyper::Response<Full<Bytes>> {
    let path = request.uri().path().to_owned();
    let Some(rest) = path.strip_prefix(PREFIX) else { return status(404) };
    let segments: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    let method = request.method().clone();
    match (method.as_str(), segments.as_slice()) {
        ("GET", ["invocation", "next"]) => next(state).await,
        ("POST", ["invocation", id, "response"]) => {
            let id = (*id).to_owned();
            let body = request.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
            answer(state, &id, Reply::Response(body)).await
        }
        ("POST", ["invocation", id, "error"]) => {
            let id = (*id).to_owned();
            let body = request.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
            answer(state, &id, error_reply(&body)).await
        }
        ("POST", ["init", "error"]) => {
            let body = request.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
            let Reply::Error { error_type, message } = error_reply(&body) else { return status(500) };
            state.init.send_replace(Init::Failed(format!("{error_type}: {message}")));
            status(202)
        }
        _ => status(404),
    }
}

async fn next(state: &State) -> hyper::Response<Full<Bytes>> {
    state.init.send_if_modified(|init| {
        if *init == Init::Starting {
            *init = Init::Ready(Instant::now());
            true
        } else {
            false
        }
    });
    // One poller at a time, as a Lambda environment runs one invocation at a time.
    let invocation = state.next.lock().await.recv().await;
    let Some(invocation) = invocation else { return status(410) };
    state.pending.lock().await.insert(invocation.request_id.clone(), invocation.reply);
    let _ = invocation.taken.send(());
    let deadline_ms = invocation.deadline.duration_since(UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or_default();
    let mut response = hyper::Response::new(Full::new(invocation.payload));
    let headers = response.headers_mut();
    let mut set = |name: &'static str, value: &str| {
        if let Ok(value) = http::HeaderValue::from_str(value) {
            headers.insert(name, value);
        }
    };
    set("lambda-runtime-aws-request-id", &invocation.request_id);
    set("lambda-runtime-deadline-ms", &deadline_ms.to_string());
    set("lambda-runtime-invoked-function-arn", &invocation.function_arn);
    if let Some(trace) = &invocation.trace_header {
        set("lambda-runtime-trace-id", trace);
    }
    response
}

async fn answer(state: &State, request_id: &str, reply: Reply) -> hyper::Response<Full<Bytes>> {
    match state.pending.lock().await.remove(request_id) {
        Some(waiting) => {
            let _ = waiting.send(reply);
            status(202)
        }
        None => status(400),
    }
}

fn error_reply(body: &[u8]) -> Reply {
    let json: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let text = |name: &str| json.get(name).and_then(Value::as_str).unwrap_or_default().to_owned();
    Reply::Error { error_type: text("errorType"), message: text("errorMessage") }
}

fn status(code: u16) -> hyper::Response<Full<Bytes>> {
    let mut response = hyper::Response::new(Full::new(Bytes::new()));
    *response.status_mut() = http::StatusCode::from_u16(code).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    response
}
