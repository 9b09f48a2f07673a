//! The imperative shell around the engine: judge each record, and for a fixable violation
//! fetch the policy, plan, apply (or report), log every step and notify.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{Map, Value};

use super::api::{ApiError, Aws};
use super::budget::Budget;
use super::coalesce::{Coalescer, Trigger};
use super::missing::Missing;
use crate::allowlist::{Allowlist, Apply, GuardedFunction, Mode};
use crate::aws::ids::FunctionKey;
use crate::log::line::{
    Input, Message, Remediation, RemediationOutcome, StatementChange, Subject, Summary,
};
use crate::log::{Level, LogSink, LogWriter};
use crate::plan::{Addition, Plan, Removal, plan};
use crate::record::event::{EventKind, classify};
use crate::record::{GuardIdentity, change, event_time, invocation, records_in_value};
use crate::resource_policy::ResourcePolicy;
use crate::verdict::{Outcome, Reason, Verdict, decide};

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
    /// The guard's role (`INVOKEGUARD_ROLE_ARN`): a change it made itself is answered by its
    /// own verification. `None`: every change costs a `GetPolicy`.
    pub identity: Option<GuardIdentity>,
    pub log_level: Level,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            max_attempts: 4,
            conflict_backoff: Duration::from_millis(100),
            verified_ttl: Duration::from_secs(10),
            guard_function: None,
            identity: None,
            log_level: Level::Info,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum GuardError {
    #[error("bad event: {0}")]
    BadEvent(String),
    /// The guard cannot judge anything: the event stays retryable.
    #[error("configuration: {0}")]
    Config(String),
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
    /// Records after which an invoke grant outside the allowlist remains (report mode, a
    /// failure), or whose violation no policy change can stop.
    pub unfixed: usize,
    /// Reconciles skipped because one was in flight or just verified the same policy.
    pub coalesced: usize,
    pub removed: usize,
    pub added: usize,
    pub failed: usize,
    pub api_calls: usize,
}

pub struct Guard<A> {
    pub(super) policies: Allowlist,
    pub(super) aws: A,
    pub(super) sink: Arc<dyn LogSink>,
    pub(super) settings: Settings,
    coalescer: Coalescer,
    /// Qualifiers Lambda said do not exist: records naming them again make no call.
    missing: Missing,
    /// Called after each function of a sweep (its aliases' policies included) with (done,
    /// total): the CLI's progress bar.
    pub(super) progress: Option<Progress>,
}

pub type Progress = Box<dyn Fn(usize, usize) + Send + Sync>;

/// Counts and notifications gathered while handling one record (or one policy of a sweep).
#[derive(Default)]
pub(super) struct Tally {
    pub(super) planned: usize,
    pub(super) removed: usize,
    pub(super) added: usize,
    pub(super) failed: usize,
    pub(super) calls: usize,
    pub(super) coalesced: usize,
    /// Invoke grants outside the allowlist left in place (report mode, failures), or 1 for a
    /// violation no policy change can stop.
    pub(super) unfixed: usize,
    pub(super) notes: Vec<(String, Value)>,
}

/// One resource policy to reconcile: a function, or one of its qualifiers.
pub(super) struct Target<'a> {
    /// What the Lambda API is called with: the function's ARN, else its name.
    pub(super) api_function: String,
    pub(super) key: &'a str,
    pub(super) qualifier: Option<&'a str>,
    pub(super) function: &'a GuardedFunction,
    pub(super) mode: Mode,
    pub(super) apply: Apply,
    pub(super) lines: LogWriter<'a>,
    /// A share of the control-plane quota on top of the clients' own budget per account and
    /// region (which every call draws from); `None`: the clients' budget alone.
    pub(super) budget: Option<&'a Budget>,
}

impl Target<'_> {
    /// The ARN PutResourcePolicy takes: the function's, qualified for an alias or version.
    fn resource_arn(&self) -> Option<String> {
        self.api_function
            .starts_with("arn:")
            .then(|| match self.qualifier {
                Some(q) => format!("{}:{q}", self.api_function),
                None => self.api_function.clone(),
            })
    }

    fn incomplete(&self, detail: String) -> GuardError {
        let qualifier = self.qualifier.map(|q| format!(":{q}")).unwrap_or_default();
        GuardError::Incomplete {
            function: format!("{}{qualifier}", self.key),
            detail,
        }
    }

    fn error_line(&self, level: Level, error: &str) {
        self.lines.emit(
            level,
            Message::Error {
                error: error.to_owned(),
            },
        );
    }
}

enum Applied {
    Done,
    /// `left`: removals not made.
    Failed {
        failed: usize,
        left: usize,
    },
    /// The policy changed meanwhile: plan again from a fresh GetPolicy.
    Stale,
    /// An addition did not fit with AddPermission: write the whole document instead.
    TooLong,
}

impl<A: Aws> Guard<A> {
    pub fn new(policies: Allowlist, aws: A, sink: Arc<dyn LogSink>, settings: Settings) -> Self {
        let coalescer = Coalescer::new(settings.verified_ttl);
        let policies = match &settings.guard_function {
            Some(name) => policies.knowing_guard(name),
            None => policies,
        };
        if let Some(home) = policies.home() {
            aws.set_home(home);
        }
        Guard {
            policies,
            aws,
            sink,
            settings,
            coalescer,
            missing: Missing::default(),
            progress: None,
        }
    }

    /// Reports a sweep's progress to `f` (functions done, total) after each function.
    pub fn with_progress(mut self, f: Progress) -> Self {
        self.progress = Some(f);
        self
    }

    /// Sets the home account and region from the guard's own function ARN (the Lambda
    /// context's), on the first event; a later event with the same ARN costs a comparison. An
    /// ARN that disagrees with the home set at init fails the event and changes nothing.
    pub fn set_home_from_arn(&self, own_arn: &str, request_id: &str) -> Result<(), GuardError> {
        let result = crate::aws::home::Home::from_function_arn(own_arn)
            .map_err(|e| e.to_string())
            .and_then(|home| {
                self.policies
                    .set_home(home.clone())
                    .map_err(|e| format!("{e} (invoked as {own_arn})"))?;
                self.aws.set_home(&home);
                Ok(())
            });
        result.map_err(|e| {
            self.bare_error(request_id, &e);
            GuardError::Config(e)
        })
    }

    /// Handles one Lambda event (an EventBridge event, or any shape `check` accepts).
    pub async fn handle_event(
        &self,
        event: Value,
        request_id: &str,
    ) -> Result<EventReport, GuardError> {
        self.handle_event_until(event, request_id, None).await
    }

    /// Handles one Lambda event, which must be done by `deadline` (a sweep stops before it).
    pub async fn handle_event_until(
        &self,
        event: Value,
        request_id: &str,
        deadline: Option<Instant>,
    ) -> Result<EventReport, GuardError> {
        match classify(&event) {
            EventKind::Scheduled => return self.sweep(request_id, deadline).await,
            EventKind::ObjectsCreated(objects) => {
                return self.handle_trail_files(objects, request_id).await;
            }
            EventKind::Records => {}
        }
        let records = records_in_value(event, "event").map_err(|e| {
            self.bare_error(request_id, &e.to_string());
            GuardError::BadEvent(e.to_string())
        })?;
        let mut report = EventReport::default();
        let mut first_error = None;
        for rec in records {
            let result = self
                .handle_record(&rec.record, request_id, &mut report)
                .await;
            if let Err(e) = result {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(report), Err)
    }

    /// The AWS boundary, for tests that inspect what it saw.
    pub fn aws(&self) -> &A {
        &self.aws
    }

    pub(super) fn bare_error(&self, request_id: &str, error: &str) {
        LogWriter::new(
            self.sink.as_ref(),
            self.settings.log_level,
            request_id,
            None,
        )
        .emit(
            Level::Error,
            Message::Error {
                error: error.to_owned(),
            },
        );
    }

    /// One CloudTrail record of an event, as the Lambda handles it (the one dispatch, which
    /// `invokeguard remediate` uses too): a management event that changes who may invoke goes
    /// down the change path, anything else is judged as an Invoke; adds what happened to `report`.
    pub async fn handle_record(
        &self,
        record: &Value,
        request_id: &str,
        report: &mut EventReport,
    ) -> Result<(), GuardError> {
        match change(record) {
            Ok(Some(c)) => {
                self.handle_change(c, request_id, report, Input::Change)
                    .await
            }
            Ok(None) => {
                self.handle_invocation(record, request_id, report, Input::Invoke)
                    .await
            }
            Err(e) => {
                let message = format!("record at {}: {}", e.path, e.message);
                self.bare_error(request_id, &message);
                Err(GuardError::BadEvent(message))
            }
        }
    }

    /// Judges one record as an Invoke and reconciles the policies it puts in doubt; `input`
    /// says how it arrived. The steps: judge, targets, reconcile, account.
    pub(super) async fn handle_invocation(
        &self,
        record: &Value,
        request_id: &str,
        report: &mut EventReport,
        input: Input,
    ) -> Result<(), GuardError> {
        let started = Instant::now();
        report.records += 1;
        let judged = self.judge(record, request_id, input)?;
        let mut tally = Tally::default();
        let ran = crate::record::ran_version(record, &judged.inv);
        // The version that ran and the aliases routing to it, when the record names no qualifier.
        let mut routed: Vec<String> = Vec::new();
        let result = {
            let mut doubt = self.targets(&judged);
            let mut routing = Ok(());
            if let (Doubt::Reconcile(_), Some(version), Some(api_function)) =
                (&doubt, ran.as_deref(), self.api_function_of(&judged))
            {
                routing = self
                    .routed_to(&judged, &api_function, version, &mut routed, &mut tally)
                    .await;
            }
            if let (Doubt::Reconcile(targets), Some(guarded)) = (&mut doubt, judged.guarded) {
                for q in &routed {
                    if !targets.iter().any(|t| t.qualifier == Some(q.as_str())) {
                        targets.push(self.target(&judged, guarded, Some(q.as_str())));
                    }
                }
            }
            let result = match doubt {
                Doubt::None => Ok(()),
                Doubt::Unfixable => {
                    tally.unfixed += 1;
                    Ok(())
                }
                Doubt::Reconcile(targets) => {
                    let mut first_error = None;
                    let trigger = Trigger::Invoke {
                        at: self.event_time_or_now(event_time(record)),
                    };
                    for target in &targets {
                        if let Err(e) = self.reconcile_for(target, &mut tally, trigger).await {
                            first_error.get_or_insert(e);
                        }
                    }
                    first_error.map_or(Ok(()), Err)
                }
            };
            routing.and(result)
        };
        self.account(judged, tally, result, started, report).await
    }

    /// Reads the record, judges it and writes its `decision` line.
    fn judge<'s>(
        &'s self,
        record: &Value,
        request_id: &str,
        input: Input,
    ) -> Result<Judged<'s>, GuardError> {
        let inv = invocation(record).map_err(|e| {
            let message = format!("record at {}: {}", e.path, e.message);
            self.bare_error(request_id, &message);
            GuardError::BadEvent(message)
        })?;
        let verdict = decide(&self.policies, &inv);
        let guarded = match verdict.reason {
            Reason::NotGuarded | Reason::NotLambda | Reason::NotInvoke | Reason::NoFunction => None,
            _ => inv
                .function
                .as_ref()
                .and_then(|f| self.policies.lookup(&f.name, f.arn.as_deref())),
        };
        let mode = guarded.map_or(Mode::Enforce, |(_, f)| self.policies.mode_for(f));
        let subject = Subject {
            input,
            event_id: verdict.event_id.clone(),
            function: verdict.function.clone(),
            qualifier: verdict.qualifier.clone(),
            mode,
            account: inv
                .function
                .as_ref()
                .and_then(|f| f.account.clone())
                .or_else(|| self.policies.home().map(|h| h.account.clone())),
        };
        let lines = LogWriter::new(
            self.sink.as_ref(),
            self.settings.log_level,
            request_id,
            Some(subject),
        );
        let level = match verdict.outcome {
            Outcome::Ignored => Level::Debug,
            Outcome::Allowed => Level::Info,
            Outcome::Violation => Level::Warn,
        };
        let decision = lines.emit(level, Message::Decision(verdict.clone()));
        Ok(Judged {
            inv,
            verdict,
            guarded,
            mode,
            lines,
            level,
            decision,
        })
    }

    /// Which policies a judged record puts in doubt: those of a fixable violation, and those
    /// behind an allow the record could not prove (the grant that let it in may be too wide).
    fn targets<'j>(&'j self, j: &'j Judged<'_>) -> Doubt<'j> {
        let Some((key, function)) = j.guarded else {
            return Doubt::None;
        };
        let unproven =
            j.verdict.outcome == Outcome::Allowed && j.verdict.source_verified == Some(false);
        match j.verdict.outcome {
            Outcome::Violation if j.verdict.fixable != Some(true) => return Doubt::Unfixable,
            Outcome::Violation => {}
            Outcome::Allowed if unproven => {}
            _ => return Doubt::None,
        }
        let qualifiers: Vec<Option<&str>> = match &j.verdict.qualifier {
            Some(q) => vec![Some(q.as_str())],
            None => std::iter::once(None)
                .chain(function.qualifiers.iter().map(|q| Some(q.as_str())))
                .collect(),
        };
        let api_function = self.api_function_of(j).unwrap_or_default();
        // A failed call naming a qualifier Lambda said does not exist costs nothing again. A
        // call that succeeded proves its qualifier existed then: it is always reconciled.
        let failed = j.inv.error_code.is_some();
        Doubt::Reconcile(
            qualifiers
                .into_iter()
                .filter(|q| !failed || q.is_none_or(|q| !self.missing.contains(&api_function, q)))
                .map(|qualifier| self.target(j, (key, function), qualifier))
                .collect(),
        )
    }

    /// What the Lambda API is called with for a judged record's function: the record's own ARN
    /// when it names one in the file; else the key's, at home.
    fn api_function_of(&self, j: &Judged<'_>) -> Option<String> {
        let (key, _) = j.guarded?;
        Some(
            j.inv
                .function
                .as_ref()
                .and_then(|f| f.arn.clone())
                .unwrap_or_else(|| self.policies.api_function(key)),
        )
    }

    /// The policy of `qualifier` of a judged record's guarded function, to reconcile.
    fn target<'j>(
        &'j self,
        j: &'j Judged<'_>,
        (key, function): (&'j FunctionKey, &'j GuardedFunction),
        qualifier: Option<&'j str>,
    ) -> Target<'j> {
        Target {
            api_function: self.api_function_of(j).unwrap_or_default(),
            key: key.as_str(),
            qualifier,
            function,
            mode: j.mode,
            apply: self.policies.apply_for(function),
            lines: j.lines.with_qualifier(qualifier),
            budget: None,
        }
    }

    /// A record that names no qualifier but says version `version` ran: that version's policy
    /// and every alias routing to it (ListAliases with FunctionVersion) may be what let the
    /// caller in. Pushes them to `routed`; when the aliases cannot be listed, the record is
    /// unfixed and the event fails (the version itself is still reconciled).
    async fn routed_to(
        &self,
        j: &Judged<'_>,
        api_function: &str,
        version: &str,
        routed: &mut Vec<String>,
        tally: &mut Tally,
    ) -> Result<(), GuardError> {
        if j.inv.error_code.is_some() && self.missing.contains(api_function, version) {
            return Ok(());
        }
        routed.push(version.to_owned());
        tally.calls += 1;
        match self.aws.list_aliases(api_function, Some(version)).await {
            Ok(aliases) => {
                routed.extend(aliases);
                Ok(())
            }
            Err(e) => {
                let detail = format!("cannot list the aliases routing to version {version}: {e}");
                j.lines.emit(
                    Level::Error,
                    Message::Error {
                        error: detail.clone(),
                    },
                );
                tally.unfixed += 1;
                Err(GuardError::Incomplete {
                    function: j.verdict.function.clone().unwrap_or_default(),
                    detail,
                })
            }
        }
    }

    /// Notifies, adds the record's counts to the event's report and writes its `summary` line.
    async fn account(
        &self,
        j: Judged<'_>,
        mut tally: Tally,
        result: Result<(), GuardError>,
        started: Instant,
        report: &mut EventReport,
    ) -> Result<(), GuardError> {
        match (j.verdict.outcome, j.guarded) {
            (Outcome::Allowed, _) => report.allowed += 1,
            (Outcome::Ignored, _) | (Outcome::Violation, None) => report.ignored += 1,
            (Outcome::Violation, Some(_)) => {
                report.violations += 1;
                // In a storm only the records that reached AWS notify; each is still logged.
                // A violation seen by both inputs (EventBridge, then the trail file) notifies once.
                if tally.coalesced == 0 && self.first_notice(&j).await {
                    tally.notes.insert(
                        0,
                        (
                            "Invokeguard Violation".to_owned(),
                            Value::Object(j.decision),
                        ),
                    );
                }
            }
        }
        if result.is_err() && tally.unfixed == 0 && j.verdict.outcome == Outcome::Violation {
            // Something failed before the policy could be read or written: nothing is proven fixed.
            tally.unfixed += 1;
        }
        report.unfixed += usize::from(tally.unfixed > 0);
        report.removed += tally.removed;
        report.added += tally.added;
        report.failed += tally.failed;
        report.api_calls += tally.calls;
        report.coalesced += tally.coalesced;
        self.close(
            &j.lines,
            Some(j.verdict.outcome),
            j.level,
            tally,
            result.is_err(),
            started,
        )
        .await;
        result
    }

    /// Whether this record's violation is notified: the first time its eventID is claimed.
    /// When the claim cannot be made, it is notified (twice is better than never).
    async fn first_notice(&self, j: &Judged<'_>) -> bool {
        let Some(event_id) = j.verdict.event_id.as_deref() else {
            return true;
        };
        match self.aws.first_claim(event_id).await {
            Ok(first) => first,
            Err(e) => {
                j.lines.emit(
                    Level::Error,
                    Message::Error {
                        error: format!("deduplication failed, notifying anyway: {e}"),
                    },
                );
                true
            }
        }
    }

    /// Sends the notifications gathered and writes the `summary` line.
    pub(super) async fn close(
        &self,
        lines: &LogWriter<'_>,
        verdict: Option<Outcome>,
        level: Level,
        tally: Tally,
        errored: bool,
        started: Instant,
    ) {
        if !tally.notes.is_empty()
            && let Err(e) = self.aws.publish(&tally.notes).await
        {
            // The remediation stands: a lost notification is reported, never undone or repeated.
            lines.emit(
                Level::Error,
                Message::Error {
                    error: format!("notification failed: {e}"),
                },
            );
        }
        let summary_level = if errored || tally.failed > 0 {
            Level::Error
        } else if tally.unfixed > 0 {
            Level::Warn
        } else {
            level.max(Level::Info)
        };
        lines.emit(
            summary_level,
            Message::Summary(Summary {
                verdict,
                planned: tally.planned,
                removed: tally.removed,
                added: tally.added,
                failed: tally.failed,
                unfixed: tally.unfixed,
                coalesced: tally.coalesced,
                api_calls: tally.calls,
                elapsed_ms: started.elapsed().as_millis() as u64,
            }),
        );
    }

    /// Reconciles one policy, unless it was verified within the TTL (a sweep's claim).
    pub(super) async fn reconcile(
        &self,
        t: &Target<'_>,
        tally: &mut Tally,
    ) -> Result<(), GuardError> {
        let now = self.coalescer.now();
        self.reconcile_for(t, tally, Trigger::Invoke { at: now })
            .await
    }

    /// A record's `eventTime` on the guard's clock; a record without one is dated on arrival.
    pub(super) fn event_time_or_now(&self, secs: Option<u64>) -> std::time::SystemTime {
        secs.map_or_else(
            || self.coalescer.now(),
            |s| std::time::UNIX_EPOCH + Duration::from_secs(s),
        )
    }

    /// Reconciles one policy unless a verification answers for `trigger` (see
    /// [`super::coalesce::decide`]); runs once more if a change arrived meanwhile.
    pub(super) async fn reconcile_for(
        &self,
        t: &Target<'_>,
        tally: &mut Tally,
        trigger: Trigger,
    ) -> Result<(), GuardError> {
        // Known by its full ARN: a member account's function of the same name is not the guard.
        if self.policies.is_guard(&t.api_function) {
            t.error_line(
                Level::Error,
                "refusing to edit the guard's own resource policy",
            );
            tally.unfixed += 1;
            return Ok(());
        }
        let mut ticket = match self
            .coalescer
            .claim(&t.api_function, t.qualifier, trigger)
            .await
        {
            Ok(ticket) => ticket,
            Err(skip) => {
                tally.coalesced += 1;
                t.lines
                    .emit(Level::Debug, Message::Coalesced { why: skip.into() });
                return Ok(());
            }
        };
        loop {
            let result = self.reconcile_now(t, tally).await;
            if !ticket.finish(result.is_ok()) {
                return result;
            }
        }
    }

    async fn reconcile_now(&self, t: &Target<'_>, tally: &mut Tally) -> Result<(), GuardError> {
        let mut force_document = false;
        for attempt in 0..self.settings.max_attempts {
            if attempt > 0 {
                tokio::time::sleep(self.backoff(attempt)).await;
            }
            spend(t).await;
            tally.calls += 1;
            let current = match self.aws.get_policy(&t.api_function, t.qualifier).await {
                Ok(p) => {
                    if let Some(q) = t.qualifier {
                        self.missing.forget(&t.api_function, q);
                    }
                    p
                }
                Err(ApiError::FunctionNotFound(m)) => {
                    // Nothing left to protect: the event is done.
                    t.error_line(Level::Warn, &format!("function not found: {m}"));
                    return Ok(());
                }
                Err(ApiError::QualifierNotFound(m)) => {
                    // No such version or alias, so no policy there; remembered, so that records
                    // naming it again cost nothing.
                    if let Some(q) = t.qualifier {
                        self.missing.remember(&t.api_function, q);
                    }
                    t.error_line(Level::Warn, &format!("qualifier not found: {m}"));
                    return Ok(());
                }
                Err(e) => {
                    t.error_line(Level::Error, &format!("GetPolicy failed: {e}"));
                    tally.unfixed += 1;
                    return Err(t.incomplete(format!("GetPolicy failed: {e}")));
                }
            };
            let apply = if force_document {
                Apply::Document
            } else {
                t.apply
            };
            let mut planned = plan(
                &t.api_function,
                t.qualifier,
                &t.function.allow,
                &current,
                apply,
            );
            if force_document {
                planned.apply_reason =
                    "an addition exceeded the policy size with AddPermission (PolicyLengthExceededException)".into();
            }
            if attempt == 0 {
                tally.planned += planned.remove.len() + planned.add.len();
            }
            self.log_kept(&planned, &t.lines);
            if planned.is_empty() {
                return Ok(());
            }
            if t.mode == Mode::Report {
                for step in steps(&planned) {
                    t.lines.emit(
                        Level::Warn,
                        step.fields(
                            RemediationOutcome::SkippedReportMode,
                            planned.apply,
                            current.revision_id.as_deref(),
                            None,
                        ),
                    );
                }
                tally.unfixed += planned.remove.len();
                return Ok(());
            }
            let applied = match planned.apply {
                Apply::Permissions => self.apply_permissions(t, &planned, tally).await,
                Apply::Document => self.apply_document(t, &planned, &current, tally).await,
            };
            match applied {
                Applied::Done => return Ok(()),
                Applied::Failed { failed, left } => {
                    tally.unfixed += left;
                    return Err(t.incomplete(format!("{failed} action(s) failed")));
                }
                Applied::Stale => continue,
                Applied::TooLong => force_document = true,
            }
        }
        let detail = format!(
            "the policy kept changing; gave up after {} attempts",
            self.settings.max_attempts
        );
        t.error_line(Level::Error, &detail);
        tally.unfixed += 1;
        Err(t.incomplete(detail))
    }

    /// AddPermission for every addition, then RemovePermission for every removal: an allowed
    /// caller never goes without its grant. Only the first call carries GetPolicy's
    /// RevisionId: a later change by someone else shows as a 409 or in the next plan.
    async fn apply_permissions(
        &self,
        t: &Target<'_>,
        planned: &Plan,
        tally: &mut Tally,
    ) -> Applied {
        let mut revision = planned.revision_id.clone();
        let mut failed = 0;
        let mut left = planned.remove.len();
        for step in steps(planned) {
            let rev = revision.take();
            spend(t).await;
            tally.calls += 1;
            let result = match &step {
                Step::Remove(r) => {
                    let sid = r.sid.as_deref().unwrap_or_default();
                    self.aws
                        .remove_permission(&t.api_function, t.qualifier, sid, rev.as_deref())
                        .await
                }
                Step::Add(a) => {
                    self.aws
                        .add_permission(&t.api_function, t.qualifier, a, rev.as_deref())
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
                        Step::Remove(_) => {
                            tally.removed += 1;
                            left -= 1;
                        }
                        Step::Add(_) => tally.added += 1,
                    }
                    self.applied_line(t, &step, planned.apply, rev.as_deref(), tally);
                }
                Err(e @ (ApiError::PreconditionFailed(_) | ApiError::Conflict(_))) => {
                    t.lines.emit(
                        Level::Warn,
                        step.fields(
                            RemediationOutcome::ConflictRetried,
                            planned.apply,
                            rev.as_deref(),
                            Some(e.to_string()),
                        ),
                    );
                    return Applied::Stale;
                }
                Err(e @ ApiError::PolicyLengthExceeded(_)) if matches!(step, Step::Add(_)) => {
                    // Removals have not started: the whole document is written instead.
                    t.lines.emit(
                        Level::Warn,
                        step.fields(
                            RemediationOutcome::ConflictRetried,
                            planned.apply,
                            rev.as_deref(),
                            Some(e.to_string()),
                        ),
                    );
                    return Applied::TooLong;
                }
                Err(e) => {
                    failed += 1;
                    tally.failed += 1;
                    t.lines.emit(
                        Level::Error,
                        step.fields(
                            RemediationOutcome::Failed,
                            planned.apply,
                            rev.as_deref(),
                            Some(e.to_string()),
                        ),
                    );
                    if matches!(step, Step::Add(_)) {
                        // Never remove a grant while its allowed replacement is missing.
                        for r in &planned.remove {
                            t.lines.emit(
                                Level::Error,
                                Step::Remove(r).fields(
                                    RemediationOutcome::Failed,
                                    planned.apply,
                                    None,
                                    Some("not attempted: an addition before it failed".into()),
                                ),
                            );
                        }
                        tally.failed += planned.remove.len();
                        return Applied::Failed {
                            failed: failed + planned.remove.len(),
                            left,
                        };
                    }
                }
            }
        }
        if failed > 0 {
            Applied::Failed { failed, left }
        } else {
            Applied::Done
        }
    }

    /// One PutResourcePolicy of the whole desired policy (DeleteResourcePolicy when nothing is
    /// left), guarded by the RevisionId GetPolicy returned.
    async fn apply_document(
        &self,
        t: &Target<'_>,
        planned: &Plan,
        current: &ResourcePolicy,
        tally: &mut Tally,
    ) -> Applied {
        let Some(resource_arn) = t.resource_arn() else {
            let error = "a whole-document write needs the function's ARN: give the home account and region (--account/--region)";
            every_step(t, planned, RemediationOutcome::Failed, None, error);
            tally.failed += 1;
            return Applied::Failed {
                failed: 1,
                left: planned.remove.len(),
            };
        };
        let desired = planned.applied_to(current, Some(&resource_arn));
        let rev = planned.revision_id.as_deref();
        spend(t).await;
        tally.calls += 1;
        let result = if desired.statements.is_empty() {
            self.aws.delete_resource_policy(&resource_arn, rev).await
        } else {
            let document = desired.document().to_string();
            self.aws
                .put_resource_policy(&resource_arn, &document, rev)
                .await
        };
        match result {
            Ok(()) => {
                for step in steps(planned) {
                    match step {
                        Step::Remove(_) => tally.removed += 1,
                        Step::Add(_) => tally.added += 1,
                    }
                    self.applied_line(t, &step, planned.apply, rev, tally);
                }
                Applied::Done
            }
            Err(e @ (ApiError::PreconditionFailed(_) | ApiError::Conflict(_))) => {
                let e = e.to_string();
                every_step(t, planned, RemediationOutcome::ConflictRetried, rev, &e);
                Applied::Stale
            }
            Err(e) => {
                every_step(t, planned, RemediationOutcome::Failed, rev, &e.to_string());
                tally.failed += 1;
                Applied::Failed {
                    failed: 1,
                    left: planned.remove.len(),
                }
            }
        }
    }

    fn applied_line(
        &self,
        t: &Target<'_>,
        step: &Step<'_>,
        apply: Apply,
        revision_id: Option<&str>,
        tally: &mut Tally,
    ) {
        let line = t.lines.emit(
            Level::Warn,
            step.fields(RemediationOutcome::Applied, apply, revision_id, None),
        );
        tally
            .notes
            .push(("Invokeguard Remediation".to_owned(), Value::Object(line)));
    }

    /// Deny statements and statements granting no invoke stay as they are; a reviewer may want
    /// to know they are there.
    fn log_kept(&self, planned: &Plan, lines: &LogWriter<'_>) {
        for u in &planned.unmanaged {
            lines.emit(Level::Debug, Message::Unmanaged(u.into()));
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

/// A record read and judged, with what its later lines share.
struct Judged<'s> {
    inv: crate::record::Invocation,
    verdict: Verdict,
    guarded: Option<(&'s FunctionKey, &'s GuardedFunction)>,
    mode: Mode,
    lines: LogWriter<'s>,
    level: Level,
    decision: Map<String, Value>,
}

/// What a judged record asks of the shell.
enum Doubt<'j> {
    None,
    /// A violation no policy change can stop (a same-account IAM caller, an unknown one).
    Unfixable,
    Reconcile(Vec<Target<'j>>),
}

/// One `remediation` line per statement of a whole-document write that did not land.
fn every_step(
    t: &Target<'_>,
    planned: &Plan,
    outcome: RemediationOutcome,
    revision_id: Option<&str>,
    error: &str,
) {
    let level = if outcome == RemediationOutcome::Failed {
        Level::Error
    } else {
        Level::Warn
    };
    for step in steps(planned) {
        t.lines.emit(
            level,
            step.fields(outcome, planned.apply, revision_id, Some(error.to_owned())),
        );
    }
}

/// Waits for the target's share of the control-plane quota, if it has one.
async fn spend(t: &Target<'_>) {
    if let Some(budget) = t.budget {
        budget.take().await;
    }
}

/// One change of a plan, additions first.
enum Step<'p> {
    Remove(&'p Removal),
    Add(&'p Addition),
}

fn steps(p: &Plan) -> impl Iterator<Item = Step<'_>> {
    p.add
        .iter()
        .map(Step::Add)
        .chain(p.remove.iter().map(Step::Remove))
}

impl Step<'_> {
    fn fields(
        &self,
        outcome: RemediationOutcome,
        apply: Apply,
        revision_id: Option<&str>,
        error: Option<String>,
    ) -> Message {
        let change = match self {
            Step::Remove(r) => StatementChange::from(*r),
            Step::Add(a) => StatementChange::from(*a),
        };
        Message::Remediation(Remediation {
            change,
            apply,
            outcome,
            revision_id: revision_id.map(str::to_owned),
            error,
        })
    }
}
