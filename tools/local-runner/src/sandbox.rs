//! A sandbox: one Lambda execution environment, the function's own binary, started as a child process
//! with the environment Lambda gives it and a Runtime API of its own. It runs one
//! invocation at a time and is thrown away when it crashes or overruns its timeout.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::{broadcast, oneshot};

use crate::manifest::Function;
use crate::runtime_api::{Init, Invocation, Reply, RuntimeApi};

/// A line a function process wrote, for whoever watches the runner.
#[derive(Debug, Clone)]
pub struct LogLine {
    pub function: String,
    pub line: String,
}

/// Why an invocation has no reply.
#[derive(Debug, thiserror::Error)]
pub enum InvokeError {
    #[error("the function process exited during the invocation ({0})")]
    Crashed(String),
    #[error("the function did not answer within its {0:?} timeout")]
    TimedOut(Duration),
    #[error("the function could not start: {0}")]
    InitFailed(String),
}

/// What a new environment is started with.
pub struct Spawn<'a> {
    pub function: &'a Function,
    pub binary: PathBuf,
    pub region: &'a str,
    /// Set over what the stack says, as `sam local --env-vars` does.
    pub extra_environment: &'a [(String, String)],
    /// `PIZZA_FAULTS` for this process, when a chaos run arms it.
    pub faults: Option<String>,
    pub logs: broadcast::Sender<LogLine>,
    pub echo_logs: bool,
}

pub struct Sandbox {
    api: RuntimeApi,
    child: Child,
    pub started: Instant,
    /// How long the process took from start to asking for its first event.
    pub init_duration: Option<Duration>,
    pub pid: Option<u32>,
}

impl Sandbox {
    pub async fn spawn(spec: Spawn<'_>) -> Result<Self, InvokeError> {
        let api = RuntimeApi::start().await.map_err(|e| InvokeError::InitFailed(e.to_string()))?;
        let function = spec.function;
        let mut command = Command::new(&spec.binary);
        command
            .env_clear()
            .envs(passthrough())
            // Names the function in its SDKs' user agent (`app/<name>`), so a meter in front
            // of the endpoint can tell whose request it sees.
            .env("AWS_SDK_UA_APP_ID", &function.logical_id)
            .envs(&function.environment)
            .envs(spec.extra_environment.iter().map(|(k, v)| (k, v)))
            .env("AWS_LAMBDA_RUNTIME_API", api.addr.to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", &function.name)
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", function.memory_mb.to_string())
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{}", function.name))
            .env("AWS_LAMBDA_LOG_STREAM_NAME", uuid::Uuid::new_v4().to_string())
            .env("AWS_REGION", spec.region)
            .env("AWS_DEFAULT_REGION", spec.region)
            .env("LAMBDA_TASK_ROOT", spec.binary.parent().unwrap_or(Path::new(".")))
            .env_remove("PIZZA_FAULTS")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        if let Some(faults) = &spec.faults {
            command.env("PIZZA_FAULTS", faults);
        }
        die_with_the_runner(&mut command);
        let started = Instant::now();
        let mut child = command.spawn().map_err(|e| {
            InvokeError::InitFailed(format!(
                "cannot start {} (build it: `cargo build --bins`): {e}",
                spec.binary.display()
            ))
        })?;
        for stream in [child.stdout.take().map(box_reader), child.stderr.take().map(box_reader)].into_iter().flatten() {
            tokio::spawn(forward_lines(stream, function.logical_id.clone(), spec.logs.clone(), spec.echo_logs));
        }
        let pid = child.id();
        Ok(Self { api, child, started, init_duration: None, pid })
    }

    /// Hands the process one event and waits for its answer, its death or its timeout.
    pub async fn invoke(
        &mut self,
        payload: Bytes,
        trace_header: Option<String>,
        function_arn: &str,
        timeout: Duration,
    ) -> Result<Reply, InvokeError> {
        let (taken_tx, taken) = oneshot::channel();
        let (reply_tx, reply) = oneshot::channel();
        let invocation = Invocation {
            request_id: uuid::Uuid::new_v4().to_string(),
            payload,
            deadline: SystemTime::now() + timeout,
            function_arn: function_arn.to_owned(),
            trace_header,
            taken: taken_tx,
            reply: reply_tx,
        };
        if self.api.invocations.send(invocation).await.is_err() {
            return Err(InvokeError::Crashed("its runtime API closed".into()));
        }
        let mut init = self.api.init.clone();
        // Wait for the process to take the event: its init time does not count against the
        // invocation's timeout, as on Lambda (up to a 10-second init).
        let took = tokio::select! {
            took = taken => took.is_ok(),
            status = self.child.wait() => return Err(InvokeError::Crashed(describe_exit(status))),
            _ = init.wait_for(|i| matches!(i, Init::Failed(_))) => {
                let reason = match &*self.api.init.borrow() { Init::Failed(r) => r.clone(), _ => String::new() };
                return Err(InvokeError::InitFailed(reason));
            }
            _ = tokio::time::sleep(Duration::from_secs(10)) => {
                return Err(InvokeError::InitFailed("no request for an event within 10 s".into()));
            }
        };
        if self.init_duration.is_none()
            && let Init::Ready(at) = *self.api.init.borrow()
        {
            self.init_duration = Some(at.duration_since(self.started));
        }
        if !took {
            return Err(InvokeError::Crashed("the event was dropped".into()));
        }
        tokio::select! {
            reply = reply => reply.map_err(|_| InvokeError::Crashed("no reply".into())),
            status = self.child.wait() => Err(InvokeError::Crashed(describe_exit(status))),
            _ = tokio::time::sleep(timeout) => Err(InvokeError::TimedOut(timeout)),
        }
    }

    /// Peak resident memory of the process so far, in KiB (Linux only).
    pub fn peak_memory_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid?)).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
        line.split_whitespace().nth(1)?.parse().ok()
    }

    pub async fn kill(mut self) {
        let _ = self.child.kill().await;
    }
}

/// What a function inherits from the runner: credentials, endpoints, log settings. Lambda
/// gives its functions the role's credentials the same way.
fn passthrough() -> Vec<(String, String)> {
    std::env::vars()
        .filter(|(name, _)| {
            name.starts_with("AWS_") || name.starts_with("RUST_") || name == "PATH" || name == "HOME" || name == "TZ"
        })
        .collect()
}

type BoxedLines = Box<dyn tokio::io::AsyncRead + Unpin + Send>;

fn box_reader(stream: impl tokio::io::AsyncRead + Unpin + Send + 'static) -> BoxedLines {
    Box::new(stream)
}

async fn forward_lines(stream: BoxedLines, function: String, logs: broadcast::Sender<LogLine>, echo: bool) {
    let mut lines = BufReader::new(stream).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if echo {
            eprintln!("{function} | {line}");
        }
        let _ = logs.send(LogLine { function: function.clone(), line });
    }
}

fn describe_exit(status: std::io::Result<std::process::ExitStatus>) -> String {
    match status {
        Ok(status) => {
            #[cfg(unix)]
            {
                use std::os::unix::process::ExitStatusExt;
                if let Some(signal) = status.signal() {
                    return format!("killed by signal {signal}");
                }
            }
            status.to_string()
        }
        Err(err) => err.to_string(),
    }
}

/// A function process must not outlive the runner, even when the runner is killed.
fn die_with_the_runner(command: &mut Command) {
    #[cfg(target_os = "linux")]
    // SAFETY: prctl is async-signal-safe and touches only the child being set up.
    unsafe {
        command.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    #[cfg(not(target_os = "linux"))]
    let _ = command;
}
