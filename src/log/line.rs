//! The log-line contract as types: every line the guard writes is a [`LogLine`], serialized with
//! serde. `schemas/log-line.schema.json` is generated from these types ([`json_schema`],
//! `invokeguard schema --log-line`); the CDK tests check the saved queries and metric filters
//! against it.

use schemars::JsonSchema;
use serde::Serialize;

use crate::allowlist::Apply;
use crate::allowlist::Mode;
use crate::plan::{Addition, Removal, Unmanaged};
use crate::verdict::{Outcome, Verdict};

/// One JSON object on one line of the guard's stdout (its CloudWatch log group).
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(title = "invokeguard log line")]
pub struct LogLine {
    /// UTC, RFC 3339 with milliseconds: `2026-11-23T23:40:52.123Z`.
    pub timestamp: String,
    pub level: Level,
    /// The Lambda request the line was written for.
    pub request_id: String,
    /// What the line is about; absent only on an `error` line written before a record was read.
    #[serde(flatten)]
    pub subject: Option<Subject>,
    #[serde(flatten)]
    pub message: Message,
}

/// The fields every line about a record carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Subject {
    pub input: Input,
    /// The CloudTrail record's `eventID`.
    pub event_id: Option<String>,
    /// The function as the policies file keys it (the record's name when not guarded).
    pub function: Option<String>,
    /// The alias or version whose resource policy the line is about; null for the function's own.
    pub qualifier: Option<String>,
    /// The mode of the function the line is about (`enforce` when it is not guarded).
    pub mode: Mode,
    /// The account of the function the line is about, when known: a hub guards several.
    pub account: Option<String>,
}

impl Subject {
    /// The one constructor: every line about a record, a change or a policy of a sweep names
    /// these.
    pub fn new(
        input: Input,
        event_id: Option<String>,
        function: Option<String>,
        qualifier: Option<String>,
        mode: Mode,
        account: Option<String>,
    ) -> Self {
        Subject {
            input,
            event_id,
            function,
            qualifier,
            mode,
            account,
        }
    }
}

/// What led to the line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Input {
    /// A CloudTrail Invoke or InvokeFunctionUrl record delivered by EventBridge.
    Invoke,
    /// A management event that changed a resource policy (AddPermission, RemovePermission,
    /// PutResourcePolicy, a function URL's auth type), delivered by EventBridge.
    Change,
    /// The scheduled sweep over every guarded function, version and alias.
    Sweep,
    /// A record read from a CloudTrail log file in S3 (the backstop for a dropped event).
    TrailFile,
}

impl Input {
    /// Its name on the log line, for tracing spans.
    pub fn as_str(self) -> &'static str {
        match self {
            Input::Invoke => "invoke",
            Input::Change => "change",
            Input::Sweep => "sweep",
            Input::TrailFile => "trail-file",
        }
    }
}

/// The kind of line, in `message`, and the fields of that kind.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(tag = "message", rename_all = "lowercase")]
pub enum Message {
    /// The verdict on one record: `DEBUG` when ignored, `INFO` when allowed, `WARN` on a violation.
    Decision(Verdict),
    /// A change to who may invoke a function (a management event, `input: change`): `INFO`
    /// when it touches a guarded function, `DEBUG` when not.
    #[serde(rename = "decision")]
    ChangeDecision(ChangeDecision),
    /// One sweep of every guarded policy, written when it ends (`input: sweep`).
    Sweep(SweepLine),
    /// The scheduled sweep planned over the sweep queue (`input: sweep`).
    #[serde(rename = "sweep-plan")]
    SweepPlan(SweepPlanLine),
    /// One statement removed from or added to a resource policy (or not, and why).
    Remediation(Remediation),
    /// What one record led to, written last for it.
    Summary(Summary),
    /// A Deny statement or one granting no invoke, kept as it is (`DEBUG`).
    Unmanaged(KeptStatement),
    /// A reconcile skipped: one was in flight or just verified the same policy (`DEBUG`).
    Coalesced { why: CoalescedWhy },
    /// What went wrong and where.
    Error { error: String },
}

/// A `remediation` line: the statement, how it was written and what came of it.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Remediation {
    #[serde(flatten)]
    pub change: StatementChange,
    pub apply: Apply,
    pub outcome: RemediationOutcome,
    /// The RevisionId the call was made with (null when none was sent).
    pub revision_id: Option<String>,
    /// Why the call failed or was retried; absent when it did not.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(with = "String")]
    pub error: Option<String>,
}

/// The statement, in `action`: one removed, or one added with exactly its AddPermission parameters.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(
    tag = "action",
    rename_all = "lowercase",
    rename_all_fields = "camelCase"
)]
pub enum StatementChange {
    Remove {
        /// Null for a statement without one: only a whole-document write can remove it.
        sid: Option<String>,
        /// Its position in the policy document read.
        statement_index: usize,
        principal: String,
        why: String,
        /// The statement written in its place without its invoke actions, when it grants other
        /// actions too.
        #[serde(skip_serializing_if = "Option::is_none")]
        replacement: Option<serde_json::Value>,
    },
    Add {
        sid: String,
        principal: String,
        /// `lambda:InvokeFunction` or `lambda:InvokeFunctionUrl`.
        invoke_action: String,
        source_arn: Option<String>,
        source_account: Option<String>,
        principal_org_id: Option<String>,
        event_source_token: Option<String>,
        /// `NONE` or `AWS_IAM` for a function-URL grant.
        function_url_auth_type: Option<String>,
        /// The index of the allow entry the statement expresses.
        allow_entry: usize,
    },
}

impl From<&Removal> for StatementChange {
    fn from(r: &Removal) -> Self {
        StatementChange::Remove {
            sid: r.sid.clone(),
            statement_index: r.index,
            principal: r.principal.clone(),
            why: r.why.clone(),
            replacement: r.replacement.clone(),
        }
    }
}

impl From<&Addition> for StatementChange {
    fn from(a: &Addition) -> Self {
        StatementChange::Add {
            sid: a.sid.clone(),
            principal: a.principal.clone(),
            invoke_action: a.action.to_owned(),
            source_arn: a.source_arn.clone(),
            source_account: a.source_account.clone(),
            principal_org_id: a.principal_org_id.clone(),
            event_source_token: a.event_source_token.clone(),
            function_url_auth_type: a.function_url_auth_type.map(str::to_owned),
            allow_entry: a.allow_entry,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum RemediationOutcome {
    Applied,
    /// Report mode: the change was only logged.
    SkippedReportMode,
    /// The policy changed meanwhile (or an addition did not fit): planned again.
    ConflictRetried,
    Failed,
}

/// The `decision` line of a management event that changes who may invoke.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChangeDecision {
    /// The recorded event name, e.g. `AddPermission20150331v2`.
    pub change_event: String,
    /// Who made the change: a role or user ARN.
    pub actor: Option<String>,
    /// The statement an AddPermission added (its `responseElements.statement`), parsed.
    pub statement: Option<serde_json::Value>,
    /// `policy-changed` (the policy is reconciled now) or `not-guarded`.
    pub reason: ChangeReason,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ChangeReason {
    PolicyChanged,
    NotGuarded,
    /// The guard's own resource policy: never edited.
    GuardItself,
}

/// The `sweep` line: what one sweep of every guarded policy found and did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SweepLine {
    /// Guarded functions in the policies file.
    pub functions: usize,
    /// Policies (functions, aliases, listed qualifiers) read.
    pub policies_read: usize,
    /// Policies whose reconcile planned a change.
    pub drift: usize,
    /// Policies brought to the allowlist.
    pub fixed: usize,
    /// Invoke grants outside the allowlist left in place.
    pub unfixed: usize,
    /// Policies that could not be read or written.
    pub failed: usize,
    pub api_calls: usize,
    pub elapsed_ms: u64,
    /// True when the sweep stopped before the end (the Lambda timeout neared); `remaining`
    /// policies were not looked at (a function whose aliases were not listed yet counts as
    /// one), and the invocation fails so that it shows.
    pub incomplete: bool,
    pub remaining: usize,
    /// `ACCOUNT/REGION` when the sweep was of one pair (a message of the sweep queue); null for
    /// the in-process sweep of every pair.
    pub pair: Option<String>,
}

/// The `sweep-plan` line: the scheduled event fanned out over the sweep queue, one message per
/// account and region.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SweepPlanLine {
    /// Accounts and regions of the policies file.
    pub pairs: usize,
    /// Messages the queue accepted.
    pub sent: usize,
    /// Messages SendMessageBatch refused or never sent (a call error): the invocation fails.
    pub failed: usize,
}

/// A `summary` line: the counts of one record, or of one policy a sweep reconciled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    /// The record's verdict; null for a change or a sweep.
    pub verdict: Option<Outcome>,
    /// Removals and additions planned on the first attempt.
    pub planned: usize,
    pub removed: usize,
    pub added: usize,
    pub failed: usize,
    /// Invoke grants outside the allowlist left in place (report mode, failures), or 1 for a
    /// violation no policy change can stop.
    pub unfixed: usize,
    /// Reconciles skipped because one was in flight or just verified the same policy.
    pub coalesced: usize,
    pub api_calls: usize,
    pub elapsed_ms: u64,
}

/// A statement the guard leaves as it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KeptStatement {
    pub sid: Option<String>,
    pub statement_index: usize,
    pub why: String,
}

impl From<&Unmanaged> for KeptStatement {
    fn from(u: &Unmanaged) -> Self {
        KeptStatement {
            sid: u.sid.clone(),
            statement_index: u.index,
            why: u.why.clone(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum CoalescedWhy {
    InFlight,
    RecentlyVerified,
}

/// The JSON Schema of a log line, generated from the Rust types (`schemas/log-line.schema.json`).
pub fn json_schema() -> schemars::Schema {
    let mut schema = schemars::generate::SchemaSettings::draft2020_12()
        .for_serialize()
        .into_generator()
        .into_root_schema_for::<LogLine>();
    require_subject(&mut schema);
    schema
}

/// A flattened `Option<Subject>` leaves its fields optional everywhere; only an `error` line may
/// lack them, so every other kind requires them.
fn require_subject(schema: &mut schemars::Schema) {
    use serde_json::Value;
    let subject = ["input", "eventId", "function", "qualifier", "mode"];
    let Some(Value::Array(kinds)) = schema.get_mut("oneOf") else {
        return;
    };
    for kind in kinds.iter_mut().filter_map(Value::as_object_mut) {
        let message = kind.get("properties").and_then(|p| p.get("message"));
        if message.and_then(|m| m.get("const")) == Some(&Value::from("error")) {
            continue;
        }
        if let Some(Value::Array(required)) = kind.get_mut("required") {
            required.extend(subject.iter().map(|&f| Value::from(f)));
        }
    }
}

/// A line's `level`, as Lambda's JSON log format names them.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "UPPERCASE")]
pub enum Level {
    Debug,
    Info,
    Warn,
    Error,
}

impl Level {
    /// Lambda's `AWS_LAMBDA_LOG_LEVEL` (TRACE…FATAL); INFO when unset or unknown.
    pub fn from_lambda_env(value: Option<&str>) -> Level {
        match value.map(str::to_ascii_uppercase).as_deref() {
            Some("TRACE" | "DEBUG") => Level::Debug,
            Some("WARN") => Level::Warn,
            Some("ERROR" | "FATAL") => Level::Error,
            _ => Level::Info,
        }
    }
}

/// A notification's EventBridge `detail-type`: the CDK's rules and the SNS email match on these
/// names (`cdk/lib/notifications.ts`), so they are part of the contract like the log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DetailType {
    /// A violation, with the `decision` line as its detail.
    Violation,
    /// A statement removed or added, with the `remediation` line as its detail.
    Remediation,
}

impl DetailType {
    pub const fn as_str(self) -> &'static str {
        match self {
            DetailType::Violation => "Invokeguard Violation",
            DetailType::Remediation => "Invokeguard Remediation",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_span_names_the_input_as_the_log_line_does() {
        for input in [Input::Invoke, Input::Change, Input::Sweep, Input::TrailFile] {
            assert_eq!(
                serde_json::to_value(input).ok(),
                Some(serde_json::Value::from(input.as_str()))
            );
        }
    }
}
