//! A small client of the shop's HTTP API, for the CLI, the tests and the benchmarks.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client as Hyper;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("{method} {path}: {reason}")]
    Transport { method: String, path: String, reason: String },
    #[error("placing an order answered {status}: {body}")]
    Refused { status: u16, body: Value },
}

#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub json: Value,
}

#[derive(Clone)]
pub struct Client {
    base: String,
    hyper: Hyper<HttpConnector, Full<Bytes>>,
    /// Sent as `Authorization: Bearer …` with every request that brings none of its own.
    token: Option<String>,
}

impl Client {
    pub fn new(base: impl Into<String>) -> Self {
        Self {
            base: base.into().trim_end_matches('/').to_owned(),
            hyper: Hyper::builder(TokioExecutor::new()).build_http(),
            token: None,
        }
    }

    /// The same client, signed in with `token` (none: anonymous).
    pub fn signed_in(mut self, token: Option<String>) -> Self {
        self.token = token;
        self
    }

    pub async fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> Result<Reply, HttpError> {
        let transport = |reason: String| HttpError::Transport { method: method.into(), path: path.into(), reason };
        let mut request = http::Request::builder().method(method).uri(format!("{}{path}", self.base));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let own_authorization = headers.iter().any(|(name, _)| name.eq_ignore_ascii_case("authorization"));
        if let Some(token) = self.token.as_deref().filter(|_| !own_authorization) {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let request = request.body(Full::new(Bytes::from(body.to_owned()))).map_err(|e| transport(e.to_string()))?;
        let response = self.hyper.request(request).await.map_err(|e| transport(e.to_string()))?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.map_err(|e| transport(e.to_string()))?.to_bytes();
        Ok(Reply { status, headers, json: serde_json::from_slice(&bytes).unwrap_or(Value::Null) })
    }

    /// Places an order of `pizzas` and returns its id.
    pub async fn place(&self, pizzas: u32) -> Result<String, HttpError> {
        let body = format!(r#"{{"pizzas": {pizzas}}}"#);
        let reply = self.send("POST", "/orders", &[("content-type", "application/json")], &body).await?;
        match reply.json["order_id"].as_str() {
            Some(id) if reply.status == 202 => Ok(id.to_owned()),
            _ => Err(HttpError::Refused { status: reply.status, body: reply.json }),
        }
    }

    /// The order's status, `None` while the API does not know it.
    pub async fn status(&self, order_id: &str) -> Result<Option<String>, HttpError> {
        let reply = self.send("GET", &format!("/orders/{order_id}"), &[], "").await?;
        Ok(reply.json["status"].as_str().map(str::to_owned))
    }
}
