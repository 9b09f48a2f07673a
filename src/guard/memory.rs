//! An in-memory Lambda policy store behind [`PolicyApi`] and [`Notifier`] (and a Security Hub
//! behind [`Findings`]), with Lambda's rules
//! (RevisionId checks, unique Sids, whole-document writes) and injectable faults: the shell's
//! ordering, retries, report mode, storms and notifications are unit-tested against it in
//! milliseconds. What the SDK and HTTP do is tested against moto.
//!
//! Policies are kept per function *and* qualifier, as Lambda keeps them (moto merges them).
//! A function given its versions ([`MemoryAws::set_versions`]) has exactly those versions and
//! its aliases: any other qualifier is "Function not found". Listings page by 50, and every
//! Lambda call, each page included, takes a token of the account and region's budget
//! ([`Budgets::lambda`], as the SDK clients do; tests with many calls pause tokio's clock).

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Mutex, PoisonError};

use serde_json::{Value, json};

use super::api::{
    ApiError, Dedup, Discovery, Findings, Notifier, ObjectBody, Objects, PolicyApi, QueueEntry,
    SweepQueue,
};
use super::budget::Budgets;
use crate::aws::arn::FunctionArn;
use crate::finding::Finding;
use crate::plan::Addition;
use crate::resource_policy::ResourcePolicy;

type Key = (String, Option<String>);

/// One call the guard made, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    GetPolicy(Key),
    AddPermission(Key, String),
    RemovePermission(Key, String),
    PutResourcePolicy(Key),
    DeleteResourcePolicy(Key),
    PutEvents(usize),
    ListAliases(String),
    /// ListAliases with `FunctionVersion`: (function, version).
    ListAliasesTo(String, String),
    ListVersions(String),
    ListFunctions,
    GetObject(String, String),
    PutItem(String),
    /// BatchImportFindings with this many findings.
    BatchImportFindings(usize),
}

#[derive(Default)]
struct State {
    /// Statements (JSON, verbatim) and revision of each policy.
    policies: HashMap<Key, (Vec<Value>, u64)>,
    functions: Vec<String>,
    aliases: HashMap<String, Vec<String>>,
    /// (function, alias) → the version it routes to.
    routes: HashMap<(String, String), String>,
    /// Published versions per function.
    versions: HashMap<String, Vec<String>>,
    /// Functions whose qualifiers are exactly their versions and aliases.
    inventoried: HashSet<String>,
    objects: HashMap<(String, String), Vec<u8>>,
    /// `Some`: a dedup table is configured, holding these claimed eventIDs.
    claimed: Option<Vec<String>>,
    calls: Vec<Call>,
    /// The calls recorded with the time (tokio's clock) they were made.
    timed: Vec<(tokio::time::Instant, Call)>,
    /// Errors to answer the next calls of an operation with, by operation name.
    faults: HashMap<&'static str, VecDeque<ApiError>>,
    published: Vec<(String, Value)>,
    /// Security Hub turned on, and the findings it holds by Id (the last import of each).
    security_hub: bool,
    findings: Vec<Finding>,
    /// Member accounts whose role cannot be assumed: every call on their functions fails.
    unreachable: Vec<String>,
    /// `Some`: a sweep queue is configured, holding the messages sent to it.
    queue: Option<Vec<QueueEntry>>,
    /// Message groups whose entries SendMessageBatch refuses.
    refused_groups: Vec<String>,
    /// The size of each SendMessageBatch call.
    batches: Vec<usize>,
}

pub struct MemoryAws {
    state: Mutex<State>,
    budgets: Budgets,
}

impl Default for MemoryAws {
    fn default() -> Self {
        MemoryAws {
            state: Mutex::default(),
            budgets: Budgets::lambda(),
        }
    }
}

/// Items per page of a listing (Lambda's default MaxItems).
const PAGE: usize = 50;

impl State {
    fn record(&mut self, call: Call) {
        self.timed.push((tokio::time::Instant::now(), call.clone()));
        self.calls.push(call);
    }

    fn fault(&mut self, operation: &str) -> Option<ApiError> {
        self.faults.get_mut(operation).and_then(VecDeque::pop_front)
    }

    /// Whether `qualifier` names something of `function` (always, for a function whose versions
    /// were never given).
    fn has_qualifier(&self, function: &str, qualifier: &str) -> bool {
        !self.inventoried.contains(function)
            || qualifier == "$LATEST"
            || self
                .versions
                .get(function)
                .is_some_and(|v| v.iter().any(|x| x == qualifier))
            || self
                .aliases
                .get(function)
                .is_some_and(|a| a.iter().any(|x| x == qualifier))
    }
}

/// `NAME`, an unqualified ARN, or a qualified ARN → (name, qualifier in the ARN).
fn split(function: &str) -> (String, Option<String>) {
    match FunctionArn::parse(function) {
        Some(arn) => (arn.name.to_owned(), arn.qualifier.map(str::to_owned)),
        None => (function.to_owned(), None),
    }
}

impl MemoryAws {
    /// A store holding these functions, with no policies.
    pub fn with_functions(names: &[&str]) -> Self {
        let aws = MemoryAws::default();
        aws.lock().functions = names.iter().map(|n| (*n).to_owned()).collect();
        aws
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Stores an object (a trail log file).
    pub fn put_object(&self, bucket: &str, key: &str, bytes: Vec<u8>) {
        self.lock()
            .objects
            .insert((bucket.to_owned(), key.to_owned()), bytes);
    }

    /// Makes every call at once, with no budget (for tests of something else that make many
    /// calls on tokio's real clock).
    pub fn without_budget(mut self) -> Self {
        self.budgets = Budgets::unlimited();
        self
    }

    /// Turns Security Hub on: findings are imported and kept by Id.
    pub fn with_security_hub(self) -> Self {
        self.lock().security_hub = true;
        self
    }

    /// The findings Security Hub holds, one per Id, as last imported.
    pub fn findings(&self) -> Vec<Finding> {
        self.lock().findings.clone()
    }

    /// Turns on the dedup table.
    pub fn with_dedup(self) -> Self {
        self.lock().claimed = Some(Vec::new());
        self
    }

    /// Gives a function published versions: from now on its qualifiers are exactly these and
    /// its aliases.
    pub fn set_versions(&self, function: &str, versions: &[&str]) {
        let mut st = self.lock();
        st.inventoried.insert(function.to_owned());
        st.versions.insert(
            function.to_owned(),
            versions.iter().map(|v| (*v).to_owned()).collect(),
        );
    }

    /// Gives a function an alias routing to `version`.
    pub fn set_alias(&self, function: &str, alias: &str, version: &str) {
        let mut st = self.lock();
        let aliases = st.aliases.entry(function.to_owned()).or_default();
        if !aliases.iter().any(|a| a == alias) {
            aliases.push(alias.to_owned());
        }
        st.routes
            .insert((function.to_owned(), alias.to_owned()), version.to_owned());
    }

    /// Every call with the time (tokio's clock) it was made.
    pub fn calls_at(&self) -> Vec<(tokio::time::Instant, Call)> {
        self.lock().timed.clone()
    }

    /// Gives a function aliases (each with a policy of its own).
    pub fn set_aliases(&self, function: &str, aliases: &[&str]) {
        self.lock().aliases.insert(
            function.to_owned(),
            aliases.iter().map(|a| (*a).to_owned()).collect(),
        );
    }

    /// Sets a policy's statements (as a third party writing with PutResourcePolicy would).
    pub fn set_statements(&self, function: &str, qualifier: Option<&str>, statements: Value) {
        let mut st = self.lock();
        let list = match statements {
            Value::Array(items) => items,
            one => vec![one],
        };
        let entry = st
            .policies
            .entry((function.to_owned(), qualifier.map(str::to_owned)))
            .or_insert((Vec::new(), 0));
        entry.0 = list;
        entry.1 += 1;
    }

    /// The policy as GetPolicy would return it now.
    pub fn policy(&self, function: &str, qualifier: Option<&str>) -> ResourcePolicy {
        let st = self.lock();
        let key = (function.to_owned(), qualifier.map(str::to_owned));
        st.policies.get(&key).and_then(read).unwrap_or_default()
    }

    /// Makes `account`'s member role impossible to assume, as when it is missing or does not
    /// trust the guard: no call on a function of that account reaches Lambda.
    pub fn unreachable_account(&self, account: &str) {
        self.lock().unreachable.push(account.to_owned());
    }

    /// The member role error for a function ARN of an unreachable account.
    fn member_role_error(st: &State, function: &str) -> Result<(), ApiError> {
        if let Some(FunctionArn { account, .. }) = FunctionArn::parse(function)
            && st.unreachable.iter().any(|a| a == account)
        {
            return Err(ApiError::MemberRole {
                account: account.to_owned(),
                role: format!("arn:aws:iam::{account}:role/invokeguard-member"),
                message: "AccessDenied: not authorized to perform sts:AssumeRole".into(),
            });
        }
        Ok(())
    }

    /// Answers the next calls of `operation` (e.g. "AddPermission") with these errors.
    pub fn fail_next(&self, operation: &'static str, errors: Vec<ApiError>) {
        self.lock()
            .faults
            .entry(operation)
            .or_default()
            .extend(errors);
    }

    pub fn calls(&self) -> Vec<Call> {
        self.lock().calls.clone()
    }

    pub fn published(&self) -> Vec<(String, Value)> {
        self.lock().published.clone()
    }
}

fn key_of(function: &str, qualifier: Option<&str>) -> Key {
    let (name, q) = split(function);
    (name, qualifier.map(str::to_owned).or(q))
}

impl MemoryAws {
    /// One Lambda call on a policy (`call` names it), with Lambda's checks: a token of the
    /// budget, the member role, the call recorded, an injected fault, the function, qualifier
    /// and revision checked; then `then` on the policy's statements and revision.
    async fn on_policy<T>(
        &self,
        function: &str,
        (operation, call): (&'static str, Call),
        revision_id: Option<&str>,
        then: impl FnOnce(&mut (Vec<Value>, u64)) -> Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        self.budgets.take(function).await;
        let mut st = self.lock();
        Self::member_role_error(&st, function)?;
        let (Call::GetPolicy(key)
        | Call::AddPermission(key, _)
        | Call::RemovePermission(key, _)
        | Call::PutResourcePolicy(key)
        | Call::DeleteResourcePolicy(key)) = call.clone()
        else {
            return Err(ApiError::Other(format!("{call:?} is no call on a policy")));
        };
        st.record(call);
        if let Some(e) = st.fault(operation) {
            return Err(e);
        }
        let (name, qualifier) = &key;
        if !st.functions.contains(name) {
            return Err(ApiError::FunctionNotFound(format!(
                "Function not found: {name}"
            )));
        }
        if let Some(q) = qualifier
            && !st.has_qualifier(name, q)
        {
            let message = format!("Function not found: {name}:{q}");
            return Err(ApiError::QualifierNotFound(message));
        }
        let current = st.policies.get(&key).map_or(0, |(_, r)| *r);
        if revision_id.is_some_and(|r| r != format!("rev-{current}")) {
            let message = "The RevisionId provided does not match the latest RevisionId";
            return Err(ApiError::PreconditionFailed(message.into()));
        }
        then(st.policies.entry(key).or_insert((Vec::new(), 0)))
    }
}

/// A policy as GetPolicy returns it; `None` when it has no statements.
fn read((statements, revision): &(Vec<Value>, u64)) -> Option<ResourcePolicy> {
    if statements.is_empty() {
        return None;
    }
    let doc = json!({ "Version": "2012-10-17", "Id": "default", "Statement": statements });
    let mut p = ResourcePolicy::from_value(&doc).ok()?;
    p.revision_id = Some(format!("rev-{revision}"));
    Some(p)
}

/// Sets a policy's statements and moves its revision on.
fn write(entry: &mut (Vec<Value>, u64), statements: Vec<Value>) {
    entry.0 = statements;
    entry.1 += 1;
}

impl PolicyApi for MemoryAws {
    fn set_home(&self, home: &crate::aws::home::Home) {
        self.budgets.set_home(&home.account, &home.region);
    }

    async fn get_policy(
        &self,
        function: &str,
        qualifier: Option<&str>,
    ) -> Result<ResourcePolicy, ApiError> {
        let call = ("GetPolicy", Call::GetPolicy(key_of(function, qualifier)));
        self.on_policy(function, call, None, |entry| {
            Ok(read(entry).unwrap_or_default())
        })
        .await
    }

    async fn remove_permission(
        &self,
        function: &str,
        qualifier: Option<&str>,
        sid: &str,
        revision_id: Option<&str>,
    ) -> Result<(), ApiError> {
        let key = key_of(function, qualifier);
        let call = (
            "RemovePermission",
            Call::RemovePermission(key, sid.to_owned()),
        );
        self.on_policy(function, call, revision_id, |entry| {
            let Some(at) = entry.0.iter().position(|s| s["Sid"] == sid) else {
                let message = "The resource you requested does not exist.";
                return Err(ApiError::StatementNotFound(message.into()));
            };
            let mut statements = std::mem::take(&mut entry.0);
            statements.remove(at);
            write(entry, statements);
            Ok(())
        })
        .await
    }

    async fn add_permission(
        &self,
        function: &str,
        qualifier: Option<&str>,
        addition: &Addition,
        revision_id: Option<&str>,
    ) -> Result<(), ApiError> {
        let key = key_of(function, qualifier);
        let call = (
            "AddPermission",
            Call::AddPermission(key, addition.sid.clone()),
        );
        self.on_policy(function, call, revision_id, |entry| {
            let sid = &addition.sid;
            if entry.0.iter().any(|s| s["Sid"] == sid.as_str()) {
                let message = format!("The statement id ({sid}) provided already exists.");
                return Err(ApiError::Conflict(message));
            }
            let mut statements = std::mem::take(&mut entry.0);
            statements.push(addition.statement(0, None).raw);
            write(entry, statements);
            Ok(())
        })
        .await
    }

    async fn put_resource_policy(
        &self,
        resource_arn: &str,
        document: &str,
        revision_id: Option<&str>,
    ) -> Result<(), ApiError> {
        let call = Call::PutResourcePolicy(key_of(resource_arn, None));
        self.on_policy(
            resource_arn,
            ("PutResourcePolicy", call),
            revision_id,
            |entry| {
                let doc: Value = serde_json::from_str(document)
                    .map_err(|e| ApiError::Other(format!("InvalidParameterValueException: {e}")))?;
                write(
                    entry,
                    doc["Statement"].as_array().cloned().unwrap_or_default(),
                );
                Ok(())
            },
        )
        .await
    }

    async fn delete_resource_policy(
        &self,
        resource_arn: &str,
        revision_id: Option<&str>,
    ) -> Result<(), ApiError> {
        let call = Call::DeleteResourcePolicy(key_of(resource_arn, None));
        self.on_policy(
            resource_arn,
            ("DeleteResourcePolicy", call),
            revision_id,
            |entry| {
                write(entry, Vec::new());
                Ok(())
            },
        )
        .await
    }
}

impl MemoryAws {
    /// A listing of `function`, page by page: each page is a call within the budget.
    async fn pages(
        &self,
        function: &str,
        operation: &'static str,
        call: impl Fn(&str) -> Call,
        list: impl Fn(&State, &str) -> Vec<String>,
    ) -> Result<Vec<String>, ApiError> {
        let (name, _) = split(function);
        let mut out = Vec::new();
        loop {
            self.budgets.take(function).await;
            let mut st = self.lock();
            Self::member_role_error(&st, function)?;
            st.record(call(&name));
            if let Some(e) = st.fault(operation) {
                return Err(e);
            }
            if !st.functions.contains(&name) {
                return Err(ApiError::FunctionNotFound(format!(
                    "Function not found: {name}"
                )));
            }
            let all = list(&st, &name);
            let page: Vec<String> = all.iter().skip(out.len()).take(PAGE).cloned().collect();
            out.extend(page);
            if out.len() >= all.len() {
                return Ok(out);
            }
        }
    }
}

impl Discovery for MemoryAws {
    async fn list_aliases(
        &self,
        function: &str,
        function_version: Option<&str>,
    ) -> Result<Vec<String>, ApiError> {
        let version = function_version.map(str::to_owned);
        self.pages(
            function,
            "ListAliases",
            |name| match &version {
                Some(v) => Call::ListAliasesTo(name.to_owned(), v.clone()),
                None => Call::ListAliases(name.to_owned()),
            },
            |st, name| {
                let all = st.aliases.get(name).cloned().unwrap_or_default();
                match &version {
                    None => all,
                    Some(v) => all
                        .into_iter()
                        .filter(|a| st.routes.get(&(name.to_owned(), a.clone())) == Some(v))
                        .collect(),
                }
            },
        )
        .await
    }

    async fn list_versions(&self, function: &str) -> Result<Vec<String>, ApiError> {
        self.pages(
            function,
            "ListVersionsByFunction",
            |name| Call::ListVersions(name.to_owned()),
            |st, name| st.versions.get(name).cloned().unwrap_or_default(),
        )
        .await
    }

    async fn list_functions(&self) -> Result<Vec<String>, ApiError> {
        self.budgets.take("").await;
        let mut st = self.lock();
        st.record(Call::ListFunctions);
        Ok(st.functions.clone())
    }
}

impl Objects for MemoryAws {
    async fn get_object(
        &self,
        bucket: &str,
        key: &str,
        limit: u64,
    ) -> Result<ObjectBody, ApiError> {
        let mut st = self.lock();
        st.calls
            .push(Call::GetObject(bucket.to_owned(), key.to_owned()));
        if let Some(e) = st.faults.get_mut("GetObject").and_then(VecDeque::pop_front) {
            return Err(e);
        }
        match st.objects.get(&(bucket.to_owned(), key.to_owned())) {
            Some(b) if b.len() as u64 > limit => Err(ApiError::Other(format!(
                "s3://{bucket}/{key} is larger than {limit} bytes"
            ))),
            Some(b) => Ok(Box::pin(std::io::Cursor::new(b.clone()))),
            None => Err(ApiError::Other(format!("NoSuchKey: s3://{bucket}/{key}"))),
        }
    }
}

impl Dedup for MemoryAws {
    async fn first_claim(&self, event_id: &str) -> Result<bool, ApiError> {
        let mut st = self.lock();
        let Some(claimed) = st.claimed.as_mut() else {
            return Ok(true);
        };
        let first = !claimed.iter().any(|c| c == event_id);
        if first {
            claimed.push(event_id.to_owned());
        }
        st.record(Call::PutItem(event_id.to_owned()));
        Ok(first)
    }
}

impl MemoryAws {
    /// A sweep queue is configured: the scheduled event plans instead of sweeping.
    pub fn with_sweep_queue(self) -> Self {
        self.lock().queue = Some(Vec::new());
        self
    }

    /// The messages the sweep queue accepted, in order.
    pub fn queued(&self) -> Vec<QueueEntry> {
        self.lock().queue.clone().unwrap_or_default()
    }

    /// The number of entries of each SendMessageBatch call, in order.
    pub fn send_batches(&self) -> Vec<usize> {
        self.lock().batches.clone()
    }

    /// SendMessageBatch refuses every entry of message group `group_id` (`ACCOUNT/REGION`).
    pub fn refuse_group(&self, group_id: &str) {
        self.lock().refused_groups.push(group_id.to_owned());
    }
}

impl SweepQueue for MemoryAws {
    fn sweep_queue_configured(&self) -> bool {
        self.lock().queue.is_some()
    }

    async fn send_sweep_batch(
        &self,
        entries: &[QueueEntry],
    ) -> Result<Vec<(String, String)>, ApiError> {
        let mut st = self.lock();
        st.batches.push(entries.len());
        if let Some(e) = st.fault("SendMessageBatch") {
            return Err(e);
        }
        if entries.len() > crate::record::sweep_pair::SEND_BATCH {
            return Err(ApiError::Other(format!(
                "TooManyEntriesInBatchRequest: {} entries",
                entries.len()
            )));
        }
        let (refused, accepted): (Vec<_>, Vec<_>) = entries
            .iter()
            .partition(|e| st.refused_groups.contains(&e.group_id));
        let Some(queue) = st.queue.as_mut() else {
            return Err(ApiError::Other("no sweep queue configured".into()));
        };
        queue.extend(accepted.into_iter().cloned());
        Ok(refused
            .into_iter()
            .map(|e| (e.id.clone(), "refused by the test".to_owned()))
            .collect())
    }
}

impl Findings for MemoryAws {
    fn findings_enabled(&self) -> bool {
        self.lock().security_hub
    }

    async fn import_findings(&self, findings: &[Finding]) -> Result<(), ApiError> {
        let mut st = self.lock();
        st.record(Call::BatchImportFindings(findings.len()));
        if let Some(e) = st.fault("BatchImportFindings") {
            return Err(e);
        }
        if findings.len() > crate::finding::IMPORT_BATCH {
            return Err(ApiError::Other(format!(
                "BatchImportFindings: {} findings, at most {} per call",
                findings.len(),
                crate::finding::IMPORT_BATCH
            )));
        }
        for f in findings {
            crate::finding::keep_latest(&mut st.findings, f.clone());
        }
        Ok(())
    }
}

impl Notifier for MemoryAws {
    async fn publish(&self, entries: &[(String, Value)]) -> Result<(), ApiError> {
        let mut st = self.lock();
        st.record(Call::PutEvents(entries.len()));
        if let Some(e) = st.faults.get_mut("PutEvents").and_then(VecDeque::pop_front) {
            return Err(e);
        }
        st.published.extend(entries.iter().cloned());
        Ok(())
    }
}
