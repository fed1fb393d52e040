//! A deployed stack described by name, from CloudFormation itself: its resources, its
//! parameters and its processed template, then each function's configuration, each
//! queue's attributes and each table's stream from the services that own them. The same
//! calls answer on AWS and on the emulator, so `pizza --stack NAME` works on whatever
//! `sam deploy` or `make deploy` made; the local deploy step's manifest is only a cache.
//!
//! The description has what the operator's commands read: functions (with their queues,
//! streams and schedules), queues and their dead-letter queues, topics, tables, the event
//! archive and the API's JWT authorizer. The HTTP API's routes and throttling, which only
//! the local runner plays, are left empty: the runner reads the manifest the deploy step
//! wrote.

mod functions;
mod intrinsics;

use std::collections::BTreeMap;

use aws_sdk_cloudformation::types::TemplateStage;
use aws_sdk_sqs::types::QueueAttributeName;
use local_runner::Manifest;
use local_runner::issuer::JwtConfiguration;
use local_runner::manifest::{ArchiveLocation, Queue, Table};
use serde_json::Value;

pub use intrinsics::{Scope, Unresolved};

#[derive(Debug, thiserror::Error)]
pub enum DiscoverError {
    #[error("no stack {0} in this account and region (deploy it first: `make deploy` or `sam deploy`)")]
    NoStack(String),
    #[error("{call}: {message}")]
    Aws { call: &'static str, message: String },
    #[error("the stack's processed template is not JSON")]
    Template(#[source] serde_json::Error),
    #[error("{what}: {source}")]
    Unresolved {
        what: String,
        #[source]
        source: Unresolved,
    },
    #[error("no AWS region is configured (set AWS_REGION; for the local stack, `eval \"$(make -s aws-env)\"`)")]
    NoRegion,
}

fn failed<E: std::error::Error + 'static>(call: &'static str) -> impl FnOnce(E) -> DiscoverError {
    move |err| DiscoverError::Aws {
        call,
        message: aws_sdk_cloudformation::error::DisplayErrorContext(&err).to_string(),
    }
}

/// A deployed resource: its type and physical id.
#[derive(Debug, Clone)]
struct Resource {
    kind: String,
    physical: String,
}

/// The stack as CloudFormation knows it.
struct Deployed {
    name: String,
    region: String,
    account: String,
    resources: BTreeMap<String, Resource>,
    /// The processed template's `Resources` (SAM already expanded).
    template: serde_json::Map<String, Value>,
    scope: Scope,
}

impl Deployed {
    fn of_kind<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        self.resources.iter().filter(move |(_, r)| r.kind == kind).map(|(id, r)| (id.as_str(), r.physical.as_str()))
    }

    fn template_resources<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = (&'a str, &'a Value)> + 'a {
        self.template
            .iter()
            .filter(move |(id, r)| r["Type"] == kind && self.resources.contains_key(id.as_str()))
            .map(|(id, r)| (id.as_str(), r))
    }

    fn resolve(&self, what: impl Into<String>, value: &Value) -> Result<Value, DiscoverError> {
        self.scope.resolve(value).map_err(|source| DiscoverError::Unresolved { what: what.into(), source })
    }
}

/// Describes the stack `stack_name` with the AWS configuration `aws` (its region, its
/// credentials, `AWS_ENDPOINT_URL` if set).
pub async fn describe(aws: &aws_config::SdkConfig, stack_name: &str) -> Result<Manifest, DiscoverError> {
    let deployed = deployed(aws, stack_name).await?;
    let queues = queues(aws, &deployed).await?;
    Ok(Manifest {
        stack_name: deployed.name.clone(),
        region: deployed.region.clone(),
        account: deployed.account.clone(),
        endpoint_url: std::env::var("AWS_ENDPOINT_URL").unwrap_or_default(),
        functions: functions::functions(aws, &deployed, &queues).await?,
        routes: Vec::new(),
        api_throttle: None,
        jwt_authorizer: jwt_authorizer(&deployed)?,
        topics: deployed.of_kind("AWS::SNS::Topic").map(|(id, arn)| (id.to_owned(), arn.to_owned())).collect(),
        tables: tables(aws, &deployed).await?,
        event_archive: event_archive(&deployed)?,
        archive_tap: None,
        queues,
    })
}

/// The description as an operator reads it: one line per function, queue, topic, table.
pub fn summary(manifest: &Manifest) -> String {
    use std::fmt::Write;
    let mut out = format!("stack {} in {} (account {})\n", manifest.stack_name, manifest.region, manifest.account);
    for f in &manifest.functions {
        let _ = writeln!(out, "  function {:<22} {} ({}, {} MB)", f.logical_id, f.name, f.binary, f.memory_mb);
    }
    for (id, queue) in &manifest.queues {
        let dlq = queue.dead_letter_queue_url.as_deref().map(|url| url.rsplit('/').next().unwrap_or(url));
        let _ = writeln!(
            out,
            "  queue    {id:<22} {}{}",
            queue.name(),
            dlq.map(|d| format!(" -> {d}")).unwrap_or_default()
        );
    }
    for (id, arn) in &manifest.topics {
        let _ = writeln!(out, "  topic    {id:<22} {arn}");
    }
    for (id, table) in &manifest.tables {
        let _ = writeln!(out, "  table    {id:<22} {}", table.name);
    }
    if let Some(archive) = &manifest.event_archive {
        let _ = writeln!(out, "  archive  s3://{}/{}", archive.bucket, archive.prefix);
    }
    out
}

async fn deployed(aws: &aws_config::SdkConfig, stack_name: &str) -> Result<Deployed, DiscoverError> {
    let region = aws.region().ok_or(DiscoverError::NoRegion)?.to_string();
    let cfn = aws_sdk_cloudformation::Client::new(aws);
    let described = cfn.describe_stacks().stack_name(stack_name).send().await.map_err(|err| {
        // CloudFormation answers a missing stack with a validation error naming it.
        if aws_sdk_cloudformation::error::DisplayErrorContext(&err).to_string().contains("does not exist") {
            DiscoverError::NoStack(stack_name.to_owned())
        } else {
            failed("DescribeStacks")(err)
        }
    })?;
    let stack = described.stacks().first().ok_or_else(|| DiscoverError::NoStack(stack_name.to_owned()))?;
    // arn:aws:cloudformation:REGION:ACCOUNT:stack/NAME/ID
    let account = stack.stack_id().and_then(|arn| arn.split(':').nth(4)).unwrap_or_default().to_owned();

    let mut resources = BTreeMap::new();
    let mut pages = cfn.list_stack_resources().stack_name(stack_name).into_paginator().send();
    while let Some(page) = pages.next().await {
        for summary in page.map_err(failed("ListStackResources"))?.stack_resource_summaries() {
            let (Some(id), Some(physical)) = (summary.logical_resource_id(), summary.physical_resource_id()) else {
                continue;
            };
            let kind = summary.resource_type().unwrap_or_default().to_owned();
            resources.insert(id.to_owned(), Resource { kind, physical: physical.to_owned() });
        }
    }

    let body = cfn
        .get_template()
        .stack_name(stack_name)
        .template_stage(TemplateStage::Processed)
        .send()
        .await
        .map_err(failed("GetTemplate"))?
        .template_body
        .unwrap_or_default();
    let mut template: serde_json::Map<String, Value> = serde_json::from_str(&body).map_err(DiscoverError::Template)?;
    let conditions = template.remove("Conditions").and_then(|c| c.as_object().cloned()).unwrap_or_default();
    let template_resources = template.remove("Resources").and_then(|r| r.as_object().cloned()).unwrap_or_default();

    let mut parameters: BTreeMap<String, String> = stack
        .parameters()
        .iter()
        .filter_map(|p| Some((p.parameter_key()?.to_owned(), p.resolved_value().or(p.parameter_value())?.to_owned())))
        .collect();
    for (name, value) in [
        ("AWS::Region", region.as_str()),
        ("AWS::AccountId", account.as_str()),
        ("AWS::StackName", stack_name),
        ("AWS::Partition", "aws"),
        ("AWS::URLSuffix", "amazonaws.com"),
        ("AWS::NoValue", ""),
    ] {
        parameters.insert(name.to_owned(), value.to_owned());
    }
    let physical = resources.iter().map(|(id, r)| (id.clone(), r.physical.clone())).collect();
    Ok(Deployed {
        name: stack_name.to_owned(),
        region,
        account,
        resources,
        template: template_resources,
        scope: Scope { parameters, physical, conditions },
    })
}

async fn queues(aws: &aws_config::SdkConfig, stack: &Deployed) -> Result<BTreeMap<String, Queue>, DiscoverError> {
    let sqs = aws_sdk_sqs::Client::new(aws);
    let mut queues = BTreeMap::new();
    let mut dead_letter_arns = BTreeMap::new();
    for (id, url) in stack.of_kind("AWS::SQS::Queue") {
        let attributes = sqs
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::All)
            .send()
            .await
            .map_err(failed("GetQueueAttributes"))?;
        let attribute = |name: QueueAttributeName| attributes.attributes().and_then(|a| a.get(&name)).cloned();
        let redrive =
            attribute(QueueAttributeName::RedrivePolicy).and_then(|policy| serde_json::from_str::<Value>(&policy).ok());
        let max_receive_count = redrive.as_ref().and_then(|p| match &p["maxReceiveCount"] {
            Value::String(count) => count.parse().ok(),
            count => count.as_u64().and_then(|c| u32::try_from(c).ok()),
        });
        if let Some(target) = redrive.as_ref().and_then(|p| p["deadLetterTargetArn"].as_str()) {
            dead_letter_arns.insert(id.to_owned(), target.to_owned());
        }
        queues.insert(
            id.to_owned(),
            Queue {
                logical_id: id.to_owned(),
                url: url.to_owned(),
                arn: attribute(QueueAttributeName::QueueArn).unwrap_or_default(),
                visibility_timeout_seconds: attribute(QueueAttributeName::VisibilityTimeout)
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(30),
                max_receive_count,
                dead_letter_queue_url: None,
            },
        );
    }
    let url_by_arn: BTreeMap<String, String> = queues.values().map(|q| (q.arn.clone(), q.url.clone())).collect();
    for (id, target) in dead_letter_arns {
        let url = url_by_arn.get(&target).cloned();
        if let Some(queue) = queues.get_mut(&id) {
            queue.dead_letter_queue_url = url;
        }
    }
    Ok(queues)
}

async fn tables(aws: &aws_config::SdkConfig, stack: &Deployed) -> Result<BTreeMap<String, Table>, DiscoverError> {
    let dynamodb = aws_sdk_dynamodb::Client::new(aws);
    let mut tables = BTreeMap::new();
    for (id, name) in stack.of_kind("AWS::DynamoDB::Table") {
        let described = dynamodb.describe_table().table_name(name).send().await.map_err(failed("DescribeTable"))?;
        let stream_arn = described.table().and_then(|t| t.latest_stream_arn()).map(str::to_owned);
        tables.insert(id.to_owned(), Table { name: name.to_owned(), stream_arn });
    }
    Ok(tables)
}

/// Where the archive's delivery stream writes: the bucket its destination points at.
fn event_archive(stack: &Deployed) -> Result<Option<ArchiveLocation>, DiscoverError> {
    let Some((id, stream)) = stack.template_resources("AWS::KinesisFirehose::DeliveryStream").next() else {
        return Ok(None);
    };
    let destination = &stream["Properties"]["ExtendedS3DestinationConfiguration"];
    let bucket = match destination["BucketARN"]["Fn::GetAtt"][0].as_str() {
        Some(bucket_id) => stack.resources.get(bucket_id).map(|r| r.physical.clone()),
        None => stack.resolve(format!("{id}.BucketARN"), &destination["BucketARN"])?.as_str().map(|arn| {
            // arn:aws:s3:::BUCKET
            arn.rsplit(':').next().unwrap_or(arn).to_owned()
        }),
    };
    let prefix = match destination.get("Prefix") {
        Some(prefix) => stack.resolve(format!("{id}.Prefix"), prefix)?.as_str().unwrap_or_default().to_owned(),
        None => String::new(),
    };
    Ok(bucket.map(|bucket| ArchiveLocation { bucket, prefix }))
}

/// The HTTP API's JWT authorizer: the issuer and audiences its tokens must name. Read from
/// the template even where the API is not among the stack's resources (the emulator skips
/// HTTP APIs; the local runner serves them).
fn jwt_authorizer(stack: &Deployed) -> Result<Option<JwtConfiguration>, DiscoverError> {
    let apis = stack.template.iter().filter(|(_, r)| r["Type"] == "AWS::ApiGatewayV2::Api");
    for (id, api) in apis {
        let schemes = api["Properties"]["Body"]["components"]["securitySchemes"].as_object();
        for scheme in schemes.into_iter().flat_map(|s| s.values()) {
            let authorizer = &scheme["x-amazon-apigateway-authorizer"];
            if authorizer["type"] != "jwt" {
                continue;
            }
            let configuration = stack.resolve(format!("{id}'s JWT authorizer"), &authorizer["jwtConfiguration"])?;
            let issuer = configuration["issuer"].as_str().unwrap_or_default().to_owned();
            let audience = configuration["audience"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect();
            return Ok(Some(JwtConfiguration { issuer, audience }));
        }
    }
    Ok(None)
}
