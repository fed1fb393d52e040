//! Structured JSON logs and CloudWatch embedded-metric-format (EMF) metrics.
//!
//! Every log line is one JSON object with the fields of every span it happened in,
//! flattened to the top level next to its own: a line about an event carries
//! `request_id`, `trace_id` and `correlation_id`, so `jq 'select(.correlation_id == "…")'`
//! follows an order through every function, and `trace_id` ties it to the timeline.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value, json};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::fmt::format::{JsonFields, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

use crate::config::Env;

/// Installs the JSON log subscriber once per process; the level comes from `LOG_LEVEL`
/// (as in Powertools), defaulting to `info`. Later calls are no-ops.
pub fn init_logging(env: &Env) {
    let filter = EnvFilter::builder()
        .with_default_directive(LevelFilter::INFO.into())
        .parse_lossy(env.get("LOG_LEVEL").unwrap_or("info").to_ascii_lowercase())
        // The SDK's own chatter is rarely what an operator is looking for.
        .add_directive("aws_smithy_runtime=warn".parse().expect("static directive"))
        .add_directive("aws_config=warn".parse().expect("static directive"))
        .add_directive("lambda_runtime=warn".parse().expect("static directive"));
    let _ = tracing_subscriber::fmt()
        .fmt_fields(JsonFields::new())
        .event_format(JsonLines { service: env.service_name().to_owned() })
        .with_env_filter(filter)
        .with_writer(std::io::stdout)
        .try_init();
}

/// One JSON object per event: time, level, service, every span field (outermost first,
/// inner spans win) and the event's own fields, `message` included.
pub struct JsonLines {
    /// The service every line names (`POWERTOOLS_SERVICE_NAME`).
    pub service: String,
}

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'w> tracing_subscriber::fmt::FormatFields<'w> + 'static,
{
    fn format_event(&self, ctx: &FmtContext<'_, S, N>, mut writer: Writer<'_>, event: &Event<'_>) -> fmt::Result {
        let mut line = Map::new();
        line.insert("timestamp".into(), chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true).into());
        line.insert("level".into(), event.metadata().level().as_str().into());
        line.insert("service".into(), self.service.clone().into());
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                let extensions = span.extensions();
                let Some(fields) = extensions.get::<FormattedFields<N>>() else { continue };
                if let Ok(Value::Object(fields)) = serde_json::from_str::<Value>(fields.as_str()) {
                    line.extend(fields);
                }
            }
        }
        event.record(&mut JsonVisitor(&mut line));
        writeln!(writer, "{}", Value::Object(line))
    }
}

struct JsonVisitor<'a>(&'a mut Map<String, Value>);

impl Visit for JsonVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.0.insert(field.name().into(), crate::describe(value).into());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.insert(field.name().into(), format!("{value:?}").into());
    }
}

/// The CPU time this process has used so far, at nanosecond resolution (zero where the
/// clock is not available).
pub fn process_cpu_time() -> std::time::Duration {
    let mut now = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes only the timespec it is given.
    let status = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut now) };
    if status != 0 {
        return std::time::Duration::ZERO;
    }
    std::time::Duration::new(now.tv_sec.max(0) as u64, now.tv_nsec.clamp(0, 999_999_999) as u32)
}

/// The unit of a metric, as CloudWatch names it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Unit {
    /// A count of things.
    Count,
    /// A duration.
    Milliseconds,
}

impl Unit {
    fn as_str(self) -> &'static str {
        match self {
            Unit::Count => "Count",
            Unit::Milliseconds => "Milliseconds",
        }
    }
}

/// Writes metrics as EMF lines on stdout, where CloudWatch Logs turns them into metrics
/// with no API call, every metric with the `service` dimension.
///
/// One document per invocation: a handler [`add`](Metrics::add)s what it counts, and the
/// invocation's end [`emit`](Metrics::emit)s it together with its own figures (the batch
/// layer does). The metrics of one process share the pending figures, as Powertools'
/// metrics singleton does, so the handler's and the batch layer's instances write one
/// line. Figures that need no alarm or graph go in as [`properties`](Metrics::emit_with):
/// searchable in the log line, and no custom metric to pay for.
#[derive(Debug, Clone)]
pub struct Metrics {
    namespace: String,
    service: String,
    /// `POWERTOOLS_METRICS_DISABLED=true` silences them, as in Powertools.
    disabled: bool,
    sink: Sink,
}

/// Where the documents go: standard output, from where Lambda hands them to CloudWatch,
/// or memory, for a test to read.
#[derive(Debug, Clone)]
enum Sink {
    Stdout,
    Memory(std::sync::Arc<std::sync::Mutex<Vec<Value>>>),
}

/// The namespace of the metrics when `POWERTOOLS_METRICS_NAMESPACE` names none.
const DEFAULT_NAMESPACE: &str = "PizzaShop";

/// A figure added since the last document: its name, its sum, and its unit if it is a
/// metric (a property has none).
type Figure = (String, f64, Option<Unit>);

/// Figures added since the last document, by name (summed).
static PENDING: std::sync::Mutex<Vec<Figure>> = std::sync::Mutex::new(Vec::new());

fn pending() -> std::sync::MutexGuard<'static, Vec<Figure>> {
    locked(&PENDING)
}

/// The figures and documents stay readable after a panic elsewhere: a lost line is
/// worse than a half-counted one.
fn locked<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Metrics {
    /// The metrics the environment configures: namespace and service, or disabled.
    pub fn from_env(env: &Env) -> Self {
        Self {
            namespace: env.get("POWERTOOLS_METRICS_NAMESPACE").unwrap_or(DEFAULT_NAMESPACE).to_owned(),
            service: env.service_name().to_owned(),
            disabled: env.get("POWERTOOLS_METRICS_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true")),
            sink: Sink::Stdout,
        }
    }

    /// Metrics of `service` that keep their documents for [`documents`](Metrics::documents)
    /// instead of writing them: what a test reads to check what an invocation reported.
    pub fn in_memory(service: &str) -> Self {
        Self {
            namespace: DEFAULT_NAMESPACE.into(),
            service: service.into(),
            disabled: false,
            sink: Sink::Memory(Default::default()),
        }
    }

    /// The documents kept so far by metrics made [`in_memory`](Metrics::in_memory); none
    /// for those that write them out.
    pub fn documents(&self) -> Vec<Value> {
        match &self.sink {
            Sink::Stdout => Vec::new(),
            Sink::Memory(kept) => locked(kept).clone(),
        }
    }

    /// Counts figures into the invocation's document, written by the next `emit`.
    pub fn add(&self, metrics: &[(&str, f64, Unit)]) {
        for (name, value, unit) in metrics {
            add_figure(name, *value, Some(*unit));
        }
    }

    /// Counts figures that no graph or alarm needs into the invocation's document as
    /// properties: summed and searchable in the line, and no custom metric to pay for.
    pub fn tally(&self, properties: &[(&str, f64)]) {
        for (name, value) in properties {
            add_figure(name, *value, None);
        }
    }

    /// Writes one document: what was added since the last one, and `metrics`.
    pub fn emit(&self, metrics: &[(&str, f64, Unit)]) {
        self.emit_with(metrics, &[]);
    }

    /// As [`emit`](Metrics::emit), with `properties`: values in the line that are no metric.
    pub fn emit_with(&self, metrics: &[(&str, f64, Unit)], properties: &[(&str, Value)]) {
        let mut all = std::mem::take(&mut *pending());
        // This call's own figures join after the take, so no other emit can take them.
        for (name, value, unit) in metrics {
            add_to(&mut all, name, *value, Some(*unit));
        }
        if all.is_empty() || self.disabled {
            return;
        }
        let document = self.document(&all, properties, now_millis());
        match &self.sink {
            Sink::Stdout => println!("{document}"),
            Sink::Memory(kept) => locked(kept).push(document),
        }
    }

    fn document(&self, figures: &[Figure], properties: &[(&str, Value)], timestamp_ms: u128) -> Value {
        // CloudWatch bills a custom metric for each hour it receives a value: a count that
        // is zero in this invocation is left out, so a failure count costs only in the
        // hours something failed. (Alarms on these treat missing data as not breaching; a
        // graph's gap is a zero.) Properties of zero or `false` are left out too: Logs
        // Insights sums a missing figure as nothing, and every line is billed by its bytes.
        let figures: Vec<&Figure> = figures.iter().filter(|(_, value, _)| *value != 0.0).collect();
        let definitions: Vec<Value> = figures
            .iter()
            .filter_map(|(name, _, unit)| unit.map(|unit| json!({"Name": name, "Unit": unit.as_str()})))
            .collect();
        let mut doc = Map::new();
        if !definitions.is_empty() {
            doc.insert(
                "_aws".into(),
                json!({
                    "Timestamp": timestamp_ms,
                    "CloudWatchMetrics": [{
                        "Namespace": self.namespace,
                        "Dimensions": [["service"]],
                        "Metrics": definitions,
                    }],
                }),
            );
        }
        doc.insert("service".into(), self.service.clone().into());
        for (name, value) in properties.iter().filter(|(_, value)| !is_nothing(value)) {
            doc.insert((*name).into(), value.clone());
        }
        for (name, value, _) in figures {
            doc.insert(name.clone(), json!(value));
        }
        Value::Object(doc)
    }
}

/// A property that says nothing happened: zero, or `false`.
fn is_nothing(value: &Value) -> bool {
    value.as_f64() == Some(0.0) || value == &Value::Bool(false)
}

fn add_figure(name: &str, value: f64, unit: Option<Unit>) {
    add_to(&mut pending(), name, value, unit);
}

/// Sums `value` into the figure `name` of `figures`, adding it if it is new.
fn add_to(figures: &mut Vec<Figure>, name: &str, value: f64, unit: Option<Unit>) {
    match figures.iter_mut().find(|(known, _, _)| known == name) {
        Some((_, sum, _)) => *sum += value,
        None => figures.push((name.to_owned(), value, unit)),
    }
}

fn now_millis() -> u128 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[test]
    fn an_emf_document_declares_each_metric_and_carries_its_value() {
        let env: Env = [("POWERTOOLS_SERVICE_NAME", "sauce")].into_iter().collect();
        let figures = [("Processed".to_owned(), 3.0, Some(Unit::Count)), ("Dropped".to_owned(), 2.0, None)];
        let doc = Metrics::from_env(&env).document(&figures, &[("HandlerCpuTime", json!(1.5))], 1_700_000_000_000);
        assert_eq!(doc["service"], "sauce");
        assert_eq!(doc["Processed"], 3.0);
        assert_eq!(doc["Dropped"], 2.0, "a tallied figure is in the line");
        assert_eq!(doc["HandlerCpuTime"], 1.5, "a property is in the line");
        let directive = &doc["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "PizzaShop");
        assert_eq!(directive["Dimensions"], json!([["service"]]));
        assert_eq!(directive["Metrics"], json!([{"Name": "Processed", "Unit": "Count"}]), "and is no metric");
        assert_eq!(doc["_aws"]["Timestamp"], 1_700_000_000_000u64);
    }

    #[test]
    fn what_counted_nothing_is_left_out_and_a_line_that_declares_nothing_is_no_emf() {
        let env: Env = [("POWERTOOLS_SERVICE_NAME", "sauce")].into_iter().collect();
        let metrics = Metrics::from_env(&env);
        let figures = [("Failed".to_owned(), 0.0, Some(Unit::Count)), ("Short".to_owned(), 1.0, Some(Unit::Count))];
        let doc = metrics.document(&figures, &[("ColdStart", json!(false)), ("Dead", json!(0))], 1);
        assert_eq!(doc["_aws"]["CloudWatchMetrics"][0]["Metrics"], json!([{"Name": "Short", "Unit": "Count"}]));
        for absent in ["Failed", "ColdStart", "Dead"] {
            assert!(doc.get(absent).is_none(), "{absent} says nothing happened: not in the line");
        }

        let quiet = metrics.document(&figures[..1], &[("HandlerCpuTime", json!(1.5)), ("ColdStart", json!(true))], 1);
        assert_eq!((quiet["HandlerCpuTime"].clone(), quiet["ColdStart"].clone()), (json!(1.5), json!(true)));
        assert!(quiet.get("_aws").is_none(), "nothing to declare: a plain line, no EMF document");
    }

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().map_err(|_| std::io::Error::other("poisoned"))?.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_line_carries_the_fields_of_every_span_it_is_in() {
        let captured = Captured::default();
        let sink = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .fmt_fields(JsonFields::new())
            .event_format(JsonLines { service: "sauce".into() })
            .with_writer(move || sink.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            let invocation = tracing::info_span!("invocation", request_id = "r-1");
            let _outer = invocation.enter();
            // Created inside the invocation, as the batch layer creates a record's span.
            let record = tracing::info_span!("record", correlation_id = "order-9", trace_id = "abc");
            let _inner = record.enter();
            tracing::info!(pizzas = 2, "order is cooking");
        });
        let text = String::from_utf8(captured.0.lock().expect("lock").clone()).expect("utf-8");
        let line: Value = serde_json::from_str(text.trim()).expect("one JSON line");
        assert_eq!(line["message"], "order is cooking");
        assert_eq!(line["service"], "sauce");
        assert_eq!(line["request_id"], "r-1");
        assert_eq!(line["correlation_id"], "order-9");
        assert_eq!(line["trace_id"], "abc");
        assert_eq!(line["pizzas"], 2);
        assert_eq!(line["level"], "INFO");
    }
}
