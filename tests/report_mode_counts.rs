//! "Never report fixed what is not": a sweep counts a policy `fixed` only when its writes were
//! applied. In report mode nothing is written, so a drifted policy is drift, never fixed, even
//! when its plan only adds a missing allowlisted grant (nothing is left `unfixed` then).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is a failed test

#[path = "support/memory_guard.rs"]
mod memory_guard;

use memory_guard::{debug_settings, memory_guard};

use invokeguard::guard::memory::MemoryAws;
use serde_json::{Value, json};

fn sweep_line(mode: &str) -> Value {
    // Two functions lacking their partner's grant; `b` also has a public one.
    let aws = MemoryAws::with_functions(&["a", "b"]);
    aws.set_statements("b", None, json!([{"Sid": "open", "Effect": "Allow", "Principal": "*", "Action": "lambda:InvokeFunction"}]));
    let allow = json!({"allow": [{"account": "444455556666"}]});
    let text =
        json!({"version": 1, "defaults": {"mode": mode}, "functions": {"a": allow, "b": allow}})
            .to_string();
    let (g, sink) = memory_guard(&text, aws, debug_settings());
    let event = json!({"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}});
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    rt.block_on(g.handle_event(event, "req")).unwrap();
    sink.first("sweep").unwrap()
}

#[test]
fn report_mode_counts_drift_and_never_fixed() {
    let sweep = sweep_line("report");
    assert_eq!(
        (
            sweep["drift"].clone(),
            sweep["fixed"].clone(),
            sweep["unfixed"].clone()
        ),
        (json!(2), json!(0), json!(1)),
        "{sweep}"
    );
}

#[test]
fn enforce_mode_counts_what_it_applied_as_fixed() {
    let sweep = sweep_line("enforce");
    assert_eq!(
        (
            sweep["drift"].clone(),
            sweep["fixed"].clone(),
            sweep["unfixed"].clone()
        ),
        (json!(2), json!(2), json!(0)),
        "{sweep}"
    );
}
