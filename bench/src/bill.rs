//! The whole bill of a measured scenario: what the meter counted, what the runner timed,
//! what the functions logged, and the lines no request shows (client `GET`s, traces, the
//! fixed monthly block), per pizza and per order.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use local_runner::{EventSource, Manifest, StatsSnapshot};
use serde_json::Value;
use uuid::Uuid;

use crate::line;
pub use crate::logs::{LogTally, tally_logs};
use crate::meter::Reading;
use crate::pricing::{self, Deliveries, Fixed, PerPizza};
pub use crate::xray::ApiTracing;

/// What one scenario spent, measured.
pub struct Measured {
    pub name: &'static str,
    pub orders: usize,
    pub pizzas: u32,
    pub reading: Reading,
    pub stats: Vec<StatsSnapshot>,
    pub logs: LogTally,
    pub order_ids: Vec<Uuid>,
    /// From the first POST until the last order was READY.
    pub ready_after: Duration,
    /// What the scenario put into the event archive, if the stack keeps one.
    pub archive: Option<ArchiveVolume>,
}

/// The event archive's share of a scenario, read back from its bucket.
#[derive(Debug, Default, Clone, Copy)]
pub struct ArchiveVolume {
    /// Records SNS delivered into the stream (one per event per topic).
    pub records: u64,
    /// The objects' bytes as stored: gzipped, as the stream's S3 destination says.
    pub bytes: u64,
    /// Their bytes as Firehose bills their ingestion: each record rounded up to 5 KB.
    pub billed_bytes: u64,
    /// Objects written (here one per second of traffic; on AWS one per buffer).
    pub objects: u64,
}

/// Reads back what the delivery stream wrote since `since`.
pub async fn archive_volume(
    s3: &aws_sdk_s3::Client,
    at: &local_runner::ArchiveLocation,
    since: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<ArchiveVolume> {
    let mut volume = ArchiveVolume::default();
    let hours = event_archive::hour_prefixes(&at.prefix, since - chrono::Duration::hours(1), chrono::Utc::now());
    for prefix in hours {
        let mut pages = s3.list_objects_v2().bucket(&at.bucket).prefix(&prefix).into_paginator().send();
        while let Some(page) = pages.next().await {
            for object in page.context("listing the archive")?.contents() {
                let written = object.last_modified().and_then(|t| chrono::DateTime::from_timestamp(t.secs(), 0));
                if written.is_none_or(|t| t < since - chrono::Duration::seconds(1)) {
                    continue;
                }
                let key = object.key().context("an object without a key")?;
                let body = s3.get_object().bucket(&at.bucket).key(key).send().await.context("reading the archive")?;
                let bytes = body.body.collect().await.context("reading the archive")?.into_bytes();
                let decoded = event_archive::records::decode(&bytes).context("decoding the archive")?;
                volume.records += decoded.events.len() as u64;
                volume.bytes += bytes.len() as u64;
                volume.billed_bytes +=
                    decoded.record_bytes.iter().map(|b| pricing::firehose_billed_bytes(*b)).sum::<u64>();
                volume.objects += 1;
            }
        }
    }
    Ok(volume)
}

/// The volume the fixed block is spread over, what the bill assumes of clients, and
/// whether the stack records traces.
pub struct Volume {
    pub pizzas_per_month: f64,
    /// How often a client asks for its order before it is READY (and once after).
    pub gets_per_order: f64,
    pub api_tracing: ApiTracing,
}

impl Volume {
    /// Ten million pizzas a month, three `GET`s an order, traced as deployed.
    pub fn of_shop(api_tracing: ApiTracing) -> Self {
        Self { pizzas_per_month: 10e6, gets_per_order: 3.0, api_tracing }
    }
}

/// What the fixed block is computed from: the alarms of the expanded template (those
/// of optional parts the stack lacks left out), the stack's queues, the archive's buffering
/// interval; the custom metrics are added as the scenarios' logs declare them.
/// Metrics, alarms and polls are billed per month whatever the traffic.
pub fn fixed_block(manifest: &Manifest, expanded: &Path) -> anyhow::Result<FixedInputs> {
    let text = std::fs::read_to_string(expanded)
        .with_context(|| format!("reading {} (deploy.py --expand-only writes it)", expanded.display()))?;
    let template: Value = serde_json::from_str(&text).context("the expanded template is no JSON")?;
    let resources = template["Resources"].as_object().context("the expanded template has no resources")?;
    // A resource of an optional part counts if the stack has that part (of those the bench
    // knows: the archive).
    let deployed =
        |r: &&Value| r.get("Condition").is_none_or(|c| c == "WithArchive" && manifest.event_archive.is_some());
    let alarms = resources.values().filter(|r| r["Type"] == "AWS::CloudWatch::Alarm").filter(deployed).count();
    let archive_buffer_seconds =
        resources.values().filter(|r| r["Type"] == "AWS::KinesisFirehose::DeliveryStream").filter(deployed).find_map(
            |r| {
                let interval =
                    &r["Properties"]["ExtendedS3DestinationConfiguration"]["BufferingHints"]["IntervalInSeconds"];
                // A parameter's default, as the bench deploys it.
                let parameter = || interval["Ref"].as_str().map(|name| &template["Parameters"][name]["Default"]);
                interval.as_f64().or_else(|| parameter().and_then(|d| d.as_f64().or_else(|| d.as_str()?.parse().ok())))
            },
        );
    // Lambda long-polls the queues its functions consume (those with a dead-letter queue).
    let queues = manifest.dead_letter_queues().count();
    Ok(FixedInputs { alarms, queues, metrics: BTreeSet::new(), archive_buffer_seconds })
}

pub struct FixedInputs {
    pub alarms: usize,
    pub queues: usize,
    pub metrics: BTreeSet<(String, String, String)>,
    /// The archive's buffering interval (one S3 object per interval).
    pub archive_buffer_seconds: Option<f64>,
}

impl FixedInputs {
    fn dollars(&self) -> Fixed {
        // The API's and the payment's instances renew their data keys; two of each.
        pricing::fixed_per_month(self.metrics.len(), self.alarms, self.queues, 4, self.archive_buffer_seconds)
    }
}

/// Every line of a scenario's bill, as `<scenario>.<figure>: value`.
pub fn report(manifest: &Manifest, measured: &Measured, get: &Measured, fixed: &mut FixedInputs, volume: &Volume) {
    fixed.metrics.extend(measured.logs.metrics.iter().cloned());
    println!(
        "# {}: {} orders, {} pizzas, all READY after {:.1} s",
        measured.name,
        measured.orders,
        measured.pizzas,
        measured.ready_after.as_secs_f64()
    );
    let l = Lines { measured };
    report_requests(&l);
    let archive = report_archive(&l);
    let (per_pizza, at_aws) = report_lambda(&l, manifest);
    let counted = report_dollars(&l, &per_pizza, &at_aws);
    report_all_in(&l, get, volume, fixed, &per_pizza, counted, archive.unwrap_or(0.0));
}

/// A scenario's lines: each figure under its name, counted per pizza.
struct Lines<'m> {
    measured: &'m Measured,
}

impl Lines<'_> {
    fn out(&self, figure: &str, value: String) {
        line(&format!("{}.{figure}", self.measured.name), value);
    }

    fn per(&self, n: f64) -> f64 {
        n / self.pizzas()
    }

    fn pizzas(&self) -> f64 {
        f64::from(self.measured.pizzas)
    }

    fn orders(&self) -> f64 {
        self.measured.orders as f64
    }
}

/// Requests and capacity units, per pizza and per order.
fn report_requests(l: &Lines) {
    let (measured, orders) = (l.measured, l.orders());
    let total = measured.reading.total();

    l.out("requests_per_pizza", format!("{:.2}", l.per(total.total_requests() as f64)));
    l.out("requests_per_order", format!("{:.1}", total.total_requests() as f64 / orders));
    for (op, n) in &total.requests {
        l.out(&format!("requests_per_pizza.{op}"), format!("{:.2}", l.per(*n as f64)));
    }
    l.out("requests_per_pizza.window_empty_receives", format!("{:.2}", l.per(total.empty_receives as f64)));
    for (op, n) in &measured.reading.excluded {
        l.out(&format!("excluded_per_pizza.{op}"), format!("{:.2}", l.per(*n as f64)));
    }
    l.out(
        "requests_per_pizza_ratio_to_before",
        format!("{:.3}", l.per(total.total_requests() as f64) / crate::REQUESTS_PER_PIZZA_BEFORE),
    );
    l.out("write_units_per_pizza", format!("{:.2}", l.per(total.write_units)));
    l.out("write_units_per_order", format!("{:.1}", total.write_units / orders));
    l.out("read_units_per_pizza", format!("{:.2}", l.per(total.read_units)));
    for (caller, spend) in &measured.reading.by_caller {
        if spend.write_units > 0.0 {
            l.out(&format!("write_units_per_pizza.{caller}"), format!("{:.2}", l.per(spend.write_units)));
        }
    }
    // Where the requests go: each function's own, and each queue's pollers' (receives,
    // the empty ones that end a window included, and deletes).
    for (caller, spend) in &measured.reading.by_caller {
        let requests = spend.total_requests();
        if requests > 0 {
            l.out(&format!("requests_per_pizza.by.{caller}"), format!("{:.2}", l.per(requests as f64)));
        }
    }
}

/// The archive's share: SNS delivers into Firehose with no request of ours; what it costs
/// is its volume. Its dollars, if the stack keeps an archive.
fn report_archive(l: &Lines) -> Option<f64> {
    let total = l.measured.reading.total();
    let archive_requests: u64 = total
        .requests
        .iter()
        .filter(|(op, _)| op.starts_with("firehose:") || op.starts_with("s3:"))
        .map(|(_, n)| n)
        .sum();
    l.measured.archive.map(|volume| {
        let (records, bytes) = (l.per(volume.records as f64), l.per(volume.bytes as f64));
        let billed = l.per(volume.billed_bytes as f64);
        l.out("archive.requests_per_pizza", format!("{:.2}", l.per(archive_requests as f64)));
        l.out("archive.records_per_pizza", format!("{records:.2}"));
        l.out("archive.bytes_per_pizza", format!("{bytes:.0}"));
        l.out("archive.billed_bytes_per_pizza", format!("{billed:.0}"));
        l.out("archive.objects_written", volume.objects.to_string());
        let charged = pricing::archive_per_million_pizzas(records, billed, bytes, true);
        l.out("archive.dollars_per_million_pizzas", format!("{charged:.2}"));
        l.out(
            "archive.dollars_per_million_pizzas_deliveries_free",
            format!("{:.2}", pricing::archive_per_million_pizzas(records, billed, bytes, false)),
        );
        charged
    })
}

/// Lambda's invocations and duration, SQS deliveries and log volume; the scenario's bill
/// as the meter counted it, per pizza.
fn report_lambda(l: &Lines, manifest: &Manifest) -> (PerPizza, PerPizza) {
    let (measured, orders) = (l.measured, l.orders());
    let total = measured.reading.total();
    let count =
        |prefix: &str| total.requests.iter().filter(|(op, _)| op.starts_with(prefix)).map(|(_, n)| *n).sum::<u64>();
    let invocations: u64 = measured.stats.iter().map(|s| s.invocations).sum();
    let billed_ms: u64 = measured.stats.iter().map(|s| s.billed_ms).sum();
    let memory_mb = manifest.functions.first().map_or(128, |f| f.memory_mb) as f64;
    let deliveries: u64 = measured
        .reading
        .by_caller
        .iter()
        .filter(|(c, _)| c.starts_with("pollers"))
        .map(|(_, s)| s.messages_received)
        .sum();
    let per_pizza = PerPizza {
        lambda_invocations: l.per(invocations as f64),
        lambda_ms: l.per(billed_ms as f64),
        memory_mb,
        sqs_requests: l.per(count("sqs:") as f64),
        sqs_deliveries: l.per(deliveries as f64),
        sns_requests: l.per(count("sns:") as f64),
        write_units: l.per(total.write_units),
        read_units: l.per(total.read_units),
        http_requests: l.per(orders),
    };
    l.out("lambda_invocations_per_pizza", format!("{:.2}", per_pizza.lambda_invocations));
    l.out("lambda_billed_ms_per_pizza", format!("{:.1}", per_pizza.lambda_ms));
    // The wall time is the emulator's: it serialises DynamoDB, so under load a function
    // mostly waits its turn. For scale, what the same work would bill at AWS's latency.
    let function_calls: u64 = measured
        .reading
        .by_caller
        .iter()
        .filter(|(caller, _)| !caller.starts_with("pollers"))
        .map(|(_, spend)| spend.total_requests())
        .sum();
    let at_aws = measured.logs.cpu_ms.values().sum::<f64>()
        + function_calls as f64 * pricing::LATENCY_PER_AWS_CALL_MS
        + invocations as f64;
    let at_aws = PerPizza { lambda_ms: l.per(at_aws), ..per_pizza.clone() };
    l.out("lambda_billed_ms_per_pizza_at_aws_latency", format!("{:.1}", at_aws.lambda_ms));
    l.out(
        "dollars_per_million_pizzas.lambda_at_aws_latency",
        format!("{:.2}", pricing::per_million_pizzas(&at_aws, Deliveries::BilledAsSqsRequests).lambda),
    );
    l.out("lambda_cpu_ms_per_pizza", format!("{:.2}", l.per(measured.logs.cpu_ms.values().sum())));
    l.out("sqs_deliveries_per_pizza", format!("{:.2}", per_pizza.sqs_deliveries));
    l.out("log_bytes_per_pizza", format!("{:.0}", l.per(measured.logs.bytes as f64)));
    l.out("log_lines_per_pizza", format!("{:.2}", l.per(measured.logs.lines as f64)));
    if measured.logs.lost > 0 {
        l.out("log_lines_lost", measured.logs.lost.to_string());
    }
    (per_pizza, at_aws)
}

/// The counted bill's dollars, with SNS's deliveries billed and free, with Lambda as
/// measured and at AWS's latency (`at_aws`); the billed totals, as measured and at AWS's.
fn report_dollars(l: &Lines, per_pizza: &PerPizza, at_aws: &PerPizza) -> Counted {
    for (label, deliveries) in [("", Deliveries::BilledAsSqsRequests), ("_deliveries_free", Deliveries::Free)] {
        let dollars = pricing::per_million_pizzas(per_pizza, deliveries);
        l.out(&format!("dollars_per_million_pizzas{label}"), format!("{:.2}", dollars.total()));
        let at_aws = pricing::per_million_pizzas(at_aws, deliveries).total();
        l.out(&format!("dollars_per_million_pizzas{label}_at_aws_latency"), format!("{at_aws:.2}"));
        if label.is_empty() {
            l.out("dollars_per_million_pizzas.lambda", format!("{:.2}", dollars.lambda));
            l.out("dollars_per_million_pizzas.sqs", format!("{:.2}", dollars.sqs));
            l.out("dollars_per_million_pizzas.sns", format!("{:.2}", dollars.sns));
            l.out("dollars_per_million_pizzas.dynamodb", format!("{:.2}", dollars.dynamodb));
            l.out("dollars_per_million_pizzas.http_api", format!("{:.2}", dollars.http_api));
        }
    }
    Counted {
        measured: pricing::per_million_pizzas(per_pizza, Deliveries::BilledAsSqsRequests).total(),
        at_aws_latency: pricing::per_million_pizzas(at_aws, Deliveries::BilledAsSqsRequests).total(),
    }
}

/// The counted bill per million pizzas, deliveries billed: with Lambda's duration as the
/// emulator made it, and as AWS's latency would.
struct Counted {
    measured: f64,
    at_aws_latency: f64,
}

/// All in: the client's GETs, the logs, the traces, the fixed block, and the archive.
fn report_all_in(
    l: &Lines,
    get: &Measured,
    volume: &Volume,
    fixed: &FixedInputs,
    per_pizza: &PerPizza,
    counted: Counted,
    archive: f64,
) {
    let (measured, pizzas, orders) = (l.measured, l.pizzas(), l.orders());
    let gets_per_pizza = volume.gets_per_order * orders / pizzas;
    let get_total = get.reading.total();
    let per_get = |n: f64| n / get.orders as f64;
    let get_bill = PerPizza {
        lambda_invocations: gets_per_pizza,
        lambda_ms: gets_per_pizza * per_get(get.stats.iter().map(|s| s.billed_ms).sum::<u64>() as f64),
        memory_mb: per_pizza.memory_mb,
        read_units: gets_per_pizza * per_get(get_total.read_units),
        http_requests: gets_per_pizza,
        ..PerPizza::default()
    };
    let gets = pricing::per_million_pizzas(&get_bill, Deliveries::Free).total();
    let orders_per_second = volume.pizzas_per_month / (pizzas / orders) / (30.0 * 86_400.0);
    let traces_per_pizza = volume.api_tracing.traces_per_pizza(orders_per_second, pizzas / orders);
    let beyond = pricing::beyond_requests(l.per(measured.logs.bytes as f64), traces_per_pizza);
    let fixed_share = fixed.dollars().total() / (volume.pizzas_per_month / 1e6);
    l.out("client_gets_per_pizza", format!("{gets_per_pizza:.2}"));
    l.out("traces_per_pizza", format!("{traces_per_pizza:.3}"));
    l.out("all_in.dollars_per_million_pizzas.client_gets", format!("{gets:.2}"));
    l.out("all_in.dollars_per_million_pizzas.logs", format!("{:.2}", beyond.logs));
    l.out("all_in.dollars_per_million_pizzas.traces", format!("{:.2}", beyond.traces));
    l.out("all_in.dollars_per_million_pizzas.fixed_block", format!("{fixed_share:.2}"));
    l.out("all_in.dollars_per_million_pizzas.archive", format!("{archive:.2}"));
    let beside_counted = gets + beyond.logs + beyond.traces + fixed_share + archive;
    let all_in = counted.measured + beside_counted;
    l.out("all_in.dollars_per_million_pizzas", format!("{all_in:.2}"));
    let at_aws = counted.at_aws_latency + beside_counted;
    l.out("all_in.dollars_per_million_pizzas_at_aws_latency", format!("{at_aws:.2}"));
    l.out("all_in.dollars_per_order", format!("{:.6}", all_in * pizzas / orders / 1e6));
}

/// The fixed block's lines, once, after the scenarios have shown their metrics.
pub fn report_fixed(fixed: &FixedInputs, volume: &Volume) {
    let dollars = fixed.dollars();
    println!("# the fixed block: what the shop pays a month whatever it sells");
    line("fixed.custom_metrics", fixed.metrics.len());
    line("fixed.alarms", fixed.alarms);
    line("fixed.dollars_per_month.metrics", format!("{:.2}", dollars.metrics));
    line("fixed.dollars_per_month.alarms", format!("{:.2}", dollars.alarms));
    line("fixed.dollars_per_month.dashboard", format!("{:.2}", dollars.dashboard));
    line("fixed.dollars_per_month.idle_polls", format!("{:.2}", dollars.idle_polls));
    line("fixed.dollars_per_month.kms", format!("{:.2}", dollars.kms));
    line("fixed.dollars_per_month.archive_puts", format!("{:.2}", dollars.archive_puts));
    line("fixed.dollars_per_month", format!("{:.2}", dollars.total()));
    line("fixed.pizzas_per_month", format!("{:.0}", volume.pizzas_per_month));
    line("idle_dollars_per_month", format!("{:.2}", dollars.idle_polls));
}

/// The batch size of a function's queue mapping.
pub fn batch_size(manifest: &Manifest, function: &str) -> Option<u32> {
    manifest.function(function)?.event_sources.iter().find_map(|source| match source {
        EventSource::Sqs(sqs) => Some(sqs.mapping.batch_size),
        _ => None,
    })
}
