//! `scripts/bench-org.sh --fan-out`: the hub's sweep fanned out over SQS, measured on a simulated
//! AWS Organization in moto (default 200 member accounts × 20 functions, every 10th function
//! drifted with a public grant). The release `invokeguard-lambda` runs as one planner and
//! `--consumers` copies under local Runtime APIs; Lambda's SQS event source mapping is played by
//! `tests/support/event_source.rs` against moto's own SQS (a FIFO queue with a dead-letter
//! queue, batch size 1, the function's timeout as each invocation's deadline). AWS is moto behind
//! the recording proxy. Printed: the plan (messages, SendMessageBatch calls, time), the drain
//! (wall time, deliveries, redeliveries, most pairs in flight at once, any pair in flight twice),
//! each pair's sweep time against the floor its budget sets, AWS calls against the minimum,
//! per-account peak request rates, AssumeRole calls, peak RSS per process, a read-back check
//! of every policy, and an extrapolation to a larger organization with its limits.
//!
//! Options (or the environment variable in brackets): `--accounts N` [BENCH_ACCOUNTS] (200),
//! `--functions N` [BENCH_FUNCTIONS] (20), `--drift-every N` [BENCH_DRIFT_EVERY] (10),
//! `--consumers N` [BENCH_CONSUMERS] (20, the construct's default `maxConcurrency`),
//! `--timeout-secs N` [BENCH_TIMEOUT_SECS] (300, the construct's function timeout),
//! `--extrapolate AxF` [BENCH_EXTRAPOLATE] (1000x100), `--setup-concurrency N`
//! [BENCH_SETUP_CONCURRENCY] (16). Prints figures and asserts only that the sweep was correct.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a benchmark: any failure is fatal

#[path = "../tests/support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use invokeguard::guard::budget::SWEEP_REQUESTS_PER_SECOND;
use invokeguard::guard::sweep::DEADLINE_MARGIN;
use serde_json::{Value, json};
use support::bench_args::BenchArgs;
use support::calls::{assume_role_account, lambda_account, peak_in_window};
use support::event_source::{self, Delivery, Mapping};
use support::moto::{self, ACCOUNT, Moto, REGION};
use support::org::{self, OrgSpec};
use support::proxy::Proxy;
use support::runtime_api::{LambdaProcess, RuntimeApi, peak_rss_kib, spawn_lambda};

const ALLOWED: &str = "222233334444";
const MEMBER_ROLE: &str = "invokeguard-member";
const ACCOUNT_BASE: u64 = 410_000_000_000;
/// The construct's redrive policy and visibility timeout (cdk/lib/sweep-fan-out.ts).
const MAX_RECEIVES: u32 = 3;
const VISIBILITY_PER_TIMEOUT: u32 = 6;

struct Options {
    accounts: usize,
    functions: usize,
    drift_every: usize,
    consumers: usize,
    timeout: Duration,
    extrapolate: (usize, usize),
    setup_concurrency: usize,
}

fn options() -> Options {
    let args = BenchArgs::from_env();
    Options {
        accounts: args.number("--accounts", "BENCH_ACCOUNTS", "200"),
        functions: args.number("--functions", "BENCH_FUNCTIONS", "20"),
        drift_every: args.number("--drift-every", "BENCH_DRIFT_EVERY", "10"),
        consumers: args.number("--consumers", "BENCH_CONSUMERS", "20").max(1),
        timeout: Duration::from_secs(
            args.number("--timeout-secs", "BENCH_TIMEOUT_SECS", "300") as u64
        ),
        extrapolate: args.size("--extrapolate", "BENCH_EXTRAPOLATE", "1000x100"),
        setup_concurrency: args.number("--setup-concurrency", "BENCH_SETUP_CONCURRENCY", "16"),
    }
}

fn lines_of(process: &LambdaProcess, kind: &str) -> Vec<Value> {
    process
        .stdout_lines()
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| l["message"] == kind)
        .collect()
}

/// (min, median, max).
fn spread(mut v: Vec<f64>) -> (f64, f64, f64) {
    v.sort_by(f64::total_cmp);
    match (v.first(), v.last()) {
        (Some(&lo), Some(&hi)) => (lo, v[v.len() / 2], hi),
        _ => (0.0, 0.0, 0.0),
    }
}

/// The most deliveries in flight at the same moment.
fn most_in_flight(deliveries: &[Delivery]) -> usize {
    let mut edges: Vec<(Instant, i64)> = deliveries
        .iter()
        .flat_map(|d| [(d.received, 1), (d.answered, -1)])
        .collect();
    // An end before a start at the same instant.
    edges.sort_by_key(|&(t, step)| (t, step));
    let (mut now, mut most) = (0i64, 0i64);
    for (_, step) in edges {
        now += step;
        most = most.max(now);
    }
    most as usize
}

async fn start_lambda(
    bin: &std::path::Path,
    env: &[(String, String)],
) -> (RuntimeApi, LambdaProcess) {
    let api = RuntimeApi::start().await;
    let process = spawn_lambda(bin, &api, env);
    api.wait_first_next(Duration::from_secs(60))
        .await
        .expect("the runtime asked for an event");
    (api, process)
}

#[tokio::main]
async fn main() {
    let o = options();
    let bin = PathBuf::from(
        std::env::var("INVOKEGUARD_BIN")
            .unwrap_or_else(|_| "target/release/invokeguard-lambda".into()),
    );
    let budget = SWEEP_REQUESTS_PER_SECOND;
    let moto = Moto::start();
    let spec = OrgSpec {
        accounts: org::account_ids(ACCOUNT_BASE, o.accounts),
        functions_per_account: o.functions,
        drift_every: o.drift_every,
        allowed_account: ALLOWED.to_owned(),
        name_prefix: "fn-".to_owned(),
        concurrency: o.setup_concurrency,
    };
    let (organization, before, _) = org::create_org_for_bench(&moto.endpoint, &spec).await;
    let n_functions = organization.functions.len();
    let n_drifted = organization.drifted().count();

    let sqs = aws_sdk_sqs::Client::new(&moto::sdk_config(&moto.endpoint).await);
    let visibility = VISIBILITY_PER_TIMEOUT * o.timeout.as_secs() as u32;
    let (queue, dead_letters) =
        event_source::fifo_queue_with_dlq(&sqs, "invokeguard-sweep", visibility, MAX_RECEIVES)
            .await;
    let proxy = Proxy::start(&moto.endpoint).await;
    let policies = organization.policies_file(ALLOWED);
    let mut env = moto::guard_env(&proxy.endpoint, policies.path());
    env.push(("INVOKEGUARD_MEMBER_ROLE".into(), MEMBER_ROLE.into()));
    env.push(("INVOKEGUARD_SWEEP_QUEUE_URL".into(), queue.clone()));
    let (planner, planner_process) = start_lambda(&bin, &env).await;
    let mut consumers = Vec::new();
    for _ in 0..o.consumers {
        consumers.push(start_lambda(&bin, &env).await);
    }
    println!(
        "invokeguard-lambda (release): 1 planner + {} consumers, each under its own Runtime API; FIFO queue in moto's SQS (visibility {visibility} s, dead letters after {MAX_RECEIVES} receives), batch size 1, deadline {} s",
        o.consumers,
        o.timeout.as_secs()
    );

    // The plan.
    proxy.clear();
    let t = Instant::now();
    let scheduled = json!({"version": "0", "id": "bench-fanout", "detail-type": "Scheduled Event",
        "source": "aws.events", "account": ACCOUNT, "region": REGION, "detail": {}});
    let answer = planner
        .invoke_with_deadline(scheduled, o.timeout, o.timeout + Duration::from_secs(60))
        .await
        .expect("the planner answered");
    let plan_wall = t.elapsed();
    assert!(
        answer.outcome.is_ok(),
        "the plan failed: {:?}",
        answer.outcome
    );
    let plan_line = lines_of(&planner_process, "sweep-plan")
        .pop()
        .unwrap_or(Value::Null);
    let batches = proxy.calls_of("SendMessageBatch").len();
    let queued = event_source::queue_depth(&sqs, &queue).await;
    println!(
        "Plan: {} pairs, {} sent, {} failed in {batches} SendMessageBatch calls, {:.2} s; the queue holds {queued}",
        plan_line["pairs"],
        plan_line["sent"],
        plan_line["failed"],
        plan_wall.as_secs_f64()
    );
    proxy.clear();

    // The drain.
    let mapping = Mapping {
        sqs: &sqs,
        queue_url: &queue,
        batch_size: 1,
        deadline: o.timeout,
        give_up_after: Duration::from_secs(4 * 3600),
    };
    let apis: Vec<&RuntimeApi> = consumers.iter().map(|(api, _)| api).collect();
    let t = Instant::now();
    let deliveries = mapping.drain(&apis).await;
    let drain_wall = t.elapsed().as_secs_f64();
    let calls = proxy.calls();
    let failed_deliveries = deliveries.iter().filter(|d| d.failed).count();
    let redelivered = deliveries.iter().filter(|d| d.receive_count > 1).count();
    let twice = event_source::overlapping_per_pair(&deliveries).len();
    let dead = event_source::bodies(&sqs, &dead_letters).await.len();
    println!(
        "Drain: {drain_wall:.1} s for {} deliveries ({failed_deliveries} failed, {redelivered} redeliveries, {dead} dead-lettered); at most {} pairs in flight at once; pairs in flight twice at once: {twice}",
        deliveries.len(),
        most_in_flight(&deliveries)
    );

    // Each pair's sweep, from its own line.
    let lines: Vec<Value> = consumers
        .iter()
        .flat_map(|(_, p)| lines_of(p, "sweep"))
        .collect();
    let pair_secs: Vec<f64> = lines
        .iter()
        .filter_map(|l| l["elapsedMs"].as_f64())
        .map(|ms| ms / 1000.0)
        .collect();
    let (lo, median, hi) = spread(pair_secs.clone());
    let incomplete = lines.iter().filter(|l| l["incomplete"] == true).count();
    let min_lambda = 3 * n_functions + n_drifted;
    let per_pair_calls = min_lambda as f64 / o.accounts as f64;
    let floor_pair = per_pair_calls / budget;
    println!(
        "Pairs: {} sweep lines ({incomplete} incomplete); sweep time per pair min {lo:.1} / median {median:.1} / max {hi:.1} s against a floor of {floor_pair:.1} s ({per_pair_calls:.0} Lambda calls at {budget} req/s)",
        lines.len()
    );
    let ideal = o.accounts.div_ceil(o.consumers) as f64 * floor_pair;
    println!(
        "  floor for the drain, {} pairs {} at a time: {ideal:.1} s; measured {drain_wall:.1} s ({:.2}×)",
        o.accounts,
        o.consumers,
        drain_wall / ideal
    );

    // Calls, rates, credentials.
    let mut by_operation: BTreeMap<String, usize> = BTreeMap::new();
    let mut per_account: BTreeMap<String, Vec<Instant>> = BTreeMap::new();
    let mut assume_roles = 0;
    for call in &calls {
        let op = if assume_role_account(call).is_some() {
            assume_roles += 1;
            "AssumeRole".to_owned()
        } else {
            call.operation.clone()
        };
        *by_operation.entry(op).or_default() += 1;
        if let Some(account) = lambda_account(call) {
            per_account
                .entry(account.to_owned())
                .or_default()
                .push(call.at);
        }
    }
    let lambda_calls: usize = per_account.values().map(Vec::len).sum();
    let peaks: Vec<f64> = per_account
        .values()
        .map(|times| peak_in_window(times.clone(), Duration::from_secs(1)) as f64)
        .collect();
    let (peak_lo, peak_median, peak_hi) = spread(peaks);
    let org_peak = peak_in_window(
        per_account.values().flatten().copied().collect(),
        Duration::from_secs(1),
    );
    let measured_total: usize = by_operation.values().sum();
    // Answered with an error, or not at all (a client that gave up waits and retries).
    let failed_calls = calls
        .iter()
        .filter(|c| c.status.is_none_or(|s| s >= 400))
        .count();
    println!(
        "  calls: {measured_total} ({lambda_calls} Lambda + {assume_roles} AssumeRole, {failed_calls} answered with an error or not at all) vs minimum {} ({min_lambda} Lambda + {} AssumeRole); by operation {by_operation:?}",
        min_lambda + o.accounts,
        o.accounts
    );
    println!(
        "  peak Lambda requests per account in any 1 s: min {peak_lo:.0} / median {peak_median:.0} / max {peak_hi:.0} (budget {budget}/s); whole organization {org_peak}/s"
    );
    let rss: Vec<u64> = std::iter::once(&planner_process)
        .chain(consumers.iter().map(|(_, p)| p))
        .filter_map(|p| p.pid())
        .map(peak_rss_kib)
        .collect();
    let rss_max = rss.iter().copied().max().unwrap_or(0);
    println!(
        "  peak RSS per process: max {:.1} MiB over {} processes",
        rss_max as f64 / 1024.0,
        rss.len()
    );

    let after = org::statements(
        &moto.endpoint,
        &moto.endpoint,
        &organization,
        o.setup_concurrency,
    )
    .await;
    let (fixed, untouched, problems) = org::check(&organization.functions, &before, &after);
    println!(
        "  read back: {fixed} of {n_drifted} drifted policies fixed (public grant gone, allowed grant kept), {untouched} of {} clean policies unchanged, {} problems",
        n_functions - n_drifted,
        problems.len()
    );
    for p in problems.iter().take(5) {
        println!("    {p}");
    }

    // Extrapolation: the measured calls per function and the measured pace against the floor.
    let (xa, xf) = o.extrapolate;
    let per_function = lambda_calls as f64 / n_functions as f64;
    let pace = (median / floor_pair).max(1.0);
    let x_pair = xf as f64 * per_function / budget * pace;
    let x_drain = |c: usize| xa.div_ceil(c) as f64 * x_pair;
    let usable = o.timeout.as_secs_f64() - DEADLINE_MARGIN.as_secs_f64();
    let max_functions_per_pair = (usable * budget / per_function / pace).floor();
    let for_an_hour = (xa as f64 * x_pair / 3600.0).ceil();
    println!(
        "\nExtrapolated to {xa} accounts × {xf} functions ({per_function:.3} Lambda calls per function and {pace:.2}× the floor per pair, as measured):"
    );
    println!(
        "  one pair: {x_pair:.0} s; the drain at {} consumers: {:.0} s ({:.0} min); at 50: {:.0} s; at 100: {:.0} s",
        o.consumers,
        x_drain(o.consumers),
        x_drain(o.consumers) / 60.0,
        x_drain(50),
        x_drain(100)
    );
    println!(
        "  limits: Lambda concurrency {} consumers + the planner and the invoke path (reserved concurrency); STS: {xa} AssumeRole calls per sweep, about {:.2}/s at {} consumers; SQS: a pair must finish within the timeout ({usable:.0} s usable), so at most {max_functions_per_pair:.0} functions per account and region; the visibility timeout ({visibility} s) must outlast the invocation; a sweep of one hour needs at least {for_an_hour:.0} consumers",
        o.consumers,
        o.consumers as f64 / x_pair,
        o.consumers
    );

    let out = json!({
        "bench": "org-sweep-fan-out",
        "accounts": o.accounts, "functionsPerAccount": o.functions, "functions": n_functions, "drifted": n_drifted,
        "consumers": o.consumers, "timeoutSecs": o.timeout.as_secs(), "visibilitySecs": visibility,
        "plan": {"secs": plan_wall.as_secs_f64(), "sendMessageBatchCalls": batches, "line": plan_line},
        "drain": {"secs": drain_wall, "deliveries": deliveries.len(), "failed": failed_deliveries,
            "redelivered": redelivered, "deadLettered": dead, "mostInFlight": most_in_flight(&deliveries),
            "pairsInFlightTwice": twice, "floorSecs": ideal},
        "pairSecs": {"min": lo, "median": median, "max": hi, "floor": floor_pair, "incomplete": incomplete},
        "calls": {"measured": measured_total, "lambda": lambda_calls, "assumeRole": assume_roles,
            "minimum": min_lambda + o.accounts, "failed": failed_calls, "byOperation": by_operation},
        "peakPerAccountPerSecond": {"min": peak_lo, "median": peak_median, "max": peak_hi, "organization": org_peak},
        "peakRssKibMax": rss_max,
        "readBack": {"fixed": fixed, "untouched": untouched, "problems": problems.len()},
        "extrapolated": {"accounts": xa, "functionsPerAccount": xf, "pairSecs": x_pair,
            "drainSecs": x_drain(o.consumers), "drainSecsAt50": x_drain(50), "drainSecsAt100": x_drain(100),
            "consumersForAnHour": for_an_hour, "maxFunctionsPerPair": max_functions_per_pair},
    });
    println!("{out}");
    assert!(
        problems.is_empty() && fixed == n_drifted && twice == 0 && incomplete == 0,
        "the fanned-out sweep left policies wrong or swept a pair twice at once"
    );
}
