//! The front door of the shell: [`Guard`] takes one Lambda event, says what it is
//! (`record::event::classify`) and sends it down its path: the sweep (or its plan over the
//! sweep queue, and that queue's messages), the trail files, or each
//! record through the one dispatch (change or Invoke?). Every path ends in the one reconcile
//! of a policy (`reconcile.rs`). The event runs inside an `event` span carrying the request id
//! and the input.

use std::sync::Arc;
use std::time::Instant;

use serde_json::Value;
use tracing::Instrument;

use super::api::Aws;
use super::dispatch::{self, Arrival};
use super::state::State;
use super::{plan_sweep, sweep, trail_file};
use crate::allowlist::Allowlist;
use crate::log::LogSink;
use crate::record::event::{EventKind, classify};
use crate::record::records_in_value;

pub use super::report::{BatchItemFailure, EventReport, GuardError};
pub use super::state::{Progress, Settings};

pub struct Guard<A> {
    state: State<A>,
}

impl<A: Aws> Guard<A> {
    pub fn new(allowlist: Allowlist, aws: A, sink: Arc<dyn LogSink>, settings: Settings) -> Self {
        Guard {
            state: State::new(allowlist, aws, sink, settings),
        }
    }

    /// Reports a sweep's progress to `f` (functions done, total) after each function.
    pub fn with_progress(mut self, f: Progress) -> Self {
        self.state.progress = Some(f);
        self
    }

    /// Sets the home account and region from the guard's own function ARN (the Lambda
    /// context's), on the first event; a later event with the same ARN costs a comparison. An
    /// ARN that disagrees with the home set at init fails the event and changes nothing.
    pub fn set_home_from_arn(&self, own_arn: &str, request_id: &str) -> Result<(), GuardError> {
        let g = &self.state;
        let result = crate::aws::home::Home::from_function_arn(own_arn)
            .map_err(|e| e.to_string())
            .and_then(|home| {
                g.allowlist
                    .set_home(home.clone())
                    .map_err(|e| format!("{e} (invoked as {own_arn})"))?;
                g.aws.set_home(&home);
                Ok(())
            });
        result.map_err(|e| {
            g.bare_error(request_id, &e);
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
        let g = &self.state;
        let kind = classify(&event);
        let input = match &kind {
            EventKind::Scheduled => "sweep",
            EventKind::ObjectsCreated(_) => "trail-file",
            EventKind::QueueMessages(_) => "sweep",
            EventKind::Records => "records",
        };
        let span = tracing::info_span!("event", request_id, input);
        let result = match kind {
            // With a sweep queue the schedule only plans; the queue's consumers sweep.
            EventKind::Scheduled if g.aws.sweep_queue_configured() => {
                plan_sweep::plan(g, &event, request_id)
                    .instrument(span)
                    .await
            }
            EventKind::Scheduled => {
                sweep::run(g, request_id, deadline, None)
                    .instrument(span)
                    .await
            }
            EventKind::QueueMessages(messages) => {
                Ok(plan_sweep::sweep_pairs(g, messages, request_id, deadline)
                    .instrument(span)
                    .await)
            }
            EventKind::ObjectsCreated(objects) => {
                trail_file::handle(g, objects, request_id)
                    .instrument(span)
                    .await
            }
            EventKind::Records => {
                self.handle_records(event, request_id)
                    .instrument(span)
                    .await
            }
        };
        // Whatever the event ended in, what it found reaches Security Hub in one call.
        g.flush_findings(request_id).await;
        result
    }

    /// Reconciles every guarded policy; `deadline` is when the invocation must have returned.
    pub async fn sweep(
        &self,
        request_id: &str,
        deadline: Option<Instant>,
    ) -> Result<EventReport, GuardError> {
        let span = tracing::info_span!("event", request_id, input = "sweep");
        sweep::run(&self.state, request_id, deadline, None)
            .instrument(span)
            .await
    }

    async fn handle_records(
        &self,
        event: Value,
        request_id: &str,
    ) -> Result<EventReport, GuardError> {
        let records = records_in_value(event, "event").map_err(|e| {
            self.state.bare_error(request_id, &e.to_string());
            GuardError::BadEvent(e.to_string())
        })?;
        let mut report = EventReport::default();
        let mut first_error = None;
        for rec in records {
            let result = dispatch::record(
                &self.state,
                &rec.record,
                request_id,
                &mut report,
                Arrival::EventBridge,
            )
            .await;
            if let Err(e) = result {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(report), Err)
    }

    /// One CloudTrail record of an event, as the Lambda handles it (the one dispatch, which
    /// `invokeguard remediate` and the trail files use too); adds what happened to `report`.
    pub async fn handle_record(
        &self,
        record: &Value,
        request_id: &str,
        report: &mut EventReport,
    ) -> Result<(), GuardError> {
        let result = dispatch::record(
            &self.state,
            record,
            request_id,
            report,
            Arrival::EventBridge,
        )
        .await;
        self.state.flush_findings(request_id).await;
        result
    }

    /// The AWS boundary, for tests that inspect what it saw.
    pub fn aws(&self) -> &A {
        &self.state.aws
    }
}
