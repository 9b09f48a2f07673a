//! The sweep: every guarded policy (each function, every alias, the listed qualifiers),
//! reconciled on a schedule, so a grant no event told the guard about is found within the
//! period. It spends at most half of Lambda's control-plane quota and stops, visibly, before
//! the Lambda timeout.

use std::time::{Duration, Instant};

use serde_json::Value;

use super::api::Aws;
use super::audit::{Audit, Level};
use super::budget::{Budget, SWEEP_REQUESTS_PER_SECOND};
use super::discover::guarded_policies;
use super::guard::{EventReport, Guard, GuardError, Tally, Target};
use super::log::{Input, Message, Subject, SweepLine};

/// Time kept in hand when the Lambda timeout nears: one reconcile at most, and the last lines.
const DEADLINE_MARGIN: Duration = Duration::from_secs(10);

/// True for EventBridge's scheduled event (`source: aws.events`, `detail-type: Scheduled Event`).
pub fn is_scheduled(event: &Value) -> bool {
    event.get("source").and_then(Value::as_str) == Some("aws.events")
        && event.get("detail-type").and_then(Value::as_str) == Some("Scheduled Event")
}

impl<A: Aws> Guard<A> {
    /// Reconciles every guarded policy; `deadline` is when the invocation must have returned.
    pub async fn sweep(
        &self,
        request_id: &str,
        deadline: Option<Instant>,
    ) -> Result<EventReport, GuardError> {
        let started = Instant::now();
        let sweep_id = format!("sweep-{request_id}");
        let budget = Budget::new(SWEEP_REQUESTS_PER_SECOND, SWEEP_REQUESTS_PER_SECOND);
        let (targets, errors) = guarded_policies(&self.policies, &self.aws, &budget).await;
        let mut line = SweepLine {
            functions: self.policies.functions().count(),
            policies_read: 0,
            drift: 0,
            fixed: 0,
            unfixed: 0,
            failed: errors.len(),
            api_calls: self.policies.functions().count(),
            elapsed_ms: 0,
            incomplete: false,
            remaining: 0,
        };
        let mut report = EventReport::default();
        for e in &errors {
            self.bare_error(
                request_id,
                &format!(
                    "sweep: {}: cannot list its aliases: {}",
                    e.function, e.error
                ),
            );
        }
        for (done, t) in targets.iter().enumerate() {
            if deadline
                .is_some_and(|d| d.saturating_duration_since(Instant::now()) < DEADLINE_MARGIN)
            {
                line.incomplete = true;
                line.remaining = targets.len() - done;
                break;
            }
            let policy_started = Instant::now();
            let mode = self.policies.mode_for(t.function);
            let subject = Subject {
                input: Input::Sweep,
                event_id: Some(sweep_id.clone()),
                function: Some(t.key.as_str().to_owned()),
                qualifier: t.qualifier.clone(),
                mode,
            };
            let target = Target {
                api_function: t.api_function.clone(),
                key: t.key.as_str(),
                qualifier: t.qualifier.as_deref(),
                function: t.function,
                mode,
                apply: self.policies.apply_for(t.function),
                audit: Audit::new(
                    self.sink.as_ref(),
                    self.settings.log_level,
                    request_id,
                    Some(subject),
                ),
                budget: Some(&budget),
            };
            let mut tally = Tally::default();
            let result = self.reconcile(&target, &mut tally).await;
            if let Some(progress) = &self.progress {
                progress(done + 1, targets.len());
            }
            line.policies_read += 1;
            line.api_calls += tally.calls;
            line.unfixed += tally.unfixed;
            report.api_calls += tally.calls;
            report.removed += tally.removed;
            report.added += tally.added;
            report.failed += tally.failed;
            report.unfixed += usize::from(tally.unfixed > 0);
            let failed = result.is_err() || tally.failed > 0;
            line.failed += usize::from(failed);
            if tally.planned > 0 {
                line.drift += 1;
                line.fixed += usize::from(!failed && tally.unfixed == 0);
            }
            // Only policies that drifted or failed get a line of their own.
            if tally.planned > 0 || failed {
                self.close(
                    &target.audit,
                    None,
                    Level::Info,
                    tally,
                    failed,
                    policy_started,
                )
                .await;
            }
        }
        line.elapsed_ms = started.elapsed().as_millis() as u64;
        let level = if line.incomplete || line.failed > 0 {
            Level::Error
        } else if line.unfixed > 0 || line.drift > 0 {
            Level::Warn
        } else {
            Level::Info
        };
        let incomplete = line.incomplete.then(|| {
            format!(
                "sweep stopped before the Lambda timeout with {} of {} policies left; the next sweep starts over",
                line.remaining,
                targets.len()
            )
        });
        let failed = line.failed;
        let subject = Subject {
            input: Input::Sweep,
            event_id: Some(sweep_id),
            function: None,
            qualifier: None,
            mode: crate::allowlist::Mode::Enforce,
        };
        Audit::new(
            self.sink.as_ref(),
            self.settings.log_level,
            request_id,
            Some(subject),
        )
        .emit(level, Message::Sweep(line));
        match incomplete {
            Some(detail) => Err(GuardError::Incomplete {
                function: "(sweep)".into(),
                detail,
            }),
            None if failed > 0 => Err(GuardError::Incomplete {
                function: "(sweep)".into(),
                detail: format!("{failed} policies could not be read or reconciled"),
            }),
            None => Ok(report),
        }
    }
}
