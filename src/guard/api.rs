//! The narrow boundary to AWS: Lambda's resource-policy calls, one notification call and one
//! Security Hub import.

use std::future::Future;

use serde_json::Value;

use crate::plan::Addition;
use crate::resource_policy::ResourcePolicy;

/// What an AWS call can end in, as far as reconciling cares.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// 412: the policy changed since our GetPolicy (its RevisionId is stale).
    #[error("PreconditionFailedException: {0}")]
    PreconditionFailed(String),
    /// 409: a concurrent update of the function, or the Sid exists already.
    #[error("ResourceConflictException: {0}")]
    Conflict(String),
    /// 404 naming the function: it does not exist (any more).
    #[error("function not found: {0}")]
    FunctionNotFound(String),
    /// 404 naming the function qualified with the very qualifier asked for: no such version or
    /// alias.
    #[error("qualifier not found: {0}")]
    QualifierNotFound(String),
    /// 404 on RemovePermission: the statement is gone already.
    #[error("statement not found: {0}")]
    StatementNotFound(String),
    #[error("PolicyLengthExceededException: {0}")]
    PolicyLengthExceeded(String),
    /// 400 PublicPolicyException: Lambda refused a document that would grant public access.
    #[error("PublicPolicyException: {0}")]
    PublicPolicy(String),
    /// 429 after the SDK's own retries.
    #[error("TooManyRequestsException: {0}")]
    Throttled(String),
    /// A policy document the guard cannot read: nothing in it is trusted or changed.
    #[error("unreadable policy document: {0}")]
    Unreadable(String),
    /// The member role of another account could not be assumed.
    #[error("cannot assume {role} in member account {account}: {message}")]
    MemberRole {
        account: String,
        role: String,
        message: String,
    },
    #[error("{0}")]
    Other(String),
}

/// Lambda's resource-policy calls. `get_policy` returns an empty policy only when Lambda says the
/// function (or qualifier) exists and has none; any other answer is an error.
pub trait PolicyApi: Send + Sync {
    /// The guard's home account and region: functions elsewhere are reached through the
    /// member role of their account, where the implementation supports it.
    fn set_home(&self, _home: &crate::aws::home::Home) {}

    fn get_policy(
        &self,
        function: &str,
        qualifier: Option<&str>,
    ) -> impl Future<Output = Result<ResourcePolicy, ApiError>> + Send;

    fn remove_permission(
        &self,
        function: &str,
        qualifier: Option<&str>,
        sid: &str,
        revision_id: Option<&str>,
    ) -> impl Future<Output = Result<(), ApiError>> + Send;

    fn add_permission(
        &self,
        function: &str,
        qualifier: Option<&str>,
        addition: &Addition,
        revision_id: Option<&str>,
    ) -> impl Future<Output = Result<(), ApiError>> + Send;

    /// PutResourcePolicy: replaces the whole policy of a function, version or alias
    /// (`resource_arn`, qualified or not) with `document`, if its revision is still `revision_id`.
    fn put_resource_policy(
        &self,
        resource_arn: &str,
        document: &str,
        revision_id: Option<&str>,
    ) -> impl Future<Output = Result<(), ApiError>> + Send;

    /// DeleteResourcePolicy: removes the whole policy, if its revision is still `revision_id`.
    fn delete_resource_policy(
        &self,
        resource_arn: &str,
        revision_id: Option<&str>,
    ) -> impl Future<Output = Result<(), ApiError>> + Send;
}

/// Finding what to guard: a function's published versions and aliases (each has a policy of
/// its own) and the functions of the account and region. Every page is a call.
pub trait Discovery: Send + Sync {
    /// The alias names of a function (all pages); with `function_version`, only the aliases
    /// routing to that version.
    fn list_aliases(
        &self,
        function: &str,
        function_version: Option<&str>,
    ) -> impl Future<Output = Result<Vec<String>, ApiError>> + Send;

    /// The published versions of a function (all pages), `$LATEST` left out: it has no policy
    /// of its own.
    fn list_versions(
        &self,
        function: &str,
    ) -> impl Future<Output = Result<Vec<String>, ApiError>> + Send;

    /// The names of every function of the account and region (all pages).
    fn list_functions(&self) -> impl Future<Output = Result<Vec<String>, ApiError>> + Send;
}

/// An object's body, read as it arrives: nothing holds the whole of it.
pub type ObjectBody = std::pin::Pin<Box<dyn tokio::io::AsyncRead + Send>>;

/// Reading trail log files.
pub trait Objects: Send + Sync {
    /// The object's body as a stream. An object the store says is larger than `limit` bytes is
    /// an error before any of it is read; the reader counts what it reads against `limit` too.
    fn get_object(
        &self,
        bucket: &str,
        key: &str,
        limit: u64,
    ) -> impl Future<Output = Result<ObjectBody, ApiError>> + Send;
}

/// One notification per violation across inputs: the EventBridge record and the trail file
/// carry the same `eventID`.
pub trait Dedup: Send + Sync {
    /// True the first time `event_id` is claimed (within the table's TTL); always true when no
    /// table is configured.
    fn first_claim(&self, event_id: &str) -> impl Future<Output = Result<bool, ApiError>> + Send;
}

/// Everything the guard calls.
pub trait Aws: PolicyApi + Notifier + Discovery + Objects + Dedup + Findings + SweepQueue {}

impl<T: PolicyApi + Notifier + Discovery + Objects + Dedup + Findings + SweepQueue> Aws for T {}

/// One message of a SendMessageBatch to the sweep queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueEntry {
    /// Unique within its batch.
    pub id: String,
    pub group_id: String,
    pub dedup_id: String,
    pub body: String,
}

/// The sweep queue (`INVOKEGUARD_SWEEP_QUEUE_URL`): the scheduled sweep fans out over it.
pub trait SweepQueue: Send + Sync {
    /// Whether a queue is configured: when false the scheduled event sweeps in process.
    fn sweep_queue_configured(&self) -> bool;

    /// SendMessageBatch (at most [`crate::record::sweep_pair::SEND_BATCH`] entries). Returns the
    /// entries the queue refused, as (entry id, why); an error means none may have been sent.
    fn send_sweep_batch(
        &self,
        entries: &[QueueEntry],
    ) -> impl Future<Output = Result<Vec<(String, String)>, ApiError>> + Send;
}

/// Security Hub, where the guard is the provider of its findings (opt-in).
pub trait Findings: Send + Sync {
    /// Whether findings are wanted at all: when false the guard builds none and makes no call.
    fn findings_enabled(&self) -> bool;

    /// BatchImportFindings (at most [`crate::finding::IMPORT_BATCH`] per call). A finding
    /// Security Hub refuses (`FailedFindings`) is an error naming it.
    fn import_findings(
        &self,
        findings: &[crate::finding::Finding],
    ) -> impl Future<Output = Result<(), ApiError>> + Send;
}

/// Publishes notifications; `entries` are (detail-type, detail) pairs.
pub trait Notifier: Send + Sync {
    fn publish(
        &self,
        entries: &[(String, Value)],
    ) -> impl Future<Output = Result<(), ApiError>> + Send;
}
