//! The Invoke path: judge a record (`verdict::decide`), find the policies it puts in doubt (the
//! one it names, or the function's and the qualifiers' the file lists; the version that ran and
//! the aliases routing to it), reconcile each, then notify and account for the record.

use std::time::Instant;

use serde_json::{Map, Value};

use super::api::Aws;
use super::coalesce::Trigger;
use super::discover::PolicyRef;
use super::reconcile::{close, error_line, reconcile_for};
use super::report::{EventReport, GuardError, Tally};
use super::state::State;
use crate::allowlist::{GuardedFunction, Mode};
use crate::aws::arn::FunctionArn;
use crate::aws::ids::FunctionKey;
use crate::finding::{Violation, Workflow, build};
use crate::log::line::{DetailType, Input, Message, Subject};
use crate::log::writer::now_rfc3339;
use crate::log::{Level, LogWriter};
use crate::record::{Invocation, event_time, ran_version};
use crate::verdict::{Outcome, Reason, Verdict, decide};

/// Judges one record, read as the Invoke `inv`, and reconciles the policies it puts in doubt;
/// `input` says how it arrived. The steps: judge, doubt, reconcile, account.
pub(super) async fn handle<A: Aws>(
    g: &State<A>,
    record: &Value,
    inv: Invocation,
    request_id: &str,
    report: &mut EventReport,
    input: Input,
) -> Result<(), GuardError> {
    let started = Instant::now();
    let mut judged = judge(g, inv, request_id, input);
    judged.event_time = record
        .get("eventTime")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let mut tally = Tally::default();
    let result = match doubt(g, &judged) {
        Doubt::None => Ok(()),
        Doubt::Unfixable => {
            tally.unfixed += 1;
            Ok(())
        }
        Doubt::Reconcile(function, mut policies) => {
            // The version that ran and the aliases routing to it, when the record names no
            // qualifier.
            let routing = match ran_version(record, &judged.inv) {
                Some(version) => {
                    let api_function = &function.api_function;
                    let (routed, listed) =
                        routed_to(g, &judged, api_function, &version, &mut tally).await;
                    for q in routed {
                        if !policies.iter().any(|p| p.qualifier.as_ref() == Some(&q)) {
                            policies.push(function.with_qualifier(Some(q)));
                        }
                    }
                    listed
                }
                None => Ok(()),
            };
            let trigger = Trigger::Invoke {
                at: g.event_time_or_now(event_time(record)),
            };
            let mut first_error = None;
            for p in &policies {
                let lines = judged.lines.with_qualifier(p.qualifier.as_deref());
                if let Err(e) = reconcile_for(g, p, &lines, &mut tally, trigger).await {
                    first_error.get_or_insert(e);
                }
            }
            routing.and(first_error.map_or(Ok(()), Err))
        }
    };
    account(g, judged, tally, result, started, report).await
}

/// A record read and judged, with what its later lines share.
struct Judged<'s> {
    inv: Invocation,
    verdict: Verdict,
    guarded: Option<(&'s FunctionKey, &'s GuardedFunction)>,
    lines: LogWriter<'s>,
    level: Level,
    decision: Map<String, Value>,
    /// The record's `eventTime`, as it wrote it.
    event_time: Option<String>,
}

/// What a judged record asks of the shell.
enum Doubt<'j> {
    None,
    /// A violation no policy change can stop (a same-account IAM caller, an unknown one).
    Unfixable,
    /// The function (unqualified) and the policies of it to reconcile.
    Reconcile(PolicyRef<'j>, Vec<PolicyRef<'j>>),
}

/// Judges the record and writes its `decision` line.
fn judge<'s, A>(g: &'s State<A>, inv: Invocation, request_id: &str, input: Input) -> Judged<'s> {
    let verdict = decide(&g.allowlist, &inv);
    let guarded = match verdict.reason {
        Reason::NotGuarded | Reason::NotLambda | Reason::NotInvoke | Reason::NoFunction => None,
        _ => inv
            .function
            .as_ref()
            .and_then(|f| g.allowlist.lookup(&f.name, f.arn.as_deref())),
    };
    let mode = guarded.map_or(Mode::Enforce, |(_, f)| g.allowlist.mode_for(f));
    let account = inv.function.as_ref().and_then(|f| f.account.as_deref());
    let subject = Subject::new(
        input,
        verdict.event_id.clone(),
        verdict.function.clone(),
        verdict.qualifier.clone(),
        mode,
        g.account_or_home(account),
    );
    let lines = g.lines(request_id, Some(subject));
    let level = match verdict.outcome {
        Outcome::Ignored => Level::Debug,
        Outcome::Allowed => Level::Info,
        Outcome::Violation => Level::Warn,
    };
    let decision = lines.emit(level, Message::Decision(verdict.clone()));
    Judged {
        inv,
        verdict,
        guarded,
        lines,
        level,
        decision,
        event_time: None,
    }
}

/// Which policies a judged record puts in doubt: those of a fixable violation, and those
/// behind an allow the record could not prove (the grant that let it in may be too wide).
fn doubt<'j, A>(g: &'j State<A>, j: &Judged<'j>) -> Doubt<'j> {
    let Some(guarded) = j.guarded else {
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
    let qualifiers: Vec<Option<String>> = match &j.verdict.qualifier {
        Some(q) => vec![Some(q.clone())],
        None => std::iter::once(None)
            .chain(
                guarded
                    .1
                    .qualifiers
                    .iter()
                    .map(|q| Some(q.as_str().to_owned())),
            )
            .collect(),
    };
    // The record's own ARN when it names one in the file; else the key's, at home.
    let seen = j.inv.function.as_ref().and_then(|f| f.arn.as_deref());
    let function = PolicyRef::new(&g.allowlist, guarded, seen, None);
    // A failed call naming a qualifier Lambda said does not exist costs nothing again. A
    // call that succeeded proves its qualifier existed then: it is always reconciled.
    let failed = j.inv.error_code.is_some();
    let policies = qualifiers
        .into_iter()
        .filter(|q| {
            !failed
                || q.as_deref()
                    .is_none_or(|q| !g.missing.contains(&function.api_function, q))
        })
        .map(|q| function.with_qualifier(q))
        .collect();
    Doubt::Reconcile(function, policies)
}

/// A record that names no qualifier but says version `version` ran: that version's policy
/// and every alias routing to it (ListAliases with FunctionVersion) may be what let the
/// caller in. Returns them; when the aliases cannot be listed, the record is unfixed and the
/// event fails (the version itself is still reconciled).
async fn routed_to<A: Aws>(
    g: &State<A>,
    j: &Judged<'_>,
    api_function: &str,
    version: &str,
    tally: &mut Tally,
) -> (Vec<String>, Result<(), GuardError>) {
    if j.inv.error_code.is_some() && g.missing.contains(api_function, version) {
        return (Vec::new(), Ok(()));
    }
    let mut routed = vec![version.to_owned()];
    tally.calls += 1;
    match g.aws.list_aliases(api_function, Some(version)).await {
        Ok(aliases) => {
            routed.extend(aliases);
            (routed, Ok(()))
        }
        Err(e) => {
            let detail = format!("cannot list the aliases routing to version {version}: {e}");
            error_line(&j.lines, Level::Error, &detail);
            tally.unfixed += 1;
            let error = GuardError::Incomplete {
                function: j.verdict.function.clone().unwrap_or_default(),
                detail,
            };
            (routed, Err(error))
        }
    }
}

/// Notifies, adds the record's counts to the event's report and writes its `summary` line.
async fn account<A: Aws>(
    g: &State<A>,
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
            if tally.coalesced == 0 && first_notice(g, &j).await {
                let decision = Value::Object(j.decision.clone());
                tally
                    .notes
                    .insert(0, (DetailType::Violation.as_str().to_owned(), decision));
            }
        }
    }
    if result.is_err() && tally.unfixed == 0 && j.verdict.outcome == Outcome::Violation {
        // Something failed before the policy could be read or written: nothing is proven fixed.
        tally.unfixed += 1;
    }
    if let (Outcome::Violation, Some(guarded)) = (j.verdict.outcome, j.guarded)
        && tally.coalesced == 0
        && g.aws.findings_enabled()
    {
        queue_finding(g, &j, guarded, &tally, result.is_ok());
    }
    tally.add_to(report);
    let outcome = Some(j.verdict.outcome);
    close(
        g,
        &j.lines,
        outcome,
        j.level,
        &mut tally,
        result.is_err(),
        started,
    )
    .await;
    result
}

/// Whether this record's violation is notified: the first time its eventID is claimed.
/// When the claim cannot be made, it is notified (twice is better than never).
async fn first_notice<A: Aws>(g: &State<A>, j: &Judged<'_>) -> bool {
    let Some(event_id) = j.verdict.event_id.as_deref() else {
        return true;
    };
    match g.aws.first_claim(event_id).await {
        Ok(first) => first,
        Err(e) => {
            let error = format!("deduplication failed, notifying anyway: {e}");
            error_line(&j.lines, Level::Error, &error);
            true
        }
    }
}

/// Queues the record's Security Hub finding for the end of the event: RESOLVED when the
/// reconcile left no grant outside the allowlist, NOTIFIED in report mode, NEW when the grant
/// may remain (a failure, or a caller no policy change can stop).
fn queue_finding<A: Aws>(
    g: &State<A>,
    j: &Judged<'_>,
    guarded: (&FunctionKey, &GuardedFunction),
    tally: &Tally,
    succeeded: bool,
) {
    let Some(home) = g.allowlist.home() else {
        let error = "Security Hub finding not sent: the guard's home account is not known";
        error_line(&j.lines, Level::Error, error);
        return;
    };
    let seen = j.inv.function.as_ref().and_then(|f| f.arn.as_deref());
    let function = PolicyRef::new(&g.allowlist, guarded, seen, None).api_function;
    let function_arn = match FunctionArn::parse(&function) {
        Some(arn) => FunctionArn {
            qualifier: None,
            ..arn
        }
        .to_string(),
        None => home.function_arn(&function),
    };
    let workflow = if g.allowlist.mode_for(guarded.1) == Mode::Report {
        Workflow::Notified
    } else if succeeded && tally.unfixed == 0 {
        Workflow::Resolved
    } else {
        Workflow::New
    };
    let now = now_rfc3339();
    let finding = build(&Violation {
        home,
        function_arn: &function_arn,
        qualifier: j.verdict.qualifier.as_deref(),
        caller: &j.verdict.caller,
        reason: j.verdict.reason,
        statements: &tally.statements,
        entries: guarded.1.allow.len(),
        event_id: j.verdict.event_id.as_deref(),
        observed_at: j.event_time.as_deref().unwrap_or(&now),
        now: &now,
        workflow,
    });
    g.queue_finding(finding);
}
