//! `cargo lambda deploy` against the emulator's Lambda API, run as `pizza push` runs it:
//! a build of one function lands on the function the template created, with the role and
//! environment the template gave it, and pushing again updates that same function in place.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_lambda::operation::get_function_configuration::GetFunctionConfigurationOutput;
use aws_sdk_lambda::types::TracingMode;
use pizza_cli::push::{self, Code};
use system_tests::{deploy_stack, workspace_root};

#[test]
fn a_push_deploys_the_build_with_the_templates_role_and_environment_and_a_second_updates_it_in_place() {
    // A stack of its own each run: the first push must meet the template's package.
    let stack = format!("test-push-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let manifest = deploy_stack(&stack, &[("Namespace", &format!("{stack}-")), ("ApiTracing", "Active")]);
    let function = push::find(&manifest, "api").expect("the API function is in the stack").clone();
    let binary = local_runner::default_bin_dir().join(&function.binary);
    assert!(binary.is_file(), "{} is not built (run `make test`)", binary.display());
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
    let lambda = runtime.block_on(async { aws_sdk_lambda::Client::new(&local_runner::sdk_config(&manifest).await) });
    let configuration = |name: &str| -> GetFunctionConfigurationOutput {
        runtime.block_on(lambda.get_function_configuration().function_name(name).send()).unwrap_or_else(|e| {
            panic!("GetFunctionConfiguration {name}: {}", aws_sdk_lambda::error::DisplayErrorContext(e))
        })
    };
    let stack_functions = || -> usize {
        let listed = runtime.block_on(lambda.list_functions().into_paginator().items().send().collect::<Vec<_>>());
        listed
            .into_iter()
            .map(|f| f.expect("ListFunctions"))
            .filter(|f| f.function_name().is_some_and(|n| n.starts_with(&stack)))
            .count()
    };
    let as_deployed = configuration(&function.name);
    let tracing = |c: &GetFunctionConfigurationOutput| c.tracing_config().and_then(|t| t.mode()).cloned();
    assert_eq!(tracing(&as_deployed), Some(TracingMode::Active), "deployed with the template's ApiTracing");
    let functions_before = stack_functions();

    let first =
        push::cargo_lambda_deploy(&manifest, &function, Code::Binary(&binary), &BTreeMap::new(), &workspace_root())
            .unwrap_or_else(|e| panic!("{e}"));
    let pushed = configuration(&function.name);
    assert_eq!(pushed.function_arn(), as_deployed.function_arn(), "the template's function, not a new one");
    assert!(first.function_arn.starts_with(&function.arn), "{} is a version of {}", first.function_arn, function.arn);
    assert_ne!(pushed.code_sha256(), as_deployed.code_sha256(), "the build replaced the template's package");
    assert!(
        pushed.code_size() > 1_000_000,
        "the package holds the binary, not a placeholder: {} bytes",
        pushed.code_size()
    );
    assert_eq!(pushed.role(), Some(function.role.as_str()));
    assert_eq!(tracing(&pushed), tracing(&as_deployed), "the template's tracing mode, unchanged");
    assert_eq!(environment(&pushed), environment(&as_deployed), "the template's environment, unchanged");
    assert_eq!(pushed.handler(), Some("bootstrap"));
    assert_eq!(pushed.runtime().map(|r| r.as_str()), Some("provided.al2023"));
    assert_eq!(pushed.timeout(), Some(function.timeout_seconds as i32));

    let overrides = push::parse_overrides(&["LOG_LEVEL=DEBUG".to_owned()]).expect("an override");
    let second = push::cargo_lambda_deploy(&manifest, &function, Code::Binary(&binary), &overrides, &workspace_root())
        .unwrap_or_else(|e| panic!("{e}"));
    let updated = configuration(&function.name);
    assert_eq!(updated.function_arn(), as_deployed.function_arn(), "updated in place");
    assert_eq!(stack_functions(), functions_before, "no function was added");
    assert!(
        version(&second.version) > version(&first.version),
        "the second push published a later version: {:?} after {:?}",
        second.version,
        first.version
    );
    let mut expected = environment(&as_deployed);
    expected.insert("LOG_LEVEL".to_owned(), "DEBUG".to_owned());
    assert_eq!(environment(&updated), expected, "the override, and the rest of the template's environment");
    assert_eq!(updated.role(), Some(function.role.as_str()));
}

fn environment(configuration: &GetFunctionConfigurationOutput) -> HashMap<String, String> {
    configuration.environment().and_then(|e| e.variables()).cloned().unwrap_or_default()
}

fn version(version: &Option<String>) -> u64 {
    version.as_deref().and_then(|v| v.parse().ok()).unwrap_or_else(|| panic!("a numbered version, not {version:?}"))
}
