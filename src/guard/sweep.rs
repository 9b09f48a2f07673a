//! The sweep: every guarded policy (each function, every published version, every alias, the
//! listed qualifiers), reconciled on a schedule, so a grant no event told the guard about is
//! found within the period. Its calls draw from the clients' budget of each account and region
//! (the one every path shares: at most half of Lambda's control-plane quota) and it stops,
//! visibly, before the Lambda timeout.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt;

use super::api::{ApiError, Aws};
use super::coalesce::Trigger;
use super::discover::{DiscoveryError, PolicyRef, policies_of};
use super::reconcile::{close, reconcile_for};
use super::report::{EventReport, GuardError, Tally};
use super::state::State;
use crate::allowlist::{GuardedFunction, Mode};
use crate::aws::arn::FunctionArn;
use crate::aws::ids::FunctionKey;
use crate::log::Level;
use crate::log::line::{Input, Message, Subject, SweepLine};
use crate::record::sweep_pair::SweepPair;

/// Time kept in hand when the Lambda timeout nears: one reconcile at most, and the last lines.
pub const DEADLINE_MARGIN: Duration = Duration::from_secs(10);

/// Accounts (and regions) swept at the same time. Each has its own quota, so the bound is the
/// guard's own: connections, memory and STS calls. Sixteen sweep 100 accounts of 100 functions
/// in seven rounds of about 30 s each, within the 5-minute timeout.
pub const ACCOUNTS_IN_PARALLEL: usize = 16;

/// What became of one policy in a sweep.
enum Swept {
    Reconciled(SweptPolicy),
    /// The deadline came first.
    NotReached,
}

struct SweptPolicy {
    tally: Tally,
    /// It could not be read or written.
    failed_policy: bool,
}

/// The guarded functions of one account and region, in the policies file's order (a sweep
/// starts at a scattered one of them, `first_function`).
type Group<'a> = Vec<(&'a FunctionKey, &'a GuardedFunction)>;

/// The sweep of one account and region.
#[derive(Default)]
struct GroupSwept {
    policies: Vec<Swept>,
    /// ListAliases and ListVersionsByFunction calls made (one per page).
    listed: usize,
    /// Functions whose versions or aliases could not be listed.
    not_listed: usize,
}

/// Where a sweep starts in the list of accounts and regions: a different, scattered place each
/// hour, so that in an organization too large for one invocation every account is reached in
/// turn (the `sweep` line says `incomplete` meanwhile).
fn first_group(groups: usize, now: std::time::SystemTime) -> usize {
    if groups == 0 {
        return 0;
    }
    let hour = now
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() / 3600)
        .unwrap_or(0);
    (scatter(hour) % groups as u64) as usize
}

/// Where the sweep of one account and region starts in its functions: a scattered place per
/// invocation. A pair too big for one invocation (or made so by a member account that publishes
/// thousands of versions of one function) is delivered again after the visibility timeout, and
/// each delivery is a new invocation: it reaches another part of the list each time instead of
/// stopping at the same function every time and never reaching the ones after it.
fn first_function(functions: usize, request_id: &str) -> usize {
    if functions == 0 {
        return 0;
    }
    // FNV-1a over the request id, then scattered.
    let hash = request_id.bytes().fold(0xCBF2_9CE4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01B3)
    });
    (scatter(hash) % functions as u64) as usize
}

/// SplitMix64's finalizer: consecutive inputs land far apart.
fn scatter(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// (account, region) of a function ARN; a name is the home's, `("", "")`.
fn account_region(api_function: &str) -> (&str, &str) {
    FunctionArn::parse(api_function).map_or(("", ""), |f| (f.account, f.region))
}

/// The functions of one account and region, one after the other, within its budget (the
/// clients'): each function's aliases and versions are listed, then each of its policies is
/// reconciled.
async fn sweep_group<A: Aws>(
    g: &State<A>,
    functions: Group<'_>,
    deadline: Option<Instant>,
    done: &AtomicUsize,
    total: usize,
    request_id: &str,
    sweep_id: &str,
) -> GroupSwept {
    // The runtime's clock, not the wall's: the same in a Lambda, and in a test with paused time
    // it moves with the budget's waits, so a deadline cuts a sweep short there too.
    let near_deadline = || {
        deadline.is_some_and(|d| {
            d.saturating_duration_since(tokio::time::Instant::now().into_std()) < DEADLINE_MARGIN
        })
    };
    let advance = |swept: usize| {
        let n = done.fetch_add(swept, Ordering::Relaxed) + swept;
        if let Some(progress) = &g.progress {
            progress(n, total);
        }
    };
    let mut out = GroupSwept::default();
    let count = functions.len();
    for (at, (key, function)) in functions.into_iter().enumerate() {
        if near_deadline() {
            // Its aliases were never listed: it counts as its unqualified policy alone.
            out.policies.push(Swept::NotReached);
            continue;
        }
        match policies_of(&g.allowlist, key, function, &g.aws).await {
            Err(DiscoveryError {
                error: error @ ApiError::MemberRole { .. },
                ..
            }) => {
                // Every function of this account and region is out of reach: one line, not
                // one each, and no more AssumeRole attempts in this sweep.
                let left = count - at;
                let api_function = g.allowlist.api_function(key);
                let (_, region) = account_region(&api_function);
                out.not_listed += left;
                g.bare_error(
                    request_id,
                    &format!(
                        "sweep: {error}; {left} of its guarded functions in {region} not swept"
                    ),
                );
                advance(left);
                break;
            }
            Err(e) => {
                out.listed += 1;
                out.not_listed += 1;
                g.bare_error(
                    request_id,
                    &format!(
                        "sweep: {}: cannot list its versions and aliases: {}",
                        e.function, e.error
                    ),
                );
            }
            Ok((policies, calls)) => {
                out.listed += calls;
                for t in &policies {
                    out.policies.push(if near_deadline() {
                        Swept::NotReached
                    } else {
                        sweep_one(g, t, request_id, sweep_id).await
                    });
                }
            }
        }
        advance(1);
    }
    out
}

/// Reconciles one policy of a sweep; a policy that drifted or failed gets its own `summary`
/// line.
async fn sweep_one<A: Aws>(
    g: &State<A>,
    t: &PolicyRef<'_>,
    request_id: &str,
    sweep_id: &str,
) -> Swept {
    let policy_started = Instant::now();
    let (account, _) = account_region(&t.api_function);
    let account = Some(account).filter(|a| !a.is_empty());
    let subject = Subject::new(
        Input::Sweep,
        Some(sweep_id.to_owned()),
        Some(t.key.as_str().to_owned()),
        t.qualifier.clone(),
        g.allowlist.mode_for(t.function),
        g.account_or_home(account),
    );
    let lines = g.lines(request_id, Some(subject));
    let mut tally = Tally::default();
    // Unless it was verified within the TTL.
    let trigger = Trigger::Invoke {
        at: g.coalescer.now(),
    };
    let result = reconcile_for(g, t, &lines, &mut tally, trigger).await;
    let failed_policy = result.is_err() || tally.failed > 0;
    if tally.planned > 0 || failed_policy {
        close(
            g,
            &lines,
            None,
            Level::Info,
            &mut tally,
            failed_policy,
            policy_started,
        )
        .await;
    }
    Swept::Reconciled(SweptPolicy {
        tally,
        failed_policy,
    })
}

/// The guarded functions grouped by account and region, in the policies file's order (a name
/// is the home's pair once the home is known).
fn groups_of<A>(g: &State<A>) -> Vec<((String, String), Group<'_>)> {
    let mut groups: Vec<((String, String), Group<'_>)> = Vec::new();
    for (key, function) in g.allowlist.functions() {
        let api_function = g.allowlist.api_function(key);
        let (account, region) = account_region(&api_function);
        let place = (account.to_owned(), region.to_owned());
        match groups.iter_mut().find(|(p, _)| *p == place) {
            Some((_, list)) => list.push((key, function)),
            None => groups.push((place, vec![(key, function)])),
        }
    }
    groups
}

/// The accounts and regions of the policies file, each once, in the file's order; a name
/// without a known home has none, `("", "")`.
pub(super) fn pairs_of<A>(g: &State<A>) -> Vec<(String, String)> {
    groups_of(g).into_iter().map(|(place, _)| place).collect()
}

/// Reconciles every guarded policy, or (`only`) those of one account and region; `deadline` is
/// when the invocation must have returned.
pub(super) async fn run<A: Aws>(
    g: &State<A>,
    request_id: &str,
    deadline: Option<Instant>,
    only: Option<&SweepPair>,
) -> Result<EventReport, GuardError> {
    let started = Instant::now();
    let pair = only.map(SweepPair::name);
    let sweep_id = match &pair {
        Some(p) => format!("sweep-{request_id}/{p}"),
        None => format!("sweep-{request_id}"),
    };
    let mut groups = groups_of(g);
    if let Some(only) = only {
        groups.retain(|((account, region), _)| *account == only.account && *region == only.region);
    }
    let functions = groups.iter().map(|(_, list)| list.len()).sum();
    let mut line = SweepLine {
        functions,
        policies_read: 0,
        drift: 0,
        fixed: 0,
        unfixed: 0,
        failed: 0,
        api_calls: 0,
        elapsed_ms: 0,
        incomplete: false,
        remaining: 0,
        pair: pair.clone(),
    };
    let mut report = EventReport::default();
    // Each account and region has its own control-plane quota: they are swept side by
    // side (a bounded number at a time), each within its own budget (the clients' one for
    // that account and region, shared with the event paths), listings included.
    // A sweep cut short by the deadline must not leave the same accounts out every time.
    let first = first_group(groups.len(), std::time::SystemTime::now());
    groups.rotate_left(first);
    let done = AtomicUsize::new(0);
    // A loop, not a closure: the futures must stay `Send` for any lifetime (tokio::spawn).
    let mut sweeps = Vec::new();
    for (_, mut list) in groups {
        let start = first_function(list.len(), request_id);
        list.rotate_left(start);
        sweeps.push(sweep_group(
            g, list, deadline, &done, functions, request_id, &sweep_id,
        ));
    }
    let outcomes: Vec<GroupSwept> = futures_util::stream::iter(sweeps)
        .buffer_unordered(ACCOUNTS_IN_PARALLEL)
        .collect()
        .await;
    for group in &outcomes {
        line.api_calls += group.listed;
        line.failed += group.not_listed;
    }
    for swept in outcomes.into_iter().flat_map(|group| group.policies) {
        let Swept::Reconciled(SweptPolicy {
            tally,
            failed_policy,
        }) = swept
        else {
            line.incomplete = true;
            line.remaining += 1;
            continue;
        };
        line.policies_read += 1;
        line.api_calls += tally.calls;
        line.unfixed += tally.unfixed;
        // A sweep's report counts no coalesced reconciles, as its `sweep` line does not.
        Tally {
            coalesced: 0,
            ..tally
        }
        .add_to(&mut report);
        line.failed += usize::from(failed_policy);
        if tally.planned > 0 {
            line.drift += 1;
            // Fixed only by writes that were applied: report mode writes nothing.
            let applied = tally.removed + tally.added > 0;
            line.fixed += usize::from(applied && !failed_policy && tally.unfixed == 0);
        }
    }
    line.elapsed_ms = started.elapsed().as_millis() as u64;
    let level = if line.incomplete || line.failed > 0 {
        Level::Error
    } else if line.unfixed > 0 || line.drift > 0 {
        Level::Warn
    } else {
        Level::Info
    };
    let incomplete = line.incomplete.then(|| {
        format!(
            "sweep stopped before the Lambda timeout with {} of {} policies left; the next sweep starts over",
            line.remaining,
            line.policies_read + line.remaining
        )
    });
    let failed = line.failed;
    let subject = Subject::new(
        Input::Sweep,
        Some(sweep_id),
        None,
        None,
        Mode::Enforce,
        g.account_or_home(only.map(|p| p.account.as_str())),
    );
    g.lines(request_id, Some(subject))
        .emit(level, Message::Sweep(line));
    match incomplete {
        Some(detail) => Err(GuardError::Incomplete {
            function: sweep_name(pair.as_deref()),
            detail,
        }),
        None if failed > 0 => Err(GuardError::Incomplete {
            function: sweep_name(pair.as_deref()),
            detail: format!("{failed} policies could not be read or reconciled"),
        }),
        None => Ok(report),
    }
}

/// What a failed sweep's error names.
fn sweep_name(pair: Option<&str>) -> String {
    pair.map_or("(sweep)".into(), |p| format!("(sweep of {p})"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn each_hour_starts_somewhere_else_and_every_account_gets_its_turn() {
        let at = |hour: u64| UNIX_EPOCH + Duration::from_secs(hour * 3600 + 59);
        // Within an hour the start stays put; a sweep repeated by Lambda starts in the same place.
        assert_eq!(
            first_group(40, at(500_000)),
            first_group(40, at(500_000) + Duration::from_secs(1800))
        );
        // Over two days of hourly sweeps of 40 groups, the start has visited most of the list.
        let starts: std::collections::BTreeSet<usize> =
            (500_000..500_048).map(|h| first_group(40, at(h))).collect();
        assert!(starts.len() >= 25, "{starts:?}");
        assert!(starts.iter().all(|s| *s < 40));
        assert_eq!(first_group(1, at(7)), 0);
        assert_eq!(first_group(0, at(7)), 0);
    }

    #[test]
    fn each_delivery_of_a_pair_starts_at_another_function() {
        // A redelivered pair is a new invocation with a new request id: over 60 of them, the
        // start has visited every one of 12 functions, so no function is always left behind.
        let starts: std::collections::BTreeSet<usize> = (0..60)
            .map(|i| first_function(12, &format!("0b9f5e3c-1d2a-4e8b-9c7f-{i:012}")))
            .collect();
        assert_eq!(starts.len(), 12, "{starts:?}");
        // The same invocation starts in the same place.
        assert_eq!(first_function(12, "req-a"), first_function(12, "req-a"));
        assert_eq!(first_function(1, "req-a"), 0);
        assert_eq!(first_function(0, "req-a"), 0);
    }
}
