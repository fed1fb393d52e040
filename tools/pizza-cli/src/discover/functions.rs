//! Each function of the stack as Lambda describes it, with its event sources: the queues
//! and streams of its event source mappings, and the schedules of the template's rules.

use std::collections::BTreeMap;

use local_runner::manifest::{EventSource, Function, Mapping, Queue, ScheduleSource, SqsSource, StreamSource};
use serde_json::Value;

use super::{Deployed, DiscoverError, failed};

pub(super) async fn functions(
    aws: &aws_config::SdkConfig,
    stack: &Deployed,
    queues: &BTreeMap<String, Queue>,
) -> Result<Vec<Function>, DiscoverError> {
    let lambda = aws_sdk_lambda::Client::new(aws);
    let mut functions = Vec::new();
    for (id, resource) in stack.template_resources("AWS::Lambda::Function") {
        let name = &stack.resources[id].physical;
        let config = lambda
            .get_function_configuration()
            .function_name(name)
            .send()
            .await
            .map_err(failed("GetFunctionConfiguration"))?;
        let reserved = resource["Properties"].get("ReservedConcurrentExecutions");
        let reserved_concurrency = match reserved {
            Some(value) => stack.resolve(format!("{id}.ReservedConcurrentExecutions"), value)?,
            None => Value::Null,
        };
        functions.push(Function {
            logical_id: id.to_owned(),
            name: name.clone(),
            arn: config.function_arn().unwrap_or_default().to_owned(),
            binary: resource["Metadata"]["BuildProperties"]["Binary"].as_str().unwrap_or(id).to_owned(),
            timeout_seconds: config.timeout().and_then(|t| u64::try_from(t).ok()).unwrap_or(3),
            memory_mb: config.memory_size().and_then(|m| u64::try_from(m).ok()).unwrap_or(128),
            reserved_concurrency: match reserved_concurrency {
                Value::String(count) => count.parse().ok(),
                count => count.as_u64().and_then(|c| u32::try_from(c).ok()),
            },
            role: config.role().unwrap_or_default().to_owned(),
            environment: config
                .environment()
                .and_then(|e| e.variables())
                .map(|vars| vars.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                .unwrap_or_default(),
            event_sources: [mappings(&lambda, name, queues).await?, schedules(stack, id)?].concat(),
        });
    }
    Ok(functions)
}

/// The function's event source mappings: its queues and streams.
async fn mappings(
    lambda: &aws_sdk_lambda::Client,
    function: &str,
    queues: &BTreeMap<String, Queue>,
) -> Result<Vec<EventSource>, DiscoverError> {
    let by_arn = |arn: &str| queues.values().find(|q| q.arn == arn).cloned();
    let mut sources = Vec::new();
    let mut pages = lambda.list_event_source_mappings().function_name(function).into_paginator().send();
    while let Some(page) = pages.next().await {
        for mapping in page.map_err(failed("ListEventSourceMappings"))?.event_source_mappings() {
            let source = mapping.event_source_arn().unwrap_or_default();
            let settings = Mapping {
                batch_size: mapping.batch_size().and_then(|b| u32::try_from(b).ok()).unwrap_or(10),
                batching_window_seconds: mapping
                    .maximum_batching_window_in_seconds()
                    .and_then(|w| u64::try_from(w).ok())
                    .unwrap_or(0),
                report_batch_item_failures: mapping
                    .function_response_types()
                    .iter()
                    .any(|t| t.as_str() == "ReportBatchItemFailures"),
                enabled: !matches!(mapping.state(), Some("Disabled" | "Disabling")),
                filters: mapping
                    .filter_criteria()
                    .map(|criteria| {
                        criteria.filters().iter().filter_map(|f| serde_json::from_str(f.pattern()?).ok()).collect()
                    })
                    .unwrap_or_default(),
            };
            if let Some(queue) = by_arn(source) {
                sources.push(EventSource::Sqs(SqsSource {
                    queue,
                    maximum_concurrency: mapping
                        .scaling_config()
                        .and_then(|s| s.maximum_concurrency())
                        .and_then(|c| u32::try_from(c).ok()),
                    mapping: settings,
                }));
            } else if source.contains(":dynamodb:") {
                let on_failure =
                    mapping.destination_config().and_then(|d| d.on_failure()).and_then(|f| f.destination());
                sources.push(EventSource::DynamodbStream(StreamSource {
                    stream_arn: source.to_owned(),
                    starting_position: mapping.starting_position().map_or("LATEST", |p| p.as_str()).to_owned(),
                    maximum_retry_attempts: mapping.maximum_retry_attempts().map_or(-1, i64::from),
                    bisect_on_error: mapping.bisect_batch_on_function_error().unwrap_or(false),
                    on_failure_queue_url: on_failure.and_then(by_arn).map(|q| q.url),
                    mapping: settings,
                }));
            }
        }
    }
    Ok(sources)
}

/// The EventBridge schedules that invoke the function `function_id`.
fn schedules(stack: &Deployed, function_id: &str) -> Result<Vec<EventSource>, DiscoverError> {
    let mut schedules = Vec::new();
    for (rule_id, rule) in stack.template_resources("AWS::Events::Rule") {
        let properties = &rule["Properties"];
        let Some(expression) = properties.get("ScheduleExpression") else { continue };
        let targets_function = properties["Targets"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|target| target["Arn"]["Fn::GetAtt"][0].as_str() == Some(function_id));
        if !targets_function {
            continue;
        }
        let state = properties.get("State").map(|s| stack.resolve(format!("{rule_id}.State"), s)).transpose()?;
        schedules.push(EventSource::Schedule(ScheduleSource {
            expression: stack
                .resolve(format!("{rule_id}.ScheduleExpression"), expression)?
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            enabled: state.as_ref().and_then(Value::as_str) != Some("DISABLED"),
        }));
    }
    Ok(schedules)
}
