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

/// The AWS service and operation a request calls. The JSON protocols (DynamoDB, its
/// streams, SQS) name them in `x-amz-target`; anything else is taken for SNS's query
/// protocol, which names the operation in the form's `Action` ("other" without one).
pub fn operation(headers: &http::HeaderMap, body: &[u8]) -> (&'static str, String) {
    if let Some(target) = headers.get("x-amz-target").and_then(|v| v.to_str().ok()) {
        let (prefix, operation) = target.split_once('.').unwrap_or(("", target));
        let service = match prefix {
            p if p.starts_with("DynamoDBStreams") => "dynamodbstreams",
            p if p.starts_with("DynamoDB") => "dynamodb",
            p if p.starts_with("AmazonSQS") => "sqs",
            _ => "other",
        };
        return (service, operation.to_owned());
    }
    let action = form_urlencoded::parse(body).find(|(k, _)| k == "Action").map(|(_, v)| v.into_owned());
    ("sns", action.unwrap_or_else(|| "other".into()))
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
    fn the_operation_is_named_by_the_target_header_or_the_form() {
        let target = |value: &'static str| {
            let mut headers = http::HeaderMap::new();
            headers.insert("x-amz-target", http::HeaderValue::from_static(value));
            operation(&headers, b"{}")
        };
        assert_eq!(target("DynamoDB_20120810.PutItem"), ("dynamodb", "PutItem".to_owned()));
        assert_eq!(target("DynamoDBStreams_20120810.GetRecords"), ("dynamodbstreams", "GetRecords".to_owned()));
        assert_eq!(target("AmazonSQS.ReceiveMessage"), ("sqs", "ReceiveMessage".to_owned()));
        let empty = http::HeaderMap::new();
        assert_eq!(operation(&empty, b"Action=PublishBatch&TopicArn=t"), ("sns", "PublishBatch".to_owned()));
        assert_eq!(operation(&empty, b""), ("sns", "other".to_owned()));
    }

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
