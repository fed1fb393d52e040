//! The fault layer's proxy: forwards every request to the emulator, except those an armed
//! rule fails. `POST /__faults` (a plan) arms it, `DELETE /__faults` disarms it, and
//! `GET /__faults` says what it injected.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use tracing::{debug, warn};

use super::answers::{Answer, Injection, inject, rewrite};
use super::{Call, FaultPlan, Injected, Service};
use crate::aws_proxy::{self, Reply, Request, Upstream};
use crate::chaos::Dice;

const CONTROL_PATH: &str = "/__faults";

/// A running fault layer; clients pointed at [`FaultLayer::endpoint`] reach the emulator
/// through it. It lives as long as its runtime.
#[derive(Clone)]
pub struct FaultLayer {
    pub addr: SocketAddr,
    state: Arc<State>,
}

struct State {
    upstream: Upstream,
    armed: Mutex<Option<Armed>>,
    injected: Mutex<Injected>,
}

struct Armed {
    plan: FaultPlan,
    since: Instant,
    dice: Dice,
    /// Faults injected so far by each rule, for their `times`.
    used: Vec<u64>,
}

impl FaultLayer {
    /// Starts the layer on a free local port in front of `upstream` (the emulator's URL).
    pub async fn start(upstream: &str) -> std::io::Result<Self> {
        let state = Arc::new(State {
            upstream: Upstream::new(upstream),
            armed: Mutex::new(None),
            injected: Mutex::new(Injected::new()),
        });
        let shared = state.clone();
        let addr = aws_proxy::serve(move |request| {
            let state = shared.clone();
            async move { state.handle(request).await }
        })
        .await?;
        Ok(Self { addr, state })
    }

    /// The URL to give clients as `AWS_ENDPOINT_URL`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Arms `plan`: its windows count from now. Replaces any plan armed before.
    pub fn arm(&self, plan: FaultPlan) -> Result<(), String> {
        self.state.arm(plan)
    }

    pub fn disarm(&self) {
        *lock(&self.state.armed) = None;
    }

    /// How many faults of each kind were injected so far, by `service:kind`.
    pub fn injected(&self) -> Injected {
        lock(&self.state.injected).clone()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl State {
    async fn handle(&self, Request { parts, body }: Request) -> Reply {
        if parts.uri.path() == CONTROL_PATH {
            return self.control(&parts.method, &body);
        }
        let injection = identify(&parts.headers, &body).and_then(|call| self.decide(&call, &body));
        let (forwarded, then) = match injection {
            Some(Injection::Refuse(answer)) => return reply(answer),
            Some(Injection::Delay(latency)) => {
                tokio::time::sleep(latency).await;
                (body, None)
            }
            Some(Injection::Forward { body, then }) => (body, Some(then)),
            None => (body, None),
        };
        let answer = match self.upstream.forward(parts, forwarded).await {
            Ok(answer) => answer,
            Err(err) => return plain(502, &format!("the emulator did not answer: {err}")),
        };
        match then.as_ref().and_then(|then| rewrite(then, answer.status.as_u16(), &answer.body)) {
            Some(rewritten) => reply(rewritten),
            None => answer.into_reply(),
        }
    }

    /// The injection the armed plan draws for `call`, if any; counts it.
    fn decide(&self, call: &Call, body: &Bytes) -> Option<Injection> {
        let mut armed = lock(&self.armed);
        let armed = armed.as_mut()?;
        let elapsed = armed.since.elapsed();
        for (index, rule) in armed.plan.rules.iter().enumerate() {
            let spent = rule.times.is_some_and(|times| armed.used[index] >= times);
            let mentioned = rule.contains.as_ref().is_none_or(|text| contains(body, text.as_bytes()));
            if spent || !mentioned || !rule.covers(call, elapsed) {
                continue;
            }
            let kinds = rule.kinds_for(call);
            if kinds.is_empty() || !armed.dice.chance(rule.rate) {
                continue;
            }
            let kind = kinds[(armed.dice.next_u64() % kinds.len() as u64) as usize];
            let latency = Duration::from_millis(rule.latency_ms);
            if let Some(injection) = inject(kind, call, body, latency, armed.dice.next_u64()) {
                let name = serde_json::to_value(kind).ok().and_then(|v| v.as_str().map(str::to_owned));
                let label = format!("{}:{}", service_name(call.service), name.unwrap_or_default());
                debug!(caller = ?call.caller, operation = %call.operation, fault = %label, "injecting a fault");
                *lock(&self.injected).entry(label).or_default() += 1;
                armed.used[index] += 1;
                return Some(injection);
            }
        }
        None
    }

    fn arm(&self, plan: FaultPlan) -> Result<(), String> {
        plan.validate()?;
        let (dice, used) = (Dice::new(plan.seed), vec![0; plan.rules.len()]);
        *lock(&self.armed) = Some(Armed { plan, since: Instant::now(), dice, used });
        Ok(())
    }

    fn control(&self, method: &http::Method, body: &Bytes) -> Reply {
        match *method {
            http::Method::POST => match serde_json::from_slice::<FaultPlan>(body) {
                Ok(plan) => match self.arm(plan) {
                    Ok(()) => plain(200, "armed"),
                    Err(problem) => plain(400, &problem),
                },
                Err(err) => plain(400, &format!("not a fault plan: {err}")),
            },
            http::Method::DELETE => {
                *lock(&self.armed) = None;
                plain(200, "disarmed")
            }
            _ => {
                let body = serde_json::to_string(&*lock(&self.injected)).unwrap_or_default();
                reply(Answer { status: 200, content_type: "application/json", body: Bytes::from(body) })
            }
        }
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|window| window == needle)
}

fn service_name(service: Service) -> &'static str {
    match service {
        Service::Dynamodb => "dynamodb",
        Service::Sns => "sns",
    }
}

fn reply(answer: Answer) -> Reply {
    let mut response = hyper::Response::new(Full::new(answer.body));
    *response.status_mut() = http::StatusCode::from_u16(answer.status).unwrap_or(http::StatusCode::BAD_GATEWAY);
    if let Ok(value) = http::HeaderValue::from_str(answer.content_type) {
        response.headers_mut().insert(http::header::CONTENT_TYPE, value);
    }
    response
}

fn plain(status: u16, text: &str) -> Reply {
    if status >= 400 {
        warn!(status, text, "fault layer");
    }
    aws_proxy::text(http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::BAD_GATEWAY), text)
}

/// What a request is: DynamoDB's JSON protocol names its operation in `x-amz-target`;
/// SNS's query protocol in the form's `Action`. Other services are not failed here.
fn identify(headers: &http::HeaderMap, body: &[u8]) -> Option<Call> {
    let caller = aws_proxy::caller(headers);
    match aws_proxy::operation(headers, body) {
        ("dynamodb", operation) => {
            let request: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
            Some(Call { service: Service::Dynamodb, operation, resources: tables_named(&request), caller })
        }
        // An SNS call names its topic; a form without one is no call this layer fails.
        ("sns", operation) => {
            let topic = form_urlencoded::parse(body).find(|(k, _)| k == "TopicArn").map(|(_, v)| v.into_owned())?;
            Some(Call { service: Service::Sns, operation, resources: vec![topic], caller })
        }
        _ => None,
    }
}

/// Every table a DynamoDB request names.
fn tables_named(request: &serde_json::Value) -> Vec<String> {
    let mut tables: Vec<String> = request["TableName"].as_str().map(str::to_owned).into_iter().collect();
    if let Some(items) = request["RequestItems"].as_object() {
        tables.extend(items.keys().cloned());
    }
    for action in request["TransactItems"].as_array().into_iter().flatten() {
        if let Some(op) = action.as_object().and_then(|a| a.values().next()) {
            tables.extend(op["TableName"].as_str().map(str::to_owned));
        }
    }
    tables.sort();
    tables.dedup();
    tables
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_told_apart_by_service_operation_tables_and_caller() {
        let mut headers = http::HeaderMap::new();
        headers.insert("x-amz-target", "DynamoDB_20120810.TransactWriteItems".parse().expect("header"));
        headers.insert("user-agent", "aws-sdk-rust/1.3 app/SauceFunction".parse().expect("header"));
        let body = serde_json::json!({"TransactItems": [
            {"Update": {"TableName": "inventory"}}, {"ConditionCheck": {"TableName": "orders"}}
        ]});
        let call = identify(&headers, body.to_string().as_bytes()).expect("a DynamoDB call");
        assert_eq!(call.operation, "TransactWriteItems");
        assert_eq!(call.resources, ["inventory", "orders"]);
        assert_eq!(call.caller.as_deref(), Some("SauceFunction"));

        let sns = identify(&http::HeaderMap::new(), b"Action=PublishBatch&TopicArn=arn%3At&Version=2010-03-31")
            .expect("an SNS call");
        assert_eq!((sns.service, sns.operation.as_str(), sns.caller), (Service::Sns, "PublishBatch", None));
        assert!(identify(&http::HeaderMap::new(), b"Action=SendMessage&QueueUrl=q").is_none(), "SQS is not failed");
    }
}
