//! Dollars from counted figures, at AWS list prices (us-east-1, on-demand, without free
//! tiers). The prices and assumptions are stated in docs/benchmarks.md; keep both in step.

/// Lambda: per million requests.
pub const LAMBDA_REQUESTS_PER_MILLION: f64 = 0.20;
/// Lambda on arm64: per GB-second.
pub const LAMBDA_ARM64_GB_SECOND: f64 = 0.000_013_333_4;
/// SQS standard queues: per million requests (each 64 KB chunk of a request is one).
pub const SQS_PER_MILLION: f64 = 0.40;
/// SNS standard topics: per million publish requests (a PublishBatch under 64 KB is one);
/// deliveries to SQS are free.
pub const SNS_PER_MILLION: f64 = 0.50;
/// DynamoDB on-demand: per million write and read request units.
pub const DYNAMODB_WRU_PER_MILLION: f64 = 0.625;
pub const DYNAMODB_RRU_PER_MILLION: f64 = 0.125;
/// API Gateway HTTP APIs: per million requests.
pub const HTTP_API_PER_MILLION: f64 = 1.00;
/// The time an AWS call takes as seen from a function on AWS: the reconciler's rounds are
/// priced with it, and the scenarios' Lambda line is shown with it beside the measured
/// wall time (which is the emulator's).
pub const LATENCY_PER_AWS_CALL_MS: f64 = 10.0;
/// CloudWatch Logs: per GB ingested, and per GB-month stored (uncompressed, an upper bound).
pub const LOGS_INGESTED_PER_GB: f64 = 0.50;
pub const LOGS_STORED_PER_GB_MONTH: f64 = 0.03;
/// X-Ray: per million traces recorded.
pub const XRAY_TRACES_PER_MILLION: f64 = 5.00;
/// CloudWatch: per custom metric (a name and its dimension values) a month, per standard
/// alarm a month, per dashboard a month (beyond the free three).
pub const METRIC_PER_MONTH: f64 = 0.30;
pub const ALARM_PER_MONTH: f64 = 0.10;
pub const DASHBOARD_PER_MONTH: f64 = 3.00;
/// KMS: a customer managed key a month, and its requests per 10,000.
pub const KMS_KEY_PER_MONTH: f64 = 1.00;
pub const KMS_PER_10K_REQUESTS: f64 = 0.03;
/// Firehose Direct PUT: per GB ingested, each record rounded up to 5 KB.
pub const FIREHOSE_PER_GB: f64 = 0.029;
pub const FIREHOSE_RECORD_BYTES: f64 = 5.0 * 1024.0;
/// SNS's deliveries to a Firehose subscription, per million: our reading of the price list,
/// not re-checked from this offline machine; the bench prints the archive with and
/// without it.
pub const SNS_TO_FIREHOSE_PER_MILLION: f64 = 0.19;
/// S3 Standard: per GB-month stored, per 1,000 PUTs.
pub const S3_GB_MONTH: f64 = 0.023;
pub const S3_PER_1000_PUTS: f64 = 0.005;
/// Lambda samples the first traced request each second and 5 % of the rest.
pub const XRAY_RESERVOIR_PER_SECOND: f64 = 1.0;
pub const XRAY_FIXED_RATE: f64 = 0.05;

/// What one pizza costs the system, counted.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PerPizza {
    pub lambda_invocations: f64,
    /// Billed milliseconds of Lambda duration.
    pub lambda_ms: f64,
    pub memory_mb: f64,
    pub sqs_requests: f64,
    /// Messages SNS delivered into queues: priced as SQS requests or free, see
    /// [`Deliveries`].
    pub sqs_deliveries: f64,
    pub sns_requests: f64,
    pub write_units: f64,
    pub read_units: f64,
    pub http_requests: f64,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Dollars {
    pub lambda: f64,
    pub sqs: f64,
    pub sns: f64,
    pub dynamodb: f64,
    pub http_api: f64,
}

impl Dollars {
    pub fn total(&self) -> f64 {
        self.lambda + self.sqs + self.sns + self.dynamodb + self.http_api
    }
}

/// Whether SNS's deliveries into SQS queues are billed as SQS requests. AWS's price list
/// says deliveries to SQS are free of SNS charges; whether the queue side bills them is
/// what a real bill would settle, so the bench prints both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deliveries {
    BilledAsSqsRequests,
    Free,
}

/// Dollars per million pizzas.
pub fn per_million_pizzas(p: &PerPizza, deliveries: Deliveries) -> Dollars {
    let gb_seconds = p.lambda_ms / 1000.0 * p.memory_mb / 1024.0;
    let delivered = if deliveries == Deliveries::Free { 0.0 } else { p.sqs_deliveries };
    Dollars {
        lambda: p.lambda_invocations * LAMBDA_REQUESTS_PER_MILLION + gb_seconds * LAMBDA_ARM64_GB_SECOND * 1e6,
        sqs: (p.sqs_requests + delivered) * SQS_PER_MILLION,
        sns: p.sns_requests * SNS_PER_MILLION,
        dynamodb: p.write_units * DYNAMODB_WRU_PER_MILLION + p.read_units * DYNAMODB_RRU_PER_MILLION,
        http_api: p.http_requests * HTTP_API_PER_MILLION,
    }
}

/// Dollars per million pizzas of the lines outside the requests: logs, traces.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Beyond {
    pub logs: f64,
    pub traces: f64,
}

/// The logs (`log_bytes` a pizza, ingested and kept a month) and traces (`traces` a pizza)
/// of a million pizzas.
pub fn beyond_requests(log_bytes: f64, traces: f64) -> Beyond {
    let gb = log_bytes * 1e6 / 1e9;
    Beyond { logs: gb * (LOGS_INGESTED_PER_GB + LOGS_STORED_PER_GB_MONTH), traces: traces * XRAY_TRACES_PER_MILLION }
}

/// The bytes Firehose bills for a record of `bytes`: rounded up to the next 5 KB.
pub fn firehose_billed_bytes(bytes: usize) -> u64 {
    let chunk = FIREHOSE_RECORD_BYTES as u64;
    (bytes as u64).div_ceil(chunk).max(1) * chunk
}

/// The event archive's dollars per million pizzas: `records` SNS deliveries into the
/// stream a pizza, `billed_bytes` a pizza ingested as Firehose bills them (each record
/// rounded up, [`firehose_billed_bytes`]), `bytes` a pizza stored for a month (gzipped,
/// as the objects are written); with or without SNS's delivery charge.
pub fn archive_per_million_pizzas(records: f64, billed_bytes: f64, bytes: f64, deliveries_charged: bool) -> f64 {
    let ingested_gb = billed_bytes * 1e6 / 1e9;
    let stored_gb = bytes * 1e6 / 1e9;
    let delivered = if deliveries_charged { records * SNS_TO_FIREHOSE_PER_MILLION } else { 0.0 };
    ingested_gb * FIREHOSE_PER_GB + stored_gb * S3_GB_MONTH + delivered
}

/// The share of orders Lambda traces when `orders_per_second` arrive: the reservoir takes
/// the first each second, the fixed rate a share of the rest.
pub fn sampled_share(orders_per_second: f64) -> f64 {
    if orders_per_second <= XRAY_RESERVOIR_PER_SECOND {
        return 1.0;
    }
    let sampled = XRAY_RESERVOIR_PER_SECOND + XRAY_FIXED_RATE * (orders_per_second - XRAY_RESERVOIR_PER_SECOND);
    sampled / orders_per_second
}

/// What the shop pays a month whatever it sells.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Fixed {
    pub archive_puts: f64,
    pub metrics: f64,
    pub alarms: f64,
    pub dashboard: f64,
    pub idle_polls: f64,
    pub kms: f64,
}

impl Fixed {
    pub fn total(&self) -> f64 {
        self.archive_puts + self.metrics + self.alarms + self.dashboard + self.idle_polls + self.kms
    }
}

/// The fixed block: `metrics` custom metrics, `alarms` alarms, one dashboard, the idle
/// long polls of `queues` queues, one KMS key whose data keys `kms_callers` function
/// instances renew every five minutes, and the archive's S3 objects (one per buffer of
/// `archive_buffer_seconds`, if it has one).
pub fn fixed_per_month(
    metrics: usize,
    alarms: usize,
    queues: usize,
    kms_callers: usize,
    archive_buffer_seconds: Option<f64>,
) -> Fixed {
    let renewals = 12.0 * 24.0 * 30.0 * kms_callers as f64;
    let archive_objects = archive_buffer_seconds.map_or(0.0, |s| 30.0 * 86_400.0 / s.max(1.0));
    Fixed {
        archive_puts: archive_objects / 1000.0 * S3_PER_1000_PUTS,
        metrics: metrics as f64 * METRIC_PER_MONTH,
        alarms: alarms as f64 * ALARM_PER_MONTH,
        dashboard: DASHBOARD_PER_MONTH,
        idle_polls: idle_dollars_per_month(queues, 5),
        kms: KMS_KEY_PER_MONTH + renewals / 1e4 * KMS_PER_10K_REQUESTS,
    }
}

/// An idle system's monthly cost: Lambda's SQS event source keeps `pollers` long polls of
/// 20 s open on every queue, and each is a billed ReceiveMessage.
pub fn idle_dollars_per_month(queues: usize, pollers: usize) -> f64 {
    let polls_per_month = 3.0 * 60.0 * 24.0 * 30.0 * pollers as f64 * queues as f64;
    polls_per_month / 1e6 * SQS_PER_MILLION
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_million_pizzas_costs_what_its_parts_cost() {
        let one =
            PerPizza { sqs_requests: 1.0, sns_requests: 1.0, write_units: 1.0, read_units: 1.0, ..PerPizza::default() };
        let dollars = per_million_pizzas(&one, Deliveries::BilledAsSqsRequests);
        assert!((dollars.sqs - 0.40).abs() < 1e-9);
        assert!((dollars.sns - 0.50).abs() < 1e-9);
        assert!((dollars.dynamodb - 0.75).abs() < 1e-9);
    }

    #[test]
    fn lambda_duration_is_priced_in_gigabyte_seconds() {
        let one_second_at_1gb = PerPizza { lambda_ms: 1000.0, memory_mb: 1024.0, ..PerPizza::default() };
        assert!((per_million_pizzas(&one_second_at_1gb, Deliveries::Free).lambda - 13.3334).abs() < 1e-6);
    }

    #[test]
    fn deliveries_cost_a_request_each_or_nothing() {
        let delivered = PerPizza { sqs_deliveries: 2.0, ..PerPizza::default() };
        assert!((per_million_pizzas(&delivered, Deliveries::BilledAsSqsRequests).sqs - 0.80).abs() < 1e-9);
        assert_eq!(per_million_pizzas(&delivered, Deliveries::Free).sqs, 0.0);
    }

    #[test]
    fn a_quiet_shop_is_traced_whole_and_a_busy_one_sampled() {
        assert_eq!(sampled_share(0.5), 1.0);
        // 21 a second: 1 + 5 % of 20 = 2 traced.
        assert!((sampled_share(21.0) - 2.0 / 21.0).abs() < 1e-9);
    }

    #[test]
    fn the_archive_pays_each_record_rounded_up_to_five_kilobytes_and_its_storage() {
        assert_eq!(firehose_billed_bytes(0), 5120);
        assert_eq!(firehose_billed_bytes(1000), 5120);
        assert_eq!(firehose_billed_bytes(5120), 5120);
        assert_eq!(firehose_billed_bytes(10_500), 15_360);
        // 1 record of 1 KB a pizza: 5 KB ingested (5.12 GB a million), 1 GB stored.
        let without = archive_per_million_pizzas(1.0, 5120.0, 1000.0, false);
        assert!((without - (5.12 * 0.029 + 0.023)).abs() < 1e-9);
        assert!((archive_per_million_pizzas(1.0, 5120.0, 1000.0, true) - without - 0.19).abs() < 1e-9);
    }

    #[test]
    fn a_gigabyte_of_logs_costs_its_ingestion_and_a_month_of_storage() {
        // 1 KB a pizza × a million pizzas = 1 GB.
        assert!((beyond_requests(1000.0, 0.0).logs - 0.53).abs() < 1e-9);
        assert!((beyond_requests(0.0, 0.1).traces - 0.5).abs() < 1e-9);
    }

    #[test]
    fn an_idle_queue_costs_its_long_polls() {
        // 5 pollers × 3 polls a minute × 43,200 minutes = 648,000 requests ≈ $0.26.
        assert!((idle_dollars_per_month(1, 5) - 0.2592).abs() < 1e-9);
    }
}
