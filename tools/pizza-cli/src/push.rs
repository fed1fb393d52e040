//! `pizza push`: a new build of one function onto the deployed stack with
//! `cargo lambda deploy`, under the name, role and environment the template gave it. The
//! quick loop of changing one function without a whole `sam deploy` then never leaves the
//! function configured differently from its template (only the overrides asked for).

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};

use local_runner::manifest::{Function, Manifest};
use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error("the stack has no function {0:?} (give a logical id such as ApiFunction, or a binary such as api)")]
    UnknownFunction(String),
    #[error("an override must read KEY=VALUE, not {0:?}")]
    BadOverride(String),
    #[error("cannot write the environment file {path}: {source}")]
    EnvFile { path: PathBuf, source: std::io::Error },
    #[error("cannot run `cargo lambda` (`make build` installs it into .venv/bin; put that on the PATH): {0}")]
    Spawn(std::io::Error),
    #[error("`cargo lambda deploy` failed ({status}):\n{stderr}")]
    Failed { status: ExitStatus, stderr: String },
    #[error("`cargo lambda deploy` printed {output:?}, which is not its JSON report: {source}")]
    Report { output: String, source: serde_json::Error },
}

/// The code to upload.
#[derive(Debug, Clone, Copy)]
pub enum Code<'a> {
    /// What `cargo lambda build` left for the function's binary (`make build`).
    LambdaBuild,
    /// A binary already built for the function's architecture.
    Binary(&'a Path),
}

/// What `cargo lambda deploy -o json` reports.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Pushed {
    pub function_arn: String,
    #[serde(default)]
    pub version: Option<String>,
}

/// The stack's function by logical id (`ApiFunction`) or binary (`api`).
pub fn find<'m>(manifest: &'m Manifest, name: &str) -> Result<&'m Function, PushError> {
    manifest
        .functions
        .iter()
        .find(|f| f.logical_id == name || f.binary == name || f.name == name)
        .ok_or_else(|| PushError::UnknownFunction(name.to_owned()))
}

/// Parses `KEY=VALUE` overrides of the template's environment.
pub fn parse_overrides(pairs: &[String]) -> Result<BTreeMap<String, String>, PushError> {
    pairs
        .iter()
        .map(|pair| match pair.split_once('=') {
            Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), value.to_owned())),
            _ => Err(PushError::BadOverride(pair.clone())),
        })
        .collect()
}

/// The environment the function is deployed with: the template's, then the overrides.
pub fn environment(function: &Function, overrides: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let mut environment = function.environment.clone();
    environment.extend(overrides.iter().map(|(k, v)| (k.clone(), v.clone())));
    environment
}

/// Runs `cargo lambda deploy` for `function` from `workspace` and returns its report.
pub fn cargo_lambda_deploy(
    manifest: &Manifest,
    function: &Function,
    code: Code<'_>,
    overrides: &BTreeMap<String, String>,
    workspace: &Path,
) -> Result<Pushed, PushError> {
    // An env file rather than --env-var: the latter splits its value at commas.
    let env_file = std::env::temp_dir().join(format!("pizza-push-{}.env", uuid::Uuid::new_v4()));
    write_env_file(&env_file, &environment(function, overrides))?;
    let mut command = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo")));
    command
        .current_dir(workspace)
        .args(["lambda", "deploy", "--output-format", "json", "--region", &manifest.region])
        .arg("--env-file")
        .arg(&env_file)
        .args(["--timeout", &function.timeout_seconds.to_string()])
        .args(["--memory", &function.memory_mb.to_string()]);
    if !function.role.is_empty() {
        command.args(["--role", &function.role]);
    }
    if let Some(endpoint) = lambda_endpoint(manifest) {
        command.args(["--endpoint-url", &endpoint]);
    }
    match code {
        Code::LambdaBuild => command.args(["--binary-name", &function.binary]),
        Code::Binary(path) => command.arg("--binary-path").arg(path),
    };
    command.arg(&function.name);
    let output = command.output();
    let _ = std::fs::remove_file(&env_file);
    let output = output.map_err(PushError::Spawn)?;
    if !output.status.success() {
        return Err(PushError::Failed {
            status: output.status,
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        });
    }
    report(&String::from_utf8_lossy(&output.stdout))
}

/// Reads the JSON report, which follows the progress lines when stdout is not a terminal.
fn report(stdout: &str) -> Result<Pushed, PushError> {
    let json = stdout.find("\n{").map_or(stdout, |at| &stdout[at + 1..]);
    serde_json::from_str(json.trim()).map_err(|source| PushError::Report { output: stdout.to_owned(), source })
}

/// Where the Lambda API is, by the SDKs' own precedence; `None` is AWS itself.
fn lambda_endpoint(manifest: &Manifest) -> Option<String> {
    ["AWS_ENDPOINT_URL_LAMBDA", "AWS_ENDPOINT_URL"]
        .iter()
        .filter_map(|name| std::env::var(name).ok())
        .chain(std::iter::once(manifest.endpoint_url.clone()))
        .find(|url| !url.is_empty())
}

fn write_env_file(path: &Path, environment: &BTreeMap<String, String>) -> Result<(), PushError> {
    let write = || -> std::io::Result<()> {
        let mut file = std::fs::File::create(path)?;
        for (key, value) in environment {
            writeln!(file, "{key}={value}")?;
        }
        Ok(())
    };
    write().map_err(|source| PushError::EnvFile { path: path.to_owned(), source })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn function(environment: &[(&str, &str)]) -> Function {
        serde_json::from_value(serde_json::json!({
            "logical_id": "ApiFunction", "name": "shop-ApiFunction-1", "binary": "api",
            "timeout_seconds": 10, "memory_mb": 128, "reserved_concurrency": null,
            "environment": environment.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<BTreeMap<_, _>>(),
            "event_sources": [],
        }))
        .expect("a function")
    }

    #[test]
    fn overrides_replace_and_add_to_the_templates_environment() {
        let overrides = parse_overrides(&["LOG_LEVEL=DEBUG".into(), "EXTRA=a=b,c".into()]).expect("overrides");
        let environment = environment(&function(&[("LOG_LEVEL", "INFO"), ("ORDERS_TABLE", "orders")]), &overrides);
        let expected: BTreeMap<String, String> =
            [("EXTRA", "a=b,c"), ("LOG_LEVEL", "DEBUG"), ("ORDERS_TABLE", "orders")]
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
        assert_eq!(environment, expected);
    }

    #[test]
    fn the_report_is_read_after_the_progress_lines() {
        let stdout = concat!(
            "▹▹▹▹▹ loading binary data\n▹▹▹▹▹ deploying function\n",
            "{\n  \"function_arn\": \"arn:aws:lambda:us-east-1:1:function:f:2\",\n  \"version\": \"2\"\n}\n",
        );
        let pushed = report(stdout).expect("a report");
        assert_eq!(pushed.function_arn, "arn:aws:lambda:us-east-1:1:function:f:2");
        assert_eq!(pushed.version.as_deref(), Some("2"));
        assert!(report("{\"function_arn\": \"f\"}").is_ok(), "a report alone is read too");
        assert!(matches!(report("▹▹▹▹▹ deploying function\n"), Err(PushError::Report { .. })));
    }

    #[test]
    fn an_override_without_a_key_is_refused() {
        assert!(matches!(parse_overrides(&["=x".into()]), Err(PushError::BadOverride(_))));
        assert!(matches!(parse_overrides(&["LOG_LEVEL".into()]), Err(PushError::BadOverride(_))));
    }
}
