//! `scripts/bench-org.sh`: a hub guard's scheduled sweep of a simulated AWS Organization in
//! moto (default 20 member accounts × 50 functions, every 10th function drifted with a public
//! grant). The release `invokeguard-lambda` runs under a local Runtime API with a long deadline,
//! behind the recording proxy; printed: AWS calls by operation against the minimum, each
//! account's peak Lambda request rate over any 1-second window, the sweep's wall time against
//! the floor the per-account budget sets, peak RSS, AssumeRole calls (credential refreshes),
//! a second sweep on the same warm process, a read-back check that every drifted policy was
//! fixed and nothing else changed, and an extrapolation to a larger organization.
//!
//! Options (or the environment variable in brackets): `--accounts N` [BENCH_ACCOUNTS] (20),
//! `--functions N` [BENCH_FUNCTIONS] (50, per account), `--drift-every N` [BENCH_DRIFT_EVERY]
//! (10: every 10th function drifted), `--second-sweep 0|1` [BENCH_SECOND_SWEEP] (1),
//! `--extrapolate AxF` [BENCH_EXTRAPOLATE] (100x100), `--deadline-secs N`
//! [BENCH_DEADLINE_SECS] (900), `--setup-concurrency N` [BENCH_SETUP_CONCURRENCY] (16).
//! Prints figures and asserts only that the sweep was correct.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a benchmark: any failure is fatal

#[path = "../tests/support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use invokeguard::guard::budget::SWEEP_REQUESTS_PER_SECOND;
use serde_json::{Value, json};
use support::bench_args::BenchArgs;
use support::calls::{assume_role_account, lambda_account, peak_in_window};
use support::moto::{self, ACCOUNT, Moto, REGION};
use support::org::{self, OrgSpec};
use support::proxy::{Call, Proxy};
use support::runtime_api::{LambdaProcess, RuntimeApi, peak_rss_kib, spawn_lambda};

/// The account every function's allowed grant names (and the policies file allows).
const ALLOWED: &str = "222233334444";
const MEMBER_ROLE: &str = "invokeguard-member";
/// Member account ids are BASE+1, BASE+2, …
const ACCOUNT_BASE: u64 = 310_000_000_000;
/// The guard's Lambda timeout the CDK sets (cdk/lib/invoke-guard.ts, `Duration.minutes(5)`).
const CDK_TIMEOUT_SECS: f64 = 300.0;
/// Same-policy reconciles within this long of a verification are coalesced (Settings default).
const VERIFIED_TTL: Duration = Duration::from_secs(10);

struct Options {
    accounts: usize,
    functions: usize,
    drift_every: usize,
    second_sweep: bool,
    extrapolate: (usize, usize),
    deadline: Duration,
    setup_concurrency: usize,
}

fn options() -> Options {
    let args = BenchArgs::from_env();
    Options {
        accounts: args.number("--accounts", "BENCH_ACCOUNTS", "20"),
        functions: args.number("--functions", "BENCH_FUNCTIONS", "50"),
        drift_every: args.number("--drift-every", "BENCH_DRIFT_EVERY", "10"),
        second_sweep: args.number("--second-sweep", "BENCH_SECOND_SWEEP", "1") != 0,
        extrapolate: args.size("--extrapolate", "BENCH_EXTRAPOLATE", "100x100"),
        deadline: Duration::from_secs(
            args.number("--deadline-secs", "BENCH_DEADLINE_SECS", "900") as u64
        ),
        setup_concurrency: args.number("--setup-concurrency", "BENCH_SETUP_CONCURRENCY", "16"),
    }
}

fn seconds_between(calls: &[&Call]) -> f64 {
    match (
        calls.iter().map(|c| c.at).min(),
        calls.iter().map(|c| c.at).max(),
    ) {
        (Some(a), Some(b)) => (b - a).as_secs_f64(),
        _ => 0.0,
    }
}

/// What one sweep cost, from the proxy's record.
struct SweepFigures {
    wall: Duration,
    outcome: Result<Value, Value>,
    line: Option<Value>,
    by_operation: BTreeMap<String, usize>,
    lambda_calls: usize,
    assume_roles: usize,
    assumed_accounts: usize,
    /// Per account: peak Lambda calls in any 1-second window.
    peak_rate: BTreeMap<String, usize>,
    /// Per account: peak within the discovery (ListAliases) phase and within the reconcile phase.
    peak_rate_discovery: BTreeMap<String, usize>,
    peak_rate_reconcile: BTreeMap<String, usize>,
    /// All accounts together.
    org_peak_rate: usize,
    discovery_secs: f64,
    reconcile_secs: f64,
    failed_calls: usize,
}

fn figures(
    calls: &[Call],
    wall: Duration,
    outcome: Result<Value, Value>,
    line: Option<Value>,
) -> SweepFigures {
    let mut by_operation: BTreeMap<String, usize> = BTreeMap::new();
    let mut per_account: BTreeMap<String, Vec<&Call>> = BTreeMap::new();
    let mut assumed: Vec<String> = Vec::new();
    for call in calls {
        let op = match assume_role_account(call) {
            Some(account) => {
                assumed.push(account);
                "AssumeRole".to_owned()
            }
            None => call.operation.clone(),
        };
        *by_operation.entry(op).or_default() += 1;
        if let Some(account) = lambda_account(call) {
            per_account
                .entry(account.to_owned())
                .or_default()
                .push(call);
        }
    }
    let rate = |pick: &dyn Fn(&Call) -> bool| -> BTreeMap<String, usize> {
        per_account
            .iter()
            .map(|(a, cs)| {
                let times = cs.iter().filter(|c| pick(c)).map(|c| c.at).collect();
                (a.clone(), peak_in_window(times, Duration::from_secs(1)))
            })
            .collect()
    };
    let lambda: Vec<&Call> = per_account.values().flatten().copied().collect();
    let discovery: Vec<&Call> = lambda
        .iter()
        .copied()
        .filter(|c| is_listing(&c.operation))
        .collect();
    let reconcile: Vec<&Call> = lambda
        .iter()
        .copied()
        .filter(|c| !is_listing(&c.operation))
        .collect();
    let assumed_accounts = {
        let mut a = assumed.clone();
        a.sort();
        a.dedup();
        a.len()
    };
    SweepFigures {
        wall,
        outcome,
        line,
        lambda_calls: lambda.len(),
        assume_roles: assumed.len(),
        assumed_accounts,
        peak_rate: rate(&|_| true),
        peak_rate_discovery: rate(&|c| is_listing(&c.operation)),
        peak_rate_reconcile: rate(&|c| !is_listing(&c.operation)),
        org_peak_rate: peak_in_window(
            lambda.iter().map(|c| c.at).collect(),
            Duration::from_secs(1),
        ),
        discovery_secs: seconds_between(&discovery),
        reconcile_secs: seconds_between(&reconcile),
        failed_calls: calls
            .iter()
            .filter(|c| c.status.is_none_or(|s| s >= 400))
            .count(),
        by_operation,
    }
}

/// (min, median, max) of the map's values.
fn spread(m: &BTreeMap<String, usize>) -> (usize, usize, usize) {
    let mut v: Vec<usize> = m.values().copied().collect();
    v.sort_unstable();
    match (v.first(), v.last()) {
        (Some(&lo), Some(&hi)) => (lo, v[v.len() / 2], hi),
        _ => (0, 0, 0),
    }
}

fn scheduled_event(id: &str) -> Value {
    json!({"version": "0", "id": id, "detail-type": "Scheduled Event", "source": "aws.events",
        "account": ACCOUNT, "region": REGION,
        "resources": [format!("arn:aws:events:{REGION}:{ACCOUNT}:rule/sweep")], "detail": {}})
}

fn sweep_lines(process: &LambdaProcess) -> Vec<Value> {
    process
        .stdout_lines()
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| l["message"] == "sweep")
        .collect()
}

/// One scheduled event on the running process; the proxy's record of it is taken and cleared.
async fn sweep(
    api: &RuntimeApi,
    process: &LambdaProcess,
    proxy: &Proxy,
    id: &str,
    deadline: Duration,
) -> SweepFigures {
    let lines_before = sweep_lines(process).len();
    proxy.clear();
    let started = Instant::now();
    let answer = api
        .invoke_with_deadline(
            scheduled_event(id),
            deadline,
            deadline + Duration::from_secs(60),
        )
        .await
        .unwrap_or_else(|| panic!("no answer to the scheduled event within {deadline:?}"));
    let wall = started.elapsed();
    let mut line = None;
    for _ in 0..200 {
        line = sweep_lines(process).get(lines_before).cloned();
        if line.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let calls = proxy.calls();
    proxy.clear();
    let errors: Vec<Value> = process
        .stdout_lines()
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| l["level"] == "ERROR" && l["message"] != "sweep")
        .collect();
    if !errors.is_empty() {
        println!("  {} error lines so far; the first:", errors.len());
        for e in errors.iter().take(3) {
            println!("    {e}");
        }
    }
    figures(&calls, wall, answer.outcome, line)
}

/// Every function's statements, read through `endpoint` as each member account.
fn print_sweep(title: &str, s: &SweepFigures, rss: u64) {
    println!("\n{title}");
    println!(
        "  wall time {:.1} s (discovery/ListAliases+ListVersionsByFunction phase {:.1} s, reconcile phase {:.1} s); peak RSS (VmHWM) {rss} KiB",
        s.wall.as_secs_f64(),
        s.discovery_secs,
        s.reconcile_secs
    );
    match &s.outcome {
        Ok(report) => println!("  outcome: {report}"),
        Err(e) => println!("  outcome: ERROR {e}"),
    }
    if let Some(line) = &s.line {
        println!(
            "  sweep line: functions {} policiesRead {} drift {} fixed {} apiCalls {} elapsedMs {} incomplete {}",
            line["functions"],
            line["policiesRead"],
            line["drift"],
            line["fixed"],
            line["apiCalls"],
            line["elapsedMs"],
            line["incomplete"]
        );
    }
    let ops: Vec<String> = s
        .by_operation
        .iter()
        .map(|(op, n)| format!("{op} {n}"))
        .collect();
    println!(
        "  calls by operation: {} (failed or unanswered: {})",
        ops.join(", "),
        s.failed_calls
    );
    println!(
        "  AssumeRole (credential refreshes): {} for {} accounts",
        s.assume_roles, s.assumed_accounts
    );
    let (lo, mid, hi) = spread(&s.peak_rate);
    let (dlo, dmid, dhi) = spread(&s.peak_rate_discovery);
    let (rlo, rmid, rhi) = spread(&s.peak_rate_reconcile);
    println!(
        "  per-account peak Lambda requests in any 1 s window: min {lo} median {mid} max {hi} (discovery phase {dlo}/{dmid}/{dhi}, reconcile phase {rlo}/{rmid}/{rhi}); budget {SWEEP_REQUESTS_PER_SECOND} req/s, Lambda's quota 15 req/s",
    );
    println!(
        "  all accounts together: peak {} Lambda requests in any 1 s window",
        s.org_peak_rate
    );
}

fn rate_json(s: &SweepFigures) -> Value {
    json!({"wallSecs": s.wall.as_secs_f64(), "discoverySecs": s.discovery_secs, "reconcileSecs": s.reconcile_secs,
        "byOperation": s.by_operation, "lambdaCalls": s.lambda_calls, "assumeRole": s.assume_roles,
        "peakPerAccount1s": s.peak_rate, "peakPerAccount1sDiscovery": s.peak_rate_discovery,
        "peakPerAccount1sReconcile": s.peak_rate_reconcile, "orgPeak1s": s.org_peak_rate,
        "failedCalls": s.failed_calls, "sweepLine": s.line, "ok": s.outcome.is_ok()})
}

#[tokio::main]
async fn main() {
    let o = options();
    let guard_bin = PathBuf::from(
        std::env::var("INVOKEGUARD_BIN")
            .unwrap_or_else(|_| "target/release/invokeguard-lambda".into()),
    );
    let parallel = invokeguard::guard::sweep::ACCOUNTS_IN_PARALLEL;
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
    let (organization, before, setup) = org::create_org_for_bench(&moto.endpoint, &spec).await;
    let n_functions = organization.functions.len();
    let n_drifted = organization.drifted().count();

    let proxy = Proxy::start(&moto.endpoint).await;
    // moto's ListAliases does not decode a function ARN in its path; Lambda's does.
    let policies = organization.policies_file(ALLOWED);
    let mut env = moto::guard_env(&proxy.endpoint, policies.path());
    env.push(("INVOKEGUARD_MEMBER_ROLE".into(), MEMBER_ROLE.into()));
    let api = RuntimeApi::start().await;
    let process = spawn_lambda(&guard_bin, &api, &env);
    api.wait_first_next(Duration::from_secs(30))
        .await
        .expect("the runtime asked for an event");
    let pid = process.pid().expect("running");
    println!(
        "invokeguard-lambda (release) under a local Runtime API, deadline {} s; moto and the recording proxy on loopback",
        o.deadline.as_secs()
    );

    let first = sweep(&api, &process, &proxy, "bench-sweep-1", o.deadline).await;
    let rss_first = peak_rss_kib(pid);
    print_sweep("First sweep (cold credentials):", &first, rss_first);

    // The minimum: per function one ListAliases, one ListVersionsByFunction and one GetPolicy
    // (no alias or version has been published), per drifted policy the one RemovePermission its
    // plan needs, per account one AssumeRole.
    let min_lambda = 3 * n_functions + n_drifted;
    let minimum = min_lambda + o.accounts;
    let measured_total: usize = first.by_operation.values().sum();
    println!(
        "  calls: {measured_total} measured vs minimum {minimum} ({} ListAliases + {} ListVersionsByFunction + {} GetPolicy + {n_drifted} RemovePermission + {} AssumeRole); {:.3} Lambda calls per function",
        n_functions,
        n_functions,
        n_functions,
        o.accounts,
        first.lambda_calls as f64 / n_functions as f64
    );

    // Floors: per account, its Lambda calls at the budget (ignoring each bucket's first burst);
    // accounts either all at once, or ACCOUNTS_IN_PARALLEL at a time as the code sweeps them.
    let per_account_calls = min_lambda as f64 / o.accounts as f64;
    let floor_account = per_account_calls / budget;
    let waves = o.accounts.div_ceil(parallel);
    let floor_bounded = waves as f64 * floor_account;
    println!(
        "  floor, every account in parallel at {budget} req/s each: {floor_account:.1} s ({per_account_calls:.0} Lambda calls per account)"
    );
    println!(
        "  floor, {parallel} accounts at a time (ACCOUNTS_IN_PARALLEL): {waves} rounds × {floor_account:.1} s = {floor_bounded:.1} s; measured {:.1} s ({:.2}× that floor)",
        first.wall.as_secs_f64(),
        first.wall.as_secs_f64() / floor_bounded
    );

    let after = org::statements(
        &moto.endpoint,
        &proxy.endpoint,
        &organization,
        o.setup_concurrency,
    )
    .await;
    proxy.clear();
    let (fixed, untouched, problems) = org::check(&organization.functions, &before, &after);
    println!(
        "  read back: {fixed} of {n_drifted} drifted policies fixed (public grant gone, allowed grant kept), {untouched} of {} clean policies unchanged, {} problems",
        n_functions - n_drifted,
        problems.len()
    );
    for p in problems.iter().take(5) {
        println!("    {p}");
    }

    let second = if o.second_sweep {
        // Past the coalescing window, so the second sweep reads every policy again.
        tokio::time::sleep(VERIFIED_TTL + Duration::from_secs(1)).await;
        let s = sweep(&api, &process, &proxy, "bench-sweep-2", o.deadline).await;
        let rss = peak_rss_kib(pid);
        print_sweep("Second sweep, same warm process:", &s, rss);
        println!(
            "  AssumeRole calls: {} (first sweep {}): credentials {}",
            s.assume_roles,
            first.assume_roles,
            if s.assume_roles == 0 {
                "reused"
            } else {
                "assumed again"
            }
        );
        Some((s, rss))
    } else {
        None
    };

    // Extrapolation from the measured calls per function.
    let (xa, xf) = o.extrapolate;
    let x_functions = (xa * xf) as f64;
    let per_function = first.lambda_calls as f64 / n_functions as f64;
    let x_lambda = per_function * x_functions;
    let x_assume = first.assume_roles as f64 / o.accounts as f64 * xa as f64;
    let x_parallel = per_function * xf as f64 / budget;
    let x_rounds = xa.div_ceil(parallel);
    let x_bounded = x_rounds as f64 * x_parallel;
    // The measured sweep's overhead over its floor, applied to the larger one.
    let x_scaled = x_bounded * (first.wall.as_secs_f64() / floor_bounded).max(1.0);
    let margin = invokeguard::guard::sweep::DEADLINE_MARGIN.as_secs_f64();
    let usable = CDK_TIMEOUT_SECS - margin;
    println!(
        "\nExtrapolated to {xa} accounts × {xf} functions (same drift share, {per_function:.3} Lambda calls per function measured):"
    );
    println!(
        "  calls: {x_lambda:.0} Lambda + {x_assume:.0} AssumeRole = {:.0} (minimum {:.0})",
        x_lambda + x_assume,
        x_functions * (3.0 + n_drifted as f64 / n_functions as f64) + xa as f64
    );
    println!(
        "  time, {parallel} accounts at a time: {x_rounds} rounds × {x_parallel:.1} s = {x_bounded:.0} s at the budget's pace; × the measured overhead over the floor: {x_scaled:.0} s; {} within one invocation (CDK timeout {CDK_TIMEOUT_SECS:.0} s, the sweep stops {margin:.0} s before)",
        if x_scaled <= usable {
            "fits"
        } else {
            "does NOT fit"
        }
    );
    println!("  floor with every account in parallel at {budget} req/s each: {x_parallel:.1} s");
    println!(
        "  data events (list prices, us-east-1): CloudTrail $0.10 per 100,000 → $1.00 per million invocations; hub mode adds EventBridge cross-account delivery $1.00 per million and the guard's Lambda requests $0.20 per million (plus its duration)"
    );

    let out = json!({
        "bench": "org-sweep",
        "accounts": o.accounts, "functionsPerAccount": o.functions, "functions": n_functions, "drifted": n_drifted,
        "setupSecs": setup.as_secs_f64(),
        "minimumCalls": minimum, "measuredCalls": measured_total,
        "lambdaCallsPerFunction": per_function,
        "budgetPerSecond": budget, "accountsInParallel": parallel,
        "floorAllParallelSecs": floor_account, "floorBoundedSecs": floor_bounded,
        "first": rate_json(&first), "peakRssKib": rss_first,
        "second": second.as_ref().map(|(s, rss)| json!({"sweep": rate_json(s), "peakRssKib": rss})),
        "readBack": {"fixed": fixed, "untouched": untouched, "problems": problems.len()},
        "extrapolated": {"accounts": xa, "functionsPerAccount": xf, "calls": x_lambda + x_assume,
            "boundedFloorSecs": x_bounded, "scaledSecs": x_scaled, "allParallelFloorSecs": x_parallel, "fitsIn300s": x_scaled <= usable},
    });
    println!("{out}");
    assert!(
        problems.is_empty() && fixed == n_drifted,
        "the sweep left policies wrong"
    );
}

/// The calls that find a function's policies (as opposed to reading and writing them).
fn is_listing(operation: &str) -> bool {
    operation == "ListAliases" || operation == "ListVersionsByFunction"
}
