//! The sweep fanned out over the sweep queue, against the in-memory AWS: the scheduled event
//! plans one message per account and region, and an SQS batch of those messages sweeps each pair
//! on its own, reporting only the pairs to redeliver.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is a failed test

use std::sync::Arc;
use std::time::Instant;

use invokeguard::allowlist::Allowlist;
use invokeguard::aws::home::Home;
use invokeguard::guard::memory::{Call, MemoryAws};
use invokeguard::guard::{ApiError, EventReport, Guard, MemorySink, Settings};
use serde_json::{Value, json};

const HOME: &str = "111122223333";
const ACCOUNTS: [&str; 3] = ["210000000001", "210000000002", "210000000003"];
const REGIONS: [&str; 2] = ["us-east-1", "eu-west-1"];

/// `name`s of the function `i` of an account and region: MemoryAws keys policies by name.
fn name(a: usize, r: usize, i: usize) -> String {
    format!("f{a}-{r}-{i}")
}

/// Three functions in each of six pairs (three accounts, two regions), plus two named without
/// an ARN (the home's pair): seven pairs in all. Every first function of a pair has a public
/// grant (drift), the others are clean.
fn org(queue: bool) -> (Guard<MemoryAws>, MemorySink) {
    let mut functions = serde_json::Map::new();
    let mut names = vec!["home-a".to_owned(), "home-b".to_owned()];
    functions.insert("home-a".into(), json!({"allow": []}));
    functions.insert("home-b".into(), json!({"allow": []}));
    for (a, account) in ACCOUNTS.iter().enumerate() {
        for (r, region) in REGIONS.iter().enumerate() {
            for i in 0..3 {
                let n = name(a, r, i);
                functions.insert(
                    format!("arn:aws:lambda:{region}:{account}:function:{n}"),
                    json!({"allow": [{"account": HOME}]}),
                );
                names.push(n);
            }
        }
    }
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let mut aws = MemoryAws::with_functions(&refs);
    if queue {
        aws = aws.with_sweep_queue();
    }
    for (a, _) in ACCOUNTS.iter().enumerate() {
        for (r, _) in REGIONS.iter().enumerate() {
            aws.set_statements(
                &name(a, r, 0),
                None,
                json!([{"Sid": "open", "Effect": "Allow",
                "Principal": "*", "Action": "lambda:InvokeFunction"}]),
            );
            for i in 1..3 {
                aws.set_statements(
                    &name(a, r, i),
                    None,
                    json!([{"Sid": "home", "Effect": "Allow",
                    "Principal": {"AWS": format!("arn:aws:iam::{HOME}:root")},
                    "Action": "lambda:InvokeFunction"}]),
                );
            }
        }
    }
    guard_of(functions, aws)
}

/// The guard of these policies file entries (home account `HOME`, us-east-1) over `aws`.
fn guard_of(
    functions: serde_json::Map<String, Value>,
    aws: MemoryAws,
) -> (Guard<MemoryAws>, MemorySink) {
    let text = json!({"version": 1, "functions": functions}).to_string();
    let policies = Allowlist::from_json(&text, "test", None).unwrap();
    policies
        .set_home(Home::new("aws", "us-east-1", HOME).unwrap())
        .unwrap();
    let sink = MemorySink::default();
    let guard = Guard::new(policies, aws, Arc::new(sink.clone()), Settings::default());
    (guard, sink)
}

fn scheduled() -> Value {
    json!({"version": "0", "id": "sched-1", "source": "aws.events", "detail-type": "Scheduled Event",
        "account": HOME, "region": "us-east-1", "detail": {}})
}

fn pair_body(account: &str, region: &str) -> String {
    json!({"invokeguard": "sweep-pair", "account": account, "region": region}).to_string()
}

fn sqs_event(messages: &[(&str, String)]) -> Value {
    let records: Vec<Value> = messages
        .iter()
        .map(|(id, body)| {
            json!({"messageId": id, "eventSource": "aws:sqs", "body": body,
            "attributes": {"MessageGroupId": "g"}})
        })
        .collect();
    json!({ "Records": records })
}

/// Every pair of the org as a message, `m0`…`m6`.
fn all_pairs() -> Vec<(String, String)> {
    let mut out = vec![(format!("m{}", 0), pair_body(HOME, "us-east-1"))];
    for account in ACCOUNTS {
        for region in REGIONS {
            out.push((format!("m{}", out.len()), pair_body(account, region)));
        }
    }
    out
}

fn failures(report: &EventReport) -> Value {
    serde_json::to_value(report).unwrap()["batchItemFailures"].clone()
}

#[tokio::test(start_paused = true)]
async fn the_schedule_queues_one_message_per_pair_and_sweeps_nothing_itself() {
    let (g, sink) = org(true);
    g.handle_event(scheduled(), "req").await.unwrap();
    assert!(
        g.aws().calls().is_empty(),
        "no Lambda call: {:?}",
        g.aws().calls()
    );
    let queued = g.aws().queued();
    let groups: Vec<&str> = queued.iter().map(|e| e.group_id.as_str()).collect();
    let mut expected = vec![format!("{HOME}/us-east-1")];
    for account in ACCOUNTS {
        for region in REGIONS {
            expected.push(format!("{account}/{region}"));
        }
    }
    let mut sorted = groups.clone();
    sorted.sort();
    let mut expected_sorted = expected.clone();
    expected_sorted.sort();
    assert_eq!(sorted, expected_sorted, "one message per pair");
    for e in &queued {
        assert_eq!(e.dedup_id, format!("{}/sched-1", e.group_id));
        let body: Value = serde_json::from_str(&e.body).unwrap();
        assert_eq!(
            format!(
                "{}/{}",
                body["account"].as_str().unwrap(),
                body["region"].as_str().unwrap()
            ),
            e.group_id
        );
        assert_eq!(body["invokeguard"], "sweep-pair");
    }
    assert_eq!(g.aws().send_batches(), vec![7]);
    let plan = sink.first("sweep-plan").unwrap();
    assert_eq!(
        (
            plan["pairs"].clone(),
            plan["sent"].clone(),
            plan["failed"].clone()
        ),
        (json!(7), json!(7), json!(0))
    );
    assert!(sink.first("sweep").is_none(), "no in-process sweep");
}

#[tokio::test(start_paused = true)]
async fn more_than_ten_pairs_go_in_batches_of_ten() {
    let mut functions = serde_json::Map::new();
    for i in 0..23 {
        functions.insert(
            format!("arn:aws:lambda:us-east-1:2100000001{i:02}:function:x{i}"),
            json!({"allow": []}),
        );
    }
    let text = json!({"version": 1, "functions": functions}).to_string();
    let policies = Allowlist::from_json(&text, "test", None).unwrap();
    let sink = MemorySink::default();
    let g = Guard::new(
        policies,
        MemoryAws::default().with_sweep_queue(),
        Arc::new(sink.clone()),
        Settings::default(),
    );
    g.handle_event(scheduled(), "req").await.unwrap();
    assert_eq!(g.aws().send_batches(), vec![10, 10, 3]);
    assert_eq!(g.aws().queued().len(), 23);
}

#[tokio::test(start_paused = true)]
async fn a_refused_message_or_a_failed_call_fails_the_plan_and_says_so() {
    let (g, sink) = org(true);
    g.aws().refuse_group("210000000002/eu-west-1");
    let err = g
        .handle_event(scheduled(), "req")
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("1 accounts and regions not queued"), "{err}");
    let plan = sink.first("sweep-plan").unwrap();
    assert_eq!(
        (plan["sent"].clone(), plan["failed"].clone()),
        (json!(6), json!(1))
    );
    assert_eq!(plan["level"], "ERROR");

    let (g, sink) = org(true);
    g.aws().fail_next(
        "SendMessageBatch",
        vec![ApiError::Other("AccessDenied".into())],
    );
    assert!(g.handle_event(scheduled(), "req").await.is_err());
    let plan = sink.first("sweep-plan").unwrap();
    assert_eq!(
        (plan["sent"].clone(), plan["failed"].clone()),
        (json!(0), json!(7))
    );
}

#[tokio::test(start_paused = true)]
async fn without_a_queue_the_schedule_still_sweeps_in_process() {
    let (g, sink) = org(false);
    g.handle_event(scheduled(), "req").await.unwrap();
    let sweep = sink.first("sweep").unwrap();
    assert_eq!(
        (sweep["functions"].clone(), sweep["pair"].clone()),
        (json!(20), Value::Null)
    );
    assert!(sink.first("sweep-plan").is_none());
}

#[tokio::test(start_paused = true)]
async fn a_batch_of_pairs_fixes_every_drifted_policy_and_leaves_clean_ones_untouched() {
    let (g, sink) = org(false);
    let messages = all_pairs();
    let refs: Vec<(&str, String)> = messages
        .iter()
        .map(|(i, b)| (i.as_str(), b.clone()))
        .collect();
    let report = g.handle_event(sqs_event(&refs), "req").await.unwrap();
    assert_eq!(failures(&report), json!([]));
    for (a, _) in ACCOUNTS.iter().enumerate() {
        for (r, _) in REGIONS.iter().enumerate() {
            let fixed = g.aws().policy(&name(a, r, 0), None);
            assert!(
                fixed
                    .statements
                    .iter()
                    .all(|s| s.sid.as_deref() != Some("open")),
                "{} still public",
                name(a, r, 0)
            );
        }
    }
    let writes: Vec<Call> = g
        .aws()
        .calls()
        .into_iter()
        .filter(|c| {
            !matches!(
                c,
                Call::GetPolicy(_)
                    | Call::ListAliases(_)
                    | Call::ListVersions(_)
                    | Call::PutEvents(_)
            )
        })
        .collect();
    for c in &writes {
        let text = format!("{c:?}");
        assert!(text.contains("-0\""), "a write on a clean policy: {c:?}");
    }
    assert!(!writes.is_empty());
    // One `sweep` line per pair, naming it.
    let mut pairs: Vec<String> = sink
        .lines()
        .iter()
        .filter(|l| l["message"] == "sweep")
        .map(|l| l["pair"].as_str().unwrap().to_owned())
        .collect();
    pairs.sort();
    assert_eq!(pairs.len(), 7);
    assert!(pairs.contains(&format!("{HOME}/us-east-1")));
    assert!(pairs.contains(&"210000000003/eu-west-1".to_owned()));
    let one = sink
        .lines()
        .into_iter()
        .find(|l| l["message"] == "sweep" && l["pair"] == "210000000001/us-east-1")
        .unwrap();
    assert_eq!(
        (
            one["functions"].clone(),
            one["drift"].clone(),
            one["fixed"].clone()
        ),
        (json!(3), json!(1), json!(1))
    );
}

#[tokio::test(start_paused = true)]
async fn a_pair_whose_role_cannot_be_assumed_is_the_only_item_to_redeliver() {
    let (g, _) = org(false);
    g.aws().unreachable_account("210000000002");
    let refs = [
        ("ok-1", pair_body("210000000001", "us-east-1")),
        ("bad-role", pair_body("210000000002", "eu-west-1")),
        ("ok-3", pair_body("210000000003", "eu-west-1")),
    ];
    let report = g.handle_event(sqs_event(&refs), "req").await.unwrap();
    assert_eq!(failures(&report), json!([{"itemIdentifier": "bad-role"}]));
    // The other pairs were swept: their drifted policy fixed.
    for n in [name(0, 0, 0), name(2, 1, 0)] {
        assert!(
            g.aws()
                .policy(&n, None)
                .statements
                .iter()
                .all(|s| s.sid.as_deref() != Some("open"))
        );
    }
}

#[tokio::test(start_paused = true)]
async fn a_pair_cut_short_by_the_deadline_is_redelivered() {
    let (g, sink) = org(false);
    let refs = [("late", pair_body("210000000001", "us-east-1"))];
    // The deadline is already within the margin: nothing of the pair is reached.
    let report = g
        .handle_event_until(sqs_event(&refs), "req", Some(Instant::now()))
        .await
        .unwrap();
    assert_eq!(failures(&report), json!([{"itemIdentifier": "late"}]));
    let sweep = sink.first("sweep").unwrap();
    assert_eq!(
        (sweep["incomplete"].clone(), sweep["pair"].clone()),
        (json!(true), json!("210000000001/us-east-1"))
    );
}

#[tokio::test(start_paused = true)]
async fn a_message_that_is_not_a_sweep_pair_fails_alone() {
    let (g, sink) = org(false);
    let refs = [
        ("junk", "{\"hello\": 1}".to_owned()),
        ("ok", pair_body("210000000001", "us-east-1")),
        ("no-json", "sweep please".to_owned()),
    ];
    let report = g.handle_event(sqs_event(&refs), "req").await.unwrap();
    assert_eq!(
        failures(&report),
        json!([{"itemIdentifier": "junk"}, {"itemIdentifier": "no-json"}])
    );
    let errors: Vec<String> = sink
        .lines()
        .iter()
        .filter(|l| l["message"] == "error")
        .map(|l| l["error"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(
        errors[0].contains("\"junk\"") && errors[0].contains("not a sweep-pair message"),
        "{errors:?}"
    );
    assert!(errors[1].contains("not JSON"), "{errors:?}");
    assert!(
        sink.lines()
            .iter()
            .any(|l| l["message"] == "sweep" && l["pair"] == "210000000001/us-east-1")
    );
}

/// A pair too big for one invocation: each delivery is cut short by the deadline, and each
/// starts at another of its functions, so redeliveries reach all of them rather than the same
/// first few every time. Paused time: each delivery has 0.7 s of the runtime's clock, which the
/// budget's waits advance.
#[tokio::test(start_paused = true)]
async fn a_pair_too_big_for_one_invocation_has_every_function_reached_over_its_deliveries() {
    const ACCOUNT: &str = "210000000009";
    const FUNCTIONS: usize = 8;
    let names: Vec<String> = (0..FUNCTIONS).map(|i| format!("big-{i}")).collect();
    let mut functions = serde_json::Map::new();
    for n in &names {
        functions.insert(
            format!("arn:aws:lambda:us-east-1:{ACCOUNT}:function:{n}"),
            json!({"allow": []}),
        );
    }
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let aws = MemoryAws::with_functions(&refs);
    for n in &names {
        aws.set_statements(
            n,
            None,
            json!([{"Sid": "open", "Effect": "Allow", "Principal": "*",
                "Action": "lambda:InvokeFunction"}]),
        );
    }
    let (g, sink) = guard_of(functions, aws);
    let drifted = |g: &Guard<MemoryAws>| {
        names
            .iter()
            .filter(|n| {
                g.aws()
                    .policy(n, None)
                    .statements
                    .iter()
                    .any(|s| s.sid.as_deref() == Some("open"))
            })
            .count()
    };
    let margin = invokeguard::guard::sweep::DEADLINE_MARGIN;
    let mut deliveries = 0;
    let mut cut_short = 0;
    while drifted(&g) > 0 && deliveries < 40 {
        deliveries += 1;
        // Each delivery is a new invocation: a new request id, and time for about one function
        // (4 calls at the budget's 7 a second) before the margin.
        let deadline =
            tokio::time::Instant::now().into_std() + margin + std::time::Duration::from_millis(700);
        let report = g
            .handle_event_until(
                sqs_event(&[("big", pair_body(ACCOUNT, "us-east-1"))]),
                &format!("delivery-{deliveries}"),
                Some(deadline),
            )
            .await
            .unwrap();
        if failures(&report) == json!([{"itemIdentifier": "big"}]) {
            cut_short += 1;
        }
    }
    assert_eq!(drifted(&g), 0, "after {deliveries} deliveries");
    // The pair did not fit one invocation: most deliveries stopped incomplete and asked for
    // redelivery (without the scattered start they would all stop at the same function).
    assert!(cut_short >= 3, "{cut_short} of {deliveries} cut short");
    assert!(sink.lines().iter().any(|l| l["message"] == "sweep"
        && l["incomplete"] == true
        && l["pair"] == format!("{ACCOUNT}/us-east-1")));
}
