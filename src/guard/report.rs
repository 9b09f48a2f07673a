//! What handling an event ends in: the counts of one record or policy ([`Tally`]), summed into
//! the event's [`EventReport`] in one place, and the errors that fail the event.

use serde::Serialize;
use serde_json::Value;

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
    /// For an SQS event only: the messages to redeliver (the event source's
    /// `ReportBatchItemFailures`); absent for any other event.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub batch_item_failures: Option<Vec<BatchItemFailure>>,
}

/// One message of an SQS batch that failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchItemFailure {
    pub item_identifier: String,
}

impl EventReport {
    /// Adds another event's report (a sweep's, a trail file's) to this one.
    pub fn add(&mut self, other: &EventReport) {
        let EventReport {
            records,
            allowed,
            ignored,
            violations,
            unfixed,
            coalesced,
            removed,
            added,
            failed,
            api_calls,
            batch_item_failures: _,
        } = other;
        self.records += records;
        self.allowed += allowed;
        self.ignored += ignored;
        self.violations += violations;
        self.unfixed += unfixed;
        self.coalesced += coalesced;
        self.removed += removed;
        self.added += added;
        self.failed += failed;
        self.api_calls += api_calls;
    }
}

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
    /// Sids of the invoke grants outside the allowlist the plans found (removed, or left in
    /// report mode): the statements a finding names.
    pub(super) statements: Vec<String>,
}

impl Tally {
    /// Adds what one record or policy did to the event's report: a record (or policy) with
    /// anything left unfixed counts once.
    pub(super) fn add_to(&self, report: &mut EventReport) {
        report.add(&EventReport {
            unfixed: usize::from(self.unfixed > 0),
            coalesced: self.coalesced,
            removed: self.removed,
            added: self.added,
            failed: self.failed,
            api_calls: self.calls,
            ..EventReport::default()
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_add_field_by_field_and_a_tally_counts_its_record_unfixed_once() {
        let one = EventReport {
            records: 1,
            allowed: 2,
            ignored: 3,
            violations: 4,
            unfixed: 5,
            coalesced: 6,
            removed: 7,
            added: 8,
            failed: 9,
            api_calls: 10,
            batch_item_failures: None,
        };
        let mut sum = one.clone();
        sum.add(&one);
        assert_eq!(
            serde_json::to_value(&sum).unwrap(),
            serde_json::json!({"records": 2, "allowed": 4, "ignored": 6, "violations": 8,
                "unfixed": 10, "coalesced": 12, "removed": 14, "added": 16, "failed": 18,
                "apiCalls": 20})
        );
        let tally = Tally {
            unfixed: 3,
            calls: 2,
            removed: 1,
            ..Tally::default()
        };
        let mut report = EventReport::default();
        tally.add_to(&mut report);
        assert_eq!(
            (report.unfixed, report.api_calls, report.removed),
            (1, 2, 1)
        );
    }
}
