//! A recording, fault-injecting HTTP proxy between an AWS SDK client and moto, so tests can see
//! exactly which Lambda operations ran (with which Qualifier and RevisionId) and make chosen
//! calls fail, stall, lose their connection, or race with a third party.
//!
//! ## Whole-document policies: served by the proxy, not moto
//!
//! moto 5.2.5 has no `PutResourcePolicy`, `GetResourcePolicy` or `DeleteResourcePolicy`
//! (Lambda, 2026: `PUT|GET|DELETE /2026-07-09/resource-policy/{ResourceArn}`), and its
//! AddPermission cannot create Sid-less, Deny or `NotPrincipal` statements. So the proxy serves
//! those three operations itself, following the Lambda API reference, and **takes over** the
//! resource policy of every (function name, qualifier) one of them wrote: from then on it also
//! answers `GetPolicy`, `AddPermission` and `RemovePermission` for that policy from its own
//! copy (statements verbatim as written, a RevisionId of its own, changed by every write), with
//! Lambda's rules: 412 `PreconditionFailedException` on a stale RevisionId, 409
//! `ResourceConflictException` on a duplicate Sid, 404 `ResourceNotFoundException` ("The
//! resource you requested does not exist.") for no policy or no such Sid, 400
//! `PolicyLengthExceededException` past 20 KB. Every other policy stays in moto, as before.
//!
//! - A take-over first checks, against moto, that the function (and qualifier) exists and that
//!   the RevisionId sent is moto's current one, so a document write guarded by a GetPolicy
//!   answered by moto behaves as on Lambda.
//! - Function names may be names, `name:qualifier`, partial ARNs or ARNs (URL-encoded in the
//!   path); the policy is keyed by (name, qualifier), a qualifier given both ways must agree.
//! - AddPermission stores what Lambda stores: `Principal` `"*"`, `{"Service": …}` for a
//!   `*.amazonaws.com`/`*.amazon.com` service, `{"AWS": "arn:aws:iam::ID:root"}` for an account
//!   id, else `{"AWS": …}`; `Resource` the (qualified) function ARN; `SourceArn` as
//!   `ArnLike AWS:SourceArn`, `SourceAccount`, `PrincipalOrgID`, `EventSourceToken` and
//!   `FunctionUrlAuthType` as `StringEquals`, `InvokedViaFunctionUrl` as `Bool`.
//! - Where the reference is silent the proxy chooses, and says so here: RemovePermission of a
//!   Sid that several statements share removes the first; DeleteResourcePolicy of a function
//!   without a policy answers 404; a document must be a JSON object with a non-empty
//!   `Statement`, else 400 `InvalidParameterValueException`; no `PublicPolicyException`.
//! - GetResourcePolicy of a policy not taken over answers what moto's GetPolicy holds.
//! - The moto copy of a taken-over policy is left as it was (moto keeps one policy per function
//!   anyway); read policies back through the proxy, not moto directly.
//!
//! ## ListAliases with a function ARN
//!
//! moto 5.2.5 does not URL-decode the function name of `ListAliases`, so the proxy forwards that
//! path decoded: a hub guard lists a member function's aliases by its ARN, as Lambda allows.
//!
//! Fault rules and hooks apply to these operations like to forwarded ones (by operation name,
//! e.g. `Fault::precondition_failed("PutResourcePolicy", Hit::Nth(1))`): a hit is answered
//! before the proxy's own policy copy is looked at.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};

use super::http::{self, Request, Response};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// "GetPolicy", "AddPermission", "PutResourcePolicy", "PutEvents", … or "METHOD path" when
    /// not recognised.
    pub operation: String,
    pub method: String,
    pub path: String,
    pub query: String,
    /// URL-decoded FunctionName from a Lambda path; the ResourceArn for the resource-policy
    /// operations.
    pub function: Option<String>,
    /// From the query string; for the resource-policy operations, from the ResourceArn.
    pub qualifier: Option<String>,
    /// From the query string, or the JSON body for AddPermission and PutResourcePolicy.
    pub revision_id: Option<String>,
    /// From the path for RemovePermission, the JSON body for AddPermission.
    pub statement_id: Option<String>,
    pub body: String,
    /// The injected action, if a fault rule hit this call.
    pub fault: Option<Action>,
    /// Status sent back to the client; None while in flight or if the connection was dropped.
    pub status: Option<u16>,
    /// When the proxy received the call (for request rates).
    pub at: Instant,
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
    /// Only calls whose body contains this are counted and hit (e.g. one account's role ARN).
    pub body_contains: Option<String>,
}

impl Fault {
    pub fn new(operation: &str, hit: Hit, action: Action) -> Fault {
        Fault {
            operation: operation.to_string(),
            hit,
            action,
            body_contains: None,
        }
    }
    /// The same fault, for calls whose body contains `text` only.
    pub fn when_body_contains(mut self, text: &str) -> Fault {
        self.body_contains = Some(text.to_owned());
        self
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
    /// The resource policies the proxy took over (see the module docs), by (name, qualifier).
    held: HashMap<Key, Held>,
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
            .filter(|r| {
                r.fault
                    .body_contains
                    .as_deref()
                    .is_none_or(|text| call.body.contains(text))
            })
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
            Some(dispatch(&state, &upstream, &req, &call).await)
        }
        None => Some(dispatch(&state, &upstream, &req, &call).await),
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

/// Answers a call that no fault rule answered: from the policies the proxy holds, or moto's.
async fn dispatch(state: &Mutex<State>, upstream: &str, req: &Request, call: &Call) -> Response {
    let op = call.operation.as_str();
    if op == "ListAliases" {
        return forward(upstream, &list_aliases_decoded(req)).await;
    }
    match op {
        "GetResourcePolicy" => return get_resource_policy(state, upstream, req, call).await,
        "PutResourcePolicy" | "DeleteResourcePolicy" => {
            let _one_at_a_time = MUTATIONS.lock().await;
            return write_resource_policy(state, upstream, req, call).await;
        }
        "GetPolicy" | "AddPermission" | "RemovePermission" => {}
        _ => return forward(upstream, req).await,
    }
    let key = match policy_key(call) {
        Ok(key) => key,
        Err(resp) => return resp,
    };
    if op == "GetPolicy" {
        let served = lock(state).held.get(&key).map(Held::get_policy);
        return match served {
            Some(resp) => resp,
            None => forward(upstream, req).await,
        };
    }
    let _one_at_a_time = MUTATIONS.lock().await;
    let taken_over = lock(state).held.contains_key(&key);
    match (op, taken_over) {
        ("AddPermission", true) => held_mut(state, &key, |h| h.add_permission(req)),
        ("RemovePermission", true) => held_mut(state, &key, |h| h.remove_permission(call)),
        ("AddPermission", false) => add_permission(upstream, req).await,
        _ => remove_permission(upstream, req, call.revision_id.as_deref()).await,
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

/// `req` with the FunctionName segment of its path URL-decoded: moto 5.2.5 does not decode that
/// segment of ListAliases (its other Lambda routes do), so a function ARN there, as Lambda takes
/// it and a hub guard sends it, would be "Function not found".
fn list_aliases_decoded(req: &Request) -> Request {
    let query = req.query();
    let path: Vec<String> = req.path().split('/').map(http::url_decode).collect();
    let mut target = path.join("/");
    if !query.is_empty() {
        target = format!("{target}?{query}");
    }
    Request {
        method: req.method.clone(),
        target,
        headers: req.headers.clone(),
        body: req.body.clone(),
    }
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
        ("PUT", ["2026-07-09", "resource-policy", arn]) => ("PutResourcePolicy", Some(*arn), None),
        ("GET", ["2026-07-09", "resource-policy", arn]) => ("GetResourcePolicy", Some(*arn), None),
        ("DELETE", ["2026-07-09", "resource-policy", arn]) => {
            ("DeleteResourcePolicy", Some(*arn), None)
        }
        _ => ("", None, None),
    };
    let operation = if let Some(target) = req.header("x-amz-target") {
        target.rsplit('.').next().unwrap_or(target).to_string()
    } else if lambda_op.is_empty() {
        format!("{method} {path}")
    } else {
        lambda_op.to_string()
    };
    let in_body = operation == "AddPermission" || operation == "PutResourcePolicy";
    let is_add = operation == "AddPermission";
    let on_resource_arn = operation.ends_with("ResourcePolicy") && function.is_some();
    Call {
        method: req.method.clone(),
        query: req.query().to_string(),
        function: function.map(str::to_string),
        qualifier: match (on_resource_arn, function) {
            (true, Some(arn)) => split_function(arn).1,
            _ => req.query_param("Qualifier"),
        },
        revision_id: if in_body {
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
        at: Instant::now(),
        operation,
        path,
    }
}

// ---- The resource policies the proxy serves itself (see the module docs) ----

/// (function name, qualifier).
type Key = (String, Option<String>);

/// Lambda's limit on the size of a resource policy.
const MAX_POLICY_BYTES: usize = 20 * 1024;

const REQUEST_ID: &str = "00000000-0000-0000-0000-000000000000";

/// A resource policy the proxy took over from moto.
struct Held {
    /// The function's ARN, qualified for an alias or version: the `Resource` AddPermission stores.
    resource_arn: String,
    /// The document as last written (PutResourcePolicy's text verbatim); None: no policy.
    policy: Option<String>,
    revision_id: String,
}

static REVISIONS: AtomicU64 = AtomicU64::new(1);

/// A fresh RevisionId, shaped like Lambda's (a UUID) and unique within the test binary.
fn new_revision_id() -> String {
    let n = REVISIONS.fetch_add(1, Ordering::Relaxed);
    format!("1ee7c0de-0000-4000-8000-{n:012x}")
}

fn lambda_error(status: u16, error_type: &str, message: &str) -> Response {
    Response::json(status, &json!({"Type": "User", "message": message}))
        .with_header("x-amzn-errortype", error_type)
        .with_header("x-amzn-RequestId", REQUEST_ID)
}

fn lambda_ok(status: u16, body: &Value) -> Response {
    Response::json(status, body).with_header("x-amzn-RequestId", REQUEST_ID)
}

fn not_found() -> Response {
    lambda_error(
        404,
        "ResourceNotFoundException",
        "The resource you requested does not exist.",
    )
}

fn stale() -> Response {
    lambda_error(
        412,
        "PreconditionFailedException",
        "The RevisionId provided does not match the latest RevisionId.",
    )
}

fn invalid(message: &str) -> Response {
    lambda_error(400, "InvalidParameterValueException", message)
}

fn too_long() -> Response {
    lambda_error(
        400,
        "PolicyLengthExceededException",
        "The final policy size is bigger than the limit.",
    )
}

/// (name, qualifier) of a function as Lambda's FunctionName takes it: `name`, `name:q`,
/// `ACCOUNT:function:name[:q]` or an ARN, qualified or not.
fn split_function(function: &str) -> Key {
    let rest = function
        .split_once(":function:")
        .map_or(function, |(_, r)| r);
    match rest.split_once(':') {
        Some((name, q)) => (name.to_owned(), Some(q.to_owned())),
        None => (rest.to_owned(), None),
    }
}

/// The policy a GetPolicy, AddPermission or RemovePermission call is about.
fn policy_key(call: &Call) -> Result<Key, Response> {
    let (name, in_name) = split_function(call.function.as_deref().unwrap_or_default());
    match (in_name, call.qualifier.clone()) {
        (Some(a), Some(b)) if a != b => Err(invalid(
            "The derived qualifier from the function name does not match the specified qualifier.",
        )),
        (a, b) => Ok((name, a.or(b))),
    }
}

fn held_mut(state: &Mutex<State>, key: &Key, f: impl FnOnce(&mut Held) -> Response) -> Response {
    match lock(state).held.get_mut(key) {
        Some(held) => f(held),
        None => not_found(),
    }
}

/// The statements of a document, made a list (IAM also takes a single statement object).
fn statements_mut(doc: &mut Map<String, Value>) -> &mut Vec<Value> {
    let slot = doc.entry("Statement").or_insert_with(|| json!([]));
    if !slot.is_array() {
        let one = slot.take();
        *slot = if one.is_null() {
            json!([])
        } else {
            json!([one])
        };
    }
    match slot {
        Value::Array(items) => items,
        _ => unreachable!("made a list above"),
    }
}

fn has_sid(statement: &Value, sid: &str) -> bool {
    statement.get("Sid").and_then(Value::as_str) == Some(sid)
}

impl Held {
    fn document(&self) -> Option<Map<String, Value>> {
        let text = self.policy.as_deref()?;
        match serde_json::from_str(text) {
            Ok(Value::Object(doc)) => Some(doc),
            _ => None,
        }
    }

    fn stale(&self, sent: Option<&str>) -> bool {
        sent.is_some_and(|r| r != self.revision_id)
    }

    /// GetPolicy and GetResourcePolicy.
    fn get_policy(&self) -> Response {
        match &self.policy {
            Some(policy) => lambda_ok(
                200,
                &json!({"Policy": policy, "RevisionId": self.revision_id}),
            ),
            None => not_found(),
        }
    }

    fn add_permission(&mut self, req: &Request) -> Response {
        let body: Value = serde_json::from_slice(&req.body).unwrap_or_default();
        let field = |k: &str| body.get(k).and_then(Value::as_str);
        if self.stale(field("RevisionId")) {
            return stale();
        }
        let (Some(sid), Some(action), Some(principal)) =
            (field("StatementId"), field("Action"), field("Principal"))
        else {
            return invalid("StatementId, Action and Principal are required.");
        };
        let mut doc = self.document().unwrap_or_else(|| {
            let mut doc = Map::new();
            doc.insert("Version".into(), json!("2012-10-17"));
            doc.insert("Id".into(), json!("default"));
            doc
        });
        let statements = statements_mut(&mut doc);
        if statements.iter().any(|s| has_sid(s, sid)) {
            let message = format!(
                "The statement id ({sid}) provided already exists. Please provide a new statement id, or remove the existing statement."
            );
            return lambda_error(409, "ResourceConflictException", &message);
        }
        let statement = added_statement(&body, sid, action, principal, &self.resource_arn);
        statements.push(statement.clone());
        let text = Value::Object(doc).to_string();
        if text.len() > MAX_POLICY_BYTES {
            return too_long();
        }
        self.policy = Some(text);
        self.revision_id = new_revision_id();
        lambda_ok(201, &json!({"Statement": statement.to_string()}))
    }

    fn remove_permission(&mut self, call: &Call) -> Response {
        if self.stale(call.revision_id.as_deref()) {
            return stale();
        }
        let sid = call.statement_id.as_deref().unwrap_or_default();
        let Some(mut doc) = self.document() else {
            return not_found();
        };
        let statements = statements_mut(&mut doc);
        let Some(at) = statements.iter().position(|s| has_sid(s, sid)) else {
            return not_found();
        };
        statements.remove(at);
        let empty = statements.is_empty();
        // Like Lambda, the last statement going takes the policy with it.
        self.policy = (!empty).then(|| Value::Object(doc).to_string());
        self.revision_id = new_revision_id();
        Response::new(204, Vec::new()).with_header("x-amzn-RequestId", REQUEST_ID)
    }
}

/// The statement Lambda stores for an AddPermission request body (see the module docs).
fn added_statement(
    body: &Value,
    sid: &str,
    action: &str,
    principal: &str,
    resource: &str,
) -> Value {
    let partition = resource.split(':').nth(1).unwrap_or("aws");
    let principal = if principal == "*" {
        json!("*")
    } else if principal.contains('.') && !principal.starts_with("arn:") {
        json!({ "Service": principal })
    } else if principal.len() == 12 && principal.bytes().all(|b| b.is_ascii_digit()) {
        json!({ "AWS": format!("arn:{partition}:iam::{principal}:root") })
    } else {
        json!({ "AWS": principal })
    };
    let mut condition: Map<String, Value> = Map::new();
    let mut put = |op: &str, key: &str, value: Value| {
        if let Value::Object(keys) = condition.entry(op).or_insert_with(|| json!({})) {
            keys.insert(key.to_owned(), value);
        }
    };
    let field = |k: &str| body.get(k).and_then(Value::as_str);
    if let Some(v) = field("SourceArn") {
        put("ArnLike", "AWS:SourceArn", json!(v));
    }
    for (param, key) in [
        ("SourceAccount", "AWS:SourceAccount"),
        ("PrincipalOrgID", "aws:PrincipalOrgID"),
        ("EventSourceToken", "lambda:EventSourceToken"),
        ("FunctionUrlAuthType", "lambda:FunctionUrlAuthType"),
    ] {
        if let Some(v) = field(param) {
            put("StringEquals", key, json!(v));
        }
    }
    if let Some(v) = body.get("InvokedViaFunctionUrl").and_then(Value::as_bool) {
        put("Bool", "lambda:InvokedViaFunctionUrl", json!(v.to_string()));
    }
    let mut statement = Map::new();
    statement.insert("Sid".into(), json!(sid));
    statement.insert("Effect".into(), json!("Allow"));
    statement.insert("Principal".into(), principal);
    statement.insert("Action".into(), json!(action));
    statement.insert("Resource".into(), json!(resource));
    if !condition.is_empty() {
        statement.insert("Condition".into(), Value::Object(condition));
    }
    Value::Object(statement)
}

/// A GET of moto's own view of a function, with the client's headers.
async fn moto_get(upstream: &str, req: &Request, (name, qualifier): &Key, tail: &str) -> Response {
    let query = qualifier
        .as_ref()
        .map(|q| format!("?Qualifier={}", http::url_encode(q)))
        .unwrap_or_default();
    let get = Request {
        method: "GET".into(),
        target: format!(
            "/2015-03-31/functions/{}{tail}{query}",
            http::url_encode(name)
        ),
        headers: req.headers.clone(),
        body: Vec::new(),
    };
    forward(upstream, &get).await
}

fn revision_in(resp: &Response) -> Option<String> {
    let body: Value = serde_json::from_slice(&resp.body).ok()?;
    body.get("RevisionId")?.as_str().map(str::to_owned)
}

/// Whether moto holds a policy for `key`, and the RevisionId a write must carry to be fresh:
/// the policy's, else the function's (or alias's, or version's).
async fn moto_revision(
    upstream: &str,
    req: &Request,
    key: &Key,
    arn: &str,
) -> Result<(bool, Option<String>), Response> {
    let config = moto_get(upstream, req, key, "/configuration").await;
    match config.status {
        200 => {}
        404 => {
            let message = format!("Function not found: {arn}");
            return Err(lambda_error(404, "ResourceNotFoundException", &message));
        }
        _ => return Err(config),
    }
    let policy = moto_get(upstream, req, key, "/policy").await;
    Ok(match policy.status {
        200 => (true, revision_in(&policy)),
        _ => (false, revision_in(&config)),
    })
}

/// A ResourceArn naming a function, version or alias, as the resource-policy operations take.
fn resource_arn(call: &Call) -> Result<&str, Response> {
    call.function
        .as_deref()
        .filter(|arn| arn.starts_with("arn:") && arn.contains(":function:"))
        .ok_or_else(|| {
            invalid("ResourceArn must be the ARN of a Lambda function, version or alias.")
        })
}

/// PutResourcePolicy's document, verbatim, once checked to be a policy.
fn put_document(req: &Request) -> Result<String, Response> {
    let body: Value = serde_json::from_slice(&req.body).unwrap_or_default();
    let Some(text) = body.get("Policy").and_then(Value::as_str) else {
        return Err(invalid("Policy is required."));
    };
    let statements = match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(doc)) => doc.get("Statement").cloned(),
        _ => None,
    };
    match statements {
        Some(Value::Array(items)) if !items.is_empty() => Ok(text.to_owned()),
        Some(Value::Object(_)) => Ok(text.to_owned()),
        _ => Err(invalid(
            "The policy is not a JSON object with a non-empty Statement.",
        )),
    }
}

/// PutResourcePolicy and DeleteResourcePolicy: checked against the current revision (moto's,
/// for a policy not yet taken over), then held by the proxy.
async fn write_resource_policy(
    state: &Mutex<State>,
    upstream: &str,
    req: &Request,
    call: &Call,
) -> Response {
    let arn = match resource_arn(call) {
        Ok(arn) => arn,
        Err(resp) => return resp,
    };
    let key = split_function(arn);
    let put = call.operation == "PutResourcePolicy";
    let document = match put.then(|| put_document(req)).transpose() {
        Ok(document) => document,
        Err(resp) => return resp,
    };
    let held = {
        let st = lock(state);
        st.held
            .get(&key)
            .map(|h| (h.policy.is_some(), Some(h.revision_id.clone())))
    };
    let (has_policy, current) = match held {
        Some(held) => held,
        None => match moto_revision(upstream, req, &key, arn).await {
            Ok(found) => found,
            Err(resp) => return resp,
        },
    };
    if let Some(sent) = call.revision_id.as_deref()
        && current.as_deref() != Some(sent)
    {
        return stale();
    }
    if !put && !has_policy {
        return not_found();
    }
    if document
        .as_ref()
        .is_some_and(|d| d.len() > MAX_POLICY_BYTES)
    {
        return too_long();
    }
    let revision_id = new_revision_id();
    let held = Held {
        resource_arn: arn.to_owned(),
        policy: document.clone(),
        revision_id: revision_id.clone(),
    };
    lock(state).held.insert(key, held);
    match document {
        Some(policy) => lambda_ok(200, &json!({"Policy": policy, "RevisionId": revision_id})),
        None => Response::new(204, Vec::new()).with_header("x-amzn-RequestId", REQUEST_ID),
    }
}

/// GetResourcePolicy: the held policy, else moto's (what GetPolicy answers there).
async fn get_resource_policy(
    state: &Mutex<State>,
    upstream: &str,
    req: &Request,
    call: &Call,
) -> Response {
    let arn = match resource_arn(call) {
        Ok(arn) => arn,
        Err(resp) => return resp,
    };
    let key = split_function(arn);
    let served = lock(state).held.get(&key).map(Held::get_policy);
    match served {
        Some(resp) => resp,
        None => moto_get(upstream, req, &key, "/policy").await,
    }
}
