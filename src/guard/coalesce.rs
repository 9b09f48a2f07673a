//! Coalescing by time: a verification read of a policy at time T answers for what happened to
//! that policy before T, and for nothing after it. An Invoke record is evidence that a grant
//! existed, not a change: a verification less than the TTL before it answers for it too, so an
//! attacker invoking in a loop costs one reconcile per TTL. A change by anyone but the guard is
//! reconciled unless a verification certainly followed it; one that arrives while a reconcile of
//! its policy is in flight makes that reconcile run once more (one rerun for any number of
//! changes). [`decide`] is the rule, pure; the [`Coalescer`] keeps the clock and the state.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime};

type Key = (String, Option<String>);

/// How far CloudTrail's clock (`eventTime`) and the guard's may disagree. A change is covered
/// only by a verification more than this after the end of its `eventTime`'s second.
pub const CLOCK_SKEW: Duration = Duration::from_secs(2);

/// `eventTime` has whole seconds: the event happened within this after the time it gives.
pub const EVENT_TIME_RESOLUTION: Duration = Duration::from_secs(1);

/// How long a verification is remembered: a late record (the trail file's copy, a delayed
/// change event) inside this window is still answered from memory.
pub const RETAIN: Duration = Duration::from_secs(15 * 60);

/// At most this many policies are remembered; past it the expired entries go, then the oldest.
/// Forgetting one only costs a `GetPolicy`.
pub const MAX_SLOTS: usize = 10_000;

/// What asks for a reconcile, and when it happened on CloudTrail's clock (its `eventTime`; the
/// guard's clock at arrival when a record has none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// An Invoke record (or a sweep): evidence that a grant existed at `at`, not a change.
    Invoke { at: SystemTime },
    /// A change to the policy made by anyone but the guard.
    Change { at: SystemTime },
    /// A change the guard made itself (known by its role in the record, never by timing).
    OwnChange { at: SystemTime },
}

/// What to do about a trigger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Reconcile,
    /// A verification answers for it.
    Covered,
}

/// The rule. `verified`: when the last successful verification of the policy began (it read the
/// policy after that); `ttl`: the storm window for Invoke records (zero: no coalescing).
///
/// - a change by someone else at `E` is covered only if `E + 1 s + CLOCK_SKEW <= T`: a change in
///   the same second as T, or within the skew, counts as after T;
/// - the guard's own change at `E` is covered if `T + CLOCK_SKEW >= E`: what it wrote came from
///   a plan on a read at T, and whatever anyone else did meanwhile has its own change event;
/// - an Invoke record at `E` is covered if `E < T + ttl`: a grant added after T came with a
///   change event, which is reconciled by the rules above.
pub fn decide(trigger: Trigger, verified: Option<SystemTime>, ttl: Duration) -> Decision {
    let Some(t) = verified else {
        return Decision::Reconcile;
    };
    let covered = match trigger {
        Trigger::Change { at } => at + EVENT_TIME_RESOLUTION + CLOCK_SKEW <= t,
        Trigger::OwnChange { at } => t + CLOCK_SKEW >= at,
        Trigger::Invoke { at } => !ttl.is_zero() && at < t + ttl,
    };
    if covered {
        Decision::Covered
    } else {
        Decision::Reconcile
    }
}

/// The guard's wall clock, advanced by tokio's monotonic clock: a test with a paused tokio
/// clock moves it too. If the monotonic clock lags (a frozen sandbox), T is earlier than it
/// should be, which only makes more changes count as after it.
struct Clock {
    wall: SystemTime,
    at: tokio::time::Instant,
}

impl Clock {
    fn now(&self) -> SystemTime {
        self.wall + self.at.elapsed()
    }
}

#[derive(Debug)]
struct Slot {
    /// When the last successful verification began.
    verified: Option<SystemTime>,
    in_flight: bool,
    /// When the reconcile in flight began.
    started: SystemTime,
    /// A change arrived while in flight: run once more.
    rerun: bool,
}

pub struct Coalescer {
    ttl: Duration,
    clock: Clock,
    slots: Mutex<HashMap<Key, Slot>>,
}

/// Why a reconcile was skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    /// The reconcile in flight answered for it, or will run once more for it.
    InFlight,
    /// A verification already answered for it.
    RecentlyVerified,
}

impl Skip {
    pub fn as_str(self) -> &'static str {
        match self {
            Skip::InFlight => "in-flight",
            Skip::RecentlyVerified => "recently-verified",
        }
    }
}

/// The right to reconcile one policy; releases the slot if dropped unfinished (e.g. on timeout).
pub struct Ticket<'a> {
    owner: &'a Coalescer,
    key: Option<Key>,
}

impl Coalescer {
    pub fn new(ttl: Duration) -> Self {
        Coalescer {
            ttl,
            clock: Clock {
                wall: SystemTime::now(),
                at: tokio::time::Instant::now(),
            },
            slots: Mutex::new(HashMap::new()),
        }
    }

    /// The guard's wall clock (what a record without `eventTime` is dated with).
    pub fn now(&self) -> SystemTime {
        self.clock.now()
    }

    /// How many policies are remembered.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Slot>> {
        self.slots.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Hands out the ticket unless a verification answers for `trigger`. A change meeting a
    /// reconcile in flight asks it to run once more and returns at once; anything else waits
    /// for it and is then decided against the verification it made.
    pub async fn claim(
        &self,
        function: &str,
        qualifier: Option<&str>,
        trigger: Trigger,
    ) -> Result<Ticket<'_>, Skip> {
        let key = (function.to_owned(), qualifier.map(str::to_owned));
        let mut waited = false;
        loop {
            {
                let now = self.now();
                let mut slots = self.lock();
                let slot = slots.get_mut(&key);
                match slot {
                    Some(s) if s.in_flight => match trigger {
                        Trigger::Change { .. } => {
                            s.rerun = true;
                            return Err(Skip::InFlight);
                        }
                        _ => waited = true,
                    },
                    _ => {
                        let verified = slot.and_then(|s| s.verified);
                        if decide(trigger, verified, self.ttl) == Decision::Covered {
                            return Err(if waited {
                                Skip::InFlight
                            } else {
                                Skip::RecentlyVerified
                            });
                        }
                        if !slots.contains_key(&key) {
                            self.make_room(&mut slots, now);
                        }
                        let s = slots.entry(key.clone()).or_insert(Slot {
                            verified: None,
                            in_flight: false,
                            started: now,
                            rerun: false,
                        });
                        s.in_flight = true;
                        s.started = now;
                        s.rerun = false;
                        return Ok(Ticket {
                            owner: self,
                            key: Some(key),
                        });
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Keeps the map under [`MAX_SLOTS`]: verifications older than [`RETAIN`] go first, then
    /// the oldest, down to three quarters (so that the scan is not made on every claim). A
    /// reconcile in flight is never forgotten.
    fn make_room(&self, slots: &mut HashMap<Key, Slot>, now: SystemTime) {
        if slots.len() < MAX_SLOTS {
            return;
        }
        let expired = |s: &Slot| {
            !s.in_flight
                && s.verified.is_none_or(|t| {
                    now.duration_since(t).unwrap_or(Duration::ZERO) >= RETAIN.max(self.ttl)
                })
        };
        slots.retain(|_, s| !expired(s));
        if slots.len() < MAX_SLOTS {
            return;
        }
        let mut by_age: Vec<(SystemTime, Key)> = slots
            .iter()
            .filter(|(_, s)| !s.in_flight)
            .map(|(k, s)| (s.verified.unwrap_or(s.started), k.clone()))
            .collect();
        by_age.sort();
        let excess = slots.len().saturating_sub(MAX_SLOTS * 3 / 4);
        for (_, k) in by_age.into_iter().take(excess) {
            slots.remove(&k);
        }
    }
}

impl Ticket<'_> {
    /// Records the outcome. `true`: a change arrived meanwhile, so the caller reconciles once
    /// more, still holding the ticket (the rerun's read began after every such change arrived).
    /// A failed reconcile is not a verification, and its event fails and is retried.
    pub fn finish(&mut self, verified: bool) -> bool {
        let Some(key) = self.key.take() else {
            return false;
        };
        let now = self.owner.now();
        let mut slots = self.owner.lock();
        let Some(slot) = slots.get_mut(&key) else {
            return false;
        };
        if !verified {
            slots.remove(&key);
            return false;
        }
        if !self.owner.ttl.is_zero() {
            slot.verified = Some(slot.started);
        }
        if slot.rerun {
            slot.rerun = false;
            slot.started = now;
            self.key = Some(key);
            return true;
        }
        if self.owner.ttl.is_zero() {
            slots.remove(&key);
        } else {
            slot.in_flight = false;
        }
        false
    }
}

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            self.owner.lock().remove(&key);
        }
    }
}

impl From<Skip> for crate::log::line::CoalescedWhy {
    fn from(s: Skip) -> Self {
        match s {
            Skip::InFlight => crate::log::line::CoalescedWhy::InFlight,
            Skip::RecentlyVerified => crate::log::line::CoalescedWhy::RecentlyVerified,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    const TTL: Duration = Duration::from_secs(10);

    #[test]
    fn a_change_is_covered_only_by_a_verification_certainly_after_it() {
        let t = Some(at(1_000));
        let change = |s| decide(Trigger::Change { at: at(s) }, t, TTL);
        assert_eq!(change(990), Decision::Covered);
        assert_eq!(change(997), Decision::Covered, "997.999 + 2 s < 1000");
        assert_eq!(change(998), Decision::Reconcile, "within the skew");
        assert_eq!(change(1_000), Decision::Reconcile, "the same second");
        assert_eq!(change(1_002), Decision::Reconcile, "after it");
        assert_eq!(
            decide(Trigger::Change { at: at(990) }, None, TTL),
            Decision::Reconcile
        );
    }

    #[test]
    fn the_guards_own_change_is_covered_by_a_verification_at_or_after_it_within_the_skew() {
        let t = Some(at(1_000));
        let own = |s| decide(Trigger::OwnChange { at: at(s) }, t, TTL);
        assert_eq!(own(990), Decision::Covered);
        assert_eq!(own(1_002), Decision::Covered);
        assert_eq!(own(1_003), Decision::Reconcile, "made after a later read");
    }

    #[test]
    fn an_invoke_is_covered_by_a_verification_less_than_the_ttl_before_it() {
        let t = Some(at(1_000));
        let invoke = |s| decide(Trigger::Invoke { at: at(s) }, t, TTL);
        assert_eq!(invoke(500), Decision::Covered);
        assert_eq!(invoke(1_009), Decision::Covered);
        assert_eq!(invoke(1_010), Decision::Reconcile);
        assert_eq!(
            decide(Trigger::Invoke { at: at(500) }, t, Duration::ZERO),
            Decision::Reconcile,
            "a zero TTL turns coalescing off"
        );
    }

    fn invoke_now(c: &Coalescer) -> Trigger {
        Trigger::Invoke { at: c.now() }
    }

    #[tokio::test(start_paused = true)]
    async fn a_verified_policy_answers_for_invokes_within_the_ttl_only() {
        let c = Coalescer::new(Duration::from_millis(500));
        let mut ticket = c.claim("f", None, invoke_now(&c)).await.expect("first");
        assert!(!ticket.finish(true));
        drop(ticket);
        assert_eq!(
            c.claim("f", None, invoke_now(&c)).await.err(),
            Some(Skip::RecentlyVerified)
        );
        assert!(
            c.claim("f", Some("live"), invoke_now(&c)).await.is_ok(),
            "another qualifier is another policy"
        );
        tokio::time::sleep(Duration::from_millis(600)).await;
        assert!(c.claim("f", None, invoke_now(&c)).await.is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_or_abandoned_reconcile_does_not_block_the_next() {
        let c = Coalescer::new(Duration::from_secs(60));
        let mut first = c.claim("f", None, invoke_now(&c)).await.expect("first");
        assert!(!first.finish(false));
        drop(first);
        let abandoned = c
            .claim("f", None, invoke_now(&c))
            .await
            .expect("after a failure");
        drop(abandoned);
        assert!(c.claim("f", None, invoke_now(&c)).await.is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn an_invoke_waits_for_the_reconcile_in_flight_and_a_change_asks_it_for_one_rerun() {
        let c = std::sync::Arc::new(Coalescer::new(Duration::from_secs(60)));
        let mut ticket = c.claim("f", None, invoke_now(&c)).await.expect("first");
        let waiter = {
            let c = std::sync::Arc::clone(&c);
            tokio::spawn(async move {
                let trigger = invoke_now(&c);
                c.claim("f", None, trigger).await.err()
            })
        };
        tokio::time::sleep(Duration::from_millis(30)).await;
        assert!(!waiter.is_finished(), "no second ticket while one is out");
        for _ in 0..3 {
            let change = Trigger::Change { at: c.now() };
            assert_eq!(c.claim("f", None, change).await.err(), Some(Skip::InFlight));
        }
        assert!(ticket.finish(true), "three changes, one rerun");
        assert!(!ticket.finish(true), "and no more");
        drop(ticket);
        assert_eq!(
            waiter.await.expect("joined"),
            Some(Skip::InFlight),
            "the invoke is answered by the reconcile it waited for"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_map_stays_bounded_whatever_is_invoked() {
        let c = Coalescer::new(Duration::from_secs(10));
        for n in 0..(MAX_SLOTS * 3) {
            let q = format!("made-up-{n}");
            let trigger = invoke_now(&c);
            let mut t = c.claim("f", Some(&q), trigger).await.expect("new");
            t.finish(true);
            tokio::time::advance(Duration::from_millis(1)).await;
        }
        assert!(c.len() <= MAX_SLOTS, "{}", c.len());
        // The newest are still answered from memory.
        let last = format!("made-up-{}", MAX_SLOTS * 3 - 1);
        assert_eq!(
            c.claim("f", Some(&last), invoke_now(&c)).await.err(),
            Some(Skip::RecentlyVerified)
        );
    }
}
