//! The imperative shell around the engine: judge each record, and for a fixable violation
//! fetch the policy, plan, apply (or report), log every step and notify.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{Map, Value, json};

use super::api::{ApiError, Notifier, PolicyApi};
use super::audit::{Audit, Level, LogSink};
use super::coalesce::Coalescer;
use crate::plan::{Addition, Plan, Removal, plan};
use crate::policies::{FunctionPolicy, Mode, Policies};
use crate::record::{invocation, records_in_value};
use crate::verdict::{Outcome, decide};

/// How hard to try when the policy keeps changing under us, and how to log.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Reconcile attempts per policy: each starts from a fresh GetPolicy.
    pub max_attempts: u32,
    /// Wait before the second attempt; doubled each time, plus jitter.
    pub conflict_backoff: Duration,
    /// After a policy was reconciled or found right, records for it within this time make no
    /// AWS call (storm protection). Zero turns coalescing off.
    pub verified_ttl: Duration,
    /// The guard's own function name: its policy is never touched.
    pub guard_function: Option<String>,
    pub log_level: Level,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            max_attempts: 4,
            conflict_backoff: Duration::from_millis(100),
            verified_ttl: Duration::from_secs(10),
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
    /// Violations that remain: report mode, not fixable, refused, or not fixed.
    pub unfixed: usize,
    /// Reconciles skipped because one was in flight or just verified the same policy.
    pub coalesced: usize,
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
    coalescer: Coalescer,
}

/// Counts and notifications gathered while handling one record.
#[derive(Default)]
struct Tally {
    planned: usize,
    removed: usize,
    added: usize,
    failed: usize,
    calls: usize,
    coalesced: usize,
    unfixed: bool,
    notes: Vec<(String, Value)>,
}

/// One resource policy to reconcile: a function, or one of its qualifiers.
struct Target<'a> {
    /// What the Lambda API is called with: the record's function ARN, else the policies key.
    api_function: &'a str,
    key: &'a str,
    qualifier: Option<&'a str>,
    function: &'a FunctionPolicy,
    mode: Mode,
    audit: Audit<'a>,
}

impl Target<'_> {
    fn incomplete(&self, detail: String) -> GuardError {
        let qualifier = self.qualifier.map(|q| format!(":{q}")).unwrap_or_default();
        GuardError::Incomplete {
            function: format!("{}{qualifier}", self.key),
            detail,
        }
    }

    fn error_line(&self, level: Level, error: &str) {
        self.audit
            .emit(level, "error", fields(json!({ "error": error })));
    }
}

enum Applied {
    Done,
    Failed(usize),
    Stale,
}

impl<A: PolicyApi + Notifier> Guard<A> {
    pub fn new(policies: Policies, aws: A, sink: Arc<dyn LogSink>, settings: Settings) -> Self {
        let coalescer = Coalescer::new(settings.verified_ttl);
        Guard {
            policies,
            aws,
            sink,
            settings,
            coalescer,
        }
    }

    /// Handles one Lambda event (an EventBridge event, or any shape `check` accepts).
    pub async fn handle_event(
        &self,
        event: Value,
        request_id: &str,
    ) -> Result<EventReport, GuardError> {
        let records = records_in_value(event, "event").map_err(|e| {
            self.bare_error(request_id, &e.to_string());
            GuardError::BadEvent(e.to_string())
        })?;
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

    fn bare_error(&self, request_id: &str, error: &str) {
        let mut common = Map::new();
        common.insert("requestId".into(), json!(request_id));
        Audit::new(self.sink.as_ref(), self.settings.log_level, common).emit(
            Level::Error,
            "error",
            fields(json!({ "error": error })),
        );
    }

    /// Judges one record and remediates a fixable violation; adds what happened to `report`.
    pub async fn handle_record(
        &self,
        record: &Value,
        request_id: &str,
        report: &mut EventReport,
    ) -> Result<(), GuardError> {
        let started = Instant::now();
        report.records += 1;
        let inv = invocation(record).map_err(|e| {
            let message = format!("record at {}: {}", e.path, e.message);
            self.bare_error(request_id, &message);
            GuardError::BadEvent(message)
        })?;
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
                let result = if verdict.fixable == Some(true) {
                    let api_function = inv
                        .function
                        .as_ref()
                        .and_then(|f| f.arn.as_deref())
                        .unwrap_or(key.as_str());
                    let qualifiers: Vec<Option<&str>> = match &verdict.qualifier {
                        Some(q) => vec![Some(q.as_str())],
                        None => std::iter::once(None)
                            .chain(function.qualifiers.iter().map(|q| Some(q.as_str())))
                            .collect(),
                    };
                    let mut first_error = None;
                    for qualifier in qualifiers {
                        let target = Target {
                            api_function,
                            key: key.as_str(),
                            qualifier,
                            function,
                            mode,
                            audit: audit.with("qualifier", json!(qualifier)),
                        };
                        if let Err(e) = self.reconcile(&target, &mut tally).await {
                            first_error.get_or_insert(e);
                        }
                    }
                    first_error.map_or(Ok(()), Err)
                } else {
                    tally.unfixed = true;
                    Ok(())
                };
                // In a storm only the records that reached AWS notify; each is still logged.
                if tally.coalesced == 0 {
                    tally.notes.insert(
                        0,
                        ("Invokeguard Violation".to_owned(), Value::Object(decision)),
                    );
                }
                if result.is_err() || tally.failed > 0 || mode == Mode::Report {
                    tally.unfixed = true;
                }
                report.unfixed += usize::from(tally.unfixed);
                result
            }
        };
        if !tally.notes.is_empty()
            && let Err(e) = self.aws.publish(&tally.notes).await
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
        report.coalesced += tally.coalesced;
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
                "planned": tally.planned,
                "removed": tally.removed,
                "added": tally.added,
                "failed": tally.failed,
                "coalesced": tally.coalesced,
                "apiCalls": tally.calls,
                "elapsedMs": started.elapsed().as_millis() as u64,
            })),
        );
        result
    }

    /// Reconciles one policy, unless another record did so just now.
    async fn reconcile(&self, t: &Target<'_>, tally: &mut Tally) -> Result<(), GuardError> {
        let name = crate::policies::ids::lambda_arn_name(t.api_function).unwrap_or(t.api_function);
        if self.settings.guard_function.as_deref() == Some(name) {
            t.error_line(
                Level::Error,
                "refusing to edit the guard's own resource policy",
            );
            tally.unfixed = true;
            return Ok(());
        }
        let ticket = match self.coalescer.claim(t.api_function, t.qualifier).await {
            Ok(ticket) => ticket,
            Err(skip) => {
                tally.coalesced += 1;
                t.audit.emit(
                    Level::Debug,
                    "coalesced",
                    fields(json!({ "why": skip.as_str() })),
                );
                return Ok(());
            }
        };
        let result = self.reconcile_now(t, tally).await;
        ticket.finish(result.is_ok());
        result
    }

    async fn reconcile_now(&self, t: &Target<'_>, tally: &mut Tally) -> Result<(), GuardError> {
        for attempt in 0..self.settings.max_attempts {
            if attempt > 0 {
                tokio::time::sleep(self.backoff(attempt)).await;
            }
            tally.calls += 1;
            let current = match self.aws.get_policy(t.api_function, t.qualifier).await {
                Ok(p) => p,
                Err(ApiError::FunctionNotFound(m)) => {
                    // Nothing left to protect: the event is done.
                    t.error_line(Level::Warn, &format!("function not found: {m}"));
                    return Ok(());
                }
                Err(e) => {
                    t.error_line(Level::Error, &format!("GetPolicy failed: {e}"));
                    return Err(t.incomplete(format!("GetPolicy failed: {e}")));
                }
            };
            let planned = plan(t.key, t.qualifier, &t.function.allow, &current);
            if attempt == 0 {
                tally.planned += planned.remove.len() + planned.add.len();
            }
            self.log_unmanaged(&planned, &t.audit);
            if let Some(why) = &planned.refused {
                t.audit.emit(
                    Level::Error,
                    "error",
                    fields(json!({ "error": why, "refused": true })),
                );
                tally.unfixed = true;
                return Ok(());
            }
            if t.mode == Mode::Report {
                for step in steps(&planned) {
                    t.audit.emit(
                        Level::Warn,
                        "remediation",
                        step.fields("skipped-report-mode", current.revision_id.as_deref(), None),
                    );
                }
                return Ok(());
            }
            match self.apply(t, &planned, current.revision_id, tally).await {
                Applied::Done => return Ok(()),
                Applied::Failed(n) => return Err(t.incomplete(format!("{n} action(s) failed"))),
                Applied::Stale => continue,
            }
        }
        let detail = format!(
            "the policy kept changing; gave up after {} attempts",
            self.settings.max_attempts
        );
        t.error_line(Level::Error, &detail);
        Err(t.incomplete(detail))
    }

    /// Applies the plan in order. Only the first mutation carries GetPolicy's RevisionId: the
    /// calls return no new one; a later change by someone else shows as a 409 or in the next plan.
    async fn apply(
        &self,
        t: &Target<'_>,
        planned: &Plan,
        revision_id: Option<String>,
        tally: &mut Tally,
    ) -> Applied {
        let mut revision = revision_id;
        let mut failed = 0;
        for step in steps(planned) {
            let rev = revision.take();
            tally.calls += 1;
            let result = match &step {
                Step::Remove(r) => {
                    self.aws
                        .remove_permission(t.api_function, t.qualifier, &r.sid, rev.as_deref())
                        .await
                }
                Step::Add(a) => {
                    self.aws
                        .add_permission(t.api_function, t.qualifier, a, rev.as_deref())
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
                    let line = t.audit.emit(
                        Level::Warn,
                        "remediation",
                        step.fields("applied", rev.as_deref(), None),
                    );
                    tally
                        .notes
                        .push(("Invokeguard Remediation".to_owned(), Value::Object(line)));
                }
                Err(e @ (ApiError::PreconditionFailed(_) | ApiError::Conflict(_))) => {
                    t.audit.emit(
                        Level::Warn,
                        "remediation",
                        step.fields("conflict-retried", rev.as_deref(), Some(e.to_string())),
                    );
                    return Applied::Stale;
                }
                Err(e) => {
                    failed += 1;
                    tally.failed += 1;
                    t.audit.emit(
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
        let base = self.settings.conflict_backoff * 2u32.saturating_pow(attempt.saturating_sub(1));
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        // Jitter keeps two racing guards from retrying in lockstep.
        base + Duration::from_nanos(u64::from(nanos) % (base.as_nanos() as u64).max(1))
    }
}

/// One mutation of a plan, removals first.
enum Step<'p> {
    Remove(&'p Removal),
    Add(&'p Addition),
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
