//! invokeguard: keeps AWS Lambda resource policies to an allowlist of expected invokers.
//!
//! The modules are listed in the order data flows (`ARCHITECTURE.md` draws it): [`aws`] is the
//! vocabulary of AWS identifiers; [`allowlist`] is the policies file; [`resource_policy`] reads a
//! function's policy and [`evaluator`] answers what it allows; [`record`] reads CloudTrail
//! records; [`verdict`] judges them; [`plan`] computes the statements to remove and add. All of
//! that is pure. [`log`] is the log-line contract; [`guard`] is the shell around the engine,
//! [`sdk`] its AWS implementation, [`lambda`] the runtime loop and [`cli`] the command line.

pub mod aws;

pub mod allowlist;
pub mod evaluator;
pub mod record;
pub mod resource_policy;

pub mod athena;
pub mod draft;
pub mod finding;
pub mod guardrails;
pub mod plan;
pub mod template;
pub mod verdict;

pub mod log;

pub mod guard;
#[cfg(feature = "aws")]
pub mod sdk;

#[cfg(feature = "aws")]
pub mod lambda;

pub mod cli;
