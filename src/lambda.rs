//! The Lambda's runtime loop: the guard built once at init ([`crate::sdk::env::lambda_guard`]),
//! then each invocation handed to it within a span that carries its request id.

use std::sync::Arc;

use lambda_runtime::tracing::{self, Instrument};
use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;

use crate::guard::GuardError;
use crate::sdk::env::lambda_guard;

/// `invokeguard-lambda`'s `main`: the runtime loop on a multi-threaded runtime.
pub fn main() -> Result<(), lambda_runtime::Error> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run())
}

/// Builds the guard and serves invocations until the runtime stops. A bad configuration fails
/// the init, which keeps every event retryable: nothing is judged on a bad file.
async fn run() -> Result<(), lambda_runtime::Error> {
    tracing::init_default_subscriber();
    let guard = match lambda_guard() {
        Ok(g) => Arc::new(g),
        Err(e) => {
            println!(
                "{}",
                serde_json::json!({ "level": "ERROR", "message": "error", "error": e.to_string() })
            );
            return Err(e.into());
        }
    };
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let guard = Arc::clone(&guard);
        let span = tracing::info_span!(
            "invocation",
            request_id = %event.context.request_id,
            function = %event.context.invoked_function_arn,
        );
        async move {
            let ctx = &event.context;
            guard.set_home_from_arn(&ctx.invoked_function_arn, &ctx.request_id)?;
            let deadline = deadline(ctx.deadline);
            guard
                .handle_event_until(event.payload, &ctx.request_id, Some(deadline))
                .await
        }
        .instrument(span)
    }))
    .await
}

impl From<GuardError> for lambda_runtime::Diagnostic {
    fn from(e: GuardError) -> Self {
        let error_type = match e {
            GuardError::BadEvent(_) => "InvokeguardBadEvent",
            GuardError::Config(_) => "InvokeguardConfig",
            GuardError::Incomplete { .. } => "InvokeguardRemediationIncomplete",
        };
        lambda_runtime::Diagnostic {
            error_type: error_type.to_owned(),
            error_message: e.to_string(),
        }
    }
}

/// The invocation's deadline (milliseconds since the epoch, as the Runtime API gives it) as an
/// `Instant` on this machine's clock.
fn deadline(deadline_ms: u64) -> std::time::Instant {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    std::time::Instant::now() + std::time::Duration::from_millis(deadline_ms.saturating_sub(now_ms))
}
