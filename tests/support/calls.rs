//! What the recording proxy saw, as the benchmarks count it: whose AssumeRole, which member
//! account a Lambda call was about, and the busiest window of calls.

use std::time::{Duration, Instant};

use super::http;
use super::proxy::Call;

/// The account an STS AssumeRole call assumes a role in (from its RoleArn), if it is one.
pub fn assume_role_account(call: &Call) -> Option<String> {
    if call.operation != "POST /" || http::query_param(&call.body, "Action")? != "AssumeRole" {
        return None;
    }
    let role = http::query_param(&call.body, "RoleArn")?;
    role.split(':').nth(4).map(str::to_owned)
}

/// The member account a Lambda call is about (from the function ARN in its path).
pub fn lambda_account(call: &Call) -> Option<&str> {
    super::org::account_of_arn(call.function.as_deref()?)
}

/// The most calls within any window of `window` (times in any order).
pub fn peak_in_window(mut times: Vec<Instant>, window: Duration) -> usize {
    times.sort();
    let mut best = 0;
    let mut lo = 0;
    for hi in 0..times.len() {
        while times[hi] - times[lo] >= window {
            lo += 1;
        }
        best = best.max(hi - lo + 1);
    }
    best
}
