//! The CLI's one async runtime, built the first time a command needs it.

use std::future::Future;
use std::sync::OnceLock;

use tokio::runtime::Runtime;

use super::error::CliError;

static RUNTIME: OnceLock<Runtime> = OnceLock::new();

/// The runtime; built on first use. Two workers: what runs on it waits on AWS, and `check`'s
/// judges keep the other cores busy on their own threads.
pub fn runtime() -> Result<&'static Runtime, CliError> {
    if let Some(rt) = RUNTIME.get() {
        return Ok(rt);
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| CliError::Remediation(format!("cannot start the async runtime: {e}")))?;
    Ok(RUNTIME.get_or_init(|| rt))
}

/// Runs `future` to its end on the runtime.
pub fn block_on<F: Future>(future: F) -> Result<F::Output, CliError> {
    Ok(runtime()?.block_on(future))
}
