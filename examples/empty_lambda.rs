//! The baseline for `scripts/bench-lambda.sh`: an empty `lambda_runtime` function, built the
//! same way as `invokeguard-lambda`, so init time and memory can be compared side by side.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| async move {
        Ok::<Value, Error>(event.payload)
    }))
    .await
}
