//! The sweep: every guarded policy (each function, every alias, the listed qualifiers),
//! reconciled on a schedule, so a grant no event told the guard about is found within the
//! period. It spends at most half of Lambda's control-plane quota and stops, visibly, before
//! the Lambda timeout.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt;

use serde_json::Value;

use super::api::Aws;
use super::audit::{Audit, Level};
use super::budget::{Budget, SWEEP_REQUESTS_PER_SECOND};
use super::discover::{PolicyRef, guarded_policies};
use super::guard::{EventReport, Guard, GuardError, Tally, Target};
use super::log::{Input, Message, Subject, SweepLine};

/// Time kept in hand when the Lambda timeout nears: one reconcile at most, and the last lines.
const DEADLINE_MARGIN: Duration = Duration::from_secs(10);

/// True for EventBridge's scheduled event (`source: aws.events`, `detail-type: Scheduled Event`).
pub fn is_scheduled(event: &Value) -> bool {
    event.get("source").and_then(Value::as_str) == Some("aws.events")
        && event.get("detail-type").and_then(Value::as_str) == Some("Scheduled Event")
}

/// Accounts (and regions) swept at the same time.
const ACCOUNTS_IN_PARALLEL: usize = 4;

/// What became of one policy in a sweep.
enum Swept {
    Reconciled(SweptPolicy),
    /// The deadline came first.
    NotReached,
}

struct SweptPolicy {
    planned: usize,
    removed: usize,
    added: usize,
    failed: usize,
    unfixed: usize,
    calls: usize,
    /// It could not be read or written.
    failed_policy: bool,
}

/// (account, region) of a function ARN; a name is the home's, `("", "")`.
fn account_region(api_function: &str) -> (String, String) {
    let parts: Vec<&str> = api_function.split(':').collect();
    match parts.as_slice() {
        ["arn", _, "lambda", region, account, ..] => ((*account).to_owned(), (*region).to_owned()),
        _ => (String::new(), String::new()),
    }
}

impl<A: Aws> Guard<A> {
    /// The policies of one account and region, one after the other, within its own budget.
    async fn sweep_group(
        &self,
        list: Vec<&PolicyRef<'_>>,
        deadline: Option<Instant>,
        done: &AtomicUsize,
        total: usize,
        request_id: &str,
        sweep_id: &str,
    ) -> Vec<Swept> {
        let budget = Budget::new(SWEEP_REQUESTS_PER_SECOND, SWEEP_REQUESTS_PER_SECOND);
        let mut out = Vec::new();
        for t in list {
            if deadline
                .is_some_and(|d| d.saturating_duration_since(Instant::now()) < DEADLINE_MARGIN)
            {
                out.push(Swept::NotReached);
                continue;
            }
            out.push(self.sweep_one(t, &budget, request_id, sweep_id).await);
            let n = done.fetch_add(1, Ordering::Relaxed) + 1;
            if let Some(progress) = &self.progress {
                progress(n, total);
            }
        }
        out
    }

    /// Reconciles one policy of a sweep within `budget`; a policy that drifted or failed gets
    /// its own `summary` line.
    async fn sweep_one(
        &self,
        t: &PolicyRef<'_>,
        budget: &Budget,
        request_id: &str,
        sweep_id: &str,
    ) -> Swept {
        let policy_started = Instant::now();
        let mode = self.policies.mode_for(t.function);
        let subject = Subject {
            input: Input::Sweep,
            event_id: Some(sweep_id.to_owned()),
            function: Some(t.key.as_str().to_owned()),
            qualifier: t.qualifier.clone(),
            mode,
            account: Some(account_region(&t.api_function).0)
                .filter(|a| !a.is_empty())
                .or_else(|| self.policies.home().map(|h| h.account.clone())),
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
            budget: Some(budget),
        };
        let mut tally = Tally::default();
        let result = self.reconcile(&target, &mut tally).await;
        let failed_policy = result.is_err() || tally.failed > 0;
        let swept = SweptPolicy {
            planned: tally.planned,
            removed: tally.removed,
            added: tally.added,
            failed: tally.failed,
            unfixed: tally.unfixed,
            calls: tally.calls,
            failed_policy,
        };
        if tally.planned > 0 || failed_policy {
            self.close(
                &target.audit,
                None,
                Level::Info,
                tally,
                failed_policy,
                policy_started,
            )
            .await;
        }
        Swept::Reconciled(swept)
    }

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
        // Each account and region has its own control-plane quota: their policies are swept
        // side by side (a few at a time), each within its own budget.
        let mut groups: Vec<((String, String), Vec<&PolicyRef<'_>>)> = Vec::new();
        for t in &targets {
            let place = account_region(&t.api_function);
            match groups.iter_mut().find(|(p, _)| *p == place) {
                Some((_, list)) => list.push(t),
                None => groups.push((place, vec![t])),
            }
        }
        let total = targets.len();
        let done = AtomicUsize::new(0);
        let mut sweeps = Vec::new();
        for (_, list) in groups {
            sweeps.push(self.sweep_group(list, deadline, &done, total, request_id, &sweep_id));
        }
        let outcomes: Vec<Vec<Swept>> = futures_util::stream::iter(sweeps)
            .buffer_unordered(ACCOUNTS_IN_PARALLEL)
            .collect()
            .await;
        for swept in outcomes.into_iter().flatten() {
            let Swept::Reconciled(tally) = swept else {
                line.incomplete = true;
                line.remaining += 1;
                continue;
            };
            line.policies_read += 1;
            line.api_calls += tally.calls;
            line.unfixed += tally.unfixed;
            report.api_calls += tally.calls;
            report.removed += tally.removed;
            report.added += tally.added;
            report.failed += tally.failed;
            report.unfixed += usize::from(tally.unfixed > 0);
            line.failed += usize::from(tally.failed_policy);
            if tally.planned > 0 {
                line.drift += 1;
                line.fixed += usize::from(!tally.failed_policy && tally.unfixed == 0);
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
            account: self.policies.home().map(|h| h.account.clone()),
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
