//! A recording, fault-injecting HTTP proxy between an AWS SDK client and moto, so tests can see
//! exactly which Lambda operations ran (with which Qualifier and RevisionId) and make chosen
//! calls fail, stall, lose their connection, or race with a third party.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use super::http::{self, Request, Response};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// "GetPolicy", "AddPermission", "PutEvents", … or "METHOD path" when not recognised.
    pub operation: String,
    pub method: String,
    pub path: String,
    pub query: String,
    /// URL-decoded FunctionName from a Lambda path.
    pub function: Option<String>,
    pub qualifier: Option<String>,
    /// From the query string, or the JSON body for AddPermission.
    pub revision_id: Option<String>,
    /// From the path for RemovePermission, the JSON body for AddPermission.
    pub statement_id: Option<String>,
    pub body: String,
    /// The injected action, if a fault rule hit this call.
    pub fault: Option<Action>,
    /// Status sent back to the client; None while in flight or if the connection was dropped.
    pub status: Option<u16>,
}

/// Which calls of the rule's operation it hits, counted from when the rule was injected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hit {
    /// Only the n-th call (1-based).
    Nth(usize),
    /// The next k calls.
    Next(usize),
    Always,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Answer with a Lambda-style error instead of forwarding.
    Error {
        status: u16,
        error_type: String,
        message: String,
    },
    /// Answer 200 with this JSON body instead of forwarding (e.g. a PutEvents partial failure).
    Respond(serde_json::Value),
    /// Forward after a pause.
    Delay(Duration),
    /// Close the connection without answering.
    Drop,
}

#[derive(Debug, Clone)]
pub struct Fault {
    pub operation: String,
    pub hit: Hit,
    pub action: Action,
}

impl Fault {
    pub fn new(operation: &str, hit: Hit, action: Action) -> Fault {
        Fault {
            operation: operation.to_string(),
            hit,
            action,
        }
    }
    pub fn error(operation: &str, hit: Hit, status: u16, error_type: &str) -> Fault {
        let message = format!("injected {error_type} for {operation}");
        let action = Action::Error {
            status,
            error_type: error_type.to_string(),
            message,
        };
        Fault::new(operation, hit, action)
    }
    pub fn throttle(operation: &str, hit: Hit) -> Fault {
        Fault::error(operation, hit, 429, "TooManyRequestsException")
    }
    pub fn service_error(operation: &str, hit: Hit) -> Fault {
        Fault::error(operation, hit, 500, "ServiceException")
    }
    pub fn precondition_failed(operation: &str, hit: Hit) -> Fault {
        Fault::error(operation, hit, 412, "PreconditionFailedException")
    }
    pub fn conflict(operation: &str, hit: Hit) -> Fault {
        Fault::error(operation, hit, 409, "ResourceConflictException")
    }
    pub fn policy_too_long(operation: &str, hit: Hit) -> Fault {
        Fault::error(operation, hit, 400, "PolicyLengthExceededException")
    }
    pub fn delay(operation: &str, hit: Hit, ms: u64) -> Fault {
        Fault::new(operation, hit, Action::Delay(Duration::from_millis(ms)))
    }
    pub fn drop_connection(operation: &str, hit: Hit) -> Fault {
        Fault::new(operation, hit, Action::Drop)
    }
}

type BoxHook = Box<dyn FnOnce() -> Pin<Box<dyn Future<Output = ()> + Send>> + Send>;

struct Rule {
    fault: Fault,
    seen: usize,
}

struct HookRule {
    operation: String,
    nth: usize,
    seen: usize,
    run: Option<BoxHook>,
}

#[derive(Default)]
struct State {
    calls: Vec<Call>,
    rules: Vec<Rule>,
    hooks: Vec<HookRule>,
}

pub struct Proxy {
    /// "http://127.0.0.1:PORT", for `endpoint_url`.
    pub endpoint: String,
    state: Arc<Mutex<State>>,
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Proxy {
    /// Serves on the calling tokio runtime until that runtime shuts down.
    pub async fn start(upstream_endpoint: &str) -> Proxy {
        let state = Arc::new(Mutex::new(State::default()));
        let upstream = http::host_port(upstream_endpoint).to_string();
        let shared = Arc::clone(&state);
        let addr =
            http::spawn_server(move |req| handle(Arc::clone(&shared), upstream.clone(), req)).await;
        Proxy {
            endpoint: format!("http://{addr}"),
            state,
        }
    }

    pub fn calls(&self) -> Vec<Call> {
        lock(&self.state).calls.clone()
    }

    pub fn calls_of(&self, operation: &str) -> Vec<Call> {
        self.calls()
            .into_iter()
            .filter(|c| c.operation == operation)
            .collect()
    }

    pub fn operations(&self) -> Vec<String> {
        self.calls().into_iter().map(|c| c.operation).collect()
    }

    /// Forgets recorded calls; rules and hooks keep their counters.
    pub fn clear(&self) {
        lock(&self.state).calls.clear();
    }

    pub fn inject(&self, fault: Fault) {
        lock(&self.state).rules.push(Rule { fault, seen: 0 });
    }

    pub fn clear_faults(&self) {
        let mut state = lock(&self.state);
        state.rules.clear();
        state.hooks.clear();
    }

    /// Runs `hook` to completion just before the `nth` (1-based, counted from now) call of
    /// `operation` is forwarded, e.g. to land a third party's change between two of ours.
    pub fn before_forward<F, Fut>(&self, operation: &str, nth: usize, hook: F)
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let run: BoxHook = Box::new(move || Box::pin(hook()));
        let rule = HookRule {
            operation: operation.to_string(),
            nth,
            seen: 0,
            run: Some(run),
        };
        lock(&self.state).hooks.push(rule);
    }
}

async fn handle(state: Arc<Mutex<State>>, upstream: String, req: Request) -> Option<Response> {
    let mut call = describe(&req);
    let (index, action, hook) = {
        let mut st = lock(&state);
        let mut action = None;
        for rule in st
            .rules
            .iter_mut()
            .filter(|r| r.fault.operation == call.operation)
        {
            rule.seen += 1;
            let hit = match rule.fault.hit {
                Hit::Nth(n) => rule.seen == n,
                Hit::Next(k) => rule.seen <= k,
                Hit::Always => true,
            };
            if hit && action.is_none() {
                action = Some(rule.fault.action.clone());
            }
        }
        let mut hook = None;
        for h in st
            .hooks
            .iter_mut()
            .filter(|h| h.operation == call.operation)
        {
            h.seen += 1;
            if h.seen == h.nth && hook.is_none() {
                hook = h.run.take();
            }
        }
        call.fault = action.clone();
        st.calls.push(call.clone());
        (st.calls.len() - 1, action, hook)
    };
    if let Some(hook) = hook {
        hook().await;
    }
    let resp = match action {
        Some(Action::Drop) => None,
        Some(Action::Error {
            status,
            error_type,
            message,
        }) => {
            let mut body = serde_json::json!({"Type": "User", "message": message});
            if req.header("x-amz-target").is_some() {
                body["__type"] = error_type.clone().into(); // JSON-1.1 services carry it here
            }
            let resp = Response::json(status, &body)
                .with_header("x-amzn-errortype", &error_type)
                .with_header("x-amzn-RequestId", "00000000-0000-0000-0000-000000000000");
            Some(resp)
        }
        Some(Action::Respond(body)) => Some(Response::json(200, &body)),
        Some(Action::Delay(pause)) => {
            tokio::time::sleep(pause).await;
            Some(dispatch(&upstream, &req, &call).await)
        }
        None => Some(dispatch(&upstream, &req, &call).await),
    };
    // A clear() during the call may have removed the entry; only update it if it is still ours.
    let mut st = lock(&state);
    if let Some(entry) = st.calls.get_mut(index).filter(|c| **c == call) {
        entry.status = resp.as_ref().map(|r| r.status);
    }
    resp
}

/// Policy mutations are checked and applied one at a time, as Lambda does per function, so
/// the checks below cannot interleave.
static MUTATIONS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn dispatch(upstream: &str, req: &Request, call: &Call) -> Response {
    match call.operation.as_str() {
        "RemovePermission" => {
            let _one_at_a_time = MUTATIONS.lock().await;
            remove_permission(upstream, req, call.revision_id.as_deref()).await
        }
        "AddPermission" => {
            let _one_at_a_time = MUTATIONS.lock().await;
            add_permission(upstream, req).await
        }
        _ => forward(upstream, req).await,
    }
}

/// moto 5.2.5 accepts a StatementId that exists already; Lambda answers 409
/// ResourceConflictException. The proxy answers as Lambda does.
async fn add_permission(upstream: &str, req: &Request) -> Response {
    let body: serde_json::Value = serde_json::from_slice(&req.body).unwrap_or_default();
    if let Some(sid) = body.get("StatementId").and_then(|s| s.as_str()) {
        let get = Request {
            method: "GET".into(),
            target: req.target.clone(),
            headers: req.headers.clone(),
            body: vec![],
        };
        let current = forward(upstream, &get).await;
        let policy: serde_json::Value = serde_json::from_slice(&current.body).unwrap_or_default();
        let doc: serde_json::Value = policy
            .get("Policy")
            .and_then(|p| p.as_str())
            .and_then(|p| serde_json::from_str(p).ok())
            .unwrap_or_default();
        let exists = doc
            .get("Statement")
            .and_then(|s| s.as_array())
            .is_some_and(|all| {
                all.iter()
                    .any(|st| st.get("Sid").and_then(|x| x.as_str()) == Some(sid))
            });
        if exists {
            let message = format!(
                "The statement id ({sid}) provided already exists. Please provide a new statement id, or remove the existing statement."
            );
            return Response::json(
                409,
                &serde_json::json!({"Type": "User", "message": message}),
            )
            .with_header("x-amzn-errortype", "ResourceConflictException");
        }
    }
    forward(upstream, req).await
}

async fn forward(upstream: &str, req: &Request) -> Response {
    match http::send(upstream, req).await {
        Ok(resp) => resp,
        Err(e) => Response::new(502, format!("proxy: upstream {upstream} failed: {e}")),
    }
}

/// Makes moto 5.2.5's RemovePermission behave like Lambda's: moto compares the RevisionId as a
/// list against a string, so refuses every one with 412, and it does not change the revision when
/// a statement goes. So the proxy checks the RevisionId itself, forwards without it, and then
/// bumps the revision by adding and removing a placeholder statement.
async fn remove_permission(upstream: &str, req: &Request, revision: Option<&str>) -> Response {
    let policy_path = req
        .path()
        .rsplit_once('/')
        .map_or("", |(p, _)| p)
        .to_string();
    let upstream_req = |method: &str, target: String, body: Vec<u8>| Request {
        method: method.into(),
        target,
        headers: req.headers.clone(),
        body,
    };
    if let Some(revision) = revision {
        let current = forward(upstream, &upstream_req("GET", policy_path.clone(), vec![])).await;
        let stored: Option<serde_json::Value> = serde_json::from_slice(&current.body).ok();
        let stored = stored
            .as_ref()
            .and_then(|p| p.get("RevisionId"))
            .and_then(|r| r.as_str());
        if current.status == 200 && stored != Some(revision) {
            let message = "The RevisionId provided does not match the latest RevisionId.";
            return Response::json(
                412,
                &serde_json::json!({"Type": "User", "message": message}),
            )
            .with_header("x-amzn-errortype", "PreconditionFailedException");
        }
    }
    let kept: Vec<&str> = req
        .query()
        .split('&')
        .filter(|kv| !kv.is_empty() && !kv.starts_with("RevisionId="))
        .collect();
    let target = match kept.is_empty() {
        true => req.path().to_string(),
        false => format!("{}?{}", req.path(), kept.join("&")),
    };
    let resp = forward(upstream, &upstream_req("DELETE", target, vec![])).await;
    if (200..300).contains(&resp.status) {
        let sid = "invokeguard-proxy-revision-bump";
        let add = serde_json::json!({"StatementId": sid, "Action": "lambda:GetFunction",
                                     "Principal": "events.amazonaws.com"});
        let add = upstream_req("POST", policy_path.clone(), add.to_string().into_bytes());
        forward(upstream, &add).await;
        forward(
            upstream,
            &upstream_req("DELETE", format!("{policy_path}/{sid}"), vec![]),
        )
        .await;
    }
    resp
}

fn describe(req: &Request) -> Call {
    let path = req.path().to_string();
    let body_json: Option<serde_json::Value> = serde_json::from_slice(&req.body).ok();
    let body_field = |name: &str| {
        body_json
            .as_ref()
            .and_then(|b| b.get(name))
            .and_then(|v| v.as_str())
            .map(str::to_string)
    };
    let segments: Vec<String> = path
        .trim_matches('/')
        .split('/')
        .map(http::url_decode)
        .collect();
    let segs: Vec<&str> = segments.iter().map(String::as_str).collect();
    let method = req.method.as_str();
    let (lambda_op, function, sid) = match (method, segs.as_slice()) {
        ("GET", ["2015-03-31", "functions"]) => ("ListFunctions", None, None),
        ("POST", ["2015-03-31", "functions"]) => ("CreateFunction", None, None),
        ("GET", ["2015-03-31", "functions", f]) => ("GetFunction", Some(*f), None),
        ("DELETE", ["2015-03-31", "functions", f]) => ("DeleteFunction", Some(*f), None),
        ("GET", ["2015-03-31", "functions", f, "policy"]) => ("GetPolicy", Some(*f), None),
        ("POST", ["2015-03-31", "functions", f, "policy"]) => ("AddPermission", Some(*f), None),
        ("DELETE", ["2015-03-31", "functions", f, "policy", sid]) => {
            ("RemovePermission", Some(*f), Some(sid.to_string()))
        }
        ("GET", ["2015-03-31", "functions", f, "configuration"]) => {
            ("GetFunctionConfiguration", Some(*f), None)
        }
        ("POST", ["2015-03-31", "functions", f, "versions"]) => ("PublishVersion", Some(*f), None),
        ("GET", ["2015-03-31", "functions", f, "versions"]) => {
            ("ListVersionsByFunction", Some(*f), None)
        }
        ("POST", ["2015-03-31", "functions", f, "aliases"]) => ("CreateAlias", Some(*f), None),
        ("GET", ["2015-03-31", "functions", f, "aliases"]) => ("ListAliases", Some(*f), None),
        ("GET", ["2015-03-31", "functions", f, "aliases", _]) => ("GetAlias", Some(*f), None),
        ("POST", ["2015-03-31", "functions", f, "invocations"]) => ("Invoke", Some(*f), None),
        _ => ("", None, None),
    };
    let operation = if let Some(target) = req.header("x-amz-target") {
        target.rsplit('.').next().unwrap_or(target).to_string()
    } else if lambda_op.is_empty() {
        format!("{method} {path}")
    } else {
        lambda_op.to_string()
    };
    let is_add = operation == "AddPermission";
    Call {
        method: req.method.clone(),
        query: req.query().to_string(),
        function: function.map(str::to_string),
        qualifier: req.query_param("Qualifier"),
        revision_id: if is_add {
            body_field("RevisionId")
        } else {
            req.query_param("RevisionId")
        },
        statement_id: if is_add {
            body_field("StatementId")
        } else {
            sid
        },
        body: String::from_utf8_lossy(&req.body).into_owned(),
        fault: None,
        status: None,
        operation,
        path,
    }
}
