//! The audit trail: one JSON object per line, with the field names of the DESIGN contract.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};

/// Where audit lines go: stdout in Lambda (CloudWatch Logs), memory in tests.
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
}

impl LogSink for MemorySink {
    fn write_line(&self, line: &str) {
        if let Ok(mut lines) = self.0.lock() {
            lines.push(line.to_owned());
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Debug,
    Info,
    Warn,
    Error,
}

impl Level {
    fn as_str(self) -> &'static str {
        match self {
            Level::Debug => "DEBUG",
            Level::Info => "INFO",
            Level::Warn => "WARN",
            Level::Error => "ERROR",
        }
    }

    /// Lambda's `AWS_LAMBDA_LOG_LEVEL` (TRACE…FATAL); INFO when unset or unknown.
    pub fn from_lambda_env(value: Option<&str>) -> Level {
        match value.map(str::to_ascii_uppercase).as_deref() {
            Some("TRACE" | "DEBUG") => Level::Debug,
            Some("WARN") => Level::Warn,
            Some("ERROR" | "FATAL") => Level::Error,
            _ => Level::Info,
        }
    }
}

/// Writes audit lines that share the fields every line carries.
pub struct Audit<'a> {
    sink: &'a dyn LogSink,
    min_level: Level,
    common: Map<String, Value>,
}

impl<'a> Audit<'a> {
    pub fn new(sink: &'a dyn LogSink, min_level: Level, common: Map<String, Value>) -> Self {
        Audit {
            sink,
            min_level,
            common,
        }
    }

    /// A copy writing with extra common fields (e.g. a qualifier).
    pub fn with(&self, key: &str, value: Value) -> Audit<'a> {
        let mut common = self.common.clone();
        common.insert(key.to_owned(), value);
        Audit {
            sink: self.sink,
            min_level: self.min_level,
            common,
        }
    }

    /// Builds the line (returned for notifications) and writes it when its level is enabled.
    pub fn emit(
        &self,
        level: Level,
        message: &str,
        fields: Map<String, Value>,
    ) -> Map<String, Value> {
        let mut line = Map::new();
        line.insert("timestamp".into(), Value::String(now_rfc3339()));
        line.insert("level".into(), Value::String(level.as_str().into()));
        line.insert("message".into(), Value::String(message.into()));
        for (k, v) in &self.common {
            line.insert(k.clone(), v.clone());
        }
        for (k, v) in fields {
            line.insert(k, v);
        }
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
        let mut common = Map::new();
        common.insert("eventId".into(), Value::String("e".into()));
        let audit = Audit::new(&sink, Level::Warn, common);
        let line = audit.emit(Level::Info, "decision", Map::new());
        assert_eq!(line["eventId"], "e");
        assert!(sink.lines().is_empty());
        audit.emit(Level::Error, "remediation", Map::new());
        assert_eq!(sink.lines()[0]["message"], "remediation");
        assert_eq!(Level::from_lambda_env(Some("debug")), Level::Debug);
    }
}
