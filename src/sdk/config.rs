//! The one AWS configuration every client of the crate is built from: the guard's, the CLI
//! commands' (STS for the home account) and `check`'s S3 reads.

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};

/// At most this many attempts per call; the SDK backs off exponentially with jitter between
/// them on throttling (429), 5xx and I/O errors. Lambda's control plane allows 15 req/s.
const MAX_ATTEMPTS: u32 = 4;

/// The first backoff: short enough that a throttled call within a Lambda invocation is retried
/// well before its deadline, long enough to let a 15 req/s budget refill a token.
const INITIAL_BACKOFF: Duration = Duration::from_millis(200);

/// A TCP/TLS connection to a regional endpoint takes milliseconds; three seconds means the
/// endpoint is unreachable, and the retry (a new connection) is the better bet.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// One attempt: the control-plane calls answer in well under a second. For GetObject and
/// ListObjectsV2 this bounds the wait for the response's head only (an object's body streams
/// after it, outside the timeout), so large trail files read by `check` need no longer value.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);

/// Every attempt and backoff of one call: four 5-second attempts with their backoffs fit, and a
/// Lambda invocation's deadline (minutes) is never spent on a single call.
const OPERATION_TIMEOUT: Duration = Duration::from_secs(20);

/// `base` with the crate's retry and timeout policy (tests hand in a configuration pointing at a
/// local emulator; it gets the same policy).
pub fn tuned(base: &SdkConfig) -> SdkConfig {
    base.to_builder()
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(MAX_ATTEMPTS)
                .with_initial_backoff(INITIAL_BACKOFF),
        )
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(CONNECT_TIMEOUT)
                .operation_attempt_timeout(ATTEMPT_TIMEOUT)
                .operation_timeout(OPERATION_TIMEOUT)
                .build(),
        )
        .build()
}

/// The configuration from the environment (credentials, region, `AWS_ENDPOINT_URL`), tuned.
/// Without `AWS_REGION` or `AWS_DEFAULT_REGION`, `fallback_region` when given (the home region
/// `check` was told), else whatever the shared config files say.
pub async fn load(fallback_region: Option<&str>) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(region) = fallback_region
        && std::env::var_os("AWS_REGION").is_none()
        && std::env::var_os("AWS_DEFAULT_REGION").is_none()
    {
        loader = loader.region(Region::new(region.to_owned()));
    }
    tuned(&loader.load().await)
}

/// What to set, in one line, when `err` (an SDK call's error) comes from finding no usable
/// credentials: the SDK's own message is a nested debug structure that names none of it.
pub fn credentials_hint(err: &(dyn std::error::Error + 'static)) -> Option<String> {
    use aws_credential_types::provider::error::CredentialsError;
    let mut at = Some(err);
    while let Some(e) = at {
        if let Some(c) = e.downcast_ref::<CredentialsError>() {
            const SET: &str = "set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or run `aws sso login`";
            return Some(match c {
                CredentialsError::CredentialsNotLoaded(_) => format!("no AWS credentials: {SET}"),
                other => format!("AWS credentials: {other}: {SET}"),
            });
        }
        at = e.source();
    }
    None
}
