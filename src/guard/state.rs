//! The guard's state, shared by every path of the shell and owned by [`super::shell::Guard`]:
//! the allowlist, the AWS boundary, where log lines go, the settings, and what the guard
//! remembers between records (recent verifications, qualifiers Lambda said do not exist).

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use super::api::Aws;
use super::coalesce::Coalescer;
use super::missing::Missing;
use crate::allowlist::Allowlist;
use crate::finding::{Finding, IMPORT_BATCH, keep_latest};
use crate::log::line::{Message, Subject};
use crate::log::{Level, LogSink, LogWriter};
use crate::record::GuardIdentity;

/// How hard to try when the policy keeps changing under us, and how to log.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Reconcile attempts per policy: each starts from a fresh GetPolicy.
    pub max_attempts: u32,
    /// Wait before the second attempt; doubled each time, plus jitter.
    pub conflict_backoff: Duration,
    /// After a policy was reconciled or found right, records for it within this time make no
    /// AWS call (storm protection). Zero turns coalescing off.
    pub verified_ttl: Duration,
    /// The guard's own function name: its policy is never touched.
    pub guard_function: Option<String>,
    /// The guard's role (`INVOKEGUARD_ROLE_ARN`): a change it made itself is answered by its
    /// own verification. `None`: every change costs a `GetPolicy`.
    pub identity: Option<GuardIdentity>,
    pub log_level: Level,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            max_attempts: 4,
            conflict_backoff: Duration::from_millis(100),
            verified_ttl: Duration::from_secs(10),
            guard_function: None,
            identity: None,
            log_level: Level::Info,
        }
    }
}

/// Called after each function of a sweep (its aliases' policies included) with (done, total):
/// the CLI's progress bar.
pub type Progress = Box<dyn Fn(usize, usize) + Send + Sync>;

pub(super) struct State<A> {
    pub(super) allowlist: Allowlist,
    pub(super) aws: A,
    pub(super) sink: Arc<dyn LogSink>,
    pub(super) settings: Settings,
    pub(super) coalescer: Coalescer,
    /// Qualifiers Lambda said do not exist: records naming them again make no call.
    pub(super) missing: Missing,
    pub(super) progress: Option<Progress>,
    /// Findings of the event so far, one per Id (the latest), imported when it ends.
    findings: Mutex<Vec<Finding>>,
}

impl<A: Aws> State<A> {
    pub(super) fn new(
        allowlist: Allowlist,
        aws: A,
        sink: Arc<dyn LogSink>,
        settings: Settings,
    ) -> Self {
        let allowlist = match &settings.guard_function {
            Some(name) => allowlist.knowing_guard(name),
            None => allowlist,
        };
        if let Some(home) = allowlist.home() {
            aws.set_home(home);
        }
        State {
            coalescer: Coalescer::new(settings.verified_ttl),
            allowlist,
            aws,
            sink,
            settings,
            missing: Missing::default(),
            progress: None,
            findings: Mutex::default(),
        }
    }

    /// Imports the findings the event gathered, in calls of at most [`IMPORT_BATCH`]. A failed
    /// import is an `error` line: the remediation stands, and the event does not fail for it.
    pub(super) async fn flush_findings(&self, request_id: &str) {
        let pending =
            std::mem::take(&mut *self.findings.lock().unwrap_or_else(PoisonError::into_inner));
        for chunk in pending.chunks(IMPORT_BATCH) {
            if let Err(e) = self.aws.import_findings(chunk).await {
                let error = format!(
                    "Security Hub BatchImportFindings failed for {} finding(s): {e}",
                    chunk.len()
                );
                self.bare_error(request_id, &error);
            }
        }
    }
}

impl<A> State<A> {
    /// The writer of the lines about `subject` (`None`: before a record was read).
    pub(super) fn lines(&self, request_id: &str, subject: Option<Subject>) -> LogWriter<'_> {
        LogWriter::new(
            self.sink.as_ref(),
            self.settings.log_level,
            request_id,
            subject,
        )
    }

    /// Keeps `finding` for the end of the event; a later one with the same Id replaces it.
    pub(super) fn queue_finding(&self, finding: Finding) {
        let mut pending = self.findings.lock().unwrap_or_else(PoisonError::into_inner);
        keep_latest(&mut pending, finding);
    }

    /// An `error` line about no record: the event, or something read before any record.
    pub(super) fn bare_error(&self, request_id: &str, error: &str) {
        self.lines(request_id, None).emit(
            Level::Error,
            Message::Error {
                error: error.to_owned(),
            },
        );
    }

    /// A record's `eventTime` on the guard's clock; a record without one is dated on arrival.
    pub(super) fn event_time_or_now(&self, secs: Option<u64>) -> std::time::SystemTime {
        secs.map_or_else(
            || self.coalescer.now(),
            |s| std::time::UNIX_EPOCH + Duration::from_secs(s),
        )
    }

    /// The account a line names: the function's when known, else the home's.
    pub(super) fn account_or_home(&self, account: Option<&str>) -> Option<String> {
        account
            .map(str::to_owned)
            .or_else(|| self.allowlist.home().map(|h| h.account.clone()))
    }
}
