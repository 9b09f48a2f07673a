//! Coalescing by time, through the Guard and the in-memory Lambda, on a paused clock: a
//! verification answers only for what happened before it. The attacker's sequences of the
//! red team (a decoy, then a second grant or a DeleteResourcePolicy two seconds later), a change
//! during a reconcile, the guard's own change, and the storm of Invoke records.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is a failed test

#[path = "support/memory_guard.rs"]
mod memory_guard;

use memory_guard::{HOME, debug_settings, memory_guard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use invokeguard::guard::memory::{Call, MemoryAws};
use invokeguard::guard::{ApiError, EventReport, Guard, MemorySink, Settings};
use invokeguard::record::GuardIdentity;
use serde_json::{Value, json};

const ARN: &str = "arn:aws:lambda:us-east-1:111122223333:function:f";
const ROLE: &str = "arn:aws:iam::111122223333:role/invokeguard-GuardRole-1A2B";
const PARTNER: &str = "444455556666";

/// The guard of one function `f` whose allowlist is one partner account, and the wall clock
/// the test dates its records with (the guard's starts a moment later: never earlier).
fn guard(identity: Option<&str>) -> (Guard<MemoryAws>, MemorySink, Clock) {
    let clock = Clock::start();
    let text =
        json!({"version": 1, "functions": {"f": {"allow": [{"account": PARTNER}]}}}).to_string();
    let settings = Settings {
        identity: identity.map(|role_arn| GuardIdentity {
            role_arn: role_arn.to_owned(),
            member_role: "invokeguard-member".into(),
        }),
        ..debug_settings()
    };
    let aws = MemoryAws::with_functions(&["f"]);
    aws.set_statements("f", None, json!([partner()]));
    let (guard, sink) = memory_guard(&text, aws, settings);
    (guard, sink, clock)
}

struct Clock {
    wall: SystemTime,
    at: tokio::time::Instant,
}

impl Clock {
    fn start() -> Self {
        Clock {
            wall: SystemTime::now(),
            at: tokio::time::Instant::now(),
        }
    }

    /// Now, as CloudTrail's `eventTime` (whole seconds, UTC).
    fn event_time(&self) -> String {
        let secs = (self.wall + self.at.elapsed())
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let (days, rest) = (secs / 86_400, secs % 86_400);
        // Civil date from days since the epoch (Howard Hinnant's algorithm).
        let z = days + 719_468;
        let era = z / 146_097;
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = yoe + era * 400 + u64::from(month <= 2);
        format!(
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
            rest / 3600,
            rest % 3600 / 60,
            rest % 60
        )
    }
}

fn partner() -> Value {
    json!({"Sid": "partner", "Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{PARTNER}:root")},
        "Action": "lambda:InvokeFunction", "Resource": ARN})
}

fn public(sid: &str) -> Value {
    json!({"Sid": sid, "Effect": "Allow", "Principal": "*", "Action": "lambda:InvokeFunction", "Resource": ARN})
}

fn someone() -> Value {
    json!({"type": "AssumedRole", "arn": "arn:aws:sts::111122223333:assumed-role/admin/mallory",
        "sessionContext": {"sessionIssuer": {"type": "Role", "arn": "arn:aws:iam::111122223333:role/admin"}}})
}

fn the_guard() -> Value {
    json!({"type": "AssumedRole", "arn": "arn:aws:sts::111122223333:assumed-role/invokeguard-GuardRole-1A2B/invokeguard",
        "sessionContext": {"sessionIssuer": {"type": "Role", "arn": ROLE}}})
}

/// A management event as EventBridge delivers it.
fn change(name: &str, id: &str, clock: &Clock, identity: Value) -> Value {
    json!({"source": "aws.lambda", "detail-type": "AWS API Call via CloudTrail", "detail": {
        "eventSource": "lambda.amazonaws.com", "eventName": name, "eventCategory": "Management",
        "eventTime": clock.event_time(), "eventID": id, "awsRegion": "us-east-1",
        "recipientAccountId": HOME, "userIdentity": identity,
        "requestParameters": {"functionName": "f", "statementId": id}}})
}

/// An Invoke by another account: a fixable violation.
fn foreign_invoke(id: &str, clock: &Clock) -> Value {
    json!({"eventSource": "lambda.amazonaws.com", "eventName": "Invoke", "eventID": id,
        "eventTime": clock.event_time(),
        "userIdentity": {"type": "AWSAccount", "accountId": "999999999999"}, "requestParameters": null,
        "resources": [{"type": "AWS::Lambda::Function", "ARN": ARN}]})
}

async fn run(g: &Guard<MemoryAws>, event: Value) -> EventReport {
    g.handle_event(event, "req").await.unwrap()
}

fn get_policies(aws: &MemoryAws) -> usize {
    aws.calls()
        .iter()
        .filter(|c| matches!(c, Call::GetPolicy(_)))
        .count()
}

fn sids(aws: &MemoryAws) -> Vec<String> {
    aws.policy("f", None)
        .statements
        .iter()
        .filter_map(|s| s.sid.clone())
        .collect()
}

/// The guard and its clock, once it removed a decoy grant added by someone.
async fn after_a_decoy_was_removed() -> (Guard<MemoryAws>, Clock) {
    let (g, _, clock) = guard(None);
    let aws = g.aws();
    aws.set_statements("f", None, json!([partner(), public("decoy")]));
    run(
        &g,
        change("AddPermission20150331v2", "decoy", &clock, someone()),
    )
    .await;
    assert_eq!(sids(aws), ["partner"], "the decoy is removed");
    (g, clock)
}

async fn two_seconds() {
    tokio::time::sleep(Duration::from_secs(2)).await;
}

#[tokio::test(start_paused = true)]
async fn a_second_grant_two_seconds_after_the_decoy_is_removed_too() {
    let (g, clock) = after_a_decoy_was_removed().await;
    let aws = g.aws();
    two_seconds().await;
    aws.set_statements("f", None, json!([partner(), public("second")]));
    let report = run(
        &g,
        change("AddPermission20150331v2", "second", &clock, someone()),
    )
    .await;
    assert_eq!(
        (report.coalesced, report.removed),
        (0, 1),
        "the first verification is older than the second change"
    );
    assert_eq!(sids(aws), ["partner"]);
}

#[tokio::test(start_paused = true)]
async fn a_policy_deleted_two_seconds_after_a_verification_is_restored() {
    let (g, clock) = after_a_decoy_was_removed().await;
    let aws = g.aws();
    two_seconds().await;
    aws.set_statements("f", None, json!([]));
    let report = run(
        &g,
        change("DeleteResourcePolicy", "gone", &clock, someone()),
    )
    .await;
    assert_eq!((report.coalesced, report.added), (0, 1), "{report:?}");
    let principals: Vec<String> = aws
        .policy("f", None)
        .statements
        .iter()
        .map(|s| s.raw["Principal"].to_string())
        .collect();
    assert_eq!(principals.len(), 1);
    assert!(principals[0].contains(PARTNER), "{principals:?}");
}

#[tokio::test(start_paused = true)]
async fn changes_during_a_reconcile_make_it_run_exactly_once_more() {
    let (g, sink, clock) = guard(None);
    let aws = g.aws();
    aws.set_statements("f", None, json!([partner(), public("open")]));
    // The first removal meets a concurrent writer: the reconcile backs off and reads again, and
    // the changes arrive meanwhile.
    aws.fail_next(
        "RemovePermission",
        vec![ApiError::PreconditionFailed("revision".into())],
    );
    let changes = async {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let mut coalesced = 0;
        for n in 0..3 {
            let id = format!("late-{n}");
            let r = run(
                &g,
                change("AddPermission20150331v2", &id, &clock, someone()),
            )
            .await;
            coalesced += r.coalesced;
        }
        coalesced
    };
    let (first, coalesced) = tokio::join!(run(&g, foreign_invoke("e1", &clock)), changes);
    assert_eq!(first.removed, 1);
    assert_eq!(
        coalesced, 3,
        "each change is handed to the reconcile in flight"
    );
    // Two reads by the first reconcile (before and after the conflict), one rerun for the three.
    assert_eq!(get_policies(aws), 3, "{:?}", aws.calls());
    let why: Vec<Value> = sink
        .lines()
        .iter()
        .filter(|l| l["message"] == "coalesced")
        .map(|l| l["why"].clone())
        .collect();
    assert_eq!(why, vec![json!("in-flight"); 3]);
}

#[tokio::test(start_paused = true)]
async fn the_guards_own_change_arriving_late_costs_nothing_and_anyone_elses_is_reconciled() {
    let (g, _, clock) = guard(Some(ROLE));
    let aws = g.aws();
    aws.set_statements("f", None, json!([partner(), public("open")]));
    let made_at = change("RemovePermission20150331v2", "own", &clock, the_guard());
    let by_someone = change("RemovePermission20150331v2", "other", &clock, someone());
    run(&g, foreign_invoke("e1", &clock)).await;
    assert_eq!(sids(aws), ["partner"]);
    assert_eq!(get_policies(aws), 1);
    // EventBridge brings the guard's own RemovePermission half a minute later, past the TTL.
    tokio::time::sleep(Duration::from_secs(30)).await;
    let report = run(&g, made_at).await;
    assert_eq!(report.coalesced, 1);
    assert_eq!(
        get_policies(aws),
        1,
        "no second reconcile for its own change"
    );
    // The same change by someone else is not answered by the guard's verification... unless
    // it was certainly older: this one happened in the same second, so it is reconciled.
    let report = run(&g, by_someone).await;
    assert_eq!(report.coalesced, 0);
    assert_eq!(get_policies(aws), 2);
}

#[tokio::test(start_paused = true)]
async fn without_its_role_nothing_is_the_guards_own() {
    let (g, _, clock) = guard(None);
    let aws = g.aws();
    aws.set_statements("f", None, json!([partner(), public("open")]));
    let made_at = change("RemovePermission20150331v2", "own", &clock, the_guard());
    run(&g, foreign_invoke("e1", &clock)).await;
    let report = run(&g, made_at).await;
    assert_eq!(report.coalesced, 0);
    assert_eq!(
        get_policies(aws),
        2,
        "one GetPolicy for the unrecognised change"
    );
}

#[tokio::test(start_paused = true)]
async fn a_thousand_invokes_within_the_ttl_cost_one_get_policy() {
    let (g, sink, clock) = guard(None);
    let aws = g.aws();
    aws.set_statements("f", None, json!([partner(), public("open")]));
    let mut coalesced = 0;
    for n in 0..1_000 {
        let report = run(&g, foreign_invoke(&format!("e{n}"), &clock)).await;
        coalesced += report.coalesced;
        tokio::time::sleep(Duration::from_millis(9)).await;
    }
    assert_eq!(get_policies(aws), 1);
    assert_eq!(coalesced, 999);
    assert!(
        sink.lines()
            .iter()
            .filter(|l| l["message"] == "coalesced")
            .all(|l| l["why"] == "recently-verified")
    );
    // Past the TTL (the eventTime's second and the start's fraction aside) the loop costs one more.
    tokio::time::sleep(Duration::from_secs(2)).await;
    run(&g, foreign_invoke("late", &clock)).await;
    assert_eq!(get_policies(aws), 2);
}
