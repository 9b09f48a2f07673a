//! A request budget for Lambda's control plane: 15 requests per second per account and region,
//! shared with everything else the account does, so the guard spends at most a share of it.
//! The clients own one [`Budget`] per account and region ([`Budgets`]) and take a token for
//! every control-plane call, every page of a listing included, whichever path made it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use crate::aws::arn::FunctionArn;

// Tokio's clock, so that a test with paused time sees a sweep's schedule without waiting for it.
use tokio::time::Instant;

use std::sync::PoisonError;

/// A token bucket: `per_second` tokens a second, at most `burst` saved up.
pub struct Budget {
    per_second: f64,
    burst: f64,
    state: Mutex<(f64, Instant)>,
}

/// Half of Lambda's 15 requests per second: the rest is left to the account's own work.
pub const SWEEP_REQUESTS_PER_SECOND: f64 = 7.0;

/// One [`Budget`] per account and region, shared by every path (Invoke records, changes, trail
/// files, the sweep, the CLI): Lambda's quota is per account and region, whoever calls.
pub struct Budgets {
    /// Makes the budget of a place not seen before; `None`: no limit (a store without one).
    make: Option<fn() -> Budget>,
    /// (account, region) of a function named without an ARN.
    home: OnceLock<(String, String)>,
    /// Bounded by the accounts and regions of the policies file: only guarded functions are
    /// called.
    buckets: Mutex<HashMap<(String, String), Arc<Budget>>>,
}

impl Budgets {
    /// Lambda's control plane: [`Budget::sweep`]'s 7 requests a second per account and region.
    pub fn lambda() -> Self {
        Budgets {
            make: Some(Budget::sweep),
            home: OnceLock::new(),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// No limit.
    pub fn unlimited() -> Self {
        Budgets {
            make: None,
            home: OnceLock::new(),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Where a function named without an ARN lives.
    pub fn set_home(&self, account: &str, region: &str) {
        let _ = self.home.set((account.to_owned(), region.to_owned()));
    }

    /// (account, region) of a function ARN (qualified or not); the home's for a name; `("", "")`
    /// when the home is unknown.
    pub fn place(&self, function: &str) -> (String, String) {
        match FunctionArn::parse(function) {
            Some(arn) => (arn.account.to_owned(), arn.region.to_owned()),
            None => self.home.get().cloned().unwrap_or_default(),
        }
    }

    /// Waits until one more control-plane call on `function`'s account and region fits.
    pub async fn take(&self, function: &str) {
        let Some(make) = self.make else {
            return;
        };
        let place = self.place(function);
        let budget = {
            let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
            Arc::clone(buckets.entry(place).or_insert_with(|| Arc::new(make())))
        };
        budget.take().await;
    }
}

impl Budget {
    /// A sweep's budget in one account and region: 7 requests a second and nothing saved up, so
    /// no second holds more than 8 of them (a burst would let the first second take 14, nearly
    /// the whole quota).
    pub fn sweep() -> Self {
        Budget::new(SWEEP_REQUESTS_PER_SECOND, 1.0)
    }

    pub fn new(per_second: f64, burst: f64) -> Self {
        Budget {
            per_second: per_second.max(0.1),
            burst: burst.max(1.0),
            state: Mutex::new((burst.max(1.0), Instant::now())),
        }
    }

    /// How long to wait before one more request fits, taking it when it does (pure arithmetic,
    /// so the schedule is testable without a clock).
    pub fn reserve_at(&self, now: Instant) -> Duration {
        let mut st = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let (tokens, last) = *st;
        let refilled = (tokens
            + now.saturating_duration_since(last).as_secs_f64() * self.per_second)
            .min(self.burst);
        let after = refilled - 1.0;
        *st = (after, now);
        if after >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-after / self.per_second)
        }
    }

    /// Waits until one more request fits.
    pub async fn take(&self) {
        let wait = self.reserve_at(Instant::now());
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn each_account_and_region_has_one_budget_whatever_names_it() {
        let budgets = Budgets::lambda();
        budgets.set_home("111122223333", "us-east-1");
        let t0 = Instant::now();
        // A name, the home ARN and a qualified home ARN draw from one bucket: 8 calls take a
        // second; another region's bucket is its own, its first call goes at once.
        for f in ["f", "arn:aws:lambda:us-east-1:111122223333:function:f:7"].repeat(4) {
            budgets.take(f).await;
        }
        let took = t0.elapsed().as_secs_f64();
        assert!((0.99..1.05).contains(&took), "{took}");
        let t1 = Instant::now();
        budgets
            .take("arn:aws:lambda:eu-west-1:111122223333:function:f")
            .await;
        assert_eq!(t1.elapsed(), Duration::ZERO);
    }

    #[test]
    fn a_burst_then_the_steady_rate() {
        let b = Budget::new(7.0, 7.0);
        let t0 = Instant::now();
        let waits: Vec<Duration> = (0..21).map(|_| b.reserve_at(t0)).collect();
        assert!(waits[..7].iter().all(Duration::is_zero));
        // The 21st request in the same instant waits two seconds: 7 saved, 7 a second.
        let last = waits[20].as_secs_f64();
        assert!((last - 2.0).abs() < 1e-9, "{last}");
        let later = b.reserve_at(t0 + Duration::from_secs(10));
        assert!(later.is_zero(), "the bucket refills");
    }

    #[test]
    fn a_sweep_takes_at_most_eight_requests_in_any_second() {
        let b = Budget::sweep();
        let t0 = Instant::now();
        // Each request goes when its wait is over; count those starting within the first second.
        let mut at = t0;
        let mut starts = Vec::new();
        for _ in 0..30 {
            at += b.reserve_at(at);
            starts.push(at);
        }
        let first_second = starts
            .iter()
            .filter(|s| s.duration_since(t0) <= Duration::from_secs(1))
            .count();
        assert_eq!(first_second, 8);
    }
}
