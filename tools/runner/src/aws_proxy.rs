//! A proxy in front of the emulator, for whatever must see every AWS request of the
//! system: the fault layer, and the benchmarks' meter. Requests are told apart by the
//! SDK's user agent: the runner starts each function with `AWS_SDK_UA_APP_ID` set to its
//! logical id, so its requests say `app/<id>`; the runner's pollers and the tests' clients
//! say nothing.

use std::future::Future;
use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;

pub type Reply = hyper::Response<Full<Bytes>>;

/// A request, read whole.
pub struct Request {
    pub parts: http::request::Parts,
    pub body: Bytes,
}

/// The emulator's answer, read whole.
pub struct Answer {
    pub status: http::StatusCode,
    pub headers: http::HeaderMap,
    pub body: Bytes,
}

impl Answer {
    pub fn into_reply(self) -> Reply {
        let mut reply = hyper::Response::new(Full::new(self.body));
        *reply.status_mut() = self.status;
        *reply.headers_mut() = self.headers;
        reply
    }
}

/// Listens on a free local port and hands every request, read whole, to `handle`.
pub async fn serve<H, F>(handle: H) -> std::io::Result<SocketAddr>
where
    H: Fn(Request) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Reply> + Send,
{
    let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let handle = handle.clone();
            tokio::spawn(async move {
                let service = service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                    let handle = handle.clone();
                    async move {
                        let (parts, body) = request.into_parts();
                        let reply = match body.collect().await {
                            Ok(body) => handle(Request { parts, body: body.to_bytes() }).await,
                            Err(err) => text(http::StatusCode::BAD_REQUEST, &format!("unreadable request: {err}")),
                        };
                        Ok::<_, std::convert::Infallible>(reply)
                    }
                });
                let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
            });
        }
    });
    Ok(addr)
}

/// Where requests go on to.
#[derive(Clone)]
pub struct Upstream {
    url: String,
    client: Client<HttpConnector, Full<Bytes>>,
}

impl Upstream {
    pub fn new(url: &str) -> Self {
        Self { url: url.trim_end_matches('/').to_owned(), client: Client::builder(TokioExecutor::new()).build_http() }
    }

    /// Sends the request on with `body` (which may differ from what came in) and reads the
    /// whole answer.
    pub async fn forward(&self, mut parts: http::request::Parts, body: Bytes) -> Result<Answer, String> {
        let path = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
        parts.uri = format!("{}{path}", self.url).parse().map_err(|e: http::uri::InvalidUri| e.to_string())?;
        parts.headers.remove(http::header::CONTENT_LENGTH);
        let response =
            self.client.request(hyper::Request::from_parts(parts, Full::new(body))).await.map_err(|e| e.to_string())?;
        let (parts, body) = response.into_parts();
        let body = body.collect().await.map_err(|e| e.to_string())?.to_bytes();
        let mut headers = parts.headers;
        // The body is whole now: its length is the new one.
        headers.remove(http::header::CONTENT_LENGTH);
        headers.remove(http::header::TRANSFER_ENCODING);
        Ok(Answer { status: parts.status, headers, body })
    }
}

/// The function that sent a request: the `app/<id>` of its SDK's user agent.
pub fn caller(headers: &http::HeaderMap) -> Option<String> {
    ["x-amz-user-agent", "user-agent"]
        .iter()
        .filter_map(|name| headers.get(*name).and_then(|v| v.to_str().ok()))
        .flat_map(str::split_whitespace)
        .find_map(|part| part.strip_prefix("app/"))
        .map(str::to_owned)
}

/// A plain-text answer of the proxy's own.
pub fn text(status: http::StatusCode, text: &str) -> Reply {
    let mut reply = hyper::Response::new(Full::new(Bytes::from(text.to_owned())));
    *reply.status_mut() = status;
    reply
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_caller_is_the_app_id_of_either_user_agent() {
        let mut headers = http::HeaderMap::new();
        assert_eq!(caller(&headers), None);
        headers.insert("user-agent", "aws-sdk-rust/1.3 os/linux".parse().expect("header"));
        assert_eq!(caller(&headers), None);
        headers.insert("x-amz-user-agent", "aws-sdk-rust/1.3 app/SauceFunction".parse().expect("header"));
        assert_eq!(caller(&headers).as_deref(), Some("SauceFunction"));
    }
}
