//! The guard over the in-memory AWS (`guard::memory`), as the fast shell tests build it: one
//! policies file, the home `aws us-east-1 111122223333`, lines at debug into a memory sink.
//! Included with `#[path = "support/memory_guard.rs"] mod memory_guard;` by the tests that use it.

#![allow(dead_code)] // each test crate uses a different subset

use std::sync::Arc;

use invokeguard::allowlist::Allowlist;
use invokeguard::aws::home::Home;
use invokeguard::guard::memory::MemoryAws;
use invokeguard::guard::{Guard, Level, MemorySink, Settings};
use serde_json::{Value, json};

pub const HOME: &str = "111122223333";

/// Settings that log every line (debug), for a test to adjust.
pub fn debug_settings() -> Settings {
    Settings {
        log_level: Level::Debug,
        ..Settings::default()
    }
}

/// A policies file guarding the function `f` only: `{"allow": allow}` with `extra`'s fields.
pub fn policies_of_f(allow: Value, extra: Value) -> String {
    let mut function = json!({ "allow": allow });
    if let (Some(f), Some(e)) = (function.as_object_mut(), extra.as_object()) {
        f.extend(e.clone());
    }
    json!({"version": 1, "functions": {"f": function}}).to_string()
}

/// The guard of the policies file `text` at home, and the sink its lines go to.
pub fn memory_guard(
    text: &str,
    aws: MemoryAws,
    settings: Settings,
) -> (Guard<MemoryAws>, MemorySink) {
    let policies = Allowlist::from_json(text, "test", None).unwrap();
    policies
        .set_home(Home::new("aws", "us-east-1", HOME).unwrap())
        .unwrap();
    let sink = MemorySink::default();
    (
        Guard::new(policies, aws, Arc::new(sink.clone()), settings),
        sink,
    )
}

/// An Invoke of the function `arn` by the foreign account 999999999999 (a violation the guard
/// can fix), with `request` as its parameters and `extra` merged over the record's fields.
pub fn foreign_invoke(arn: &str, id: &str, request: Value, extra: Value) -> Value {
    let mut r = json!({"eventSource": "lambda.amazonaws.com", "eventName": "Invoke", "eventID": id,
        "userIdentity": {"type": "AWSAccount", "accountId": "999999999999"},
        "requestParameters": request,
        "resources": [{"type": "AWS::Lambda::Function", "ARN": arn}]});
    if let (Some(r), Some(e)) = (r.as_object_mut(), extra.as_object()) {
        r.extend(e.clone());
    }
    r
}
