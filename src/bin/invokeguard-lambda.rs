use std::sync::Arc;

use invokeguard::lambda::guard_from_env;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let guard = match guard_from_env() {
        Ok(g) => Arc::new(g),
        Err(e) => {
            // Failing the init keeps every event retryable: nothing is judged on a bad file.
            println!(
                "{}",
                serde_json::json!({ "level": "ERROR", "message": "error", "error": e.to_string() })
            );
            return Err(e.into());
        }
    };
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let guard = Arc::clone(&guard);
        async move {
            let ctx = &event.context;
            guard.set_home_from_arn(&ctx.invoked_function_arn, &ctx.request_id)?;
            let deadline = invokeguard::lambda::deadline(ctx.deadline);
            guard
                .handle_event_until(event.payload, &ctx.request_id, Some(deadline))
                .await
        }
    }))
    .await
}
