//! The imperative shell around the engine: judge each record, and for a fixable violation
//! fetch the policy, plan, apply (or report), log every step and notify.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{Map, Value, json};

use super::api::{ApiError, Notifier, PolicyApi};
use super::audit::{Audit, Level, LogSink};
use crate::plan::{Plan, plan};
use crate::policies::{FunctionPolicy, Mode, Policies};
use crate::record::{invocation, records_in_value};
use crate::verdict::{Outcome, Verdict, decide};

/// How hard to try when the policy keeps changing under us.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Reconcile attempts per policy: each starts from a fresh GetPolicy.
    pub max_attempts: u32,
    /// Wait before the second attempt; doubled each time, plus jitter.
    pub conflict_backoff: Duration,
    /// The guard's own function name: its policy is never touched.
    pub guard_function: Option<String>,
    pub log_level: Level,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            max_attempts: 4,
            conflict_backoff: Duration::from_millis(100),
            guard_function: None,
            log_level: Level::Info,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum GuardError {
    #[error("bad event: {0}")]
    BadEvent(String),
    #[error(
        "remediation of {function} incomplete: {detail}; the event fails so that Lambda retries it"
    )]
    Incomplete { function: String, detail: String },
}

/// What one event led to; the Lambda's response.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EventReport {
    pub records: usize,
    pub allowed: usize,
    pub ignored: usize,
    pub violations: usize,
    /// Violations that remain: report mode, not fixable, or not fixed.
    pub unfixed: usize,
    pub removed: usize,
    pub added: usize,
    pub failed: usize,
    pub api_calls: usize,
}

pub struct Guard<A> {
    policies: Policies,
    aws: A,
    sink: Arc<dyn LogSink>,
    settings: Settings,
}

#[derive(Default)]
struct Tally {
    removed: usize,
    added: usize,
    failed: usize,
    calls: usize,
    planned_changes: usize,
}

impl<A: PolicyApi + Notifier> Guard<A> {
    pub fn new(policies: Policies, aws: A, sink: Arc<dyn LogSink>, settings: Settings) -> Self {
        Guard {
            policies,
            aws,
            sink,
            settings,
        }
    }

    pub fn policies(&self) -> &Policies {
        &self.policies
    }

    /// Handles one Lambda event (an EventBridge event, or any shape `check` accepts).
    pub async fn handle_event(
        &self,
        event: Value,
        request_id: &str,
    ) -> Result<EventReport, GuardError> {
        let records = match records_in_value(event, "event") {
            Ok(r) => r,
            Err(e) => {
                self.error_line(request_id, &e.to_string());
                return Err(GuardError::BadEvent(e.to_string()));
            }
        };
        let mut report = EventReport::default();
        let mut first_error = None;
        for rec in records {
            if let Err(e) = self
                .handle_record(&rec.record, request_id, &mut report)
                .await
            {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(report), Err)
    }

    fn error_line(&self, request_id: &str, error: &str) {
        let mut common = Map::new();
        common.insert("requestId".into(), json!(request_id));
        let audit = Audit::new(self.sink.as_ref(), self.settings.log_level, common);
        audit.emit(Level::Error, "error", fields(json!({ "error": error })));
    }

    pub async fn handle_record(
        &self,
        record: &Value,
        request_id: &str,
        report: &mut EventReport,
    ) -> Result<(), GuardError> {
        let started = Instant::now();
        report.records += 1;
        let inv = match invocation(record) {
            Ok(inv) => inv,
            Err(e) => {
                let message = format!("record at {}: {}", e.path, e.message);
                self.error_line(request_id, &message);
                return Err(GuardError::BadEvent(message));
            }
        };
        let verdict = decide(&self.policies, &inv);
        let guarded = inv
            .function
            .as_ref()
            .and_then(|f| self.policies.lookup(&f.name, f.arn.as_deref()));
        let mode = guarded.map_or(Mode::Enforce, |(_, f)| self.policies.mode_for(f));
        let mut common = Map::new();
        common.insert("requestId".into(), json!(request_id));
        common.insert("eventId".into(), json!(verdict.event_id));
        common.insert("function".into(), json!(verdict.function));
        common.insert("qualifier".into(), json!(verdict.qualifier));
        common.insert("mode".into(), json!(mode.as_str()));
        let audit = Audit::new(self.sink.as_ref(), self.settings.log_level, common);
        let level = match verdict.verdict {
            Outcome::Ignored => Level::Debug,
            Outcome::Allowed => Level::Info,
            Outcome::Violation => Level::Warn,
        };
        let decision = audit.emit(level, "decision", to_fields(&verdict));
        let mut tally = Tally::default();
        let mut notes = Vec::new();
        let result = match (verdict.verdict, guarded) {
            (Outcome::Allowed, _) => {
                report.allowed += 1;
                Ok(())
            }
            (Outcome::Ignored, _) | (Outcome::Violation, None) => {
                report.ignored += 1;
                Ok(())
            }
            (Outcome::Violation, Some((key, function))) => {
                report.violations += 1;
                notes.push(("Invokeguard Violation".to_owned(), Value::Object(decision)));
                if verdict.fixable == Some(true) {
                    let api_function = inv
                        .function
                        .as_ref()
                        .and_then(|f| f.arn.clone())
                        .unwrap_or_else(|| key.as_str().to_owned());
                    let r = self
                        .remediate(
                            &api_function,
                            key.as_str(),
                            function,
                            &verdict,
                            mode,
                            &audit,
                            &mut tally,
                            &mut notes,
                        )
                        .await;
                    if mode == Mode::Report || r.is_err() || tally.failed > 0 {
                        report.unfixed += 1;
                    }
                    r
                } else {
                    report.unfixed += 1;
                    Ok(())
                }
            }
        };
        if !notes.is_empty()
            && let Err(e) = self.aws.publish(&notes).await
        {
            // The remediation stands: a lost notification is reported, never undone or repeated.
            audit.emit(
                Level::Error,
                "error",
                fields(json!({ "error": format!("notification failed: {e}") })),
            );
        }
        report.removed += tally.removed;
        report.added += tally.added;
        report.failed += tally.failed;
        report.api_calls += tally.calls;
        let summary_level = if result.is_err() || tally.failed > 0 {
            Level::Error
        } else {
            level.max(Level::Info)
        };
        audit.emit(
            summary_level,
            "summary",
            fields(json!({
                "verdict": verdict.verdict,
                "planned": tally.planned_changes,
                "removed": tally.removed,
                "added": tally.added,
                "failed": tally.failed,
                "apiCalls": tally.calls,
                "elapsedMs": started.elapsed().as_millis() as u64,
            })),
        );
        result
    }

    /// Reconciles every resource policy the violation concerns: the invoked qualifier, or the
    /// unqualified function plus the qualifiers the policies file lists.
    #[allow(clippy::too_many_arguments)]
    async fn remediate(
        &self,
        api_function: &str,
        key: &str,
        function: &FunctionPolicy,
        verdict: &Verdict,
        mode: Mode,
        audit: &Audit<'_>,
        tally: &mut Tally,
        notes: &mut Vec<(String, Value)>,
    ) -> Result<(), GuardError> {
        let name = crate::policies::ids::lambda_arn_name(api_function).unwrap_or(api_function);
        if self.settings.guard_function.as_deref() == Some(name) {
            audit.emit(
                Level::Error,
                "error",
                fields(json!({ "error": "refusing to edit the guard's own resource policy" })),
            );
            return Ok(());
        }
        let targets: Vec<Option<String>> = match &verdict.qualifier {
            Some(q) => vec![Some(q.clone())],
            None => std::iter::once(None)
                .chain(
                    function
                        .qualifiers
                        .iter()
                        .map(|q| Some(q.as_str().to_owned())),
                )
                .collect(),
        };
        let mut first_error = None;
        for qualifier in targets {
            let audit = audit.with("qualifier", json!(qualifier));
            if let Err(e) = self
                .reconcile(
                    api_function,
                    key,
                    function,
                    qualifier.as_deref(),
                    mode,
                    &audit,
                    tally,
                    notes,
                )
                .await
            {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    #[allow(clippy::too_many_arguments)]
    async fn reconcile(
        &self,
        api_function: &str,
        key: &str,
        function: &FunctionPolicy,
        qualifier: Option<&str>,
        mode: Mode,
        audit: &Audit<'_>,
        tally: &mut Tally,
        notes: &mut Vec<(String, Value)>,
    ) -> Result<(), GuardError> {
        let incomplete = |detail: String| GuardError::Incomplete {
            function: format!(
                "{key}{}",
                qualifier.map(|q| format!(":{q}")).unwrap_or_default()
            ),
            detail,
        };
        for attempt in 0..self.settings.max_attempts {
            if attempt > 0 {
                tokio::time::sleep(self.backoff(attempt)).await;
            }
            tally.calls += 1;
            let current = match self.aws.get_policy(api_function, qualifier).await {
                Ok(p) => p,
                Err(ApiError::FunctionNotFound(m)) => {
                    // Nothing left to protect: the event is done.
                    audit.emit(
                        Level::Warn,
                        "error",
                        fields(json!({ "error": format!("function not found: {m}") })),
                    );
                    return Ok(());
                }
                Err(e) => {
                    audit.emit(
                        Level::Error,
                        "error",
                        fields(json!({ "error": format!("GetPolicy failed: {e}") })),
                    );
                    return Err(incomplete(format!("GetPolicy failed: {e}")));
                }
            };
            let planned = plan(key, qualifier, &function.allow, &current);
            if attempt == 0 {
                tally.planned_changes += planned.remove.len() + planned.add.len();
            }
            self.log_unmanaged(&planned, audit);
            if mode == Mode::Report {
                for step in steps(&planned) {
                    audit.emit(
                        Level::Warn,
                        "remediation",
                        step.fields("skipped-report-mode", current.revision_id.as_deref(), None),
                    );
                }
                return Ok(());
            }
            match self
                .apply(
                    api_function,
                    qualifier,
                    &planned,
                    current.revision_id.clone(),
                    audit,
                    tally,
                    notes,
                )
                .await
            {
                Applied::Done => return Ok(()),
                Applied::Failed(n) => return Err(incomplete(format!("{n} action(s) failed"))),
                Applied::Stale => continue,
            }
        }
        let detail = format!(
            "the policy kept changing; gave up after {} attempts",
            self.settings.max_attempts
        );
        audit.emit(Level::Error, "error", fields(json!({ "error": detail })));
        Err(incomplete(detail))
    }

    /// Applies the plan in order. Only the first mutation carries GetPolicy's RevisionId: the
    /// calls return no new one, and a later change by someone else then shows as a 409 or in
    /// the next event's plan.
    #[allow(clippy::too_many_arguments)]
    async fn apply(
        &self,
        api_function: &str,
        qualifier: Option<&str>,
        planned: &Plan,
        revision_id: Option<String>,
        audit: &Audit<'_>,
        tally: &mut Tally,
        notes: &mut Vec<(String, Value)>,
    ) -> Applied {
        let mut revision = revision_id;
        let mut failed = 0;
        for step in steps(planned) {
            let rev = revision.take();
            tally.calls += 1;
            let result = match &step {
                Step::Remove(r) => {
                    self.aws
                        .remove_permission(api_function, qualifier, &r.sid, rev.as_deref())
                        .await
                }
                Step::Add(a) => {
                    self.aws
                        .add_permission(api_function, qualifier, a, rev.as_deref())
                        .await
                }
            };
            let result = match (&step, result) {
                // Gone already (a racing guard, or a retry of our own): the goal holds.
                (Step::Remove(_), Err(ApiError::StatementNotFound(_))) => Ok(()),
                (_, r) => r,
            };
            match result {
                Ok(()) => {
                    match step {
                        Step::Remove(_) => tally.removed += 1,
                        Step::Add(_) => tally.added += 1,
                    }
                    let line = audit.emit(
                        Level::Warn,
                        "remediation",
                        step.fields("applied", rev.as_deref(), None),
                    );
                    notes.push(("Invokeguard Remediation".to_owned(), Value::Object(line)));
                }
                Err(e @ (ApiError::PreconditionFailed(_) | ApiError::Conflict(_))) => {
                    audit.emit(
                        Level::Warn,
                        "remediation",
                        step.fields("conflict-retried", rev.as_deref(), Some(e.to_string())),
                    );
                    return Applied::Stale;
                }
                Err(e) => {
                    failed += 1;
                    tally.failed += 1;
                    audit.emit(
                        Level::Error,
                        "remediation",
                        step.fields("failed", rev.as_deref(), Some(e.to_string())),
                    );
                }
            }
        }
        if failed > 0 {
            Applied::Failed(failed)
        } else {
            Applied::Done
        }
    }

    fn log_unmanaged(&self, planned: &Plan, audit: &Audit<'_>) {
        for u in planned.unmanaged.iter().filter(|u| u.grants_invoke) {
            audit.emit(
                Level::Warn,
                "unmanaged",
                fields(json!({ "sid": u.sid, "statementIndex": u.index, "why": u.why })),
            );
        }
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let base = self.settings.conflict_backoff * 2u32.saturating_pow(attempt - 1);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        // Jitter keeps two racing guards from retrying in lockstep.
        base + Duration::from_nanos(u64::from(nanos) % (base.as_nanos() as u64).max(1))
    }
}

enum Applied {
    Done,
    Failed(usize),
    Stale,
}

/// One mutation of a plan, removals first.
enum Step<'p> {
    Remove(&'p crate::plan::Removal),
    Add(&'p crate::plan::Addition),
}

fn steps(p: &Plan) -> impl Iterator<Item = Step<'_>> {
    p.remove
        .iter()
        .map(Step::Remove)
        .chain(p.add.iter().map(Step::Add))
}

impl Step<'_> {
    fn fields(
        &self,
        outcome: &str,
        revision_id: Option<&str>,
        error: Option<String>,
    ) -> Map<String, Value> {
        let mut f = match self {
            Step::Remove(r) => fields(
                json!({ "action": "remove", "sid": r.sid, "principal": r.principal, "why": r.why }),
            ),
            Step::Add(a) => fields(json!({
                "action": "add", "sid": a.sid, "principal": a.principal, "sourceArn": a.source_arn,
                "sourceAccount": a.source_account, "principalOrgId": a.principal_org_id, "allowEntry": a.allow_entry,
            })),
        };
        f.insert("outcome".into(), json!(outcome));
        f.insert("revisionId".into(), json!(revision_id));
        if let Some(e) = error {
            f.insert("error".into(), json!(e));
        }
        f
    }
}

fn fields(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

fn to_fields<T: Serialize>(v: &T) -> Map<String, Value> {
    serde_json::to_value(v).map(fields).unwrap_or_default()
}
