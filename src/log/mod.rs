//! The log-line contract: [`line`] holds the typed lines (the schema's source), [`writer`] puts
//! them on stdout (one JSON object per line) or in memory for tests.

pub mod line;
pub mod writer;

pub use line::Level;
pub use writer::{LogSink, LogWriter, MemorySink, StdoutSink};
