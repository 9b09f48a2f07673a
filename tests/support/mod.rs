//! Harnesses for tests against AWS-shaped fakes: a moto server, a recording fault-injecting
//! proxy in front of it, and a Lambda Runtime API for running the real Lambda binary.

#![allow(dead_code)] // each test crate uses a different subset

pub mod bench_args;
pub mod calls;
pub mod event_source;
pub mod http;
pub mod moto;
pub mod org;
pub mod proxy;
pub mod runtime_api;
