//! Storm protection: while one record's reconcile of a policy is in flight, or for a short
//! time after it verified that policy, further records for the same function and qualifier
//! do not call AWS again. An attacker invoking in a loop costs one reconcile per TTL.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

type Key = (String, Option<String>);

enum Slot {
    InFlight,
    Verified(Instant),
}

pub struct Coalescer {
    ttl: Duration,
    slots: Mutex<HashMap<Key, Slot>>,
}

/// Why a reconcile was skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    InFlight,
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
    /// Key count is bounded by the guarded functions and qualifiers of the policies file.
    pub fn new(ttl: Duration) -> Self {
        Coalescer {
            ttl,
            slots: Mutex::new(HashMap::new()),
        }
    }

    /// Waits while another task reconciles the same policy; then skips if it was verified
    /// within the TTL, else hands out the ticket.
    pub async fn claim(&self, function: &str, qualifier: Option<&str>) -> Result<Ticket<'_>, Skip> {
        let key = (function.to_owned(), qualifier.map(str::to_owned));
        let mut waited = false;
        loop {
            {
                let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
                match slots.get(&key) {
                    Some(Slot::Verified(at)) if at.elapsed() < self.ttl => {
                        return Err(if waited {
                            Skip::InFlight
                        } else {
                            Skip::RecentlyVerified
                        });
                    }
                    Some(Slot::InFlight) => waited = true,
                    _ => {
                        slots.insert(key.clone(), Slot::InFlight);
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
}

impl Ticket<'_> {
    /// Records the outcome: a verified policy is not looked at again within the TTL.
    pub fn finish(mut self, verified: bool) {
        if let Some(key) = self.key.take() {
            let mut slots = self
                .owner
                .slots
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if verified && !self.owner.ttl.is_zero() {
                slots.insert(key, Slot::Verified(Instant::now()));
            } else {
                slots.remove(&key);
            }
        }
    }
}

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            self.owner
                .slots
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .remove(&key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_verified_policy_is_skipped_within_the_ttl_only() {
        let c = Coalescer::new(Duration::from_millis(500));
        c.claim("f", None).await.expect("first").finish(true);
        assert_eq!(c.claim("f", None).await.err(), Some(Skip::RecentlyVerified));
        assert!(
            c.claim("f", Some("live")).await.is_ok(),
            "another qualifier is another policy"
        );
        tokio::time::sleep(Duration::from_millis(600)).await;
        assert!(c.claim("f", None).await.is_ok());
    }

    #[tokio::test]
    async fn a_failed_or_abandoned_reconcile_does_not_block_the_next() {
        let c = Coalescer::new(Duration::from_secs(60));
        c.claim("f", None).await.expect("first").finish(false);
        let abandoned = c.claim("f", None).await.expect("after a failure");
        drop(abandoned);
        assert!(c.claim("f", None).await.is_ok());
    }

    #[tokio::test]
    async fn a_second_claim_waits_for_the_one_in_flight() {
        let c = std::sync::Arc::new(Coalescer::new(Duration::from_secs(60)));
        let ticket = c.claim("f", None).await.expect("first");
        let waiter = {
            let c = std::sync::Arc::clone(&c);
            tokio::spawn(async move { c.claim("f", None).await.err() })
        };
        tokio::time::sleep(Duration::from_millis(30)).await;
        assert!(!waiter.is_finished(), "no second ticket while one is out");
        ticket.finish(true);
        assert!(
            waiter.await.expect("joined").is_some(),
            "skipped, not run again"
        );
    }
}
