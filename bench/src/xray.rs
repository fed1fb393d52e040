//! X-Ray's share of the bill: what the deployed API records.

use anyhow::Context;
use local_runner::Manifest;

use crate::pricing;

/// Whether the API records X-Ray traces, as deployed (the template's `ApiTracing`): the
/// consumers start none of their own, so the API's mode decides what traces cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiTracing {
    /// Lambda samples the API's requests; each sampled order is one trace.
    Active,
    /// Nothing is recorded.
    PassThrough,
}

impl ApiTracing {
    /// The deployed API function's tracing mode, as Lambda reports it.
    pub async fn deployed(manifest: &Manifest, aws: &aws_config::SdkConfig) -> anyhow::Result<Self> {
        let api = manifest.function("ApiFunction").context("the stack has no ApiFunction")?;
        let lambda = aws_sdk_lambda::Client::new(aws);
        let configuration = lambda
            .get_function_configuration()
            .function_name(&api.name)
            .send()
            .await
            .with_context(|| format!("reading {}'s configuration", api.name))?;
        let mode = configuration.tracing_config().and_then(|t| t.mode());
        Ok(if mode == Some(&aws_sdk_lambda::types::TracingMode::Active) { Self::Active } else { Self::PassThrough })
    }

    /// Traces a pizza, when `orders_per_second` orders of `pizzas_per_order` arrive.
    pub fn traces_per_pizza(self, orders_per_second: f64, pizzas_per_order: f64) -> f64 {
        match self {
            Self::Active => pricing::sampled_share(orders_per_second) / pizzas_per_order,
            Self::PassThrough => 0.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_active_api_is_traced_an_order_at_a_time_and_a_pass_through_one_not_at_all() {
        // A quiet shop: every order is sampled, one trace shared by its pizzas.
        assert_eq!(ApiTracing::Active.traces_per_pizza(0.5, 4.0), 0.25);
        assert_eq!(ApiTracing::PassThrough.traces_per_pizza(0.5, 4.0), 0.0);
    }
}
