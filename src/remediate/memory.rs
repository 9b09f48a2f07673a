//! An in-memory Lambda policy store behind [`PolicyApi`] and [`Notifier`], with Lambda's rules
//! (RevisionId checks, unique Sids, whole-document writes) and injectable faults: the shell's
//! ordering, retries, report mode, storms and notifications are unit-tested against it in
//! milliseconds. What the SDK and HTTP do is tested against moto.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, PoisonError};

use serde_json::{Value, json};

use super::api::{ApiError, Dedup, Discovery, Notifier, ObjectBody, Objects, PolicyApi};
use crate::allowlist::ids::lambda_arn_name;
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
    ListFunctions,
    GetObject(String, String),
    PutItem(String),
}

#[derive(Default)]
struct State {
    /// Statements (JSON, verbatim) and revision of each policy.
    policies: HashMap<Key, (Vec<Value>, u64)>,
    functions: Vec<String>,
    aliases: HashMap<String, Vec<String>>,
    objects: HashMap<(String, String), Vec<u8>>,
    /// `Some`: a dedup table is configured, holding these claimed eventIDs.
    claimed: Option<Vec<String>>,
    calls: Vec<Call>,
    /// Errors to answer the next calls of an operation with, by operation name.
    faults: HashMap<&'static str, VecDeque<ApiError>>,
    published: Vec<(String, Value)>,
    /// Member accounts whose role cannot be assumed: every call on their functions fails.
    unreachable: Vec<String>,
}

#[derive(Default)]
pub struct MemoryAws {
    state: Mutex<State>,
}

/// `NAME`, an unqualified ARN, or a qualified ARN → (name, qualifier in the ARN).
fn split(function: &str) -> (String, Option<String>) {
    match lambda_arn_name(function) {
        Some(rest) => match rest.split_once(':') {
            Some((name, q)) => (name.to_owned(), Some(q.to_owned())),
            None => (rest.to_owned(), None),
        },
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

    /// Turns on the dedup table.
    pub fn with_dedup(self) -> Self {
        self.lock().claimed = Some(Vec::new());
        self
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
        Self::read(&st, &(function.to_owned(), qualifier.map(str::to_owned))).unwrap_or_default()
    }

    /// Makes `account`'s member role impossible to assume, as when it is missing or does not
    /// trust the guard: no call on a function of that account reaches Lambda.
    pub fn unreachable_account(&self, account: &str) {
        self.lock().unreachable.push(account.to_owned());
    }

    /// The member role error for a function ARN of an unreachable account.
    fn member_role_error(st: &State, function: &str) -> Result<(), ApiError> {
        let account = function.split(':').nth(4).unwrap_or_default();
        if function.starts_with("arn:") && st.unreachable.iter().any(|a| a == account) {
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

    fn read(st: &State, key: &Key) -> Option<ResourcePolicy> {
        let (statements, revision) = st.policies.get(key)?;
        if statements.is_empty() {
            return None;
        }
        let doc = json!({ "Version": "2012-10-17", "Id": "default", "Statement": statements });
        let mut p = ResourcePolicy::from_value(&doc).ok()?;
        p.revision_id = Some(format!("rev-{revision}"));
        Some(p)
    }

    /// Records the call, answers an injected fault, checks the function and the revision.
    fn begin(
        &self,
        st: &mut State,
        operation: &'static str,
        call: Call,
        key: &Key,
        revision_id: Option<&str>,
    ) -> Result<(), ApiError> {
        st.calls.push(call);
        if let Some(e) = st.faults.get_mut(operation).and_then(VecDeque::pop_front) {
            return Err(e);
        }
        if !st.functions.contains(&key.0) {
            return Err(ApiError::FunctionNotFound(format!(
                "Function not found: {}",
                key.0
            )));
        }
        let current = st.policies.get(key).map_or(0, |(_, r)| *r);
        match revision_id {
            Some(r) if r != format!("rev-{current}") => Err(ApiError::PreconditionFailed(
                "The RevisionId provided does not match the latest RevisionId".into(),
            )),
            _ => Ok(()),
        }
    }
}

fn key_of(function: &str, qualifier: Option<&str>) -> Key {
    let (name, q) = split(function);
    (name, qualifier.map(str::to_owned).or(q))
}

impl PolicyApi for MemoryAws {
    async fn get_policy(
        &self,
        function: &str,
        qualifier: Option<&str>,
    ) -> Result<ResourcePolicy, ApiError> {
        let key = key_of(function, qualifier);
        let mut st = self.lock();
        Self::member_role_error(&st, function)?;
        self.begin(
            &mut st,
            "GetPolicy",
            Call::GetPolicy(key.clone()),
            &key,
            None,
        )?;
        Ok(Self::read(&st, &key).unwrap_or_default())
    }

    async fn remove_permission(
        &self,
        function: &str,
        qualifier: Option<&str>,
        sid: &str,
        revision_id: Option<&str>,
    ) -> Result<(), ApiError> {
        let key = key_of(function, qualifier);
        let mut st = self.lock();
        Self::member_role_error(&st, function)?;
        let call = Call::RemovePermission(key.clone(), sid.to_owned());
        self.begin(&mut st, "RemovePermission", call, &key, revision_id)?;
        let entry = st.policies.entry(key).or_insert((Vec::new(), 0));
        let Some(at) = entry.0.iter().position(|s| s["Sid"] == sid) else {
            return Err(ApiError::StatementNotFound(
                "The resource you requested does not exist.".into(),
            ));
        };
        entry.0.remove(at);
        entry.1 += 1;
        Ok(())
    }

    async fn add_permission(
        &self,
        function: &str,
        qualifier: Option<&str>,
        addition: &Addition,
        revision_id: Option<&str>,
    ) -> Result<(), ApiError> {
        let key = key_of(function, qualifier);
        let mut st = self.lock();
        Self::member_role_error(&st, function)?;
        let call = Call::AddPermission(key.clone(), addition.sid.clone());
        self.begin(&mut st, "AddPermission", call, &key, revision_id)?;
        let entry = st.policies.entry(key).or_insert((Vec::new(), 0));
        if entry.0.iter().any(|s| s["Sid"] == addition.sid.as_str()) {
            return Err(ApiError::Conflict(format!(
                "The statement id ({}) provided already exists.",
                addition.sid
            )));
        }
        entry.0.push(addition.statement(0, None).raw);
        entry.1 += 1;
        Ok(())
    }

    async fn put_resource_policy(
        &self,
        resource_arn: &str,
        document: &str,
        revision_id: Option<&str>,
    ) -> Result<(), ApiError> {
        let key = key_of(resource_arn, None);
        let mut st = self.lock();
        Self::member_role_error(&st, resource_arn)?;
        let call = Call::PutResourcePolicy(key.clone());
        self.begin(&mut st, "PutResourcePolicy", call, &key, revision_id)?;
        let doc: Value = serde_json::from_str(document)
            .map_err(|e| ApiError::Other(format!("InvalidParameterValueException: {e}")))?;
        let statements = doc["Statement"].as_array().cloned().unwrap_or_default();
        let entry = st.policies.entry(key).or_insert((Vec::new(), 0));
        entry.0 = statements;
        entry.1 += 1;
        Ok(())
    }

    async fn delete_resource_policy(
        &self,
        resource_arn: &str,
        revision_id: Option<&str>,
    ) -> Result<(), ApiError> {
        let key = key_of(resource_arn, None);
        let mut st = self.lock();
        Self::member_role_error(&st, resource_arn)?;
        let call = Call::DeleteResourcePolicy(key.clone());
        self.begin(&mut st, "DeleteResourcePolicy", call, &key, revision_id)?;
        let entry = st.policies.entry(key).or_insert((Vec::new(), 0));
        entry.0.clear();
        entry.1 += 1;
        Ok(())
    }
}

impl Discovery for MemoryAws {
    async fn list_aliases(&self, function: &str) -> Result<Vec<String>, ApiError> {
        let (name, _) = split(function);
        let mut st = self.lock();
        Self::member_role_error(&st, function)?;
        st.calls.push(Call::ListAliases(name.clone()));
        if let Some(e) = st
            .faults
            .get_mut("ListAliases")
            .and_then(VecDeque::pop_front)
        {
            return Err(e);
        }
        if !st.functions.contains(&name) {
            return Err(ApiError::FunctionNotFound(format!(
                "Function not found: {name}"
            )));
        }
        Ok(st.aliases.get(&name).cloned().unwrap_or_default())
    }

    async fn list_functions(&self) -> Result<Vec<String>, ApiError> {
        let mut st = self.lock();
        st.calls.push(Call::ListFunctions);
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
        st.calls.push(Call::PutItem(event_id.to_owned()));
        Ok(first)
    }
}

impl Notifier for MemoryAws {
    async fn publish(&self, entries: &[(String, Value)]) -> Result<(), ApiError> {
        let mut st = self.lock();
        st.calls.push(Call::PutEvents(entries.len()));
        if let Some(e) = st.faults.get_mut("PutEvents").and_then(VecDeque::pop_front) {
            return Err(e);
        }
        st.published.extend(entries.iter().cloned());
        Ok(())
    }
}
