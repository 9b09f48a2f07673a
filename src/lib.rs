//! invokeguard: keeps AWS Lambda resource policies to an allowlist of expected invokers.
//!
//! The engine is pure: [`record`] parses CloudTrail records, [`verdict`] judges them against
//! [`allowlist`] (the policies file), [`resource_policy`] reads a function's current policy and [`plan`] computes
//! the statements to remove and add. Everything with I/O lives in [`cli`] and [`remediate`].

pub mod allowlist;
pub mod arn;
pub mod athena;
pub mod cli;
pub mod evaluator;
pub mod home;
#[cfg(feature = "aws")]
pub mod lambda;
pub mod plan;
pub mod record;
pub mod remediate;
pub mod resource_policy;
pub mod verdict;
