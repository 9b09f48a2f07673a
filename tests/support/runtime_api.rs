//! A Lambda Runtime API (2018-06-01) endpoint, so the real `invokeguard-lambda` binary can run
//! as a Lambda would: it long-polls for events and posts back responses or errors.
//! Use one `RuntimeApi` per spawned process: a killed process's pending /next poll would
//! otherwise still be waiting to take the next event.

use std::collections::{HashMap, VecDeque};
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::sync::{Notify, oneshot, watch};

use super::http::{self, Request, Response};

pub const FUNCTION_ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function:invokeguard";
const PREFIX: &str = "/2018-06-01/runtime/";

#[derive(Debug, Clone)]
pub struct Invocation {
    pub request_id: String,
    /// The posted response body, or the posted error body; JSON when it parses, else a string.
    pub outcome: Result<Value, Value>,
}

type Outcome = Result<Value, Value>;

/// The deadline an invocation gets unless queued with `invoke_with_deadline`.
const DEFAULT_DEADLINE: Duration = Duration::from_secs(30);

#[derive(Default)]
struct Inner {
    /// (request id, event, time the invocation gets from when it is handed out).
    queue: VecDeque<(String, Vec<u8>, Duration)>,
    pending: HashMap<String, oneshot::Sender<Outcome>>,
    next_seen: usize,
    init_error: Option<Value>,
    invocations: u64,
}

struct Shared {
    inner: Mutex<Inner>,
    queued: Notify,
    first_next: watch::Sender<Option<Instant>>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

pub struct RuntimeApi {
    /// "127.0.0.1:PORT", the form AWS_LAMBDA_RUNTIME_API takes.
    pub addr: String,
    shared: Arc<Shared>,
}

fn parse_body(body: &[u8]) -> Value {
    serde_json::from_slice(body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()))
}

impl RuntimeApi {
    /// Serves on the calling tokio runtime until that runtime shuts down.
    pub async fn start() -> RuntimeApi {
        let shared = Arc::new(Shared {
            inner: Mutex::new(Inner::default()),
            queued: Notify::new(),
            first_next: watch::channel(None).0,
        });
        let for_server = Arc::clone(&shared);
        let addr = http::spawn_server(move |req| {
            let shared = Arc::clone(&for_server);
            async move { Some(handle(&shared, req).await) }
        })
        .await;
        RuntimeApi { addr, shared }
    }

    /// Queues `event` and waits (up to 60 s, then panics) for the runtime to answer it.
    pub async fn invoke(&self, event: Value) -> Invocation {
        self.invoke_within(event, Duration::from_secs(60))
            .await
            .unwrap_or_else(|| panic!("no answer from the Lambda runtime within 60 s"))
    }

    pub async fn invoke_within(&self, event: Value, timeout: Duration) -> Option<Invocation> {
        self.invoke_with_deadline(event, DEFAULT_DEADLINE, timeout)
            .await
    }

    /// Like `invoke_within`, but the invocation's deadline is `deadline` after the runtime
    /// takes the event (instead of 30 s), as a longer Lambda timeout would give it.
    pub async fn invoke_with_deadline(
        &self,
        event: Value,
        deadline: Duration,
        timeout: Duration,
    ) -> Option<Invocation> {
        let (tx, rx) = oneshot::channel();
        let request_id = {
            let mut inner = self.shared.lock();
            inner.invocations += 1;
            let id = format!("00000000-0000-4000-8000-{:012}", inner.invocations);
            inner.pending.insert(id.clone(), tx);
            inner
                .queue
                .push_back((id.clone(), event.to_string().into_bytes(), deadline));
            id
        };
        self.shared.queued.notify_one();
        let outcome = tokio::time::timeout(timeout, rx).await.ok()?.ok()?;
        Some(Invocation {
            request_id,
            outcome,
        })
    }

    pub fn next_requests_seen(&self) -> usize {
        self.shared.lock().next_seen
    }

    /// When the first /next arrived: the end of the runtime's init phase.
    pub async fn wait_first_next(&self, timeout: Duration) -> Option<Instant> {
        let mut rx = self.shared.first_next.subscribe();
        let seen = tokio::time::timeout(timeout, rx.wait_for(Option::is_some))
            .await
            .ok()?
            .ok()?;
        *seen
    }

    pub fn init_error(&self) -> Option<Value> {
        self.shared.lock().init_error.clone()
    }
}

async fn handle(shared: &Shared, req: Request) -> Response {
    let accepted = Response::json(202, &serde_json::json!({"status": "OK"}));
    let path = req
        .path()
        .strip_prefix(PREFIX)
        .unwrap_or_default()
        .to_string();
    let parts: Vec<&str> = path.split('/').collect();
    match (req.method.as_str(), parts.as_slice()) {
        ("GET", ["invocation", "next"]) => next_event(shared).await,
        ("POST", ["invocation", id, kind @ ("response" | "error")]) => {
            let Some(tx) = shared.lock().pending.remove(*id) else {
                return Response::json(400, &serde_json::json!({"errorType": "InvalidRequestID"}));
            };
            let body = parse_body(&req.body);
            let _ = tx.send(if *kind == "response" {
                Ok(body)
            } else {
                Err(body)
            });
            accepted
        }
        ("POST", ["init", "error"]) => {
            shared.lock().init_error = Some(parse_body(&req.body));
            accepted
        }
        _ => Response::new(
            404,
            format!("runtime api: no route for {} {}", req.method, req.target),
        ),
    }
}

async fn next_event(shared: &Shared) -> Response {
    {
        shared.lock().next_seen += 1;
        let now = Instant::now();
        shared
            .first_next
            .send_if_modified(|first| first.is_none() && first.replace(now).is_none());
    }
    let (id, body, deadline) = loop {
        if let Some(event) = shared.lock().queue.pop_front() {
            break event;
        }
        // notify_one stores a permit, so an event queued right after the check is not missed.
        shared.queued.notified().await;
    };
    let deadline = SystemTime::now() + deadline;
    let deadline_ms = deadline
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis();
    Response::new(200, body)
        .with_header("Content-Type", "application/json")
        .with_header("Lambda-Runtime-Aws-Request-Id", &id)
        .with_header("Lambda-Runtime-Deadline-Ms", &deadline_ms.to_string())
        .with_header("Lambda-Runtime-Invoked-Function-Arn", FUNCTION_ARN)
        .with_header(
            "Lambda-Runtime-Trace-Id",
            "Root=1-00000000-000000000000000000000000;Sampled=0",
        )
}

type Lines = Arc<Mutex<Vec<String>>>;

pub struct LambdaProcess {
    child: tokio::process::Child,
    stdout: Lines,
    stderr: Lines,
    /// The tasks reading the pipes; done once the process closed them.
    readers: Vec<tokio::task::JoinHandle<()>>,
}

fn collect_lines(
    stream: impl AsyncRead + Unpin + Send + 'static,
) -> (Lines, tokio::task::JoinHandle<()>) {
    let lines = Lines::default();
    let sink = Arc::clone(&lines);
    let reader = tokio::spawn(async move {
        let mut reader = BufReader::new(stream).lines();
        while let Ok(Some(line)) = reader.next_line().await {
            sink.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(line);
        }
    });
    (lines, reader)
}

/// Starts `binary` as the function's runtime with a clean environment: PATH, the Lambda
/// variables below, then `env` (which may override them).
pub fn spawn_lambda(binary: &Path, api: &RuntimeApi, env: &[(String, String)]) -> LambdaProcess {
    let mut cmd = tokio::process::Command::new(binary);
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("AWS_LAMBDA_RUNTIME_API", &api.addr)
        .env("AWS_LAMBDA_FUNCTION_NAME", "invokeguard")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {}: {e}", binary.display()));
    let (stdout, out_reader) = collect_lines(child.stdout.take().expect("piped stdout"));
    let (stderr, err_reader) = collect_lines(child.stderr.take().expect("piped stderr"));
    LambdaProcess {
        child,
        stdout,
        stderr,
        readers: vec![out_reader, err_reader],
    }
}

impl LambdaProcess {
    pub fn stdout_lines(&self) -> Vec<String> {
        self.stdout
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub fn stderr_lines(&self) -> Vec<String> {
        self.stderr
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// None if still running after `timeout`. Once it exited, every line it wrote is collected.
    pub async fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let status = tokio::time::timeout(timeout, self.child.wait())
            .await
            .ok()?
            .ok()?;
        for reader in self.readers.drain(..) {
            let _ = tokio::time::timeout(timeout, reader).await;
        }
        Some(status)
    }

    /// The process id, for reading its memory figures from /proc.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    pub fn kill(&mut self) {
        let _ = self.child.start_kill();
    }
}

/// A process's peak resident memory (Linux `VmHWM`), 0 when it cannot be read.
pub fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}
