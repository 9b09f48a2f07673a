//! The log writer: one JSON object per line, a [`LogLine`] (see [`crate::log::line`] for the fields).

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};

use crate::log::line::{Level, LogLine, Message, Subject};

/// Where log lines go: stdout in Lambda (CloudWatch Logs), memory in tests.
pub trait LogSink: Send + Sync {
    fn write_line(&self, line: &str);
}

pub struct StdoutSink;

impl LogSink for StdoutSink {
    fn write_line(&self, line: &str) {
        let mut out = std::io::stdout().lock();
        // A closed stdout leaves nothing better to report the failure to.
        let _ = writeln!(out, "{line}");
    }
}

#[derive(Default, Clone)]
pub struct MemorySink(pub Arc<Mutex<Vec<String>>>);

impl MemorySink {
    pub fn lines(&self) -> Vec<Value> {
        let lines = self.0.lock().map(|l| l.clone()).unwrap_or_default();
        lines
            .iter()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// The first line whose `message` is `message`.
    pub fn first(&self, message: &str) -> Option<Value> {
        self.lines().into_iter().find(|l| l["message"] == message)
    }
}

impl LogSink for MemorySink {
    fn write_line(&self, line: &str) {
        if let Ok(mut lines) = self.0.lock() {
            lines.push(line.to_owned());
        }
    }
}

/// Writes [`LogLine`]s that share the fields every line carries.
pub struct LogWriter<'a> {
    sink: &'a dyn LogSink,
    min_level: Level,
    request_id: String,
    subject: Option<Subject>,
}

impl<'a> LogWriter<'a> {
    /// `subject`: what the lines are about; `None` only before a record was read.
    pub fn new(
        sink: &'a dyn LogSink,
        min_level: Level,
        request_id: &str,
        subject: Option<Subject>,
    ) -> Self {
        LogWriter {
            sink,
            min_level,
            request_id: request_id.to_owned(),
            subject,
        }
    }

    /// A copy writing about another qualifier of the same function.
    pub fn with_qualifier(&self, qualifier: Option<&str>) -> LogWriter<'a> {
        let subject = self.subject.clone().map(|s| Subject {
            qualifier: qualifier.map(str::to_owned),
            ..s
        });
        LogWriter {
            sink: self.sink,
            min_level: self.min_level,
            request_id: self.request_id.clone(),
            subject,
        }
    }

    /// Builds the line, writes it when its level is enabled, and returns it as JSON (for
    /// notifications).
    pub fn emit(&self, level: Level, message: Message) -> Map<String, Value> {
        let line = LogLine {
            timestamp: now_rfc3339(),
            level,
            request_id: self.request_id.clone(),
            subject: self.subject.clone(),
            message,
        };
        // Through a `Value`: a `decision` line's verdict repeats `eventId`, `function` and
        // `qualifier`, which the object then holds once.
        let line = match serde_json::to_value(&line) {
            Ok(Value::Object(map)) => map,
            _ => Map::new(),
        };
        if level >= self.min_level {
            self.sink
                .write_line(&Value::Object(line.clone()).to_string());
        }
        line
    }
}

/// UTC time as `2026-11-23T23:40:52.123Z`, without a date-time dependency.
pub fn now_rfc3339() -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        now.subsec_millis()
    )
}

/// Days since 1970-01-01 to (year, month, day), after Howard Hinnant's civil_from_days.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_civil() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_415), (2025, 11, 23));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }

    #[test]
    fn lines_below_the_level_are_not_written_but_still_returned() {
        let sink = MemorySink::default();
        let subject = Subject {
            input: crate::log::line::Input::Invoke,
            event_id: Some("e".into()),
            function: None,
            qualifier: None,
            mode: crate::allowlist::Mode::Enforce,
            account: None,
        };
        let lines = LogWriter::new(&sink, Level::Warn, "r", Some(subject));
        let line = lines.emit(Level::Info, Message::Error { error: "x".into() });
        assert_eq!(line["eventId"], "e");
        assert_eq!(line["level"], "INFO");
        assert!(sink.lines().is_empty());
        lines.emit(Level::Error, Message::Error { error: "y".into() });
        assert_eq!(sink.lines()[0]["message"], "error");
        assert_eq!(Level::from_lambda_env(Some("debug")), Level::Debug);
    }
}
