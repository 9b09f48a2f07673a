//! Writing a plan: one call per statement (AddPermission, then RemovePermission), or one
//! whole-document write (PutResourcePolicy, DeleteResourcePolicy), each with its
//! `remediation` line.

use serde_json::Value;

use super::api::{ApiError, PolicyApi};
use super::discover::PolicyRef;
use super::report::Tally;
use crate::allowlist::Apply;
use crate::log::line::{DetailType, Message, Remediation, RemediationOutcome, StatementChange};
use crate::log::{Level, LogWriter};
use crate::plan::{Addition, Plan, Removal};
use crate::resource_policy::ResourcePolicy;

/// What became of a plan's writes.
pub(super) enum Applied {
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

/// AddPermission for every addition, then RemovePermission for every removal: an allowed
/// caller never goes without its grant. Only the first call carries GetPolicy's
/// RevisionId: a later change by someone else shows as a 409 or in the next plan.
pub(super) async fn apply_permissions<A: PolicyApi>(
    aws: &A,
    t: &PolicyRef<'_>,
    lines: &LogWriter<'_>,
    planned: &Plan,
    tally: &mut Tally,
) -> Applied {
    let qualifier = t.qualifier.as_deref();
    let mut revision = planned.revision_id.clone();
    let mut failed = 0;
    let mut left = planned.remove.len();
    for step in steps(planned) {
        let rev = revision.take();
        tally.calls += 1;
        let result = match &step {
            Step::Remove(r) => {
                let sid = r.sid.as_deref().unwrap_or_default();
                aws.remove_permission(&t.api_function, qualifier, sid, rev.as_deref())
                    .await
            }
            Step::Add(a) => {
                aws.add_permission(&t.api_function, qualifier, a, rev.as_deref())
                    .await
            }
        };
        let result = match (&step, result) {
            // Gone already (a racing guard, or a retry of our own): the goal holds.
            (Step::Remove(_), Err(ApiError::StatementNotFound(_))) => Ok(()),
            (_, r) => r,
        };
        if let Err(e) = &result
            && let Some(next) = retried(&step, e)
        {
            lines.emit(
                Level::Warn,
                step.fields(
                    RemediationOutcome::ConflictRetried,
                    planned.apply,
                    rev.as_deref(),
                    Some(e.to_string()),
                ),
            );
            return next;
        }
        match result {
            Ok(()) => {
                match step {
                    Step::Remove(_) => {
                        tally.removed += 1;
                        left -= 1;
                    }
                    Step::Add(_) => tally.added += 1,
                }
                applied_line(lines, &step, planned.apply, rev.as_deref(), tally);
            }
            Err(e) => {
                failed += 1;
                tally.failed += 1;
                lines.emit(
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
                        lines.emit(
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

/// How a failed call of a plan is retried, if it is: a stale revision plans again; an addition
/// too large for AddPermission (removals have not started) writes the whole document instead.
fn retried(step: &Step<'_>, error: &ApiError) -> Option<Applied> {
    match (step, error) {
        (_, ApiError::PreconditionFailed(_) | ApiError::Conflict(_)) => Some(Applied::Stale),
        (Step::Add(_), ApiError::PolicyLengthExceeded(_)) => Some(Applied::TooLong),
        _ => None,
    }
}

/// One PutResourcePolicy of the whole desired policy (DeleteResourcePolicy when nothing is
/// left), guarded by the RevisionId GetPolicy returned.
pub(super) async fn apply_document<A: PolicyApi>(
    aws: &A,
    t: &PolicyRef<'_>,
    lines: &LogWriter<'_>,
    planned: &Plan,
    current: &ResourcePolicy,
    tally: &mut Tally,
) -> Applied {
    let Some(resource_arn) = t.resource_arn() else {
        let error = "a whole-document write needs the function's ARN: give the home account and region (--account/--region)";
        every_step(lines, planned, RemediationOutcome::Failed, None, error);
        tally.failed += 1;
        return Applied::Failed {
            failed: 1,
            left: planned.remove.len(),
        };
    };
    let desired = planned.applied_to(current, Some(&resource_arn));
    let rev = planned.revision_id.as_deref();
    tally.calls += 1;
    let result = if desired.statements.is_empty() {
        aws.delete_resource_policy(&resource_arn, rev).await
    } else {
        let document = desired.document().to_string();
        aws.put_resource_policy(&resource_arn, &document, rev).await
    };
    match result {
        Ok(()) => {
            for step in steps(planned) {
                match step {
                    Step::Remove(_) => tally.removed += 1,
                    Step::Add(_) => tally.added += 1,
                }
                applied_line(lines, &step, planned.apply, rev, tally);
            }
            Applied::Done
        }
        Err(e @ (ApiError::PreconditionFailed(_) | ApiError::Conflict(_))) => {
            let e = e.to_string();
            every_step(lines, planned, RemediationOutcome::ConflictRetried, rev, &e);
            Applied::Stale
        }
        Err(e) => {
            every_step(
                lines,
                planned,
                RemediationOutcome::Failed,
                rev,
                &e.to_string(),
            );
            tally.failed += 1;
            Applied::Failed {
                failed: 1,
                left: planned.remove.len(),
            }
        }
    }
}

fn applied_line(
    lines: &LogWriter<'_>,
    step: &Step<'_>,
    apply: Apply,
    revision_id: Option<&str>,
    tally: &mut Tally,
) {
    let line = lines.emit(
        Level::Warn,
        step.fields(RemediationOutcome::Applied, apply, revision_id, None),
    );
    tally.notes.push((
        DetailType::Remediation.as_str().to_owned(),
        Value::Object(line),
    ));
}

/// One `remediation` line per statement of a whole-document write that did not land.
fn every_step(
    lines: &LogWriter<'_>,
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
        lines.emit(
            level,
            step.fields(outcome, planned.apply, revision_id, Some(error.to_owned())),
        );
    }
}

/// One change of a plan, additions first.
pub(super) enum Step<'p> {
    Remove(&'p Removal),
    Add(&'p Addition),
}

pub(super) fn steps(p: &Plan) -> impl Iterator<Item = Step<'_>> {
    p.add
        .iter()
        .map(Step::Add)
        .chain(p.remove.iter().map(Step::Remove))
}

impl Step<'_> {
    pub(super) fn fields(
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
