//! The ground floor: AWS's words as types (ids, ARNs, the home account and partition). Nothing
//! here knows about the allowlist, records or the guard.

pub mod arn;
pub mod home;
pub mod ids;
