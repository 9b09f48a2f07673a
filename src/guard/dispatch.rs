//! The one per-record dispatch, for every way a record arrives (EventBridge, a trail file,
//! `invokeguard remediate`): a management event that changes who may invoke goes down the
//! change path, anything else is judged as an Invoke. A record that cannot be read gets an
//! `error` line and fails the event, whichever way it came.

use serde_json::Value;
use tracing::Instrument;

use super::api::Aws;
use super::report::{EventReport, GuardError};
use super::state::State;
use super::{change, invoke};
use crate::log::line::Input;
use crate::record::{RecordError, change, invocation};

/// How a record reached the guard.
#[derive(Debug, Clone, Copy)]
pub(super) enum Arrival<'a> {
    /// Delivered by EventBridge (or given to `remediate`): an Invoke or a change.
    EventBridge,
    /// Read from the trail log file at `origin` (`s3://bucket/key`).
    TrailFile { origin: &'a str },
}

impl Arrival<'_> {
    fn input(self, is_change: bool) -> Input {
        match (self, is_change) {
            (Arrival::TrailFile { .. }, _) => Input::TrailFile,
            (Arrival::EventBridge, true) => Input::Change,
            (Arrival::EventBridge, false) => Input::Invoke,
        }
    }

    /// What an error about a record says first: where it was read from, if from a file.
    fn prefix(self) -> String {
        match self {
            Arrival::EventBridge => String::new(),
            Arrival::TrailFile { origin } => format!("{origin}: "),
        }
    }
}

/// Handles one CloudTrail record and adds what happened to `report`, inside a `record` span
/// carrying its input and eventID.
pub(super) async fn record<A: Aws>(
    g: &State<A>,
    record: &Value,
    request_id: &str,
    report: &mut EventReport,
    arrival: Arrival<'_>,
) -> Result<(), GuardError> {
    let event_id = record.get("eventID").and_then(Value::as_str);
    match change(record) {
        Ok(Some(c)) => {
            report.records += 1;
            let input = arrival.input(true);
            let span = tracing::info_span!("record", input = input.as_str(), event_id);
            change::handle(g, c, request_id, report, input)
                .instrument(span)
                .await
        }
        Ok(None) => {
            // Counted as a record even when it cannot be read as an Invoke.
            report.records += 1;
            match invocation(record) {
                Ok(inv) => {
                    let input = arrival.input(false);
                    let span = tracing::info_span!("record", input = input.as_str(), event_id);
                    invoke::handle(g, record, inv, request_id, report, input)
                        .instrument(span)
                        .await
                }
                Err(e) => Err(bad_record(g, request_id, arrival, &e)),
            }
        }
        Err(e) => Err(bad_record(g, request_id, arrival, &e)),
    }
}

/// The `error` line of a record that cannot be read, and the error that fails the event.
fn bad_record<A>(
    g: &State<A>,
    request_id: &str,
    arrival: Arrival<'_>,
    e: &RecordError,
) -> GuardError {
    let message = format!("{}record at {}: {}", arrival.prefix(), e.path, e.message);
    g.bare_error(request_id, &message);
    GuardError::BadEvent(message)
}
