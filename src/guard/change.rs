//! The change path: a management event that changes who may invoke a guarded function
//! (AddPermission, PutResourcePolicy, a function URL, an alias…) reconciles the policy it
//! names at once, instead of waiting for someone to use the grant, unless a verification read
//! certainly after the change answers for it. The guard's own changes (known by its role) come
//! back here too and cost nothing when its own verification answers for them.

use std::time::Instant;

use super::api::Aws;
use super::coalesce::Trigger;
use super::discover::PolicyRef;
use super::reconcile::{close, reconcile_for};
use super::report::{EventReport, GuardError, Tally};
use super::state::State;
use crate::allowlist::Mode;
use crate::log::Level;
use crate::log::line::{ChangeDecision, ChangeReason, Input, Message, Subject};
use crate::record::PolicyChange;

/// Logs the change and reconciles the policy it touched, in the function's mode.
pub(super) async fn handle<A: Aws>(
    g: &State<A>,
    change: PolicyChange,
    request_id: &str,
    report: &mut EventReport,
    input: Input,
) -> Result<(), GuardError> {
    let started = Instant::now();
    let named = &change.function;
    let guarded = g.allowlist.lookup(&named.name, named.arn.as_deref());
    let is_guard = g
        .allowlist
        .is_guard(named.arn.as_deref().unwrap_or(&named.name));
    let mode = guarded.map_or(Mode::Enforce, |(_, f)| g.allowlist.mode_for(f));
    let subject = Subject::new(
        input,
        change.event_id.clone(),
        Some(guarded.map_or(named.name.clone(), |(k, _)| k.as_str().to_owned())),
        change.qualifier.clone(),
        mode,
        named.account.clone(),
    );
    let lines = g.lines(request_id, Some(subject));
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
    let (Some(guarded), ChangeReason::PolicyChanged) = (guarded, reason) else {
        report.ignored += 1;
        return Ok(());
    };
    let policy = PolicyRef::new(
        &g.allowlist,
        guarded,
        named.arn.as_deref(),
        change.qualifier.clone(),
    );
    let at = g.event_time_or_now(change.event_time);
    let own = g
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
    let result = reconcile_for(g, &policy, &lines, &mut tally, trigger).await;
    tally.add_to(report);
    close(g, &lines, None, level, &mut tally, result.is_err(), started).await;
    result
}
