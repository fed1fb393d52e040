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
/// The time an AWS call takes as seen from a function on AWS, added to the measured CPU
/// time to estimate billed duration.
pub const LATENCY_PER_AWS_CALL_MS: f64 = 10.0;

/// What one pizza costs the system, counted.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PerPizza {
    pub lambda_invocations: f64,
    /// Billed milliseconds of Lambda duration.
    pub lambda_ms: f64,
    pub memory_mb: f64,
    pub sqs_requests: f64,
    /// Messages SNS delivered into queues, priced as SQS requests (a conservative reading).
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

/// Dollars per million pizzas.
pub fn per_million_pizzas(p: &PerPizza) -> Dollars {
    let gb_seconds = p.lambda_ms / 1000.0 * p.memory_mb / 1024.0;
    Dollars {
        lambda: p.lambda_invocations * LAMBDA_REQUESTS_PER_MILLION + gb_seconds * LAMBDA_ARM64_GB_SECOND * 1e6,
        sqs: (p.sqs_requests + p.sqs_deliveries) * SQS_PER_MILLION,
        sns: p.sns_requests * SNS_PER_MILLION,
        dynamodb: p.write_units * DYNAMODB_WRU_PER_MILLION + p.read_units * DYNAMODB_RRU_PER_MILLION,
        http_api: p.http_requests * HTTP_API_PER_MILLION,
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
        let dollars = per_million_pizzas(&one);
        assert!((dollars.sqs - 0.40).abs() < 1e-9);
        assert!((dollars.sns - 0.50).abs() < 1e-9);
        assert!((dollars.dynamodb - 0.75).abs() < 1e-9);
    }

    #[test]
    fn lambda_duration_is_priced_in_gigabyte_seconds() {
        let one_second_at_1gb = PerPizza { lambda_ms: 1000.0, memory_mb: 1024.0, ..PerPizza::default() };
        assert!((per_million_pizzas(&one_second_at_1gb).lambda - 13.3334).abs() < 1e-6);
    }

    #[test]
    fn an_idle_queue_costs_its_long_polls() {
        // 5 pollers × 3 polls a minute × 43,200 minutes = 648,000 requests ≈ $0.26.
        assert!((idle_dollars_per_month(1, 5) - 0.2592).abs() < 1e-9);
    }
}
