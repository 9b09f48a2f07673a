//! The change path: a management event that changes who may invoke a guarded function
//! (AddPermission, PutResourcePolicy, a function URL, an alias…) reconciles the policy it
//! names at once, instead of waiting for someone to use the grant, unless a verification read
//! certainly after the change answers for it. The guard's own changes (known by its role) come
//! back here too and cost nothing when its own verification answers for them.

use std::time::Instant;

use super::api::Aws;
use super::coalesce::Trigger;
use super::shell::{EventReport, Guard, GuardError, Tally, Target};
use crate::allowlist::Mode;
use crate::aws::arn::FunctionArn;
use crate::log::line::{ChangeDecision, ChangeReason, Input, Message, Subject};
use crate::log::{Level, LogWriter};
use crate::record::PolicyChange;

impl<A: Aws> Guard<A> {
    /// Logs the change and reconciles the policy it touched, in the function's mode.
    pub(super) async fn handle_change(
        &self,
        change: PolicyChange,
        request_id: &str,
        report: &mut EventReport,
        input: Input,
    ) -> Result<(), GuardError> {
        let started = Instant::now();
        report.records += 1;
        let guarded = self
            .policies
            .lookup(&change.function.name, change.function.arn.as_deref());
        let is_guard = self.policies.is_guard(
            change
                .function
                .arn
                .as_deref()
                .unwrap_or(&change.function.name),
        );
        let mode = guarded.map_or(Mode::Enforce, |(_, f)| self.policies.mode_for(f));
        let subject = Subject {
            input,
            event_id: change.event_id.clone(),
            function: Some(
                guarded.map_or(change.function.name.clone(), |(k, _)| k.as_str().to_owned()),
            ),
            qualifier: change.qualifier.clone(),
            mode,
            account: change.function.account.clone(),
        };
        let lines = LogWriter::new(
            self.sink.as_ref(),
            self.settings.log_level,
            request_id,
            Some(subject),
        );
        let reason = match (guarded, is_guard) {
            (_, true) => ChangeReason::GuardItself,
            (Some(_), false) => ChangeReason::PolicyChanged,
            (None, false) => ChangeReason::NotGuarded,
        };
        let level = if reason == ChangeReason::PolicyChanged {
            Level::Info
        } else {
            Level::Debug
        };
        lines.emit(
            level,
            Message::ChangeDecision(ChangeDecision {
                change_event: change.event_name.clone(),
                actor: change.actor.clone(),
                statement: change.statement.clone(),
                reason,
            }),
        );
        let (Some((key, function)), ChangeReason::PolicyChanged) = (guarded, reason) else {
            report.ignored += 1;
            return Ok(());
        };
        let api_function = change
            .function
            .arn
            .clone()
            .filter(|arn| FunctionArn::parse(arn).is_some())
            .unwrap_or_else(|| self.policies.api_function(key));
        let target = Target {
            api_function,
            key: key.as_str(),
            qualifier: change.qualifier.as_deref(),
            function,
            mode,
            apply: self.policies.apply_for(function),
            lines: lines.with_qualifier(change.qualifier.as_deref()),
            budget: None,
        };
        let at = self.event_time_or_now(change.event_time);
        let own = self
            .settings
            .identity
            .as_ref()
            .is_some_and(|me| me.made(&change));
        let trigger = if own {
            Trigger::OwnChange { at }
        } else {
            Trigger::Change { at }
        };
        let mut tally = Tally::default();
        let result = self.reconcile_for(&target, &mut tally, trigger).await;
        report.removed += tally.removed;
        report.added += tally.added;
        report.failed += tally.failed;
        report.api_calls += tally.calls;
        report.coalesced += tally.coalesced;
        report.unfixed += usize::from(tally.unfixed > 0);
        self.close(&target.lines, None, level, tally, result.is_err(), started)
            .await;
        result
    }
}
