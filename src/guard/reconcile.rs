//! The one reconcile of one policy, which every path ends in: claim it (unless a verification
//! answers for the trigger), fetch it, plan, apply (or report), and close with the notifications
//! and the `summary` line. Runs inside a `policy` span carrying the function and qualifier.

use std::time::{Duration, Instant};

use tracing::Instrument;

use super::api::{ApiError, Aws};
use super::apply::{Applied, apply_document, apply_permissions, steps};
use super::coalesce::Trigger;
use super::discover::PolicyRef;
use super::report::{GuardError, Tally};
use super::state::State;
use crate::allowlist::{Apply, Mode};
use crate::log::line::{Message, RemediationOutcome, Summary};
use crate::log::{Level, LogWriter};
use crate::plan::plan;
use crate::verdict::Outcome;

/// Reconciles one policy unless a verification answers for `trigger` (see
/// [`super::coalesce::decide`]); runs once more if a change arrived meanwhile.
pub(super) async fn reconcile_for<A: Aws>(
    g: &State<A>,
    p: &PolicyRef<'_>,
    lines: &LogWriter<'_>,
    tally: &mut Tally,
    trigger: Trigger,
) -> Result<(), GuardError> {
    let span = tracing::info_span!(
        "policy",
        function = %p.key,
        qualifier = p.qualifier.as_deref(),
        api_function = %p.api_function,
    );
    async move {
        // Known by its full ARN: a member account's function of the same name is not the guard.
        if g.allowlist.is_guard(&p.api_function) {
            error_line(
                lines,
                Level::Error,
                "refusing to edit the guard's own resource policy",
            );
            tally.unfixed += 1;
            return Ok(());
        }
        let mut ticket = match g
            .coalescer
            .claim(&p.api_function, p.qualifier.as_deref(), trigger)
            .await
        {
            Ok(ticket) => ticket,
            Err(skip) => {
                tally.coalesced += 1;
                lines.emit(Level::Debug, Message::Coalesced { why: skip.into() });
                return Ok(());
            }
        };
        loop {
            let result = reconcile_now(g, p, lines, tally).await;
            if !ticket.finish(result.is_ok()) {
                return result;
            }
        }
    }
    .instrument(span)
    .await
}

async fn reconcile_now<A: Aws>(
    g: &State<A>,
    p: &PolicyRef<'_>,
    lines: &LogWriter<'_>,
    tally: &mut Tally,
) -> Result<(), GuardError> {
    let qualifier = p.qualifier.as_deref();
    let mut force_document = false;
    for attempt in 0..g.settings.max_attempts {
        if attempt > 0 {
            tokio::time::sleep(backoff(g.settings.conflict_backoff, attempt)).await;
        }
        tally.calls += 1;
        let current = match g.aws.get_policy(&p.api_function, qualifier).await {
            Ok(current) => {
                if let Some(q) = qualifier {
                    g.missing.forget(&p.api_function, q);
                }
                current
            }
            Err(ApiError::FunctionNotFound(m)) => {
                // Nothing left to protect: the event is done.
                error_line(lines, Level::Warn, &format!("function not found: {m}"));
                return Ok(());
            }
            Err(ApiError::QualifierNotFound(m)) => {
                // No such version or alias, so no policy there; remembered, so that records
                // naming it again cost nothing.
                if let Some(q) = qualifier {
                    g.missing.remember(&p.api_function, q);
                }
                error_line(lines, Level::Warn, &format!("qualifier not found: {m}"));
                return Ok(());
            }
            Err(e) => {
                error_line(lines, Level::Error, &format!("GetPolicy failed: {e}"));
                tally.unfixed += 1;
                return Err(incomplete(p, format!("GetPolicy failed: {e}")));
            }
        };
        let apply = if force_document {
            Apply::Document
        } else {
            g.allowlist.apply_for(p.function)
        };
        let mut planned = plan(
            &p.api_function,
            qualifier,
            &p.function.allow,
            &current,
            apply,
        );
        if force_document {
            planned.apply_reason =
                "an addition exceeded the policy size with AddPermission (PolicyLengthExceededException)".into();
        }
        tracing::debug!(
            attempt,
            removals = planned.remove.len(),
            additions = planned.add.len(),
            "planned"
        );
        if attempt == 0 {
            tally.planned += planned.remove.len() + planned.add.len();
        }
        for sid in planned.remove.iter().filter_map(|r| r.sid.as_ref()) {
            if !tally.statements.contains(sid) {
                tally.statements.push(sid.clone());
            }
        }
        // Deny statements and statements granting no invoke stay as they are; a reviewer may
        // want to know they are there.
        for u in &planned.unmanaged {
            lines.emit(Level::Debug, Message::Unmanaged(u.into()));
        }
        if planned.is_empty() {
            return Ok(());
        }
        if g.allowlist.mode_for(p.function) == Mode::Report {
            for step in steps(&planned) {
                lines.emit(
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
            Apply::Permissions => apply_permissions(&g.aws, p, lines, &planned, tally).await,
            Apply::Document => apply_document(&g.aws, p, lines, &planned, &current, tally).await,
        };
        match applied {
            Applied::Done => return Ok(()),
            Applied::Failed { failed, left } => {
                tally.unfixed += left;
                return Err(incomplete(p, format!("{failed} action(s) failed")));
            }
            Applied::Stale => continue,
            Applied::TooLong => force_document = true,
        }
    }
    let detail = format!(
        "the policy kept changing; gave up after {} attempts",
        g.settings.max_attempts
    );
    error_line(lines, Level::Error, &detail);
    tally.unfixed += 1;
    Err(incomplete(p, detail))
}

/// Sends the notifications gathered (taking them from `tally`) and writes the `summary` line.
pub(super) async fn close<A: Aws>(
    g: &State<A>,
    lines: &LogWriter<'_>,
    verdict: Option<Outcome>,
    level: Level,
    tally: &mut Tally,
    errored: bool,
    started: Instant,
) {
    let notes = std::mem::take(&mut tally.notes);
    if !notes.is_empty()
        && let Err(e) = g.aws.publish(&notes).await
    {
        // The remediation stands: a lost notification is reported, never undone or repeated.
        error_line(lines, Level::Error, &format!("notification failed: {e}"));
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

pub(super) fn error_line(lines: &LogWriter<'_>, level: Level, error: &str) {
    lines.emit(
        level,
        Message::Error {
            error: error.to_owned(),
        },
    );
}

fn incomplete(p: &PolicyRef<'_>, detail: String) -> GuardError {
    GuardError::Incomplete {
        function: p.name(),
        detail,
    }
}

fn backoff(first: Duration, attempt: u32) -> Duration {
    let base = first * 2u32.saturating_pow(attempt.saturating_sub(1));
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    // Jitter keeps two racing guards from retrying in lockstep.
    base + Duration::from_nanos(u64::from(nanos) % (base.as_nanos() as u64).max(1))
}
