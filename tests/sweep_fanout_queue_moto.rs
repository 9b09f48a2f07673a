//! The fanned-out sweep end to end, the way AWS runs it: the built `invokeguard-lambda` plans
//! into a FIFO queue in moto's SQS (with a dead-letter queue after 3 receives), and Lambda's
//! event source mapping (played by `support::event_source`: poll, invoke, delete what did not
//! fail) feeds the messages to one or more copies of the binary under our Runtime API. AWS is
//! moto behind the recording proxy. What is checked is what SQS and moto see, not what the
//! guard says about itself: which messages were deleted, redelivered or dead-lettered, when
//! each pair was in flight, and every function's policy read back.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is a failed test

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};
use support::event_source::{self, Delivery, Mapping};
use support::moto::{self, ACCOUNT, Moto, REGION};
use support::org::{self, Org, OrgSpec};
use support::proxy::{Fault, Hit, Proxy};
use support::runtime_api::{LambdaProcess, RuntimeApi, spawn_lambda};

const ALLOWED: &str = "222233334444";
const MEMBER_ROLE: &str = "invokeguard-member";

struct Fixture {
    moto: &'static Moto,
    org: Org,
    before: BTreeMap<String, Vec<Value>>,
    proxy: Proxy,
    sqs: aws_sdk_sqs::Client,
    queue: String,
    dead_letters: String,
    env: Vec<(String, String)>,
    _policies: tempfile::NamedTempFile,
}

/// `accounts` member accounts (ids from `base`) of 3 functions each, the 1st drifted; a FIFO
/// sweep queue (dead letters after 3 receives) named after `name`. A pair's sweep takes about
/// 1.5 s (10 calls at 7 requests/s): `visibility_secs` below that would let a second consumer
/// have a pair still being swept, which the construct refuses (at least the guard's timeout).
async fn fixture(name: &str, base: u64, accounts: usize, visibility_secs: u32) -> Fixture {
    let moto = Moto::shared();
    let spec = OrgSpec {
        accounts: org::account_ids(base, accounts),
        functions_per_account: 3,
        drift_every: 3,
        allowed_account: ALLOWED.to_owned(),
        name_prefix: format!("{name}-"),
        concurrency: 8,
    };
    let org = org::create_org(&moto.endpoint, &spec).await;
    let before = org::statements(&moto.endpoint, &moto.endpoint, &org, 8).await;
    let config = moto::sdk_config(&moto.endpoint).await;
    let sqs = aws_sdk_sqs::Client::new(&config);
    let unique = format!("{name}-{}", std::process::id());
    let (queue, dead_letters) =
        event_source::fifo_queue_with_dlq(&sqs, &unique, visibility_secs, 3).await;
    let proxy = Proxy::start(&moto.endpoint).await;
    let policies = org.policies_file(ALLOWED);
    let mut env = moto::guard_env(&proxy.endpoint, policies.path());
    env.push(("INVOKEGUARD_MEMBER_ROLE".into(), MEMBER_ROLE.into()));
    env.push(("INVOKEGUARD_SWEEP_QUEUE_URL".into(), queue.clone()));
    Fixture {
        moto,
        org,
        before,
        proxy,
        sqs,
        queue,
        dead_letters,
        env,
        _policies: policies,
    }
}

impl Fixture {
    async fn lambda(&self) -> (RuntimeApi, LambdaProcess) {
        let api = RuntimeApi::start().await;
        let process = spawn_lambda(
            Path::new(env!("CARGO_BIN_EXE_invokeguard-lambda")),
            &api,
            &self.env,
        );
        (api, process)
    }

    /// The schedule fires: the planner's answer must be a success.
    async fn plan(&self, api: &RuntimeApi, event_id: &str) {
        let scheduled = json!({"version": "0", "id": event_id, "detail-type": "Scheduled Event",
            "source": "aws.events", "account": ACCOUNT, "region": REGION, "detail": {}});
        let answer = api.invoke(scheduled).await;
        assert!(
            answer.outcome.is_ok(),
            "the plan failed: {:?}",
            answer.outcome
        );
    }

    fn mapping(&self) -> Mapping<'_> {
        Mapping {
            sqs: &self.sqs,
            queue_url: &self.queue,
            batch_size: 1,
            deadline: Duration::from_secs(30),
            give_up_after: Duration::from_secs(120),
        }
    }

    async fn read_back(&self) -> (usize, usize, Vec<String>) {
        let after = org::statements(&self.moto.endpoint, &self.moto.endpoint, &self.org, 8).await;
        org::check(&self.org.functions, &self.before, &after)
    }

    fn pair(&self, account: &str) -> String {
        format!("{account}/{REGION}")
    }
}

/// Deliveries by the pair their body names.
fn by_pair(deliveries: &[Delivery]) -> BTreeMap<String, Vec<&Delivery>> {
    let mut pairs: BTreeMap<String, Vec<&Delivery>> = BTreeMap::new();
    for d in deliveries {
        pairs.entry(d.pair.clone()).or_default().push(d);
    }
    pairs
}

fn sweep_lines(processes: &[&LambdaProcess]) -> Vec<Value> {
    processes
        .iter()
        .flat_map(|p| p.stdout_lines())
        .filter_map(|l| serde_json::from_str::<Value>(&l).ok())
        .filter(|l| l["message"] == "sweep")
        .collect()
}

#[tokio::test]
async fn a_pair_whose_role_cannot_be_assumed_is_redelivered_alone_then_dead_lettered() {
    // A short visibility timeout, so the refused pair comes back within seconds.
    let f = fixture("fanout-dlq", 320_000_000_000, 3, 3).await;
    let denied = f.org.members[2].account.clone();
    // That account's role refuses AssumeRole, every time; the others' work.
    f.proxy.inject(
        Fault::error("POST /", Hit::Always, 403, "AccessDenied").when_body_contains(&denied),
    );
    let (api, process) = f.lambda().await;
    f.plan(&api, "sched-dlq").await;

    let deliveries = f.mapping().drain(&[&api]).await;

    let pairs = by_pair(&deliveries);
    assert_eq!(pairs.len(), 3, "{deliveries:#?}");
    for member in &f.org.members[..2] {
        let got = &pairs[&f.pair(&member.account)];
        assert_eq!(
            got.iter().map(|d| d.failed).collect::<Vec<_>>(),
            [false],
            "{}: swept once and deleted: {got:#?}",
            member.account
        );
    }
    let refused = &pairs[&f.pair(&denied)];
    assert_eq!(
        refused
            .iter()
            .map(|d| (d.failed, d.receive_count))
            .collect::<Vec<_>>(),
        [(true, 1), (true, 2), (true, 3)],
        "the refused pair, redelivered until the redrive policy's 3 receives: {refused:#?}"
    );
    // It now waits in the dead-letter queue, and nothing else does.
    let dead = event_source::bodies(&f.sqs, &f.dead_letters).await;
    assert_eq!(dead.len(), 1, "{dead:?}");
    let body: Value = serde_json::from_str(&dead[0]).unwrap();
    assert_eq!(
        (body["account"].as_str(), body["region"].as_str()),
        (Some(denied.as_str()), Some(REGION))
    );
    assert_eq!(event_source::queue_depth(&f.sqs, &f.queue).await, 0);

    // Read back through moto: the two reachable accounts' drifted policies are fixed and their
    // clean ones untouched; the refused account's drifted policy is still drifted.
    let (fixed, untouched, problems) = f.read_back().await;
    let refused_drifted: Vec<&str> = f
        .org
        .drifted()
        .filter(|d| d.account == denied)
        .map(|d| d.arn.as_str())
        .collect();
    assert_eq!(fixed, f.org.drifted().count() - refused_drifted.len());
    assert_eq!(untouched, f.org.functions.len() - f.org.drifted().count());
    assert_eq!(problems.len(), refused_drifted.len(), "{problems:#?}");
    assert!(
        problems
            .iter()
            .all(|p| refused_drifted.iter().any(|arn| p.starts_with(arn))),
        "{problems:#?}"
    );
    // Each attempt at the refused pair says so: an ERROR line, every function failed, none fixed.
    let lines = sweep_lines(&[&process]);
    let refused_lines: Vec<&Value> = lines
        .iter()
        .filter(|l| l["pair"] == f.pair(&denied))
        .collect();
    assert_eq!(refused_lines.len(), 3, "{lines:#?}");
    assert!(
        refused_lines
            .iter()
            .all(|l| l["level"] == "ERROR" && l["failed"] == l["functions"] && l["fixed"] == 0),
        "{refused_lines:#?}"
    );
}

#[tokio::test]
async fn no_pair_is_swept_by_two_consumers_at_once() {
    let f = fixture("fanout-once", 330_000_000_000, 4, 60).await;
    // Slow reads so that each sweep is in flight long enough to collide, were the groups wrong.
    f.proxy.inject(Fault::delay("GetPolicy", Hit::Always, 150));
    let (planner, planner_process) = f.lambda().await;
    // Two schedules before any consumer runs: two messages per pair, each in the pair's group.
    f.plan(&planner, "sched-once-1").await;
    f.plan(&planner, "sched-once-2").await;
    let (a, pa) = f.lambda().await;
    let (b, pb) = f.lambda().await;
    let (c, pc) = f.lambda().await;

    let deliveries = f.mapping().drain(&[&a, &b, &c]).await;

    assert_eq!(deliveries.len(), 8, "{deliveries:#?}");
    assert!(deliveries.iter().all(|d| !d.failed), "{deliveries:#?}");
    let pairs = by_pair(&deliveries);
    assert_eq!(pairs.len(), 4);
    assert!(pairs.values().all(|p| p.len() == 2), "{pairs:#?}");
    let overlapping = event_source::overlapping_per_pair(&deliveries);
    assert!(
        overlapping.is_empty(),
        "one pair swept by two consumers at once: {overlapping:#?}"
    );
    // The consumers did run side by side (else the check above proves nothing): some two
    // deliveries of different pairs overlap in time, on different consumers.
    let concurrent = deliveries.iter().enumerate().any(|(i, x)| {
        deliveries[i + 1..]
            .iter()
            .any(|y| x.consumer != y.consumer && x.received < y.answered && y.received < x.answered)
    });
    assert!(
        concurrent,
        "the consumers never overlapped: {deliveries:#?}"
    );

    let (fixed, untouched, problems) = f.read_back().await;
    assert!(problems.is_empty(), "{problems:#?}");
    assert_eq!(fixed, f.org.drifted().count());
    assert_eq!(untouched, f.org.functions.len() - fixed);
    // Each pair's sweep line, twice (the second finds nothing left to fix), none incomplete.
    let lines = sweep_lines(&[&planner_process, &pa, &pb, &pc]);
    assert_eq!(lines.len(), 8, "{lines:#?}");
    assert!(
        lines
            .iter()
            .all(|l| l["incomplete"] == false && l["failed"] == 0)
    );
    let fixed_by_lines: u64 = lines.iter().filter_map(|l| l["fixed"].as_u64()).sum();
    assert_eq!(fixed_by_lines as usize, f.org.drifted().count());
}
